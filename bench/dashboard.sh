#!/usr/bin/env bash
# The dashboard at scale (issue 17): one analysis of a synthetic log of CUSTOMERS customers
# (default 1,000,000; BG/NBD + Gamma-Gamma, bench/gen_transactions.py) stored in SQLite, then
# `retain serve` answers every page's data (target: p95 <= 200 ms on 2 cores;
# bench/dashboard_latency.py) and Chromium draws every page (target: <= 1 s;
# tests/browser/check.py prints "drawn in N ms" per page). Prints the analysis's time and peak
# memory first. Env: CUSTOMERS, DATA (/tmp/bench-dashboard), PORT (18089), PY (a python with
# numpy for the generator), REQUESTS (30), RETAIN_BIN.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(dirname "$HERE")"
CUSTOMERS="${CUSTOMERS:-1000000}"; DATA="${DATA:-/tmp/bench-dashboard}"; PORT="${PORT:-18089}"
PY="${PY:-python3}"
mkdir -p "$DATA"
[ -n "${RETAIN_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet)
RETAIN="${RETAIN_BIN:-$ROOT/target/release/retain}"
LOG="$DATA/log-$CUSTOMERS.csv"
[ -f "$LOG" ] || "$PY" "$HERE/gen_transactions.py" --customers "$CUSTOMERS" --out "$LOG"
rm -f "$DATA"/retain.db*
echo "== retain analyze on $CUSTOMERS customers"
/usr/bin/time -f "analyze: %e s, peak RSS %M KB" \
  "$RETAIN" analyze -t "$LOG" --name synthetic --store "sqlite://$DATA/retain.db" >/dev/null
"$RETAIN" serve --no-auth --addr "127.0.0.1:$PORT" --store "sqlite://$DATA/retain.db" 2>"$DATA/serve.log" &
SERVER=$!; trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
echo "== the data of every page"
python3 "$HERE/dashboard_latency.py" "http://127.0.0.1:$PORT" --requests "${REQUESTS:-30}"
echo "== every page drawn in Chromium"
/usr/bin/python3 "$ROOT/tests/browser/check.py" serve "http://127.0.0.1:$PORT" | grep -E "drawn in|OK|slowest"
