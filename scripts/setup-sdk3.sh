#!/usr/bin/env bash
# The SageMaker Python SDK v3 in its own virtual environment, for tests/integration/test_sdk_v3.py.
# v2 (installed with smlocal's `sdk` extra) and v3 are the same distribution, `sagemaker`, so they
# cannot share an interpreter. Idempotent: returns at once when the venv already has sagemaker 3.
# Called by scripts/setup.sh; SMLOCAL_SDK3=0 skips it (about 1 GB of packages the first time).
# Environment:
#   SMLOCAL_SDK3_VENV  where the venv lives (default: /opt/smlocal-sdk3 when it exists or /opt is
#                      writable, else <checkout>/.state/sdk3-venv); the interpreter's path is
#                      recorded in .state/setup/sdk3-python for the test
#   PYTHON             the interpreter that creates the venv (default python3, >= 3.10)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-python3}
requirement='sagemaker>=3,<4'

log() { printf 'setup-sdk3: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "${SMLOCAL_SDK3:-1}" = 0 ]; then
  log "skipped (SMLOCAL_SDK3=0); tests/integration/test_sdk_v3.py will skip or fail"
  exit 0
fi

venv=${SMLOCAL_SDK3_VENV:-}
if [ -z "$venv" ]; then
  if [ -d /opt/smlocal-sdk3 ] || [ -w /opt ]; then venv=/opt/smlocal-sdk3
  else venv=$root/.state/sdk3-venv; fi
fi

# sagemaker 3.x importable by the venv's interpreter (no network, a fraction of a second).
has_sdk3() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata, sys
major = int(importlib.metadata.version("sagemaker").split(".")[0])
sys.exit(0 if major == 3 else 1)
EOF
}

# Where the test finds the interpreter (unless SMLOCAL_SDK3_PYTHON says otherwise).
record() {
  mkdir -p "$root/.state/setup"
  printf '%s\n' "$venv/bin/python" >"$root/.state/setup/sdk3-python"
}

if has_sdk3; then
  record
  log "SageMaker Python SDK v3 is installed in $venv ($("$venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("sagemaker"))'))"
  exit 0
fi

command -v "$python" >/dev/null 2>&1 || die "'$python' not found (set PYTHON=...)"
if [ ! -x "$venv/bin/python" ]; then
  log "creating the virtual environment $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" \
    || die "'$python -m venv' failed; install the venv module (e.g. apt-get install python3-venv)"
fi
log "installing '$requirement' into $venv (about 1 GB the first time)"
PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install --disable-pip-version-check -q \
  "$requirement" || die "pip install '$requirement' failed (see above); PyPI must be reachable"
has_sdk3 || die "$venv/bin/python does not import sagemaker 3 after the install"
record
log "installed $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sagemaker"))') in $venv"
