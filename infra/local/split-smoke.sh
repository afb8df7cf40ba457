#!/usr/bin/env bash
# Smoke test of the split deployment: starts infra/local/run-split.sh (one process per service
# behind nginx) on its own address, database, Redis prefix and data dir, runs the README's
# "Try the API with curl" walk-through through nginx asserting every step, checks that /internal/
# is not reachable through nginx, then stops everything and drops its database.
#
#   infra/local/split-smoke.sh
#   TANDEM_BIN_DIR=target/debug infra/local/split-smoke.sh     # prebuilt binaries, no cargo build
#
# Environment: SMOKE_ADDR (default 127.0.0.1:9090), SPLIT_BASE_PORT (default 19080),
# SMOKE_DATABASE_URL (default .../tandem_split_smoke), REDIS_URL, TANDEM_BIN_DIR.
# Exits non-zero on the first failed step (printing the run's log tail).
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v jq >/dev/null || { echo "error: jq is needed (apt-get install jq)" >&2; exit 1; }
ADDR=${SMOKE_ADDR:-127.0.0.1:9090}
B=http://$ADDR
DB_URL=${SMOKE_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/tandem_split_smoke}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="tandem-split-smoke-$$:"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-split-smoke.XXXXXX")
RUN_LOG=$WORK/run-split.log

