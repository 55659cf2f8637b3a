#!/usr/bin/env bash
# The test suite: everything CI runs. Run from anywhere; needs only a Rust toolchain today.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
