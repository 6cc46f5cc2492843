#!/bin/sh
# Copies the pinned web libraries (package-lock.json) into the UI's static files. The copies are committed, so the
# wheel and `dexa serve` need no npm; rerun after changing a version here (`make web-vendor`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../shared/dexa/web/static/vendor"
cd "$here"
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
mkdir -p "$out"
cp node_modules/markdown-it/dist/markdown-it.min.js "$out/markdown-it.min.js"
cp node_modules/dompurify/dist/purify.es.mjs "$out/purify.es.js"
cp node_modules/markdown-it/LICENSE "$out/markdown-it.LICENSE"
cp node_modules/dompurify/LICENSE "$out/dompurify.LICENSE"
node -e 'const l=require("./package-lock.json").packages;console.log(JSON.stringify({"markdown-it":l["node_modules/markdown-it"].version,dompurify:l["node_modules/dompurify"].version}))' > "$out/versions.json"
echo "vendored: $(cat "$out/versions.json")"
