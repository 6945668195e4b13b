#!/usr/bin/env bash
# Removes a real node (local-cluster/node/node.ts) and everything it left on the host. Arg: the node's STATE_DIR.
# Order matters: the daemons first (so nothing restarts a container), then every container and shim
# containerd recorded, then the mounts under the folder (overlay roots, network namespaces, shm), the
# kubelet's cgroups, the node's bridge and veth, the kernel settings the kubelet changed, what the kubelet and
# containerd write outside any folder they are given (folders left if something else uses them), and the
# folder last.
[[ -d "$1" ]] || exit 0
# Mount points are listed by their real path: a folder reached through a symbolic link (.cache is one in
# a git worktree) must be resolved to find them.
dir=$(realpath "$1")
host_id=$(cat "$dir/host-id" 2>/dev/null)
# shellcheck source=../servers.sh
source "$(dirname "$0")/../servers.sh"
stop_servers "$dir"
# Containers by the pid files containerd keeps per task; their shims by the socket address they were
# given (a shim outlives containerd); and what each left outside the folder: the shim's socket (named
# by a hash of containerd's address, namespace and id) and libcni's cached results.
tasks="$dir/containerd/state/io.containerd.runtime.v2.task/k8s.io"
socket="$dir/containerd.sock"
if [[ -d "$tasks" ]]; then
  for file in $(find "$tasks" -name init.pid); do kill -KILL "$(<"$file")" 2>/dev/null; done
  for process in /proc/[0-9]*; do
    grep -qzx -- "$socket" "$process/cmdline" 2>/dev/null && kill -KILL "${process#/proc/}" 2>/dev/null
  done
  for container in $(ls "$tasks"); do
    rm -f "/run/containerd/s/$(printf '%s' "$socket/k8s.io/$container" | sha256sum | cut -d' ' -f1)"
    rm -f /var/lib/cni/results/*-"$container"-*
  done
fi
# Mount points are the fifth field of mountinfo; the deepest go first.
for _ in 1 2 3; do
  mounts=$(awk -v prefix="$dir/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  [[ -z "$mounts" ]] && break
  for mount in $mounts; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null; done
done
if [[ -n "$host_id" ]]; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=0
    for hierarchy in /sys/fs/cgroup/*/; do
      [[ -d "$hierarchy$host_id" ]] || continue
      find "$hierarchy$host_id" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ -d "$hierarchy$host_id" ]] && left=1
    done
    ((left)) || break
    sleep 0.5
  done
  # The bridge of the harness's conflist, and the host's end of the node's veth (namespaces.ts).
  ip link delete "$host_id" 2>/dev/null
  ip link delete "${host_id}v" 2>/dev/null
fi
if [[ -f "$dir/sysctls" ]]; then
  while read -r key value; do echo "$value" >"/proc/sys/$key"; done <"$dir/sysctls"
fi
rm -f /var/lib/kubelet/device-plugins/kubelet.sock
rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet /var/lib/cni/results /var/lib/cni \
  /run/containerd/s /run/containerd 2>/dev/null
rm -rf "$dir"
