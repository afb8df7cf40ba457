#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are running.
# Reuses servers that already run; on a Debian machine where they are missing, installs them
# from Debian's packages (apt-get install postgresql redis-server) and starts them.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "error: nothing listens on 127.0.0.1:$1 after starting $2" >&2
  return 1
}

installed_now=0
apt_install() {
  echo "==> installing $* from Debian's packages"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  installed_now=1
}

# --- PostgreSQL -------------------------------------------------------------
if port_open 5432; then
  echo "==> PostgreSQL already running on 127.0.0.1:5432"
else
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  cluster_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$cluster_version" ]; then
    pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    $SUDO pg_createcluster "$pg_version" main >/dev/null
    cluster_version=$pg_version
  fi
  echo "==> starting PostgreSQL $cluster_version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start || $SUDO service postgresql start
  wait_port 5432 PostgreSQL
  if [ "$installed_now" = 1 ]; then
    # A fresh Debian cluster asks for passwords over TCP: give the postgres role the password
    # Tandem's default DATABASE_URL uses. Development only.
    $SUDO su postgres -c "psql -q -c \"alter user postgres password 'postgres'\""
  fi
fi

# --- Redis ------------------------------------------------------------------
if port_open 6379; then
  echo "==> Redis already running on 127.0.0.1:6379"
else
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  echo "==> starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/tandem.log
  wait_port 6379 Redis
fi
