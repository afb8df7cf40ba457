#!/usr/bin/env bash
# Start NODES Tandem nodes on this machine (each `tandem serve`: auth, broker, signaling, billing,
# relay) against one PostgreSQL and one Redis, run a load-test scenario across all of them, then
# stop them. Clients are spread over the nodes, so creator and fan of a pair usually sit on
# different nodes and every relay crosses Redis.
#
#   loadtest/run-multinode.sh [scenario] [tandem-loadtest options...]
#   NODES=3 loadtest/run-multinode.sh private --pairs 1000 --duration 60s
#   NODES=1 loadtest/run-multinode.sh signin --pairs 500 --rate 200 --duration 60s
#   SPLIT=1 loadtest/run-multinode.sh private --pairs 1000 --duration 60s --price-per-minute 10
#
# SPLIT=1 runs the split topology instead (infra/local/run-split.sh: one process per service,
# two signaling processes, nginx in front on 127.0.0.1:BASE_PORT, dev top-ups on), drives it
# through nginx, and writes each process's CPU seconds and peak memory over the run to
# OUT/split-processes.txt, then runs `tandem admin ledger-check`.
#
# CHAOS=1 starts a Redis (port CHAOS_REDIS_PORT, default 6391) and a PostgreSQL cluster (port
# CHAOS_PG_PORT, default 5441, a fresh data dir under OUT) of the run's own, so faults never touch
# the machine's servers; writes OUT/chaos-control.json (node pids, the Redis command line, the
# postmaster pid) and passes it to the tool, which injects the `--chaos` schedule:
#
#   CHAOS=1 loadtest/run-multinode.sh private --pairs 300 --duration 6m --price-per-minute 10 \
#     --chaos kill-node@90s,redis-restart@180s,pg-pause:5s@270s
#
# then runs `tandem admin ledger-check` against the run's database.
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
# Every simulated client comes from this machine's address: the per-address rate limits would
# refuse the run, so they are off (load tests only).
export TANDEM_RATE_LIMITS=${TANDEM_RATE_LIMITS:-off}
# Seeded accounts go live and pay without opening a verification link.
export TANDEM_DEV_VERIFIED_SIGNUPS=${TANDEM_DEV_VERIFIED_SIGNUPS:-1}
# Tandem nodes share the signing key and the media-token secret through the data dir.

pairs=1000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--pairs" ]; then pairs=${args[$((i + 1))]}; fi
done
PAIRS=${PAIRS:-$pairs}

