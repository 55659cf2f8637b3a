#!/usr/bin/env bash
# A private Docker engine for the container tests: its own data, exec root and socket under a
# scratch directory, no network set-up (no bridge, no iptables), and a local image imported from
# busybox-static (nothing is pulled).
#
#   env=$(scripts/services/dockerd.sh start) && eval "$env"   # installs what is missing, starts, prints exports
#   scripts/services/dockerd.sh stop              # stops it by its PID, removes the scratch dir
#
# `start` prints (for eval): DOCKER_HOST, FAULTLINE_TEST_DOCKER_IMAGE (localbusybox:1) and
# FAULTLINE_TEST_DOCKER_ROOT. Its state lives in $FAULTLINE_DOCKERD_ROOT (default
# ${TMPDIR:-/tmp}/faultline-dockerd). Containers must run with `--network none`.
set -euo pipefail
ROOT=${FAULTLINE_DOCKERD_ROOT:-${TMPDIR:-/tmp}/faultline-dockerd}
SOCK="$ROOT/docker.sock"
IMAGE=localbusybox:1

start() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  [ -x /bin/busybox ] || need+=(busybox-static)
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
  # A client: the docker.io package brings one; some machines only have /usr/local/bin/docker.
  command -v docker >/dev/null || { echo "dockerd.sh: no docker client found" >&2; exit 1; }
  if [ -f "$ROOT/dockerd.bgpid" ] && kill -0 "$(cat "$ROOT/dockerd.bgpid")" 2>/dev/null; then
    echo "dockerd.sh: already running (pid $(cat "$ROOT/dockerd.bgpid"))" >&2
  else
    mkdir -p "$ROOT/data" "$ROOT/exec"
    dockerd --iptables=false --ip6tables=false --bridge=none \
      --data-root "$ROOT/data" --exec-root "$ROOT/exec" -H "unix://$SOCK" \
      --pidfile "$ROOT/dockerd.pid" >"$ROOT/dockerd.log" 2>&1 &
    echo $! >"$ROOT/dockerd.bgpid"
  fi
  local i
  for i in $(seq 1 300); do
    DOCKER_HOST="unix://$SOCK" docker version >/dev/null 2>&1 && break
    if ! kill -0 "$(cat "$ROOT/dockerd.bgpid")" 2>/dev/null; then
      echo "dockerd.sh: dockerd exited; its log:" >&2; tail -20 "$ROOT/dockerd.log" >&2; exit 1
    fi
    sleep 0.1
  done
  DOCKER_HOST="unix://$SOCK" docker version >/dev/null || { echo "dockerd.sh: dockerd not ready after 30 s" >&2; exit 1; }
  if ! DOCKER_HOST="unix://$SOCK" docker image inspect "$IMAGE" >/dev/null 2>&1; then
    local rootfs="$ROOT/rootfs"
    rm -rf "$rootfs"; mkdir -p "$rootfs/bin"
    cp /bin/busybox "$rootfs/bin/busybox"
    ln -s busybox "$rootfs/bin/sh"
    tar -C "$rootfs" -c . | DOCKER_HOST="unix://$SOCK" docker import - "$IMAGE" >/dev/null
  fi
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export FAULTLINE_TEST_DOCKER_IMAGE=$IMAGE"
  echo "export FAULTLINE_TEST_DOCKER_ROOT=$ROOT"
}

stop() {
  [ -f "$ROOT/dockerd.bgpid" ] || return 0
  local pid; pid=$(cat "$ROOT/dockerd.bgpid")
  if kill -0 "$pid" 2>/dev/null; then
    # Containers first (dockerd stops them too, but this is quicker and quieter).
    local ids; ids=$(DOCKER_HOST="unix://$SOCK" docker ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || DOCKER_HOST="unix://$SOCK" docker rm -f $ids >/dev/null 2>&1 || true
    kill -TERM "$pid"
    local i
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$ROOT/dockerd.bgpid"
  # Mounts dockerd may leave behind (overlay, shm) keep the scratch dir busy; unmount them.
  { grep -F " $ROOT/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$ROOT" 2>/dev/null || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
