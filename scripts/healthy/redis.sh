#!/usr/bin/env bash
# redis-server on 127.0.0.1 at verbose log level with RDB and AOF persistence, exercised
# with redis-benchmark and redis-cli; its log and the benchmark output.
. "$(dirname "$0")/common.sh"
need redis-server redis-server redis-tools
R=$SCRATCH/redis; mkdir -p "$R"
PORT=${REDIS_PORT:-16379}
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$R" --logfile "$R/redis.log" --loglevel verbose \
  --save "5 1000" --appendonly yes --daemonize no --pidfile "$R/redis.pid" &
RP=$!
trap 'kill "$RP" 2>/dev/null' EXIT
for i in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
capture redis/redis-benchmark.log redis-benchmark -p "$PORT" -c 20 -n ${REQUESTS:-20000} -t set,get,incr,lpush,rpop,hset -d 64
capture redis/redis-benchmark-quiet.log redis-benchmark -p "$PORT" -q -n 20000 -P 16
capture redis/redis-cli-session.log sh -c "redis-cli -p $PORT info server; redis-cli -p $PORT info memory; \
  redis-cli -p $PORT dbsize; redis-cli -p $PORT bgsave; sleep 2; redis-cli -p $PORT bgrewriteaof; sleep 2; \
  redis-cli -p $PORT info persistence; redis-cli -p $PORT --scan --count 100 | head -20; redis-cli -p $PORT slowlog get 5"
sleep 6   # a timed save
redis-cli -p "$PORT" shutdown || true
wait "$RP" 2>/dev/null || true
trap - EXIT
mkdir -p "$OUT/redis"; cp "$R/redis.log" "$OUT/redis/redis-server.log"
scrub "$OUT"/redis/*.log
