#!/usr/bin/env bash
# Headless locust run against $ELMOL_URL, or against a local uvicorn server started here and stopped at the end.
#   bash loadtest/run.sh                                  # local server, 10 users for 60 s
#   ELMOL_URL=http://127.0.0.1:8000 bash loadtest/run.sh  # e.g. against `docker compose up`
# Knobs: ELMOL_USERS (10), ELMOL_SPAWN_RATE (5), ELMOL_DURATION (60s), ELMOL_MODEL_DIR (models/default),
# ELMOL_REPORT_DIR (reports/loadtest), ELMOL_STEP_LOAD=1 (stepped users, ignores the three above),
# ELMOL_PIN=0 (do not pin server and locust to separate CPUs). Extra arguments go to locust.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
[[ -x $PY ]] || PY=python3
USERS=${ELMOL_USERS:-10}
SPAWN_RATE=${ELMOL_SPAWN_RATE:-5}
DURATION=${ELMOL_DURATION:-60s}
MODEL_DIR=${ELMOL_MODEL_DIR:-models/default}
OUT=${ELMOL_REPORT_DIR:-reports/loadtest}
mkdir -p "$OUT"

server_pid=""
stop_server() {
  [[ -z $server_pid ]] && return
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

is_ready() {
  "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/ready", timeout=1)' "$1" 2>/dev/null
}

wait_ready() {  # up to 60 s; give up early if the server we started has died
  for _ in $(seq 120); do
    is_ready "$1" && return 0
    if [[ -n $server_pid ]] && ! kill -0 "$server_pid" 2>/dev/null; then
      echo "server exited; its log:" >&2; tail -20 "$OUT/server.log" >&2; return 1
    fi
    sleep 0.5
  done
  echo "$1/ready did not answer 200 within 60 s" >&2
  return 1
}

# With two or more CPUs, server on CPU 0 and locust on CPU 1, so the load generator does not steal the server's CPU.
server_pin=() client_pin=()
if [[ ${ELMOL_PIN:-1} == 1 ]] && command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  server_pin=(taskset -c 0) client_pin=(taskset -c 1)
fi

if [[ -z ${ELMOL_URL:-} ]]; then
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  ELMOL_URL=http://127.0.0.1:$port
  "${server_pin[@]}" "$PY" -m service --port "$port" --model-dir "$MODEL_DIR" --log-level warning \
    >"$OUT/server.log" 2>&1 &
  server_pid=$!
  echo "started server pid $server_pid on $ELMOL_URL (log: $OUT/server.log)"
else
  client_pin=()  # the server is elsewhere: pinning locust alone buys nothing
fi
wait_ready "$ELMOL_URL"

args=(--headless -f loadtest/locustfile.py --host "$ELMOL_URL" --csv "$OUT/run" --html "$OUT/report.html"
      --only-summary)
[[ ${ELMOL_STEP_LOAD:-0} == 1 ]] || args+=(-u "$USERS" -r "$SPAWN_RATE" -t "$DURATION")
export ELMOL_SERVER_TIMING_OUT=${ELMOL_SERVER_TIMING_OUT:-$OUT/server_timing.json}

set +e
"${client_pin[@]}" "$PY" -m locust "${args[@]}" "$@"
rc=$?
set -e
echo "report: $OUT/report.html  stats: $OUT/run_stats.csv  history: $OUT/run_stats_history.csv"
echo "failures: $OUT/run_failures.csv  server-side times: $ELMOL_SERVER_TIMING_OUT  (locust exit code $rc)"
exit $rc
