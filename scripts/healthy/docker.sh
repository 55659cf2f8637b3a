#!/usr/bin/env bash
# A private dockerd (no bridge, no iptables, all state under the scratch directory, debug log),
# a busybox image imported from the local busybox binary, a few containers run, followed,
# stopped and removed, an image built; dockerd's own log and the client's output.
. "$(dirname "$0")/common.sh"
need dockerd docker.io
[ -x /bin/busybox ] || $APT install -y --no-install-recommends busybox-static
D=$SCRATCH/docker; mkdir -p "$D/data" "$D/exec" "$D/rootfs/bin" "$D/ctx"
dockerd --debug --iptables=false --ip6tables=false --bridge=none \
  --data-root "$D/data" --exec-root "$D/exec" -H "unix://$D/docker.sock" --pidfile "$D/dockerd.pid" \
  >"$D/dockerd.log" 2>&1 &
DP=$!
trap 'kill -TERM "$DP" 2>/dev/null' EXIT
for i in $(seq 1 300); do curl -sf --unix-socket "$D/docker.sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
export DOCKER_HOST=unix://$D/docker.sock
cp /bin/busybox "$D/rootfs/bin/busybox"
for a in sh echo sleep cat ls date seq wc sort uniq head tr; do ln -sf busybox "$D/rootfs/bin/$a"; done
{
  set -x
  docker version
  docker info
  tar -C "$D/rootfs" -c . | docker import - localbusybox:1
  docker images
  docker run --rm --network none localbusybox:1 sh -c 'echo hello from a container; date; ls /bin | wc -l'
  for i in 1 2 3 4 5; do docker run --rm --network none --name job-$i localbusybox:1 sh -c "seq 1 200 | sort -n | tail -1"; done
  for i in $(seq 1 ${CONTAINERS:-250}); do
    docker run --rm --network none --name batch-$i -e JOB=$i localbusybox:1 \
      sh -c 'echo "job $JOB starting"; seq 1 $((JOB % 7 + 3)) | while read n; do echo "job $JOB step $n ok"; done; echo "job $JOB done" >&2'
  done
  docker run -d --init --network none --name worker localbusybox:1 sh -c 'i=0; while [ $i -lt 40 ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done; sleep 300'
  sleep 5
  docker logs --timestamps worker | tail -5
  docker ps --all
  docker inspect --format '{{.Name}} {{.State.Status}} {{.State.ExitCode}}' worker
  docker stats --no-stream worker
  docker stop -t 5 worker
  docker inspect --format '{{.Name}} {{.State.Status}} {{.State.ExitCode}}' worker
  docker rm worker
  printf 'FROM localbusybox:1\nRUN echo building > /built.txt\nCOPY greeting.txt /greeting.txt\nCMD ["cat", "/greeting.txt"]\n' >"$D/ctx/Dockerfile"
  echo "hello from an image" >"$D/ctx/greeting.txt"
  DOCKER_BUILDKIT=0 docker build -t localgreeter:1 "$D/ctx"
  docker run --rm --network none localgreeter:1
  docker volume create cache-vol
  docker run --rm --network none -v cache-vol:/cache localbusybox:1 sh -c 'echo cached > /cache/x; cat /cache/x'
  docker volume rm cache-vol
  docker network ls
  docker system df
  docker image rm localgreeter:1
  set +x
} >"$D/client.log" 2>&1
kill -TERM "$DP"
for i in $(seq 1 150); do [ -e "/proc/$DP" ] || break; sleep 0.1; done
trap - EXIT
mkdir -p "$OUT/docker"
cp "$D/dockerd.log" "$OUT/docker/dockerd-debug.log"
cp "$D/client.log" "$OUT/docker/docker-client.log"
scrub "$OUT"/docker/*.log
