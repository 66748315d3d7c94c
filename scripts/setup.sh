#!/usr/bin/env bash
# Installs everything rivetkit_web's demo and tests need on a Debian machine with
# python3 and npm: Debian's chromium (for the browser tests), the Python package with
# its test extras, the test backend's npm deps (rivetkit + node 22) and the browser
# site (Pyodide, PyScript, the wheel). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${RIVETKIT_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1 \
    && [ -z "${RIVETKIT_CHROMIUM:-}" ]; then
  log "installing Debian's chromium (for the browser tests and the demo screenshot)"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

PYTHON=${PYTHON:-python3}
log "installing rivetkit_web with its test extras"
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"

log "installing the test backend (rivetkit, node 22)"
# npm ci insists the lock lists every platform's optional packages; on registries
# without them it refuses, and npm install (which keeps the lock) is the fallback.
(cd tests/backend && { [ -d node_modules/rivetkit ] || npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 \
   || { echo "npm ci refused the lock on this registry; using npm install (keeps the lock)"; \
        npm install --no-audit --no-fund --loglevel=error; }; })

log "building the browser site (Pyodide, PyScript, the wheel)"
"$PYTHON" site/build.py --quiet
