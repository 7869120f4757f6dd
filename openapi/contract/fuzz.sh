#!/usr/bin/env bash
# Property-based API fuzzing: schemathesis over the served OpenAPI document, every check,
# against the server that harness.py started (LOYALCAST_BASE_URL, LOYALCAST_API_KEY).
# Every operation is tested but sign-out (it would end the run's own session).
# One worker: with two threads, hypothesis describing its strategies calls `ast.parse` from
# both at once, and CPython 3.11 then fails with "SystemError: AST constructor recursion
# depth mismatch" (a thread-safety bug of the interpreter, seen in a CI run of this suite).
#   fuzz.sh EXAMPLES [SEED]    EXAMPLES generated cases per operation and phase
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
examples="${1:?examples per operation}"
seed="${2:-20261202}"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
report="${FUZZ_REPORT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/loyalcast-fuzz.XXXXXX")}"
echo "fuzz: $examples examples per operation, seed $seed; reports in $report"
exec st --config-file "$here/schemathesis.toml" run "$LOYALCAST_BASE_URL/api/openapi.json" \
  --header "Authorization: Bearer $LOYALCAST_API_KEY" \
  --checks all \
  --exclude-operation-id auth_logout \
  --max-examples "$examples" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 30 \
  --report junit --report-dir "$report" \
  --output-truncate true
