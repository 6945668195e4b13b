#!/usr/bin/env bash
# Cleans up after a process that started servers once it is gone, however it went (a test runner killed
# with SIGKILL included); exits early if the folder goes first (a clean stop). Args: OWNER_PID STATE_DIR
# CLEAN_SCRIPT (stop.sh for a control plane, node/clean.sh for a node, node/clean-cluster.sh for both).
owner=$1 dir=$2 clean=$3
while kill -0 "$owner" 2>/dev/null && [[ -d "$dir" ]]; do sleep 1; done
[[ -d "$dir" ]] || exit 0
exec bash "$clean" "$dir"
