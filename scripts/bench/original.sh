#!/usr/bin/env bash
# A faithful copy of the original shell `run` and `runs` (zsh functions in
# the first user's rc file; see shared/seeds), kept as the benchmarks'
# baseline. Only the directory is configurable (RUN_DIR), so a benchmark
# never touches ~/.local/share/run.
#
#   original.sh run [-n [TOPIC]] CMD [ARGS...]
#   original.sh runs
dir=${RUN_DIR:-$HOME/.local/share/run}

run() {
  local notify=false topic=${NTFY_TOPIC:-}
  if [ "$1" = "-n" ]; then
    notify=true
    shift
    if [ $# -gt 1 ] && ! command -v "$1" >/dev/null 2>&1; then
      topic=$1
      shift
    fi
  fi
  mkdir -p "$dir"
  local name ts log pid
  name=$(basename "$1")
  name=${name%.*}
  ts=$(date +%Y%m%d_%H%M%S)
  log="$dir/${name}_$ts.log"
  {
    echo "$ $*"
    echo "Started: $(date)"
    echo "---"
  } >>"$log"
  nohup "$@" >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/${name}_$ts.pid"
  if $notify; then
    # The watcher: poll once a second, then post; it never learns the code.
    (
      local start=$SECONDS
      while kill -0 "$pid" 2>/dev/null; do sleep 1; done
      curl -s -H "Title: $name finished" -d "$* ($((SECONDS - start))s)" "$topic" >/dev/null
    ) >/dev/null 2>&1 &
    disown
  fi
  echo "Started: ${name}_$ts (PID: $pid)"
}

runs() {
  local f pid name
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    name=$(basename "$f" .pid)
    if kill -0 "$pid" 2>/dev/null; then
      echo "● $name (PID: $pid) - running"
    else
      echo "○ $name (PID: $pid) - done"
    fi
  done
}

"$@"
