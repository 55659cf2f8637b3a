#!/usr/bin/env bash
# The test suite: everything CI runs. Run from anywhere, as root on a fresh Debian/Ubuntu machine
# with a Rust toolchain: what the tests need and is missing gets installed first.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null || need+=(prometheus)          # validates /metrics
command -v systemd-analyze >/dev/null || need+=(systemd)      # checks the unit
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Services the tests need (scripts/services/), stopped on exit: an isolated journald and the
# Alertmanager binary (installed when missing) for the sink tests; a private Docker engine for
# the container tests (it exports DOCKER_HOST and FAULTLINE_TEST_DOCKER_IMAGE).
SERVICES=$(mktemp -d /tmp/faultline-services.XXXXXX)
trap 'scripts/services/dockerd.sh stop; scripts/services/journald.sh stop "$SERVICES"; rm -rf "$SERVICES"' EXIT
eval "$(scripts/services/journald.sh start "$SERVICES")"
eval "$(scripts/services/alertmanager.sh start)"
docker_env=$(scripts/services/dockerd.sh start)
eval "$docker_env"
cargo test --locked
