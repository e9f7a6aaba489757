#!/usr/bin/env bash
# Restart every NetAtlas process on this host without refusing requests: the web processes one
# at a time (each must answer its /__lbheartbeat__ before the next goes down; nginx sends
# requests to the others meanwhile), then the workers, the ndt7 server and the beat.
#   bash deploy/rolling-restart.sh
set -euo pipefail

units() { systemctl list-units --plain --no-legend --state=active "$1" | awk '{print $1}'; }

for unit in $(units 'netatlas-serve@*.service'); do
  port=${unit#netatlas-serve@}; port=${port%.service}
  echo "restarting $unit"
  systemctl restart "$unit"
  for i in $(seq 60); do
    curl -sf --max-time 2 "http://127.0.0.1:$port/__lbheartbeat__" >/dev/null && break
    [ "$i" = 60 ] && { echo "$unit did not come back; stopping here" >&2; exit 1; }
    sleep 1
  done
  curl -sf "http://127.0.0.1:$port/__version__"; echo
done
for unit in $(units 'netatlas-worker@*.service') $(units 'netatlas-ndt7.service') $(units 'netatlas-beat.service'); do
  echo "restarting $unit"
  systemctl restart "$unit"
done
echo "done"
