#!/usr/bin/env bash
# retain train churn vs LightGBM (../shared/bench/churn_peers.py) on the same customer table in the
# same run: k-fold CV AUC and training seconds, then scoring every customer with reasons.
# Env: PY (python with lightgbm), DATA, CUSTOMERS (default 1000000; 0 = the Telco table), SEED (7),
# FOLDS (5), RETAIN_ARGS (more `retain train` flags, e.g. "--rounds 200 --depth 5").
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(dirname "$HERE")"
PY="${PY:-/tmp/peers-venv/bin/python}"; DATA="${DATA:-/tmp/bench-data}"
CUSTOMERS="${CUSTOMERS:-1000000}"; SEED="${SEED:-7}"; FOLDS="${FOLDS:-5}"
PEERS="${PEERS:-$HERE/churn_peers.py}"
mkdir -p "$DATA"
if [ "$CUSTOMERS" = 0 ]; then
  csv="$ROOT/data/telco_churn/Telco-Customer-Churn.csv"; label=Churn; id=customerID
else
  csv="$DATA/churn_${CUSTOMERS}_s${SEED}.csv"; label=churned; id=customer_id
  [ -s "$csv" ] || "$PY" "$HERE/gen_churn_features.py" --customers "$CUSTOMERS" --seed "$SEED" --out "$csv"
fi
(cd "$ROOT" && cargo build --release --quiet)
RETAIN="$ROOT/target/release/retain"
"$PY" "$PEERS" "$csv" --label "$label" --id "$id" --folds "$FOLDS" | tee "$DATA/churn_lightgbm.json"
/usr/bin/time -f "retain max RSS %M KB, %e s wall" "$RETAIN" train churn --customers "$csv" --label "$label" \
    --id-col "$id" --folds "$FOLDS" ${RETAIN_ARGS:-} --format json \
    --predictions "$DATA/churn_predictions.parquet" 2> "$DATA/churn_retain.err" | tee "$DATA/churn_retain.json"
cat "$DATA/churn_retain.err"
"$PY" - "$DATA/churn_retain.json" "$DATA/churn_lightgbm.json" <<'PY'
import json, sys
ours, theirs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a, b = ours["cv_train_seconds"] / ours["folds"], theirs["train_seconds_per_fold"]
print(f"AUC retain {ours['cv']['auc']:.4f} ± {ours['cv']['auc_sd']:.4f}   LightGBM {theirs['auc_mean']:.4f} ± {theirs['auc_sd']:.4f}")
print(f"training per fold: retain {a:.2f} s   LightGBM {b:.2f} s   retain / LightGBM = {a / b:.2f}x (target <= 2x)")
PY
