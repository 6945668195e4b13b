#!/usr/bin/env bash
# Builds the project's two images (the operator and cni targets of images/Dockerfile, unchanged) with
# Debian's buildah, without a registry: the base images the Dockerfile names by build argument are made
# here first (bases.Dockerfile). Prints the folder holding operator.tar and cni.tar (OCI archives, each
# naming its image localhost/topology-ipam-<target>:<tag>, ready for `ctr images import`); progress goes
# to stderr.
#
# Everything is cached under .cache/images and keyed by its inputs:
#   bases/<key>/   the two Debian roots, keyed by the release, package lists and mirror, this machine's
#                  node, npm and Go versions and CA bundle, and this script;
#   builds/<tag>/  the archives, tagged by the bases' key, the Dockerfile, its .dockerignore and every
#                  file of the build context: a second run with nothing changed only hashes.
#   storage-<driver>/  buildah's own store (not /var/lib/containers): the base images and the
#                  layer cache that lets a changed source rebuild only the steps after it. Older builds
#                  are removed from it.
# `bash build.sh clean` removes all of it. TOPOLOGY_IPAM_IMAGES_DIR puts it elsewhere.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="${TOPOLOGY_IPAM_IMAGES_DIR:-$repo/.cache/images}"
export BUILDAH_ISOLATION=chroot TMPDIR="$cache/tmp"
# chroot isolation: a build step needs no OCI runtime or user namespace. overlay where the kernel mounts
# it on this file system (each step then costs only what it changes), else vfs (each step copies the
# whole root: several times slower, and gigabytes).
store() { # DRIVER ARGS...
  local driver=$1
  shift
  command buildah --root "$cache/storage-$driver" --runroot "$cache/run-$driver" --storage-driver "$driver" "$@"
}

if [[ ${1:-} == clean ]]; then
  for driver in overlay vfs; do
    [[ -d $cache/storage-$driver ]] || continue
    # Working containers hold mounts; vfs layers hold folders read-only to their owner.
    store "$driver" rm --all >/dev/null 2>&1 || true
    store "$driver" rmi --all --force >/dev/null 2>&1 || true
  done
  rm -rf "$cache"
  # The one file buildah writes outside its store as root, whatever --root says: a cache of which blobs
  # it has seen where, that any containers tool rebuilds.
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
  exit 0
fi
mkdir -p "$TMPDIR" "$cache/bases" "$cache/builds"
driver=vfs
if store overlay info >/dev/null 2>&1; then driver=overlay; fi
buildah() { store "$driver" "$@"; }
start=$SECONDS

# The Debian release of the public bases, from the Dockerfile's DEBIAN_IMAGE default (debian:<release>-slim).
release=$(sed -n 's/^ARG DEBIAN_IMAGE=debian:\([a-z]*\).*/\1/p' "$repo/images/Dockerfile")
[[ -n $release ]] || { echo "build.sh: no debian:<release> default for DEBIAN_IMAGE in images/Dockerfile" >&2; exit 1; }
# This machine's Debian mirror if it has Debian 12's default sources file, else mmdebstrap's default.
mirror=()
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then mirror=(/etc/apt/sources.list.d/debian.sources); fi
# distroless' package set: glibc, the C++ runtime node needs, base-files, netbase, tzdata.
runtime_packages=libc6,libgcc-s1,libstdc++6,base-files,netbase,tzdata
ca_bundle=/etc/ssl/certs/ca-certificates.crt
node_bin=$(command -v node)
npm_dir="$(npm root -g)/npm"
goroot=$(go env GOROOT)

# The two Debian roots, as tarballs in DIR: apt's for the build stages; distroless' packages only
# extracted (no shell, no dpkg) for the runtime, with its nonroot user (uid 65532) and home. Its text is
# part of the bases' key.
make_roots() { # DIR
  mmdebstrap --variant=apt --skip=output/dev "$release" "$1/debian.tar" "${mirror[@]}" >&2
  mmdebstrap --variant=extract --include="$runtime_packages" --skip=output/dev \
    --customize-hook='printf "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" >"$1/etc/passwd"' \
    --customize-hook='printf "root:x:0:\nnonroot:x:65532:\n" >"$1/etc/group"' \
    --customize-hook='mkdir -p "$1/home/nonroot" "$1/tmp" && chown 65532:65532 "$1/home/nonroot" && chmod 1777 "$1/tmp"' \
    "$release" "$1/runtime.tar" "${mirror[@]}" >&2
}

