#!/usr/bin/env bash
# Runs the end-to-end suite against a real Loyalcast server:
#   starts `loyalcast serve` on a free port with a fresh temporary SQLite database seeded
#   with the demo merchant, serving the built dashboard (frontend/dist); waits for /readyz;
#   runs `node --test`; stops the server; exits non-zero when anything failed.
#
# Needs: the server binary (cargo build -p loyalcast), the built dashboard
# (cd frontend && trunk build --release), Node 20+, and Chromium at /usr/bin/chromium.
# Environment:
#   LOYALCAST_BIN   the server binary      (default: <repo>/target/debug/loyalcast)
#   LOYALCAST_SPA   the built dashboard    (default: <repo>/frontend/dist)
#   E2E_CHROMIUM    the browser            (default: /usr/bin/chromium)
#   E2E_KEEP_LOGS=1 keep the server log and database after a run
# Arguments, if any, are a command to run instead of the tests (with E2E_BASE_URL set),
# e.g. `bash e2e/run.sh node screenshots.js`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin="${LOYALCAST_BIN:-$repo/target/debug/loyalcast}"
spa="${LOYALCAST_SPA:-$repo/frontend/dist}"

fail() { echo "e2e: $*" >&2; exit 2; }
[ -x "$bin" ] || fail "no server binary at $bin (build it with: cargo build -p loyalcast)"
[ -f "$spa/index.html" ] || fail "no dashboard at $spa (build it with: cd frontend && trunk build --release)"
[ -x "${E2E_CHROMIUM:-/usr/bin/chromium}" ] || fail "no Chromium at ${E2E_CHROMIUM:-/usr/bin/chromium}"
command -v node >/dev/null || fail "node is not installed"
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund) || fail "npm ci failed in e2e/"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/loyalcast-e2e.XXXXXX")"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
log="$tmp/server.log"
server_pid=""

cleanup() {
  status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$log" ]; then
    echo "---- last lines of the server log ($log) ----" >&2
    tail -n 40 "$log" >&2 || true
  fi
  if [ "${E2E_KEEP_LOGS:-0}" = "1" ]; then
    echo "e2e: server log and database kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

echo "e2e: starting $bin serve on $base (database in $tmp)"
# The operator's settings: a token for top-ups and how merchants are told to buy credits.
export E2E_OPERATOR_TOKEN="e2e-operator-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
LOYALCAST_OPERATOR_TOKEN="$E2E_OPERATOR_TOKEN" \
LOYALCAST_CREDITS_PURCHASE_URL="https://billing.example.com/credits" \
LOYALCAST_CREDITS_PURCHASE_TEXT="Credits are billed monthly by Example Loyalty." \
LOYALCAST_DATABASE_URL="sqlite://$tmp/e2e.db?mode=rwc" \
LOYALCAST_BIND="127.0.0.1:$port" \
LOYALCAST_SPA_DIR="$spa" \
LOYALCAST_SEED_DEMO=true \
  "$bin" serve >"$log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "e2e: the server exited before it was ready" >&2
    exit 1
  fi
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$base/readyz"; then
    ready=1
    break
  fi
  sleep 0.5
done
[ -n "$ready" ] || { echo "e2e: $base/readyz did not answer 200 within 60 s" >&2; exit 1; }
echo "e2e: server ready"

cd "$here"
if [ "$#" -gt 0 ]; then
  # Any other command against the same fresh server, e.g. `e2e/run.sh node screenshots.js`.
  E2E_BASE_URL="$base" "$@"
else
  E2E_BASE_URL="$base" node --test --test-concurrency=1 tests/
fi
