#!/usr/bin/env bash
# Build this Astro fixture into OUTDIR without touching tests/data.
#   build.sh OUTDIR
# Needs Node >= 18.20.8 (Astro 5). Uses $NODE_MODULES (an installed node_modules
# folder for this package-lock.json) when set; otherwise runs `npm ci` in the
# temporary copy.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/astro-fixture.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$here" && tar --exclude=./node_modules --exclude=./dist --exclude=./.astro -cf - .) | (cd "$work" && tar -xpf -)
cd "$work"
if [ -n "${NODE_MODULES:-}" ]; then
	ln -s "$(cd "$NODE_MODULES" && pwd)" node_modules
else
	npm ci --no-audit --no-fund
fi
export ASTRO_TELEMETRY_DISABLED=1
# Astro keeps a content-layer cache in node_modules/.astro; start clean so a
# shared $NODE_MODULES never serves entries from another copy of the site.
rm -rf node_modules/.astro
# Build to the default dist/ of the copy, then copy it out: with an --outDir
# outside the project, Astro 5.18 also drops its .astro/ files (collections/,
# content-*.mjs) into that folder.
node node_modules/astro/astro.js build
cp -R dist/. "$out"/
