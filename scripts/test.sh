#!/usr/bin/env bash
# The test suite: everything CI runs. Run from anywhere; needs only a Rust toolchain today.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# A private Docker engine for the container tests (tests/docker.rs, tests/packaging.rs): it
# exports DOCKER_HOST and FAULTLINE_TEST_DOCKER_IMAGE, and is stopped by its PID on exit.
docker_env=$(scripts/services/dockerd.sh start)
eval "$docker_env"
trap 'scripts/services/dockerd.sh stop' EXIT
cargo test --locked
