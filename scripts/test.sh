#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite: unit tests of
# the protocol core, integration tests against a real RivetKit backend, and the
# browser tests in Chromium under Pyodide. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pytest "$@"
status=$?
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a broken suite, not a pass" >&2
  exit 1
fi
exit "$status"
