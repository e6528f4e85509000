#!/usr/bin/env bash
# retain vs lifetimes on the same per-customer summary: BG/NBD fit, Gamma-Gamma fit, scoring
# every customer. Env: PY (python with lifetimes), DATA, CUSTOMERS (default 1000000), SEED (7),
# REPEAT (retain's runs of every stage, default 3; the ratio uses their median, lifetimes runs once).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(dirname "$HERE")"
PY="${PY:-/tmp/peers-venv/bin/python}"; DATA="${DATA:-/tmp/bench-data}"
CUSTOMERS="${CUSTOMERS:-1000000}"; SEED="${SEED:-7}"; REPEAT="${REPEAT:-3}"
mkdir -p "$DATA"
csv="$DATA/clv_${CUSTOMERS}_s${SEED}.csv"; summary="$DATA/summary_${CUSTOMERS}_s${SEED}.csv"
[ -s "$csv" ] || "$PY" "$HERE/gen_transactions.py" --customers "$CUSTOMERS" --seed "$SEED" --out "$csv"
(cd "$ROOT" && cargo build --release --quiet)
RETAIN="$ROOT/target/release/retain"
"$RETAIN" summarize -t "$csv" --calibration-end 1997-09-30 --observation-end 1998-06-30 -o "$summary"
"$RETAIN" bench btyd --summary "$summary" --repeat "$REPEAT" | tee "$DATA/btyd_retain.jsonl"
"$PY" "$HERE/btyd_peers.py" "$summary" | tee "$DATA/btyd_lifetimes.jsonl"
"$PY" - "$DATA/btyd_retain.jsonl" "$DATA/btyd_lifetimes.jsonl" <<'PY'
import json, statistics, sys
ours = {}
for j in map(json.loads, open(sys.argv[1])):
    ours.setdefault(j["stage"], []).append(j["seconds"])
theirs = {j["stage"]: j for j in map(json.loads, open(sys.argv[2]))}
for stage in ["fit_bgnbd", "fit_pareto_nbd_100k", "fit_gg", "score"]:
    runs, b = ours[stage], theirs[stage]["seconds"]
    a = statistics.median(runs)
    print(f"{stage:20s} retain {a:8.3f} s (runs {min(runs):.3f}-{max(runs):.3f})   lifetimes {b:8.3f} s   lifetimes / retain = {b / max(a, 1e-9):7.1f}x")
print(f"{'fit_pareto_nbd':20s} retain {statistics.median(ours['fit_pareto_nbd']):8.3f} s on every customer (lifetimes: not run, minutes)")
PY
