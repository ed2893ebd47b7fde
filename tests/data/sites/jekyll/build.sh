#!/usr/bin/env bash
# Build this Jekyll fixture site with the real generator.
#
#   tests/data/sites/jekyll/build.sh OUTDIR
#
# Uses ${JEKYLL:-jekyll} (split on spaces, so JEKYLL may be a wrapper command).
# The site is copied to a temporary folder and built there, so nothing
# (.jekyll-cache, _site) is ever written into tests/data; the result is then
# copied into OUTDIR (created if missing; existing files are overwritten, never
# deleted). Drafts, future and unpublished posts follow Jekyll's defaults (no
# --drafts/--future/--unpublished). No plugins are used. The environment is
# scrubbed (env -i) so JEKYLL_ENV, BUNDLE_GEMFILE etc. cannot change the build.
# --strict_front_matter makes a YAML error fail the build instead of being
# logged and skipped. Exits non-zero if Jekyll fails.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
read -r -a jekyll <<< "${JEKYLL:-jekyll}"
jekyll[0]=$(command -v "${jekyll[0]}") || { echo "$0: jekyll is not installed" >&2; exit 127; }

work=$(mktemp -d "${TMPDIR:-/tmp}/jekyll-fixture.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/site"
(cd "$here" && tar --exclude=./_site --exclude=./.jekyll-cache -cf - .) \
  | (cd "$work/site" && tar -xpf -)

cd "$work/site"
env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" TMPDIR="$work" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
  JEKYLL_ENV=production \
  "${jekyll[@]}" build \
    --source "$work/site" \
    --destination "$work/_site" \
    --disable-disk-cache \
    --strict_front_matter \
    --trace

if [[ ! -f $work/_site/index.html ]]; then
  echo "$0: jekyll produced no index.html" >&2
  exit 1
fi
cp -R "$work/_site/." "$out/"
