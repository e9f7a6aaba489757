#!/usr/bin/env bash
# Check a NetAtlas deployment end to end, through nginx:
#   bash deploy/smoke.sh https://netatlas.example.org
# Run it on the server itself (/metrics answers local clients only). Set INSECURE=1 to accept
# a self-signed certificate. Exits non-zero at the first failed step.
set -euo pipefail
base=${1:?usage: smoke.sh https://HOST}
curl_opts=(-sS --max-time 20)
[ "${INSECURE:-0}" = 1 ] && curl_opts+=(-k)
step() { printf '%-52s' "$1"; }
ok() { echo "ok${1:+ ($1)}"; }

step "load-balancer heartbeat"
curl "${curl_opts[@]}" -f "$base/__lbheartbeat__" >/dev/null && ok

step "deep heartbeat (every backend up)"
body=$(curl "${curl_opts[@]}" -f "$base/__heartbeat__")
echo "$body" | grep -q '"redis":{"up":true' || { echo "redis is not up: $body"; exit 1; }
ok "$(echo "$body" | grep -o '"alembic_version":"[^"]*"')"

# Two networks nobody else has (globally administered unicast MACs), submitted once.
mac() { printf '%02x' $(( (RANDOM % 64) * 4 )); openssl rand -hex 5; }
a=$(mac); b=$(mac)
report='{"items": [{"position": {"latitude": 48.8566, "longitude": 2.3522, "accuracy": 10},
  "wifiAccessPoints": [{"macAddress": "'$a'", "signalStrength": -55},
                       {"macAddress": "'$b'", "signalStrength": -60}]}]}'
step "submit (/v2/geosubmit, gzip)"
code=$(echo "$report" | gzip | curl "${curl_opts[@]}" -o /dev/null -w '%{http_code}' \
  -H 'Content-Encoding: gzip' -H 'Content-Type: application/json' --data-binary @- "$base/v2/geosubmit")
[ "$code" = 200 ] || { echo "HTTP $code"; exit 1; }
ok

step "locate the submitted networks (pipeline ran)"
query='{"considerIp": false, "wifiAccessPoints": [{"macAddress": "'$a'"}, {"macAddress": "'$b'"}]}'
for i in $(seq 60); do
  answer=$(curl "${curl_opts[@]}" -H 'Content-Type: application/json' -d "$query" "$base/v1/geolocate")
  if echo "$answer" | grep -q '"location"'; then ok "$answer"; break; fi
  [ "$i" = 60 ] && { echo "no answer after 60 s: $answer (are netatlas-worker and netatlas-beat running?)"; exit 1; }
  sleep 1
done

step "OpenAPI document"
curl "${curl_opts[@]}" -f "$base/openapi.json" | grep -q '"openapi":"3.1.0"' && ok

step "metrics (from this host)"
metrics=$(curl "${curl_opts[@]}" -f "$base/metrics")
echo "$metrics" | grep -q '^netatlas_http_requests_total' && ok "$(echo "$metrics" | grep -c '^netatlas_') samples"

step "ndt7 endpoint reachable (refuses a bad handshake)"
code=$(curl "${curl_opts[@]}" --http1.1 -o /dev/null -w '%{http_code}' \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/ndt/v7/download")
[ "$code" = 400 ] || { echo "HTTP $code, expected 400 (no ndt7 subprotocol)"; exit 1; }
ok

echo "all checks passed"
