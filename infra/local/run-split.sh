#!/usr/bin/env bash
# Run the platform split into one OS process per service, behind nginx, on this machine:
# the local twin of the Kubernetes deployment (infra/k8s/). Like infra/local/run.sh it starts
# PostgreSQL and Redis if needed (infra/local/ensure-services.sh); then it installs nginx if
# missing (infra/local/ensure-nginx.sh), builds the binaries (cargo build --bins, debug), runs
# `tandem migrate` once and starts
#
#   service      process            address (SPLIT_BASE_PORT=18080)
#   auth         tandem-auth        127.0.0.1:18081
#   broker       tandem-broker      127.0.0.1:18082
#   signaling    tandem-signaling   127.0.0.1:18083 and 127.0.0.1:18084 (round-robin)
#   billing      tandem-billing     127.0.0.1:18085
#   relay        tandem-relay       127.0.0.1:18086
#   web          tandem-web         127.0.0.1:18087
#   nginx        nginx (foreground) TANDEM_ADDR (default 127.0.0.1:8080): the URL to open
#
# nginx routes by infra/local/nginx-locations.conf, generated from infra/routes.tsv by
# infra/gen-routes.py; /internal/ answers 404 there. Ctrl-C (or SIGTERM) stops everything.
#
# Environment: TANDEM_ADDR, DATABASE_URL, REDIS_URL, TANDEM_REDIS_PREFIX, TANDEM_DATA_DIR (default
# ./data) as for run.sh; SPLIT_BASE_PORT (default 18080; services use base+1 .. base+7);
# TANDEM_DRAIN_SECS (default 2 here); TANDEM_BIN_DIR (prebuilt binaries: skip cargo build);
# TANDEM_SERVICE_SECRET (else generated once into <data dir>/service-secret, mode 600);
# NGINX_WORKERS (1), NGINX_WORKER_CONNECTIONS (4096), NGINX_WORKER_FILES (8192) for load tests:
# every WebSocket through nginx holds two connections (client and upstream).
# Logs: <data dir>/split/logs/<process>.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

