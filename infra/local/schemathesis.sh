#!/usr/bin/env bash
# Property-based API test: schemathesis (PyPI, pinned) against /openapi.json of a `tandem serve`
# started here on free ports with its own database, Redis prefix and data dir, signed in as a
# creator, for a bounded time, with the checks not_a_server_error, status_code_conformance,
# content_type_conformance and response_schema_conformance. Every response the API gives must
# be one its document lists.
#
#   infra/local/schemathesis.sh                 # uses ${CARGO_TARGET_DIR:-target}/debug/tandem
#   SCHEMATHESIS_MAX_TIME=60 infra/local/schemathesis.sh
#
# Environment: SCHEMATHESIS_MAX_TIME (seconds, default 150), SCHEMATHESIS_MAX_EXAMPLES (per
# operation, default 25), SCHEMATHESIS_SEED, REDIS_URL, SCHEMATHESIS_DATABASE_URL.
# The venv lives in ~/.cache/tandem-ci (kept between runs).
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=4.32.5
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tandem-ci/schemathesis-$VERSION
BIN=${CARGO_TARGET_DIR:-target}/debug/tandem
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-150}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
DB_URL=${SCHEMATHESIS_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/tandem_schemathesis_$$}
PREFIX="tandem-schemathesis-$$:"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-schemathesis.XXXXXX")

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "==> installing schemathesis $VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
if [ ! -x "$BIN" ]; then
  echo "==> building the tandem binary"
  cargo build -q --bin tandem
fi

serve_pid=""
finish() {
  rc=$?
  trap - EXIT INT TERM
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    echo "---- end of $WORK/serve.log" >&2
    tail -n 30 "$WORK/serve.log" >&2 || true
  fi
  psql -q "${DB_URL%/*}/postgres" -c "drop database if exists ${DB_URL##*/} with (force)" >/dev/null 2>&1 \
    || echo "warning: could not drop ${DB_URL##*/}" >&2
  redis-cli -u "$REDIS" --scan --pattern "$PREFIX*" 2>/dev/null | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else echo "(logs and report kept in $WORK)" >&2; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$PORT
# The limits stay on (the middleware is exercised and 429 is documented on every write), but
# generous: the run sends far more requests from one address than any client would.
for class in AUTH WRITE HEARTBEAT MONEY ADMIN WEBHOOK QUESTION MAIL REPORT; do
  export "TANDEM_RATE_$class=100000/60" "TANDEM_RATE_${class}_ADDR=100000/60"
done
# Signups start verified, so the run's creator reaches the routes behind email verification
# (rooms, private sessions, top-ups) rather than only their 403.
echo "==> tandem serve on $B (log: $WORK/serve.log)"
TANDEM_ADDR=127.0.0.1:$PORT TANDEM_PUBLIC_URL=$B DATABASE_URL=$DB_URL REDIS_URL=$REDIS \
  TANDEM_REDIS_PREFIX=$PREFIX TANDEM_DATA_DIR=$WORK/data TANDEM_WORKERS=2 TANDEM_DRAIN_SECS=1 \
  TANDEM_DEV_TOPUPS=1 TANDEM_DEV_VERIFIED_SIGNUPS=1 RUST_LOG=${RUST_LOG:-warn} "$BIN" serve >"$WORK/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 600); do
  curl -sf "$B/healthz" >/dev/null 2>&1 && break
  kill -0 "$serve_pid" 2>/dev/null || { echo "FAIL: tandem serve exited" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$B/healthz" >/dev/null || { echo "FAIL: tandem serve is not healthy" >&2; exit 1; }

TOKEN=$(curl -sf -X POST "$B/v1/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"st@example.com","password":"correct horse battery","handle":"schemathesis","role":"creator"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
[ -n "$TOKEN" ] || { echo "FAIL: could not sign up" >&2; exit 1; }

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
ST=("$VENV/bin/schemathesis" --config-file "$PWD/infra/local/schemathesis.toml" run "$B/openapi.json" --checks "$CHECKS" --max-examples "$MAX_EXAMPLES"
  --request-timeout 10 --workers 2 --no-color --report junit --report-dir "$WORK/report"
  --suppress-health-check all ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"})

# 1. Everything but logout, the session list and the webhooks, as the signed-in creator. Logout
#    and `DELETE /v1/auth/sessions` (sign out everywhere) are run apart (below) because they
#    would revoke the token every other request carries; the webhooks are excluded because
#    schemathesis cannot sign deliveries (each is refused before any work, see the webhook tests
#    in broker and billing). One regex excludes them all: a second --exclude-path* option would
#    replace the first instead of adding to it.
# schemathesis keeps its state in ./.schemathesis: run it in the scratch directory.
cd "$WORK"
# A crash inside the tool itself is not a finding about the API: with Python 3.11.7, hypothesis
# now and then dies with `SystemError: AST constructor recursion depth mismatch` (a CPython bug,
# fixed in 3.11.8) while describing a filter, before it sends the operation's requests; which
# operation it hits changes from run to run. A run whose only errors are that crash passes, with
# the operations named; any API failure, or any other error, fails it.
st_run() {
  local out rc crashes errors
  out="$WORK/run-$RANDOM.log"
  set +e
  "${ST[@]}" "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] && return 0
  grep -q "= FAILURES =" "$out" && return "$rc"
  crashes=$(grep -c "SystemError: AST constructor recursion depth mismatch" "$out" || true)
  errors=$(grep -c "^Runtime Error$" "$out" || true)
  if [ "$crashes" -gt 0 ] && [ "$crashes" -eq "$errors" ] && ! grep -q "^Network Error\|^Schema Error" "$out"; then
    echo "==> warning: schemathesis crashed inside hypothesis (CPython 3.11.7 bug, not an API failure) on:"
    grep -B1 "^Runtime Error$" "$out" | grep "^___" || true
    return 0
  fi
  return "$rc"
}
echo "==> schemathesis $VERSION: every operation but logout, sessions and webhooks, ${MAX_TIME}s at most"
st_run --max-time "$MAX_TIME" -H "Authorization: Bearer $TOKEN" \
  --exclude-path-regex '^(/v1/webhooks/.*|/v1/auth/logout|/v1/auth/sessions)$'
# 2. Logout and the session list, without the run's token.
echo "==> schemathesis $VERSION: logout and sessions"
st_run --max-time 30 --include-path-regex '^/v1/auth/(logout|sessions)$'
echo "==> schemathesis passed"
