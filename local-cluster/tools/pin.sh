#!/usr/bin/env bash
# Regenerates the wrapper modules from versions.env. Run by hand after changing a pin; the result is committed.
# k8s.io/kubernetes lists its staging modules at v0.0.0 and points them at ./staging with `replace`;
# a module that depends on it must replace each one with the published v0.X.Y, so the list is read
# from the kubernetes go.mod itself rather than typed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
staging_version="v0.${KUBE_VERSION#v1.}"

kube_mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
cd "$here/kube"
rm -f go.mod go.sum
go mod init topology-ipam.dev/local-cluster/tools/kube >/dev/null 2>&1
sed -n '/^replace (/,/^)/p' "$kube_mod" \
  | sed -n 's#^\s*\(k8s\.io/[^ ]*\) => ./staging/src/.*#\1#p' \
  | while read -r mod; do go mod edit -replace "$mod=$mod@$staging_version"; done
go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION" -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
# `go mod edit -tool` + tidy, not `go get -tool`: get would upgrade kubernetes past the pin.
for tool in k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet \
  go.etcd.io/etcd/server/v3; do
  go mod edit -tool "$tool"
done
go mod tidy
# Minimal version selection takes the newer of our pin and what kubernetes requires: say so rather
# than build another etcd than versions.env names.
etcd=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
if [[ "$etcd" != "$ETCD_VERSION" ]]; then
  echo "kubernetes $KUBE_VERSION requires etcd $etcd, newer than ETCD_VERSION=$ETCD_VERSION in versions.env" >&2
  exit 1
fi

cd "$here/helm"
rm -f go.mod go.sum
go mod init topology-ipam.dev/local-cluster/tools/helm >/dev/null 2>&1
go mod edit -require "helm.sh/helm/v3@$HELM_VERSION" -tool helm.sh/helm/v3/cmd/helm
go mod tidy

cd "$here/containerd"
rm -f go.mod go.sum
go mod init topology-ipam.dev/local-cluster/tools/containerd >/dev/null 2>&1
go mod edit -require "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" \
  -require "github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION"
for tool in github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/main/ptp \
  github.com/containernetworking/plugins/plugins/meta/portmap; do
  go mod edit -tool "$tool"
done
go mod tidy
plugins=$(go list -m -f '{{.Version}}' github.com/containernetworking/plugins)
if [[ "$plugins" != "$CNI_PLUGINS_VERSION" ]]; then
  echo "containerd $CONTAINERD_VERSION requires CNI plugins $plugins, newer than CNI_PLUGINS_VERSION=$CNI_PLUGINS_VERSION in versions.env" >&2
  exit 1
fi
