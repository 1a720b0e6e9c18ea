#!/usr/bin/env bash
# Installs the pinned reference packages (npm ci, under a lock so parallel runs share one
# install) and writes the BPE agreement test's inputs into $1. Needs node and npm
# (scripts/setup.sh installs them); the npm registry is needed on the first run only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: make-reference.sh OUT_DIR}"
command -v npm >/dev/null || { echo "make-reference.sh: npm is missing (run scripts/setup.sh)" >&2; exit 1; }
exec 9>"$HERE/.install.lock"
flock 9
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$HERE/node_modules/.plume-stamp" ] || [ "$(cat "$HERE/node_modules/.plume-stamp")" != "$want" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "make-reference.sh: npm ci failed; the first run needs the npm registry" >&2; exit 1; }
  echo "$want" >"$HERE/node_modules/.plume-stamp"
fi
flock -u 9
node "$HERE/make_reference.js" "$OUT"
