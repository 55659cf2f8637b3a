#!/usr/bin/env bash
# nginx on 127.0.0.1 (static files, a JSON endpoint and a reverse proxy to a local Python
# file server), exercised by a bounded keep-alive client; its access and error logs.
. "$(dirname "$0")/common.sh"
need nginx nginx-light
N=$SCRATCH/nginx; mkdir -p "$N/www/static" "$N/logs" "$N/upstream/files" "$N/tmp"
chmod 755 "$SCRATCH" "$N" "$N/www" "$N/www/static"   # the workers run as nobody
REQUESTS=${REQUESTS:-60000}
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom | base64 >"$N/www/static/asset-$i.txt"; done
echo '<html><body>ok</body></html>' >"$N/www/index.html"
for i in $(seq 1 20); do echo "report $i" >"$N/upstream/files/report-$i.txt"; done
cat >"$N/nginx.conf" <<CONF
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log info;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  client_body_temp_path $N/tmp/body; proxy_temp_path $N/tmp/proxy;
  fastcgi_temp_path $N/tmp/fastcgi; uwsgi_temp_path $N/tmp/uwsgi; scgi_temp_path $N/tmp/scgi;
  log_format timed '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent '
                   '"\$http_referer" "\$http_user_agent" rt=\$request_time uct="\$upstream_connect_time" '
                   'urt="\$upstream_response_time" us="\$upstream_status"';
  access_log $N/logs/access.log timed;
  keepalive_timeout 15;
  upstream files { server 127.0.0.1:18081; keepalive 8; }
  server {
    listen 127.0.0.1:18080;
    root $N/www;
    location = /healthz { access_log off; return 200 "ok\n"; }
    location /api/ { default_type application/json; return 200 '{"status":"ok","version":"1.4.2"}'; }
    location /files/ { proxy_pass http://files/; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /old/ { return 301 /static/; }
  }
}
CONF
trap 'kill -QUIT "$(cat "$N/nginx.pid" 2>/dev/null)" 2>/dev/null; kill "$UP" 2>/dev/null' EXIT
(cd "$N/upstream/files" && exec python3 -m http.server 18081 --bind 127.0.0.1) >"$N/logs/upstream.log" 2>&1 &
UP=$!
nginx -t -c "$N/nginx.conf" -p "$N" >"$N/logs/nginx-t.log" 2>&1
nginx -c "$N/nginx.conf" -p "$N"
sleep 1
python3 - "$REQUESTS" <<'PY'
import http.client, random, sys, time
random.seed(7)
n = int(sys.argv[1])
agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
          "curl/7.88.1", "python-requests/2.31.0", "kube-probe/1.29", "Prometheus/2.51.0"]
paths = (["/", "/index.html", "/api/status", "/api/items?page=%d", "/files/report-%d.txt", "/old/"] +
         ["/static/asset-%d.txt"] * 6)
conn = None
start = time.time()
for i in range(n):
    if conn is None or i % 50 == 0:
        if conn: conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", 18080, timeout=10)
    p = random.choice(paths)
    if "%d" in p:
        p = p % random.randint(1, 20)
    h = {"User-Agent": random.choice(agents)}
    if p.startswith("/static/") and random.random() < 0.3:
        h["If-Modified-Since"] = "Wed, 01 May 2030 10:00:00 GMT"
    method = "HEAD" if random.random() < 0.05 else "GET"
    conn.request(method, p, headers=h)
    r = conn.getresponse(); r.read()
    assert r.status in (200, 301, 304), (p, r.status)
    if time.time() - start > 300: break
conn.close()
PY
sleep 1
kill -QUIT "$(cat "$N/nginx.pid")"
for i in $(seq 1 50); do [ -e "$N/nginx.pid" ] || break; sleep 0.1; done
kill "$UP"; wait "$UP" 2>/dev/null || true
trap - EXIT
mkdir -p "$OUT/nginx"
cp "$N/logs/access.log" "$OUT/nginx/access.log"
cp "$N/logs/error.log" "$OUT/nginx/error.log"
cp "$N/logs/nginx-t.log" "$OUT/nginx/nginx-t.log"
cp "$N/logs/upstream.log" "$OUT/nginx/upstream-http-server.log"
scrub "$OUT"/nginx/*.log
