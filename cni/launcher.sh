#!/bin/sh
# topology-ipam launcher: installed as /opt/cni/bin/topology-ipam next to topology-ipam.mjs (the bundle).
# Runs the bundle with a node binary shipped next to it if there is one, else the first node on PATH.
# Runtimes call plugins with a minimal PATH, so ship node next to the plugin where that matters.
self=$0
dir=${self%/*}
[ "$dir" = "$self" ] && dir=.
if [ -x "$dir/node" ]; then
  node=$dir/node
else
  node=$(command -v node) || {
    printf '{"cniVersion":"1.0.0","code":110,"msg":"node runtime not found","details":"topology-ipam needs Node.js 20 or later: put a node binary next to %s or on PATH"}\n' "$self"
    exit 1
  }
fi
exec "$node" "$self.mjs" "$@"
