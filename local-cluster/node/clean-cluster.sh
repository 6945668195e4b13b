#!/usr/bin/env bash
# Removes a local cluster (local-cluster/node/cluster.ts): every node under STATE_DIR/nodes with clean.sh,
# then the control plane in STATE_DIR/control-plane and its address link, then the folder. Arg: STATE_DIR.
dir=$1
[[ -d "$dir" ]] || exit 0
here=$(dirname "$0")
for node in "$dir"/nodes/*/; do [[ -d "$node" ]] && bash "$here/clean.sh" "${node%/}"; done
bash "$here/../stop.sh" "$dir/control-plane"
# The link of the API server's address (address.ts).
[[ -f "$dir/address-link" ]] && ip link delete "$(<"$dir/address-link")" 2>/dev/null
rm -rf "$dir"
