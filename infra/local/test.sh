#!/usr/bin/env bash
# Run every test: PostgreSQL and Redis (started or installed if missing), the Rust test suite
# of the whole workspace against them (including the split topology as separate processes),
# the schemathesis run against /openapi.json (infra/local/schemathesis.sh, a few minutes), the
# README's curl walk-through through nginx against the split topology
# (infra/local/split-smoke.sh), then the browser end-to-end tests when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/local/ensure-services.sh
infra/local/ensure-nginx.sh
if ! command -v jq >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi
cargo test --workspace --locked
# The per-delivery criterion benchmark, run once as a test (its own checks, not its timing).
cargo test --locked -p tandem-signaling --bench delivery
# Every response of the API is one its OpenAPI document lists (reuses the debug binary).
infra/local/schemathesis.sh
# The tests built every binary (the split test needs them): the smoke test reuses them.
TANDEM_BIN_DIR="${CARGO_TARGET_DIR:-target}/debug" infra/local/split-smoke.sh
if [ -x web/e2e/run.sh ] && [ "${TANDEM_SKIP_E2E:-0}" != 1 ]; then
  web/e2e/run.sh
fi
