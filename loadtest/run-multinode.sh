#!/usr/bin/env bash
# Start NODES Tandem nodes on this machine (each `tandem serve`: auth, broker, signaling, billing,
# relay) against one PostgreSQL and one Redis, run a load-test scenario across all of them, then
# stop them. Clients are spread over the nodes, so creator and fan of a pair usually sit on
# different nodes and every relay crosses Redis.
#
#   loadtest/run-multinode.sh [scenario] [tandem-loadtest options...]
#   NODES=3 loadtest/run-multinode.sh private --pairs 1000 --duration 60s
#
# Environment: NODES (default 3), BASE_PORT (default 8081), PROFILE (release|debug, default
# release), DATABASE_URL (default a dedicated tandem_loadtest database), OUT (default
# loadtest-out/multinode), PAIRS (accounts to seed, default from --pairs or 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-private}
shift || true
NODES=${NODES:-3}
BASE_PORT=${BASE_PORT:-8081}
PROFILE=${PROFILE:-release}
OUT=${OUT:-loadtest-out/multinode}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/tandem_loadtest}
export TANDEM_REDIS_PREFIX=${TANDEM_REDIS_PREFIX:-tandem-lt:}
export TANDEM_DATA_DIR=${TANDEM_DATA_DIR:-$OUT/data}
export RUST_LOG=${RUST_LOG:-warn}
# Tandem nodes share the signing key and the media-token secret through the data dir.

pairs=1000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--pairs" ]; then pairs=${args[$((i + 1))]}; fi
done
PAIRS=${PAIRS:-$pairs}

infra/local/ensure-services.sh
if [ "$PROFILE" = release ]; then
  cargo build --release --locked --bin tandem --bin tandem-loadtest
  bin=target/release
else
  cargo build --locked --bin tandem --bin tandem-loadtest
  bin=target/debug
fi
mkdir -p "$OUT"

# Each node may hold only so many open files; raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" || true
echo "==> open-files limit per process: $(ulimit -n)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Migrate once before the nodes start racing for it.
"$bin/tandem" migrate >/dev/null

targets=()
for ((n = 0; n < NODES; n++)); do
  port=$((BASE_PORT + n))
  TANDEM_ADDR=127.0.0.1:$port TANDEM_PUBLIC_URL=http://127.0.0.1:$port TANDEM_DRAIN_SECS=2 \
    "$bin/tandem" serve >"$OUT/node-$n.log" 2>&1 &
  pids+=($!)
  targets+=(--target "http://127.0.0.1:$port")
done
for ((n = 0; n < NODES; n++)); do
  port=$((BASE_PORT + n))
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "node $n did not start; see $OUT/node-$n.log" >&2; exit 1; }
done
echo "==> $NODES nodes ready: ${targets[*]}"

accounts="$OUT/accounts-$PAIRS.jsonl"
if [ ! -s "$accounts" ]; then
  "$bin/tandem-loadtest" seed "${targets[@]:0:2}" --pairs "$PAIRS" --accounts "$accounts" --concurrency 16
fi
"$bin/tandem-loadtest" "$scenario" "${targets[@]}" --accounts "$accounts" --out "$OUT/$scenario" "$@"
