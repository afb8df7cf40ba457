#!/usr/bin/env bash
# Run the whole platform on this machine: PostgreSQL and Redis (started or installed if
# missing), then `tandem serve` (every service plus the web app) on TANDEM_ADDR
# (default 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/local/ensure-services.sh
. infra/local/metrics-token.sh
# Without TANDEM_SMTP_URL account mail is written to data/mail/ (the log names each file). For a
# quick start new accounts begin verified; run with TANDEM_DEV_VERIFIED_SIGNUPS=0 to go through
# the emailed verification link (open it from the .eml file) as in production.
export TANDEM_DEV_VERIFIED_SIGNUPS="${TANDEM_DEV_VERIFIED_SIGNUPS:-1}"
exec cargo run --bin tandem -- serve
