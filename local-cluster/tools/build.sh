#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, helm, and the
# node's containerd (with its runc shim, ctr, and the CNI plugins a node brings: bridge, loopback, ptp and
# portmap) from the pinned wrapper modules into .cache/bin. Each binary has its own stamp, keyed on the
# pins of the module it comes from (go.sum, and go.mod but for its `tool` list, which only tells `go mod
# tidy` what to keep; pin.sh writes versions.env into them), the build flags and CGO_ENABLED: a binary
# rebuilds only when those change, and adding one to the list, or a pin for another module, builds only
# what it concerns. Prints the bin folder on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="${TOPOLOGY_IPAM_BIN_DIR:-$repo/.cache/bin}"
mkdir -p "$bin"
# -trimpath and no DWARF keep the binaries small; the tests never debug them.
flags=(-trimpath -ldflags='-s -w')
start=$SECONDS

build() { # NAME WRAPPER PACKAGE [BUILD FLAGS...]
  local name=$1 wrapper=$2 package=$3 key stamp
  shift 3
  key=$({
    cat "$here/$wrapper/go.sum"
    sed '/^tool (/,/^)/d' "$here/$wrapper/go.mod"
    # The extra flags and CGO_ENABLED count only when given: a binary built without has the key it had.
    echo "${flags[*]}${*:+ $*}${CGO_ENABLED:+ CGO_ENABLED=$CGO_ENABLED}"
  } | sha256sum | cut -c1-16)
  stamp="$bin/.built-${name//\//-}"
  [[ -f "$stamp-$key" && -x "$bin/$name" ]] && return
  rm -f "$stamp-"*
  (cd "$here/$wrapper" && go build "${flags[@]}" "$@" -o "$bin/$name" "$package") >&2
  touch "$stamp-$key"
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
# containerd's release flags: the CLI without its man-page generator, the shim without gRPC (it serves
# ttrpc only). No cgo, so every binary is static, and the btrfs snapshotter, the only part that needs
# cgo, is left out (the node uses overlayfs).
containerd=github.com/containerd/containerd/v2/cmd
CGO_ENABLED=0 build containerd containerd $containerd/containerd -tags=urfave_cli_no_docs
CGO_ENABLED=0 build containerd-shim-runc-v2 containerd $containerd/containerd-shim-runc-v2 -tags=urfave_cli_no_docs,no_grpc
CGO_ENABLED=0 build ctr containerd $containerd/ctr -tags=urfave_cli_no_docs
# CNI plugins go into a folder of their own: a runtime's CNI_PATH should hold plugins and nothing else.
plugins=github.com/containernetworking/plugins/plugins
for plugin in main/bridge main/loopback main/ptp meta/portmap; do
  CGO_ENABLED=0 build "cni/${plugin#*/}" containerd "$plugins/$plugin"
done
echo "$bin"
