#!/usr/bin/env bash
# Make sure the nginx binary is installed (infra/local/run-split.sh runs it itself, in the
# foreground, with its own prefix, so nothing under /etc/nginx is used and no system service is
# started). On Debian, installs it from Debian's package (apt-get install nginx) when missing.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "==> installing nginx from Debian's packages"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# Debian's package may start the system nginx (port 80) on install; stop it again if it was not
# running before, since only the private instance of run-split.sh is wanted.
was_running=0
pgrep -x nginx >/dev/null 2>&1 && was_running=1
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
if [ "$was_running" = 0 ] && [ -f /run/nginx.pid ]; then
  $SUDO nginx -s quit 2>/dev/null || true
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { echo "error: nginx is still missing after apt-get install nginx" >&2; exit 1; }
