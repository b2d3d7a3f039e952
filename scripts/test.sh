#!/usr/bin/env bash
# README command 2: set up (idempotent), then run the whole test suite: unit tests and the
# integration tests against real Docker and a real server. Docker tests fail rather than skip.
# Extra arguments go to pytest (e.g. -k tuning, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export SMLOCAL_REQUIRE_DOCKER=1
# -rs prints every skip with its reason (e.g. the optional TensorFlow stand-in's test where
# that image is not built: README, "AWS images").
exec "${PYTHON:-python3}" -m pytest -q -rs --durations=20 "$@"
