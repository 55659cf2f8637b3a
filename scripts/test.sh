#!/usr/bin/env bash
# The test suite: everything CI runs. Run from anywhere, as root (it installs missing Debian
# packages and starts the services some tests need).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Services the sink tests need (scripts/services/), stopped on exit: an isolated journald, and
# the Alertmanager binary (installed when missing).
SERVICES=$(mktemp -d /tmp/faultline-services.XXXXXX)
trap 'scripts/services/journald.sh stop "$SERVICES"; rm -rf "$SERVICES"' EXIT
eval "$(scripts/services/journald.sh start "$SERVICES")"
eval "$(scripts/services/alertmanager.sh start)"
cargo test --locked
