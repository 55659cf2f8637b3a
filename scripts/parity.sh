#!/usr/bin/env bash
# Parity with Faultline on its own pack and corpus (needs ../shared; not part of cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/parity.py --bin target/release/faultline --shared "${SHARED:-../shared}" "$@"