base_key=$({
  echo "$release $runtime_packages"
  cat "${mirror[@]}" "$ca_bundle" "$here/bases.Dockerfile"
  declare -f make_roots
  "$node_bin" --version
  "$node_bin" "$npm_dir/bin/npm-cli.js" --version
  go env GOVERSION
} | sha256sum | cut -c1-16)
# The build context is what images/Dockerfile.dockerignore lets in: the folders and files it names with
# `!`. Hashing them all (tests too) is only coarser than the context: buildah's layer cache skips what is
# unchanged.
mapfile -t context < <(sed -n 's/^!//p' "$repo/images/Dockerfile.dockerignore")
tag=$({
  echo "$base_key"
  cat "$repo/images/Dockerfile" "$repo/images/Dockerfile.dockerignore"
  git -C "$repo" ls-files -z --cached --others --exclude-standard -- "${context[@]}" \
    | (cd "$repo" && xargs -0 -r sha256sum 2>/dev/null || true)
} | sha256sum | cut -c1-16)
out="$cache/builds/$tag"
if [[ -f $out/operator.tar && -f $out/cni.tar ]]; then
  echo "$out"
  exit 0
fi

# One build at a time on this machine (worktrees share .cache); the one that waited may find it done.
exec 9>"$cache/lock"
flock 9
if [[ -f $out/operator.tar && -f $out/cni.tar ]]; then
  echo "$out"
  exit 0
fi

base() { echo "localhost/topology-ipam-base/$1:$base_key"; }
bases="$cache/bases/$base_key"
# runtime is the last of the four base images made: with it, all are there.
if ! buildah inspect --type image "$(base runtime)" >/dev/null 2>&1; then
  if [[ ! -f $bases/debian.tar || ! -f $bases/runtime.tar ]]; then
    rm -rf "$bases" "$bases.partial" && mkdir -p "$bases.partial"
    make_roots "$bases.partial"
    mv "$bases.partial" "$bases"
    echo "made the Debian roots ($((SECONDS - start))s)" >&2
  fi
  context_dir=$(mktemp -d)
  trap 'rm -rf "$context_dir"' EXIT
  ln "$bases/debian.tar" "$bases/runtime.tar" "$context_dir/"
  mkdir -p "$context_dir/node/bin" "$context_dir/node/lib/node_modules"
  cp "$node_bin" "$context_dir/node/bin/node"
  cp -a "$npm_dir" "$context_dir/node/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$context_dir/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$context_dir/node/bin/npx"
  cp -a "$goroot" "$context_dir/go"
  cp "$ca_bundle" "$context_dir/ca-certificates.crt"
  for target in debian node go runtime; do
    buildah build --quiet --layers=false --force-rm --pull=never -f "$here/bases.Dockerfile" --target "$target" \
      -t "$(base "$target")" "$context_dir" >&2
  done
  rm -rf "$context_dir"
  echo "made the base images ($((SECONDS - start))s)" >&2
fi

image() { echo "localhost/topology-ipam-$1:$tag"; }
for target in operator cni; do
  # --layers: the stages both targets share build once, and a later build reuses every step before the
  # first changed input.
  buildah build --layers --force-rm --pull=never \
    --build-arg GO_IMAGE="$(base go)" --build-arg NODE_IMAGE="$(base node)" \
    --build-arg RUNTIME_IMAGE="$(base runtime)" --build-arg DEBIAN_IMAGE="$(base debian)" \
    -f "$repo/images/Dockerfile" --ignorefile "$repo/images/Dockerfile.dockerignore" \
    --target "$target" -t "$(image "$target")" "$repo" >&2
  echo "built $(image "$target") ($((SECONDS - start))s)" >&2
done
rm -rf "$out.partial" && mkdir -p "$out.partial"
for target in operator cni; do
  # Uncompressed: containerd unpacks it at once, and the archive lives only on this machine.
  buildah push --quiet --disable-compression "$(image "$target")" \
    "oci-archive:$out.partial/$target.tar:$(image "$target")" >&2
done
rm -rf "$out" && mv "$out.partial" "$out"

# What no longer serves: builds but the three newest (other worktrees may be using theirs), their images,
# the layers only they used, and bases of other keys.
for old in $(ls -1t "$cache/builds" | tail -n +4); do
  buildah rmi "localhost/topology-ipam-operator:$old" "localhost/topology-ipam-cni:$old" >/dev/null 2>&1 || true
  rm -rf "${cache:?}/builds/$old"
done
for old in $(ls -1 "$cache/bases"); do
  [[ $old == "$base_key" ]] && continue
  for target in debian node go runtime; do
    buildah rmi "localhost/topology-ipam-base/$target:$old" >/dev/null 2>&1 || true
  done
  rm -rf "${cache:?}/bases/$old"
done
buildah rm --all >/dev/null
buildah rmi --prune >/dev/null 2>&1 || true
echo "images ready ($((SECONDS - start))s; $(du -sh "$cache" | cut -f1) in .cache/images)" >&2
echo "$out"
