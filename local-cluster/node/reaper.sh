#!/usr/bin/env bash
# Removes a real node once the process that started it is gone, however it went (a test runner killed
# with SIGKILL included), as local-cluster/reaper.sh does for the control plane. Args: OWNER_PID STATE_DIR.
owner=$1 dir=$2
while kill -0 "$owner" 2>/dev/null && [[ -d "$dir" ]]; do sleep 1; done
exec bash "$(dirname "$0")/clean.sh" "$dir"
