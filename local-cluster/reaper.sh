#!/usr/bin/env bash
# Stops a control plane's servers and removes its state once the process that started it is gone,
# however it went (a test runner killed with SIGKILL included). Args: OWNER_PID STATE_DIR.
owner=$1 dir=$2
while kill -0 "$owner" 2>/dev/null && [[ -d "$dir" ]]; do sleep 1; done
[[ -d "$dir" ]] || exit 0
pids=$(for file in "$dir"/*.pid; do [[ -f "$file" ]] && echo "$(<"$file")"; done)
for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
sleep 2
for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
rm -rf "$dir"