run_pid=""
finish() {
  rc=$?
  trap - EXIT INT TERM
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    echo "---- end of $RUN_LOG" >&2
    tail -n 30 "$RUN_LOG" >&2 || true
    for f in "$WORK"/data/split/logs/*.log; do
      [ -s "$f" ] || continue
      echo "---- end of $f" >&2
      tail -n 8 "$f" >&2
    done
  fi
  psql -q "${DB_URL%/*}/postgres" -c "drop database if exists ${DB_URL##*/} with (force)" >/dev/null 2>&1 \
    || echo "warning: could not drop ${DB_URL##*/}" >&2
  redis-cli -u "$REDIS" --scan --pattern "$PREFIX*" 2>/dev/null | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else echo "(logs kept in $WORK)" >&2; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting infra/local/run-split.sh on $ADDR (log: $RUN_LOG)"
TANDEM_METRICS_TOKEN= TANDEM_ADDR=$ADDR TANDEM_PUBLIC_URL=$B SPLIT_BASE_PORT=${SPLIT_BASE_PORT:-19080} \
  DATABASE_URL=$DB_URL REDIS_URL=$REDIS TANDEM_REDIS_PREFIX=$PREFIX TANDEM_DATA_DIR=$WORK/data \
  TANDEM_DRAIN_SECS=1 infra/local/run-split.sh >"$RUN_LOG" 2>&1 &
run_pid=$!

# A cargo build may come first: wait up to 20 minutes, as long as run-split.sh lives.
for _ in $(seq 1 2400); do
  grep -q "split deployment ready" "$RUN_LOG" && break
  kill -0 "$run_pid" 2>/dev/null || { echo "FAIL: run-split.sh exited before it was ready" >&2; exit 1; }
  sleep 0.5
done
grep -q "split deployment ready" "$RUN_LOG" || { echo "FAIL: not ready after 20 minutes" >&2; exit 1; }

passed=0
ok() { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { echo "FAIL: $1" >&2; [ $# -gt 1 ] && echo "      got: $2" >&2; exit 1; }
# req METHOD PATH [curl args...]: sets STATUS and BODY.
req() {
  local method=$1 path=$2 out
  shift 2
  out=$(curl -s -X "$method" -w '\n%{http_code}' "$B$path" "$@") || fail "$method $path: curl failed"
  STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
}
# expect STATUS JQ-FILTER DESCRIPTION: the last response had that status and the filter is true.
expect() {
  [ "$STATUS" = "$1" ] || fail "$3: status $STATUS, expected $1" "$BODY"
  echo "$BODY" | jq -e "$2" >/dev/null 2>&1 || fail "$3: $2 is not true" "$BODY"
  ok "$3"
}
J='content-type: application/json'
sfx=$(date +%s)$((RANDOM % 1000))
PW='correct horse battery'

echo "==> README walk-through against $B (through nginx)"
req GET /readyz
expect 200 '.status == "ready" and .postgres and .redis' "GET /readyz is ready"
req GET /openapi.json
expect 200 '(.paths | length) > 10 and (.paths | has("/v1/auth/signup")) and (.paths | has("/v1/rooms"))' \
  "GET /openapi.json lists the paths (web)"

req POST /v1/auth/signup -H "$J" \
  -d "{\"email\":\"cara$sfx@example.com\",\"password\":\"$PW\",\"handle\":\"cara_$sfx\",\"role\":\"creator\"}"
expect 201 '.access_token and .refresh_token and .user.role == "creator"' "signup creator 201 (auth)"
C=$BODY
req POST /v1/auth/signup -H "$J" \
  -d "{\"email\":\"finn$sfx@example.com\",\"password\":\"$PW\",\"handle\":\"finn_$sfx\",\"role\":\"fan\"}"
expect 201 '.access_token and .user.role == "fan"' "signup fan 201"
F=$BODY
CT=$(echo "$C" | jq -r .access_token)
FT=$(echo "$F" | jq -r .access_token)
CID=$(echo "$C" | jq -r .user.user_id)
REFRESH=$(echo "$C" | jq -r .refresh_token)

req POST /v1/auth/login -H "$J" -d "{\"email\":\"cara$sfx@example.com\",\"password\":\"$PW\"}"
expect 200 ".user.user_id == \"$CID\" and .access_token" "login"
req GET /v1/me -H "authorization: Bearer $CT"
expect 200 ".user_id == \"$CID\" and .handle == \"cara_$sfx\"" "GET /v1/me"

req POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$REFRESH\"}"
expect 200 ".refresh_token and .refresh_token != \"$REFRESH\" and .access_token" "refresh rotates the refresh token"
req POST /v1/auth/refresh -H "$J" -d "{\"refresh_token\":\"$REFRESH\"}"
expect 401 '.code == "refresh_token_reused"' "reusing the old refresh token: 401 refresh_token_reused"

req POST /v1/auth/password-reset -H "$J" -d "{\"email\":\"nobody$sfx@example.com\"}"
expect 202 '. == {}' "password reset: 202 whoever asks (auth)"
req GET /v1/auth/sessions -H "authorization: Bearer $CT"
expect 200 '(.sessions | length) >= 1 and (.sessions | all(has("session_id") and has("last_used_at")))' "the creator's sessions are listed (auth)"

req PUT /v1/presence -H "authorization: Bearer $CT" -H "$J" -d '{"status":"online"}'
expect 200 ".status == \"online\" and .user_id == \"$CID\"" "creator presence online (broker)"
req POST /v1/private-requests -H "authorization: Bearer $FT" -H "$J" -d "{\"creator_id\":\"$CID\"}"
[ "$STATUS" = 200 ] || [ "$STATUS" = 201 ] || fail "private request: status $STATUS" "$BODY"
echo "$BODY" | jq -e '.id' >/dev/null || fail "private request has no id" "$BODY"
ok "fan asks for a private session ($STATUS)"
RID=$(echo "$BODY" | jq -r .id)
req POST "/v1/private-requests/$RID/accept" -H "authorization: Bearer $CT"
expect 200 '.room.id' "creator accepts: a room"
ROOM=$(echo "$BODY" | jq -r .room.id)
req GET "/v1/rooms/$ROOM" -H "authorization: Bearer $FT"
expect 200 '(.slots | length) == 2' "the room has two slots"
req POST "/v1/rooms/$ROOM/end" -H "authorization: Bearer $FT"
expect 200 '.status == "ended"' "ending the room: status ended"

req GET /metrics
[ "$STATUS" = 404 ] || fail "GET /metrics through nginx: $STATUS, expected 404 (never public)" "$BODY"
BROKER=http://127.0.0.1:$((${SPLIT_BASE_PORT:-19080} + 2))
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BROKER/metrics")
[ "$STATUS" = 401 ] || fail "GET /metrics on the broker without the token: $STATUS, expected 401" ""
BODY=$(curl -s -H "authorization: Bearer $(cat "$WORK/data/metrics-token")" "$BROKER/metrics")
grep -q http_requests_total <<<"$BODY" || fail "GET /metrics on the broker with the token has no http_requests_total" ""
ok "GET /metrics: 404 through nginx, 401 without the token, served with it (broker)"

echo "==> routing checks"
for p in /internal/v1/users/$CID /internal/v1/rooms/$ROOM /internal; do
  req GET "$p"
  [ "$STATUS" = 404 ] || fail "GET $p through nginx: $STATUS, expected 404" "$BODY"
done
req POST "/internal/v1/payments/quote" -H "$J" -d '{}'
[ "$STATUS" = 404 ] || fail "POST /internal/v1/payments/quote through nginx: $STATUS, expected 404" "$BODY"
ok "/internal/... answers 404 through nginx"
req GET /v1/wallet -H "authorization: Bearer $FT"
[ "$STATUS" = 200 ] || fail "GET /v1/wallet (billing): $STATUS" "$BODY"
ok "GET /v1/wallet (billing)"
req GET /.well-known/jwks.json
expect 200 '.keys | length >= 1' "GET /.well-known/jwks.json (auth)"
req GET /docs/
[ "$STATUS" = 200 ] || fail "GET /docs/: $STATUS"
ok "GET /docs/ (web)"
# The WebSocket handshake reaches signaling through nginx (no token: 401 from signaling).
for _ in 1 2; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$B/v1/ws")
  [ "$code" = 401 ] || fail "GET /v1/ws without a token: $code, expected 401 from signaling"
done
ok "/v1/ws reaches signaling (401 without a token)"

echo "==> stopping"
kill -TERM "$run_pid"
wait "$run_pid" 2>/dev/null || true
run_pid=""
echo "smoke: $passed passed, 0 failed"
