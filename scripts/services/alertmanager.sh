#!/usr/bin/env bash
# Prometheus Alertmanager for the tests (Debian's prometheus-alertmanager, installed when
# missing). The tests start their own single-node instances on loopback, each with a temporary
# --storage.path and --cluster.listen-address= ; this script provides the binary.
#
#   scripts/services/alertmanager.sh start   # prints `export FAULTLINE_TEST_ALERTMANAGER=…`
#   scripts/services/alertmanager.sh stop    # nothing to stop
set -euo pipefail
case "${1:?start or stop}" in
start)
  bin=$(command -v prometheus-alertmanager || true)
  if [ -z "$bin" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus-alertmanager >&2 \
      || { apt-get -o DPkg::Lock::Timeout=600 update >&2 \
           && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus-alertmanager >&2; }
    bin=$(command -v prometheus-alertmanager)
  fi
  echo "export FAULTLINE_TEST_ALERTMANAGER='$bin'"
  ;;
stop) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
