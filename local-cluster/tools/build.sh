#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet and helm from the
# pinned wrapper modules into .cache/bin. Each binary has its own stamp, keyed on the pins of the module
# it comes from (versions.env, go.sum, and go.mod but for its `tool` list, which only tells `go mod
# tidy` what to keep) and the build flags: a binary rebuilds only when those change, and adding one to
# the list builds only that one. Prints the bin folder on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="${TOPOLOGY_IPAM_BIN_DIR:-$repo/.cache/bin}"
mkdir -p "$bin"
# -trimpath and no DWARF keep the binaries small; the tests never debug them.
flags=(-trimpath -ldflags='-s -w')
start=$SECONDS

build() { # NAME WRAPPER PACKAGE
  local name=$1 wrapper=$2 package=$3 key
  key=$({
    cat "$here/versions.env" "$here/$wrapper/go.sum"
    sed '/^tool (/,/^)/d' "$here/$wrapper/go.mod"
    echo "${flags[*]}"
  } | sha256sum | cut -c1-16)
  [[ -f "$bin/.built-$name-$key" && -x "$bin/$name" ]] && return
  rm -f "$bin/.built-$name-"*
  (cd "$here/$wrapper" && go build "${flags[@]}" -o "$bin/$name" "$package") >&2
  touch "$bin/.built-$name-$key"
  echo "built $name ($((SECONDS - start))s)" >&2
}

build etcd kube go.etcd.io/etcd/server/v3
build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver
# The controller-manager and the scheduler share most of the API server's packages: together about
# three minutes more on a cold cache, seconds with the API server's packages built.
build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler kube k8s.io/kubernetes/cmd/kube-scheduler
build kubectl kube k8s.io/kubernetes/cmd/kubectl
build kubelet kube k8s.io/kubernetes/cmd/kubelet
build helm helm helm.sh/helm/v3/cmd/helm
echo "$bin"
