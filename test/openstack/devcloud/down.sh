#!/bin/bash
# Stops the dev cloud: only the processes whose ids up.sh recorded (and their children), never by name.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
pids=()
collect() { local p=$1 c; pids+=("$p"); for c in $(pgrep -P "$p" 2>/dev/null); do collect "$c"; done; }
for f in "$PIDS"/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f"); rm -f "$f"
  kill -0 "$p" 2>/dev/null && collect "$p"
done
if [ ${#pids[@]} -eq 0 ]; then echo "devcloud: nothing running"; exit 0; fi
kill -TERM "${pids[@]}" 2>/dev/null
alive=()
for _ in $(seq 1 40); do
  alive=(); for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
  [ ${#alive[@]} -eq 0 ] && break; sleep 0.5
done
if [ ${#alive[@]} -gt 0 ]; then echo "devcloud: SIGKILL ${alive[*]}"; kill -KILL "${alive[@]}" 2>/dev/null; fi
echo "devcloud: stopped ${#pids[@]} processes"