export TANDEM_ADDR=${TANDEM_ADDR:-127.0.0.1:8080}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/tandem}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export TANDEM_DRAIN_SECS=${TANDEM_DRAIN_SECS:-2}
export TANDEM_PUBLIC_URL=${TANDEM_PUBLIC_URL:-http://$TANDEM_ADDR}
export TANDEM_WEB_DIR=${TANDEM_WEB_DIR:-$ROOT/web}
# No SMTP locally: account mail goes to $TANDEM_DATA_DIR/mail; new accounts start verified so
# the walk-through can go live at once (TANDEM_DEV_VERIFIED_SIGNUPS=0 to verify by the link).
export TANDEM_DEV_VERIFIED_SIGNUPS=${TANDEM_DEV_VERIFIED_SIGNUPS:-1}
SPLIT_BASE_PORT=${SPLIT_BASE_PORT:-18080}
mkdir -p "${TANDEM_DATA_DIR:-data}"
TANDEM_DATA_DIR=$(cd "${TANDEM_DATA_DIR:-data}" && pwd)
export TANDEM_DATA_DIR

SPLIT_DIR=$TANDEM_DATA_DIR/split
LOG_DIR=$SPLIT_DIR/logs
NGINX_DIR=$SPLIT_DIR/nginx
mkdir -p "$LOG_DIR" "$NGINX_DIR"/{tmp,logs}

# --- addresses ---------------------------------------------------------------------------
listen_port=${TANDEM_ADDR##*:}
listen_host=${TANDEM_ADDR%:*}
case $listen_port in '' | *[!0-9]*) echo "error: TANDEM_ADDR=$TANDEM_ADDR is not host:port" >&2; exit 1 ;; esac
declare -A PORT=(
  [auth]=$((SPLIT_BASE_PORT + 1)) [broker]=$((SPLIT_BASE_PORT + 2))
  [signaling-1]=$((SPLIT_BASE_PORT + 3)) [signaling-2]=$((SPLIT_BASE_PORT + 4))
  [billing]=$((SPLIT_BASE_PORT + 5)) [relay]=$((SPLIT_BASE_PORT + 6)) [web]=$((SPLIT_BASE_PORT + 7))
)
if [ "$listen_port" -gt "$SPLIT_BASE_PORT" ] && [ "$listen_port" -le $((SPLIT_BASE_PORT + 7)) ]; then
  echo "error: TANDEM_ADDR's port $listen_port is one of the service ports $((SPLIT_BASE_PORT + 1))-$((SPLIT_BASE_PORT + 7)); set SPLIT_BASE_PORT" >&2
  exit 1
fi
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$listen_port" "${PORT[@]}"; do
  if port_open "$p"; then
    echo "error: port $p is already in use (another run-split.sh? set TANDEM_ADDR / SPLIT_BASE_PORT)" >&2
    exit 1
  fi
done
url() { echo "http://127.0.0.1:${PORT[$1]}"; }
# Internal base URLs; every process gets all three (the relay reports slot state to the broker).
export TANDEM_AUTH_URL=$(url auth) TANDEM_BROKER_URL=$(url broker) TANDEM_BILLING_URL=$(url billing)

# --- dependencies and binaries --------------------------------------------------------------
infra/local/ensure-services.sh
infra/local/ensure-nginx.sh
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [ -n "${TANDEM_BIN_DIR:-}" ]; then
  BIN=$(cd "$TANDEM_BIN_DIR" && pwd)
  echo "==> using prebuilt binaries in $BIN"
else
  echo "==> cargo build --locked --bins"
  cargo build --locked --bins
  BIN=$ROOT/target/debug
fi
for b in tandem tandem-auth tandem-broker tandem-signaling tandem-billing tandem-relay tandem-web; do
  [ -x "$BIN/$b" ] || { echo "error: $BIN/$b is missing" >&2; exit 1; }
done

# --- the shared service secret -----------------------------------------------------------
# Generated here, before any process starts, so no two processes race to create it.
if [ -z "${TANDEM_SERVICE_SECRET:-}" ] && [ ! -s "$TANDEM_DATA_DIR/service-secret" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TANDEM_DATA_DIR/service-secret.tmp")
  mv "$TANDEM_DATA_DIR/service-secret.tmp" "$TANDEM_DATA_DIR/service-secret"
  echo "==> generated a development service secret in $TANDEM_DATA_DIR/service-secret (mode 600)"
fi

# --- the metrics token (GET /metrics on each process; nginx never routes /metrics) ----------
. "$ROOT/infra/local/metrics-token.sh"

echo "==> tandem migrate"
"$BIN/tandem" migrate >"$LOG_DIR/migrate.log" 2>&1 || { echo "error: tandem migrate failed:" >&2; tail -n 40 "$LOG_DIR/migrate.log" >&2; exit 1; }

# --- processes ----------------------------------------------------------------------------
declare -A PID=()
order=()
stopping=0
cleanup() {
  stopping=1
  trap - INT TERM EXIT
  if [ "${#order[@]}" -gt 0 ]; then
    echo "==> stopping: ${order[*]}"
    for name in "${order[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
    # Services drain for TANDEM_DRAIN_SECS; give them that and a margin, then kill what is left.
    deadline=$((SECONDS + TANDEM_DRAIN_SECS + 10))
    for name in "${order[@]}"; do
      while kill -0 "${PID[$name]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
      kill -KILL "${PID[$name]}" 2>/dev/null || true
      wait "${PID[$name]}" 2>/dev/null || true
    done
  fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

died() {
  echo "error: $1 exited; the end of $LOG_DIR/$1.log:" >&2
  tail -n 40 "$LOG_DIR/$1.log" >&2 || true
  exit 1
}

# start NAME BINARY: TANDEM_ADDR per process; everything else is inherited.
start() {
  TANDEM_ADDR=127.0.0.1:${PORT[$1]} "$BIN/$2" >"$LOG_DIR/$1.log" 2>&1 &
  PID[$1]=$!
  order+=("$1")
}

# wait_http NAME URL: until URL answers 2xx, or the process dies, or 90 s pass.
wait_http() {
  for _ in $(seq 1 450); do
    curl -sf -o /dev/null --max-time 2 "$2" && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || died "$1"
    sleep 0.2
  done
  echo "error: $1 did not answer $2 within 90 s; the end of $LOG_DIR/$1.log:" >&2
  tail -n 40 "$LOG_DIR/$1.log" >&2
  exit 1
}

# auth first (it generates the development signing key), then the broker (media-token
# secret), then the rest at once.
start auth tandem-auth
wait_http auth "$(url auth)/healthz"
start broker tandem-broker
wait_http broker "$(url broker)/healthz"
start signaling-1 tandem-signaling
start signaling-2 tandem-signaling
start billing tandem-billing
start relay tandem-relay
start web tandem-web
for name in signaling-1 signaling-2 billing relay web; do wait_http "$name" "$(url "$name")/healthz"; done

# --- nginx ----------------------------------------------------------------------------------
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line="user root;"; fi # workers write the temp dirs below
cat >"$NGINX_DIR/nginx.conf" <<CONF
# written by infra/local/run-split.sh on each start; locations come from infra/routes.tsv
$user_line
daemon off;
worker_processes ${NGINX_WORKERS:-1};
worker_rlimit_nofile ${NGINX_WORKER_FILES:-8192};
pid $NGINX_DIR/nginx.pid;
error_log $LOG_DIR/nginx.log warn;
events { worker_connections ${NGINX_WORKER_CONNECTIONS:-4096}; }
http {
    access_log $LOG_DIR/nginx-access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    server_tokens off;
    upstream tandem_auth { server 127.0.0.1:${PORT[auth]}; keepalive 16; }
    upstream tandem_broker { server 127.0.0.1:${PORT[broker]}; keepalive 16; }
    upstream tandem_signaling { server 127.0.0.1:${PORT[signaling-1]}; server 127.0.0.1:${PORT[signaling-2]}; keepalive 16; }
    upstream tandem_billing { server 127.0.0.1:${PORT[billing]}; keepalive 16; }
    upstream tandem_relay { server 127.0.0.1:${PORT[relay]}; keepalive 16; }
    upstream tandem_web { server 127.0.0.1:${PORT[web]}; keepalive 16; }
    server {
        listen $listen_host:$listen_port;
        include $ROOT/infra/local/nginx-locations.conf;
    }
}
CONF
"$NGINX_BIN" -t -q -p "$NGINX_DIR" -e "$LOG_DIR/nginx.log" -c "$NGINX_DIR/nginx.conf" \
  || { echo "error: nginx rejected $NGINX_DIR/nginx.conf" >&2; tail -n 20 "$LOG_DIR/nginx.log" >&2; exit 1; }
"$NGINX_BIN" -p "$NGINX_DIR" -e "$LOG_DIR/nginx.log" -c "$NGINX_DIR/nginx.conf" >>"$LOG_DIR/nginx.log" 2>&1 &
PID[nginx]=$!
order=(nginx "${order[@]}")
check_host=$listen_host
if [ "$check_host" = 0.0.0.0 ] || [ -z "$check_host" ]; then check_host=127.0.0.1; fi
wait_http nginx "http://$check_host:$listen_port/healthz"

echo "==> split deployment ready: open $TANDEM_PUBLIC_URL/"
for name in "${order[@]}"; do
  if [ "$name" = nginx ]; then addr=$TANDEM_ADDR; else addr=127.0.0.1:${PORT[$name]}; fi
  printf '    %-12s pid %-7s %-21s log %s\n' "$name" "${PID[$name]}" "$addr" "$LOG_DIR/$name.log"
done
echo "==> Ctrl-C stops every process"

# Run until a process exits (then stop the rest) or a signal arrives (the traps above).
while [ $stopping = 0 ]; do
  for name in "${order[@]}"; do
    kill -0 "${PID[$name]}" 2>/dev/null || died "$name"
  done
  sleep 1 &
  wait $! || true
done
