#!/usr/bin/env bash
# Build this Eleventy fixture into OUTDIR without touching tests/data.
#   build.sh OUTDIR
# Needs Node >= 18. Uses $NODE_MODULES (an installed node_modules folder for this
# package-lock.json) when set; otherwise runs `npm ci` in the temporary copy.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/eleventy-fixture.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# -p keeps mtimes; ctime/birthtime (used by `date: Last Modified` / `Created`)
# cannot be kept and become the time of this copy.
(cd "$here" && tar --exclude=./node_modules --exclude=./_site -cf - .) | (cd "$work" && tar -xpf -)
cd "$work"
if [ -n "${NODE_MODULES:-}" ]; then
	ln -s "$(cd "$NODE_MODULES" && pwd)" node_modules
else
	npm ci --no-audit --no-fund
fi
# ELEVENTY_RUN_MODE=build is what `eleventy` sets itself; drafts are dropped.
node node_modules/@11ty/eleventy/cmd.cjs --output="$out"
