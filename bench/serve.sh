#!/usr/bin/env bash
# `retain serve` under load from wrk (Debian's package) on loopback: single-customer predictions
# with 3 reasons, then 1,000 customers per request. The model is the Telco churn model with
# retain's default settings (400 trees of depth 4, 19 features); the store is a SQLite file.
# Targets (issue 6): >= 10,000 req/s with p99 <= 5 ms single; p99 <= 50 ms for 1,000 customers.
# Env: DATA (/tmp/bench-serve), DURATION (30s), CONNECTIONS (32), BATCH_CONNECTIONS (2),
# THREADS (wrk threads, 1), PORT (18088), TRAIN_ARGS (more `retain train` flags), RETAIN_BIN.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(dirname "$HERE")"
DATA="${DATA:-/tmp/bench-serve}"; DURATION="${DURATION:-30s}"; PORT="${PORT:-18088}"
CONNECTIONS="${CONNECTIONS:-32}"; BATCH_CONNECTIONS="${BATCH_CONNECTIONS:-2}"; THREADS="${THREADS:-1}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
mkdir -p "$DATA"; rm -f "$DATA"/retain.db*
# RETAIN_BIN: a binary already built (the tests' build), instead of building one here.
[ -n "${RETAIN_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet)
RETAIN="${RETAIN_BIN:-$ROOT/target/release/retain}"
TELCO="$ROOT/data/telco_churn/Telco-Customer-Churn.csv"
export RETAIN_STORE="sqlite://$DATA/retain.db"
"$RETAIN" train churn --customers "$TELCO" --label Churn --id-col customerID --folds 2 \
    ${TRAIN_ARGS:-} -o "$DATA/churn.json" > /dev/null 2>&1
"$RETAIN" registry register churn "$DATA/churn.json" --alias production
TOKEN="$("$RETAIN" token create bench --scope predict 2>/dev/null)"; export TOKEN
# Request bodies: the first Telco customer, and the first 1,000, typed as the model reads them.
python3 - "$DATA/churn.json" "$TELCO" "$DATA" <<'PY'
import csv, json, sys
model, telco, out = sys.argv[1:]
kinds = {f["name"]: f["kind"] for f in json.load(open(model))["model"]["schema"]["features"]}
def customer(row):
    c = {"customer_id": row["customerID"]}
    for name, kind in kinds.items():
        v = row[name].strip()
        c[name] = None if v == "" else (float(v) if kind == "number" else v)
    return c
rows = [customer(r) for _, r in zip(range(1000), csv.DictReader(open(telco)))]
json.dump({"customers": rows[:1]}, open(f"{out}/one.json", "w"))
json.dump({"customers": rows}, open(f"{out}/batch.json", "w"))
PY
"$RETAIN" serve --addr "127.0.0.1:$PORT" 2> "$DATA/serve.log" &
SERVER=$!; trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/v1/models/churn/predict"
echo "== one customer per request, 3 reasons: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
BODY="$DATA/one.json" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$HERE/wrk_post.lua" "$URL" \
    | tail -1 | tee "$DATA/single.json"
echo "== 1,000 customers per request, 3 reasons: wrk -t$THREADS -c$BATCH_CONNECTIONS -d$DURATION"
BODY="$DATA/batch.json" wrk -t"$THREADS" -c"$BATCH_CONNECTIONS" -d"$DURATION" -s "$HERE/wrk_post.lua" "$URL" \
    | tail -1 | tee "$DATA/batch.json.result"
echo "server max RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^retain_predictions_total'
