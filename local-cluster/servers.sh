# Sourced by stop.sh and node/clean.sh. stop_servers DIR: sends SIGTERM to the process of every
# <name>.pid in DIR, waits up to 5 s for them to exit, then sends SIGKILL to what is left.
stop_servers() {
  local file pid alive
  local -a pids=()
  for file in "$1"/*.pid; do [[ -f "$file" ]] && pids+=("$(<"$file")"); done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in {1..10}; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
}
