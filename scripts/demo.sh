#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then starts the chat demo: a real RivetKit
# backend and the PyScript page served locally. It prints the URL to open; Ctrl-C
# stops everything. Extra arguments go to site/serve.py (e.g. --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
RIVETKIT_SKIP_BROWSER=1 bash scripts/setup.sh
exec "${PYTHON:-python3}" site/serve.py "$@"
