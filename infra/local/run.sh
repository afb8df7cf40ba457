#!/usr/bin/env bash
# Run the whole platform on this machine: PostgreSQL and Redis (started or installed if
# missing), then `tandem serve` (every service plus the web app) on TANDEM_ADDR
# (default 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/local/ensure-services.sh
. infra/local/metrics-token.sh
exec cargo run --bin tandem -- serve
