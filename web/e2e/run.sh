#!/usr/bin/env bash
# Browser end-to-end tests: installs Debian's chromium and playwright-core if missing, starts
# `tandem serve` on a free port with a fresh database and Redis prefix, runs the tests in
# headless Chromium with a fake camera/microphone, and cleans up. Screenshots: web/e2e/out/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -x /usr/bin/chromium ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
(cd "$here" && npm ci --no-audit --no-fund --silent)
(cd "$root" && cargo build -q -p tandem)

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
suffix="$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')"
db="tandem_e2e_${suffix}"
data="$(mktemp -d)"
log="$here/out/server.log"
mkdir -p "$here/out"
pg_admin="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/${db}"
export TANDEM_ADDR="127.0.0.1:${port}"
export TANDEM_PUBLIC_URL="http://127.0.0.1:${port}"
export TANDEM_DATA_DIR="$data"
export TANDEM_REDIS_PREFIX="e2e:${suffix}:"
export TANDEM_WEB_DIR="$root/web"
export TANDEM_RELAY_HOSTS="${TANDEM_RELAY_HOSTS:-127.0.0.1,0.0.0.0}"
export TANDEM_DRAIN_SECS=1
# Paid sessions in the tests: test credit, and payouts small enough for one session's earnings.
export TANDEM_DEV_TOPUPS=1
export TANDEM_PAYOUT_MIN=100
# Short billing minutes and short-lived access tokens, so a test sees minutes charged one after
# another and sockets closed by the server at token expiry (and resumed) within seconds.
export TANDEM_BILLING_MINUTE_SECS=30
export TANDEM_ACCESS_TOKEN_TTL_SECS=30
# AI rooms: short audience rounds (no Daydream key: the local preview effect).
export TANDEM_AI_ROUND_SECS=4
# Every browser of the suite signs in from 127.0.0.1: a per-address budget for a whole suite.
export TANDEM_RATE_AUTH_ADDR=${TANDEM_RATE_AUTH_ADDR:-600/60}
export TANDEM_RATE_MAIL_ADDR=${TANDEM_RATE_MAIL_ADDR:-600/60}
# No SMTP: account mail is written to $data/mail, where the tests read the links (signups are
# verified through their link, as a person would).
export TANDEM_E2E_MAIL_DIR="$data/mail"

"${CARGO_TARGET_DIR:-$root/target}/debug/tandem" serve >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql "$pg_admin" -qc "drop database if exists \"${db}\" with (force)" >/dev/null 2>&1 || true
  redis-cli --scan --pattern "e2e:${suffix}:*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:${port}/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "tandem exited; see $log" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.2
done

# An operator for the dashboard test (operators are created only from the CLI).
export TANDEM_E2E_OPERATOR_EMAIL="op_${suffix}@example.test"
export TANDEM_E2E_OPERATOR_PASSWORD="correct horse battery staple"
TANDEM_OPERATOR_PASSWORD="$TANDEM_E2E_OPERATOR_PASSWORD" "${CARGO_TARGET_DIR:-$root/target}/debug/tandem" \
  admin create-operator --email "$TANDEM_E2E_OPERATOR_EMAIL" --handle "op_${suffix}" >/dev/null

cd "$here"
# Extra arguments go to node, e.g. --test-name-pattern=AI to run one test.
TANDEM_URL="http://127.0.0.1:${port}" CHROMIUM=/usr/bin/chromium node --test --test-concurrency=1 "$@" tests/
