#!/usr/bin/env bash
# retain summarize vs DuckDB and polars on the same generated log, back to back (bench/README.md).
# Env: PY (python with numpy, duckdb, polars), DATA, CUSTOMERS, SEED, ROUNDS, FORMAT (csv or
# parquet: the same log converted by DuckDB, row groups of 122,880 rows).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(dirname "$HERE")"
PY="${PY:-/tmp/peers-venv/bin/python}"; DATA="${DATA:-/tmp/bench-data}"
CUSTOMERS="${CUSTOMERS:-3600000}"; SEED="${SEED:-11}"; ROUNDS="${ROUNDS:-2}"
mkdir -p "$DATA"
csv="$DATA/clv_${CUSTOMERS}_s${SEED}.csv"
[ -s "$csv" ] || "$PY" "$HERE/gen_transactions.py" --customers "$CUSTOMERS" --seed "$SEED" --out "$csv"
log="$csv"
if [ "${FORMAT:-csv}" = parquet ]; then
  log="${csv%.csv}.parquet"
  [ -s "$log" ] || "$PY" -c "import duckdb, sys; duckdb.sql(f\"COPY (SELECT * FROM read_csv_auto('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)\")" "$csv" "$log"
fi
echo "log: $log ($(wc -l < "$csv") lines of CSV, $(du -h "$log" | cut -f1))"
(cd "$ROOT" && cargo build --release --quiet)
RETAIN="$ROOT/target/release/retain"

# Runs a command under /usr/bin/time -v; prints "seconds peak_mib".
measure() {
  local t; t="$(mktemp "$DATA/time.XXXXXX")"
  /usr/bin/time -v -o "$t" "$@" > /dev/null
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
              /Maximum resident/ { m = $2 / 1024 } END { printf "%.2f %.0f\n", s, m }' "$t"
  rm -f "$t"
}

printf '%-6s %-8s %9s %10s\n' round tool seconds peak_MiB
for round in $(seq 1 "$ROUNDS"); do
  read -r rs rm < <(measure "$RETAIN" bench summarize -t "$log" --calibration-end 1997-09-30 --observation-end 1998-06-30)
  read -r ds dm < <(measure "$PY" "$HERE/summaries_peers.py" "$log" --tools duckdb)
  read -r ps pm < <(measure "$PY" "$HERE/summaries_peers.py" "$log" --tools polars)
  printf '%-6s %-8s %9s %10s\n' "$round" retain "$rs" "$rm" "$round" duckdb "$ds" "$dm" "$round" polars "$ps" "$pm"
  awk -v r="$rs" -v d="$ds" -v p="$ps" 'BEGIN { f = (d < p) ? d : p; printf "round %s: retain / faster peer = %.2f (DuckDB %.2fx, polars %.2fx of retain time)\n", "'"$round"'", r / f, d / r, p / r }'
done
