#!/usr/bin/env bash
# Stops the servers of a folder (every <name>.pid in it) and removes the folder. Arg: STATE_DIR.
dir=$1
[[ -d "$dir" ]] || exit 0
# shellcheck source=servers.sh
source "$(dirname "$0")/servers.sh"
stop_servers "$dir"
rm -rf "$dir"
