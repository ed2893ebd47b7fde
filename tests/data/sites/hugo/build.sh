#!/usr/bin/env bash
# Build this Hugo fixture site with the real generator.
#
#   tests/data/sites/hugo/build.sh OUTDIR
#
# Uses ${HUGO:-hugo} (split on spaces, so HUGO may be a wrapper command).
# The site is copied to a temporary folder and built there, so nothing (build
# lock, resources/_gen, cache) is ever written into tests/data; the result is
# then copied into OUTDIR (created if missing; existing files are overwritten,
# never deleted). Drafts, future and expired content follow Hugo's defaults
# (no -D/-F/-E). The environment is scrubbed (env -i) so HUGO_* variables
# cannot change the configuration. Exits non-zero if Hugo fails.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
read -r -a hugo <<< "${HUGO:-hugo}"
hugo[0]=$(command -v "${hugo[0]}") || { echo "$0: hugo is not installed" >&2; exit 127; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hugo-fixture.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/site"
(cd "$here" && tar --exclude=./public --exclude=./resources --exclude=./build.sh -cf - .) \
  | (cd "$work/site" && tar -xpf -)

env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" TMPDIR="$work" TZ=UTC LANG=C.UTF-8 \
  "${hugo[@]}" \
    --source "$work/site" \
    --destination "$work/public" \
    --cacheDir "$work/cache" \
    --noBuildLock \
    --printPathWarnings

if [[ ! -f $work/public/index.html ]]; then
  echo "$0: hugo produced no index.html" >&2
  exit 1
fi
cp -R "$work/public/." "$out/"
