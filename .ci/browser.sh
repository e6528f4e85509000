#!/usr/bin/env bash
# The dashboard in a real browser: Debian's chromium, headless, driven over its DevTools
# protocol by tests/browser/check.py (Python's standard library and Debian's python3-websockets).
# The demo's store (CDNOW and Telco analyses) is checked twice: the self-contained report opened
# from file:// with the network off, and `retain serve` signed in with a read token. Every page:
# no console error, no failed request, every chart draws as many marks as its data has; the
# at-risk table filters and exports. RETAIN_SCREENSHOTS=DIR keeps a screenshot of each page.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${RETAIN_BIN:-$target/release/retain}"
[ -x "$bin" ] || cargo test --release --workspace --no-run

if ! command -v chromium >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  echo "== installing chromium and python3-websockets (Debian's packages)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core python3-websockets >/dev/null
fi

work="$(mktemp -d /tmp/retain-ci-browser.XXXXXX)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$work" && "$bin" demo >/dev/null 2>&1)
store="sqlite://$work/retain-demo/retain.db"
shots=()
[ -n "${RETAIN_SCREENSHOTS:-}" ] && shots=(--screenshots "$RETAIN_SCREENSHOTS/report")

echo "== the report, from file:// with the network off"
/usr/bin/python3 tests/browser/check.py report "$work/retain-demo/report.html" "${shots[@]}"

echo "== the dashboard of retain serve, signed in with a read token"
token="$("$bin" token create browser --scope read --store "$store" 2>/dev/null)"
port="${RETAIN_CI_BROWSER_PORT:-58090}"
"$bin" serve --addr "127.0.0.1:$port" --store "$store" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/serve.log" >&2
    echo "retain serve did not start" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "${RETAIN_SCREENSHOTS:-}" ] && shots=(--screenshots "$RETAIN_SCREENSHOTS/serve")
/usr/bin/python3 tests/browser/check.py serve "http://127.0.0.1:$port" --token "$token" "${shots[@]}"
