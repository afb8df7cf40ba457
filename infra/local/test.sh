#!/usr/bin/env bash
# Run every test: PostgreSQL and Redis (started or installed if missing), the Rust test suite
# of the whole workspace against them, then the browser end-to-end tests when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/local/ensure-services.sh
cargo test --workspace --locked
if [ -x web/e2e/run.sh ] && [ "${TANDEM_SKIP_E2E:-0}" != 1 ]; then
  web/e2e/run.sh
fi
