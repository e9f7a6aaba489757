#!/usr/bin/env bash
# Install the npm packages the pages use (package.json + package-lock.json) and copy their
# browser files into src/netatlas/site/static/vendor/, from where the app serves them: the
# pages never load code from a CDN. Run by `make install` (and so by .ci/run); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "vendor.sh: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

vendor=src/netatlas/site/static/vendor
ndt7=node_modules/@m-lab/ndt7
mkdir -p "$vendor/ndt7"
cp "$ndt7/src/ndt7.js" "$ndt7/src/ndt7-download-worker.js" "$ndt7/src/ndt7-upload-worker.js" \
   "$ndt7/LICENSE" "$vendor/ndt7/"
node -e 'process.stdout.write(require("./'"$ndt7"'/package.json").version)' > "$vendor/ndt7/VERSION"
echo "vendor.sh: @m-lab/ndt7 $(cat "$vendor/ndt7/VERSION") in $vendor/ndt7"

leaflet=node_modules/leaflet
mkdir -p "$vendor/leaflet/images"
cp "$leaflet/dist/leaflet.js" "$leaflet/dist/leaflet.css" "$leaflet/LICENSE" "$vendor/leaflet/"
cp "$leaflet/dist/images/"*.png "$vendor/leaflet/images/"
node -e 'process.stdout.write(require("./'"$leaflet"'/package.json").version)' > "$vendor/leaflet/VERSION"
echo "vendor.sh: leaflet $(cat "$vendor/leaflet/VERSION") in $vendor/leaflet"
