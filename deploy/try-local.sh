#!/usr/bin/env bash
# Try deploy/ on a development machine, without systemd and without touching /etc: the units'
# commands, the nginx site (self-signed certificate), the Redis snippet, the env file and
# smoke.sh, with ports and paths moved into a temporary directory. Needs redis-server, nginx,
# openssl, curl and a local PostgreSQL that the postgres role reaches over TCP without a
# password (PG_URL); uses the project's .venv. Everything it starts is stopped at the end.
#   bash deploy/try-local.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/netatlas-deploy.XXXX)
bin=$repo/.venv/bin
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free); S1=$(free); S2=$(free); N7=$(free); HP=$(free); TP=$(free)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -c $work/nginx.conf -p $work -s stop 2>/dev/null || true
  sleep 2; rm -rf "$work"
}
trap cleanup EXIT

# Redis with the deploy snippet
printf 'port %s\ndir %s\nlogfile %s/redis.log\ninclude %s/deploy/redis/netatlas.conf\n' $RP $work $work $repo > $work/redis.conf
redis-server $work/redis.conf & pids+=($!)
sleep 0.5; redis-cli -p $RP config get appendfsync | tr '\n' ' '; echo

# PostgreSQL database of its own on the shared server
pg=${PG_URL:-postgresql://postgres@127.0.0.1:5432}
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS netatlas_deploy" -c "CREATE DATABASE netatlas_deploy"

# The env file, with this sandbox's paths
sed -e "s#^NETATLAS_DATA_DIR=.*#NETATLAS_DATA_DIR=$work/data#" \
    -e "s#^NETATLAS_DATABASE_URL=.*#NETATLAS_DATABASE_URL=${pg/postgresql:/postgresql+psycopg:}/netatlas_deploy#" \
    -e "s#^NETATLAS_REDIS_URL=.*#NETATLAS_REDIS_URL=redis://127.0.0.1:$RP/0#" \
    -e "s#^NETATLAS_SECRET_KEY=.*#NETATLAS_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')#" \
    $repo/deploy/netatlas.env > $work/netatlas.env
set -a; . $work/netatlas.env; set +a

# The units' ExecStart lines
$bin/netatlas db upgrade
$bin/netatlas serve --host 127.0.0.1 --port $S1 2>>$work/serve1.log & pids+=($!)
$bin/netatlas serve --host 127.0.0.1 --port $S2 2>>$work/serve2.log & pids+=($!)
$bin/netatlas worker --concurrency 2 >/dev/null 2>>$work/worker.log & pids+=($!)
$bin/netatlas beat >/dev/null 2>>$work/beat.log & pids+=($!)
$bin/netatlas ndt7 --host 127.0.0.1 --port $N7 2>>$work/ndt7.log & pids+=($!)

# nginx with the deploy site
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout $work/key.pem -out $work/cert.pem 2>/dev/null
mkdir -p $work/acme
sed -e "s#127.0.0.1:8001#127.0.0.1:$S1#; s#127.0.0.1:8002;#127.0.0.1:$S2;#; s#127.0.0.1:8100#127.0.0.1:$N7#" \
    -e "s#listen 80;#listen 127.0.0.1:$HP;#; s#listen \[::\]:80;##" \
    -e "s#listen 443 ssl http2;#listen 127.0.0.1:$TP ssl http2;#; s#listen \[::\]:443 ssl http2;##" \
    -e "s#/etc/letsencrypt/live/netatlas.example.org/fullchain.pem#$work/cert.pem#" \
    -e "s#/etc/letsencrypt/live/netatlas.example.org/privkey.pem#$work/key.pem#" \
    -e "s#/etc/nginx/snippets/netatlas-proxy.conf#$repo/deploy/nginx/netatlas-proxy.conf#" \
    -e "s#/var/www/letsencrypt#$work/acme#" \
    $repo/deploy/nginx/netatlas.conf > $work/site.conf
cat > $work/nginx.conf <<NGX
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
user root;
events {}
http {
  access_log $work/access.log;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  include $work/site.conf;
}
NGX
nginx -t -c $work/nginx.conf -p $work
nginx -c $work/nginx.conf -p $work
for p in $S1 $S2 $N7; do for i in $(seq 60); do curl -sf http://127.0.0.1:$p/__lbheartbeat__ >/dev/null && break; sleep 0.5; done; done

INSECURE=1 bash $repo/deploy/smoke.sh https://127.0.0.1:$TP
echo "--- plain-http submit (stumblers configured with http://)"
curl -s -o /dev/null -w '%{http_code}\n' -d '{"items": []}' http://127.0.0.1:$HP/v2/geosubmit
echo "--- the last JSON log lines of a web process"
tail -n 2 $work/serve1.log