infra/local/ensure-services.sh
# Long runs grow the tables from nothing to tens of thousands of rows: without autovacuum's
# ANALYZE, statements prepared while they were empty keep plans that scan whole tables (the
# reaper's idle-room join took 16 s a tick at 4,000 rooms). Production servers run it; turn it
# on where a development server has it off.
if [ "$(psql "$DATABASE_URL" -Atc "show autovacuum" 2>/dev/null || psql "${DATABASE_URL%/*}/postgres" -Atc "show autovacuum" 2>/dev/null)" = off ]; then
  echo "==> PostgreSQL has autovacuum off; turning it on (ALTER SYSTEM, reload)"
  psql "${DATABASE_URL%/*}/postgres" -qc "alter system set autovacuum = on" -c "select pg_reload_conf()" >/dev/null
fi
# SKIP_BUILD=1 uses the binaries already in target/<profile>.
if [ "$PROFILE" = release ]; then
  [ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked --bins
  bin=target/release
else
  [ "${SKIP_BUILD:-0}" = 1 ] || cargo build --locked --bins
  bin=target/debug
fi
mkdir -p "$OUT"

# Each node may hold only so many open files; raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" || true
echo "==> open-files limit per process: $(ulimit -n)"

if [ "${SPLIT:-0}" = 1 ]; then
  ulimit -n "$(ulimit -Hn)" || true
  export TANDEM_DEV_TOPUPS=1 TANDEM_BIN_DIR=$bin TANDEM_ADDR=127.0.0.1:$BASE_PORT
  export NGINX_WORKERS=${NGINX_WORKERS:-2} NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-16000}
  export NGINX_WORKER_FILES=${NGINX_WORKER_FILES:-19000}
  infra/local/run-split.sh >"$OUT/run-split.log" 2>&1 &
  split_pid=$!
  trap 'kill -TERM $split_pid 2>/dev/null; wait $split_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 240); do
    grep -q 'split deployment ready' "$OUT/run-split.log" 2>/dev/null && break
    kill -0 $split_pid 2>/dev/null || { cat "$OUT/run-split.log" >&2; exit 1; }
    sleep 0.5
  done
  grep -q 'split deployment ready' "$OUT/run-split.log" || { echo "the split topology did not start" >&2; exit 1; }
  # name pid, from run-split.sh's table
  mapfile -t procs < <(awk '$2 == "pid" {print $1" "$3}' "$OUT/run-split.log")
  # CPU ticks of a process and its children (nginx's workers are children of its master).
  cpu_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
      total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
  }
  declare -A start_ticks
  for p in "${procs[@]}"; do set -- $p; start_ticks[$1]=$(cpu_ticks "$2"); done
  target=(--target "http://$TANDEM_ADDR")
  accounts="$OUT/accounts-$PAIRS.jsonl"
  [ -s "$accounts" ] || "$bin/tandem-loadtest" seed "${target[@]}" --pairs "$PAIRS" --accounts "$accounts" --concurrency 16
  started=$SECONDS
  lt_rc=0
  "$bin/tandem-loadtest" "$scenario" "${target[@]}" --accounts "$accounts" --out "$OUT/$scenario" "${args[@]}" || lt_rc=$?
  elapsed=$((SECONDS - started))
  hz=$(getconf CLK_TCK)
  {
    printf '%-12s %8s %14s %10s %12s\n' process pid cpu_seconds cores_avg peak_rss_mib
    for p in "${procs[@]}"; do
      set -- $p
      ticks=$(( $(cpu_ticks "$2") - ${start_ticks[$1]} ))
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$2/status" 2>/dev/null || echo 0)
      awk -v n="$1" -v pid="$2" -v t="$ticks" -v hz="$hz" -v e="$elapsed" -v m="$hwm" \
        'BEGIN { printf "%-12s %8s %14.1f %10.2f %12.1f\n", n, pid, t / hz, (e > 0 ? t / hz / e : 0), m / 1024 }'
    done
    echo "(over the ${elapsed}s of the $scenario run, seed excluded)"
  } | tee "$OUT/split-processes.txt"
  "$bin/tandem" admin ledger-check | tee "$OUT/ledger-check.txt"
  exit "$lt_rc"
fi

pids=()
chaos_args=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${CHAOS:-0}" = 1 ]; then
    redis-cli -p "$CHAOS_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ "${CHAOS:-0}" = 1 ]; then
  CHAOS_REDIS_PORT=${CHAOS_REDIS_PORT:-6391}
  CHAOS_PG_PORT=${CHAOS_PG_PORT:-5441}
  chaos_dir=$(realpath "$OUT")/chaos
  pgdata=$chaos_dir/pgdata
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  redis-cli -p "$CHAOS_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$chaos_dir"
  mkdir -p "$chaos_dir"
  redis_cmd=(redis-server --port "$CHAOS_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --maxclients 30000)
  "${redis_cmd[@]}" >"$chaos_dir/redis.log" 2>&1 &
  redis_pid=$!
  mkdir -p "$pgdata"
  [ "$(id -u)" -eq 0 ] && chown postgres "$chaos_dir" "$pgdata"
  as_pg "$pgbin/initdb" -D "$pgdata" -A trust -U postgres >"$chaos_dir/initdb.log"
  as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$chaos_dir/postgres.log" -w \
    -o "-p $CHAOS_PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null
  pg_pid=$(head -1 "$pgdata/postmaster.pid")
  export DATABASE_URL=postgres://postgres:postgres@127.0.0.1:$CHAOS_PG_PORT/tandem_loadtest
  export REDIS_URL=redis://127.0.0.1:$CHAOS_REDIS_PORT
  # The run's own throwaway database: fans top up without Stripe.
  export TANDEM_DEV_TOPUPS=1
  echo "==> chaos: own Redis on :$CHAOS_REDIS_PORT (pid $redis_pid), PostgreSQL on :$CHAOS_PG_PORT (pid $pg_pid)"
fi
# The nodes' /metrics need a token; tandem-loadtest scrapes with the same one.
export TANDEM_METRICS_TOKEN=${TANDEM_METRICS_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}

# Migrate once before the nodes start racing for it.
"$bin/tandem" migrate >/dev/null

targets=()
for ((n = 0; n < NODES; n++)); do
  port=$((BASE_PORT + n))
  # A port someone else listens on would answer /readyz for a node that never started.
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "port $port is already in use (another Tandem?); set BASE_PORT" >&2
    exit 1
  fi
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
  if ! kill -0 "${pids[$n]}" 2>/dev/null || ! curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then
    echo "node $n did not start; see $OUT/node-$n.log" >&2
    exit 1
  fi
done
echo "==> $NODES nodes ready: ${targets[*]}"

accounts="$OUT/accounts-$PAIRS.jsonl"
if [ "${CHAOS:-0}" = 1 ]; then
  # A fresh database every run: seed it, and tell the tool what it may break.
  accounts="$OUT/accounts-chaos-$PAIRS.jsonl"
  rm -f "$accounts"
  {
    printf '{"nodes":['
    for ((n = 0; n < NODES; n++)); do
      [ "$n" -gt 0 ] && printf ','
      printf '{"target":"http://127.0.0.1:%s","pid":%s}' "$((BASE_PORT + n))" "${pids[$n]}"
    done
    printf '],"redis":{"pid":%s,"cmd":[' "$redis_pid"
    for ((k = 0; k < ${#redis_cmd[@]}; k++)); do
      [ "$k" -gt 0 ] && printf ','
      printf '"%s"' "${redis_cmd[$k]}"
    done
    printf ']},"postgres":{"pid":%s}}\n' "$pg_pid"
  } >"$OUT/chaos-control.json"
  chaos_args=(--chaos-control "$OUT/chaos-control.json")
fi
if [ ! -s "$accounts" ]; then
  "$bin/tandem-loadtest" seed "${targets[@]:0:2}" --pairs "$PAIRS" --accounts "$accounts" --concurrency 16
fi
lt_rc=0
"$bin/tandem-loadtest" "$scenario" "${targets[@]}" --accounts "$accounts" --out "$OUT/$scenario" "${chaos_args[@]}" "$@" \
  || lt_rc=$?
if [ "${CHAOS:-0}" = 1 ]; then
  "$bin/tandem" admin ledger-check | tee "$OUT/ledger-check.txt" || lt_rc=1
fi
exit "$lt_rc"
