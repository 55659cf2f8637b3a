#!/usr/bin/env bash
# An isolated systemd-journald for the tests (systemd is not PID 1 on CI; nothing of the host's
# journal is touched): a private mount namespace where /run/systemd, /run/log and
# /var/log/journal are bind mounts of directories under $DIR.
#
#   scripts/services/journald.sh start DIR   # prints `export …` lines for the tests: eval them
#   scripts/services/journald.sh stop DIR
#
# Tests send to $FAULTLINE_TEST_JOURNAL_SOCKET and read entries back with
# `journalctl -D $FAULTLINE_TEST_JOURNAL_DIR -o json`. Needs root (mount namespaces).
set -euo pipefail
cmd=${1:?start or stop}
DIR=${2:?a scratch directory}
J="$DIR/journald"
case "$cmd" in
start)
  if [ ! -x /lib/systemd/systemd-journald ] || ! command -v journalctl >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends systemd >&2
  fi
  mkdir -p "$J/run-systemd" "$J/run-log" "$J/var-log-journal"
  # The mount points must exist on the host side (empty directories; nothing is written there).
  mkdir -p /run/systemd /run/log /var/log/journal
  unshare -m --propagation private sh -c "mount --bind '$J/run-systemd' /run/systemd \
    && mount --bind '$J/run-log' /run/log && mount --bind '$J/var-log-journal' /var/log/journal \
    && exec /lib/systemd/systemd-journald" >"$J/journald.log" 2>&1 &
  echo $! >"$J/pid"   # unshare and sh exec: this is journald's PID
  for _ in $(seq 1 100); do
    [ -S "$J/run-systemd/journal/socket" ] && break
    kill -0 "$(cat "$J/pid")" 2>/dev/null || { cat "$J/journald.log" >&2; echo "journald exited" >&2; exit 1; }
    sleep 0.1
  done
  [ -S "$J/run-systemd/journal/socket" ] || { cat "$J/journald.log" >&2; echo "journald socket did not appear" >&2; exit 1; }
  echo "export FAULTLINE_TEST_JOURNAL_SOCKET='$J/run-systemd/journal/socket'"
  echo "export FAULTLINE_TEST_JOURNAL_DIR='$J/run-log/journal'"
  ;;
stop)
  pid=$(cat "$J/pid" 2>/dev/null) || exit 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$J/pid"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
