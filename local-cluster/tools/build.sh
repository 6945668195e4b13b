#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kubectl, kubelet and helm from the pinned wrapper modules into .cache/bin.
# The cache is keyed on the wrapper go.mod/go.sum files: binaries rebuild only when a pin changes.
# Prints the bin folder on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="${TOPOLOGY_IPAM_BIN_DIR:-$repo/.cache/bin}"
key=$(cat "$here/versions.env" "$here"/kube/go.mod "$here"/kube/go.sum "$here"/helm/go.mod "$here"/helm/go.sum "$0" | sha256sum | cut -c1-16)
stamp="$bin/.built-$key"
if [[ -f "$stamp" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
rm -f "$bin"/.built-*
start=$SECONDS
# -trimpath and no DWARF keep the binaries small; the tests never debug them.
flags=(-trimpath -ldflags='-s -w')
(cd "$here/kube" && go build "${flags[@]}" -o "$bin/etcd" go.etcd.io/etcd/server/v3) >&2
echo "built etcd ($((SECONDS - start))s)" >&2
(cd "$here/kube" && go build "${flags[@]}" -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) >&2
echo "built kube-apiserver ($((SECONDS - start))s)" >&2
(cd "$here/kube" && go build "${flags[@]}" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl) >&2
echo "built kubectl ($((SECONDS - start))s)" >&2
(cd "$here/kube" && go build "${flags[@]}" -o "$bin/kubelet" k8s.io/kubernetes/cmd/kubelet) >&2
echo "built kubelet ($((SECONDS - start))s)" >&2
(cd "$here/helm" && go build "${flags[@]}" -o "$bin/helm" helm.sh/helm/v3/cmd/helm) >&2
echo "built helm ($((SECONDS - start))s)" >&2
touch "$stamp"
echo "$bin"
