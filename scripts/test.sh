#!/usr/bin/env bash
# README command 2: set up (idempotent), then run the whole test suite: unit tests and the
# integration tests against real Docker and a real server. Docker tests fail rather than skip.
# Extra arguments go to pytest (e.g. -k tuning, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export SMLOCAL_REQUIRE_DOCKER=1
exec "${PYTHON:-python3}" -m pytest -q --durations=20 "$@"
