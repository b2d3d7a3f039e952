#!/usr/bin/env bash
# README command 1: set everything up on this machine, then run the bundled demo tuning job
# (Bayesian, 20 training jobs, 4 in parallel, on the gradient-boosting example container).
# Uses a running `smlocal serve` if one answers, else an embedded server for the demo's duration.
# Extra arguments go to `smlocal demo` (e.g. --jobs 8 --parallel 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The demo needs no SageMaker SDK v3 (only its test does): skip that ~1 GB venv here.
SMLOCAL_SDK3=${SMLOCAL_SDK3:-0} bash scripts/setup.sh
exec "${PYTHON:-python3}" -m orchestrator.client.cli demo "$@"
