#!/usr/bin/env bash
# Build this Pelican fixture into OUTDIR without touching tests/data.
#   build.sh OUTDIR
# Uses ${PELICAN:-pelican}; install it with: pip install -r requirements.txt
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/pelican-fixture.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$here" && tar --exclude=./output --exclude=__pycache__ -cf - .) | (cd "$work" && tar -xpf -)
cd "$work"
# No --fatal: the undated article is logged as an ERROR and skipped, which is
# part of this fixture. pelican still exits non-zero if the build crashes.
"${PELICAN:-pelican}" content -s pelicanconf.py -o "$out"
