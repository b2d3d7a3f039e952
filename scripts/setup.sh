#!/usr/bin/env bash
# One-stop set-up on a fresh machine; idempotent (a second run takes a few seconds).
#   1. a Docker engine answers          (scripts/ensure-docker.sh; installs docker.io as root)
#   2. smlocal installed: pip install -e '.[test,sdk]' into the interpreter `python3`
#   3. the SageMaker Python SDK v3 in its own venv, for its test (scripts/setup-sdk3.sh;
#      SMLOCAL_SDK3=0 skips it)
#   4. images: smlocal/python-base + every containers/<name>/ (scripts/build-images.sh)
#   5. example data: ./data/example/{train,validation}/*.csv (scripts/make-example-data.py)
# Environment: PYTHON (default python3), SMLOCAL_SDK3, SMLOCAL_SDK3_VENV.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-python3}
cd "$root"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
step() { log "[$1] $2"; }

check_python() {
  command -v "$python" >/dev/null 2>&1 || die "'$python' not found; install Python >= 3.11"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$("$python" -V 2>&1) is too old; smlocal needs Python >= 3.11 (set PYTHON=...)"
  "$python" -m pip --version >/dev/null 2>&1 \
    || die "'$python -m pip' does not work; install pip for $python (e.g. apt-get install python3-pip)"
  # PEP 668: a distribution's own Python refuses `pip install` outside a virtual environment.
  if [ -z "${PIP_BREAK_SYSTEM_PACKAGES:-}" ] && ! "$python" - <<'EOF'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(1 if os.path.exists(marker) and sys.prefix == sys.base_prefix else 0)
EOF
  then
    die "$python is managed by the OS (PEP 668). Use a virtual environment:
    python3 -m venv .venv && . .venv/bin/activate && bash scripts/setup.sh"
  fi
}

# True when smlocal is installed (editable, from this checkout) for the current pyproject.toml.
installed_and_current() {
  local stamp=$1
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(install_key)" ] || return 1
  (cd / && "$python" - "$root" <<'EOF'
import importlib.metadata, pathlib, sys
import orchestrator, pytest  # noqa: F401  (the package and the test extra)
importlib.metadata.distribution("smlocal")
importlib.metadata.distribution("sagemaker")
here = pathlib.Path(orchestrator.__file__).resolve().parent.parent
sys.exit(0 if here == pathlib.Path(sys.argv[1]).resolve() else 1)
EOF
  ) >/dev/null 2>&1
}

install_key() {
  { sha256sum pyproject.toml; "$python" -c 'import sys; print(sys.executable, sys.version)'; } \
    | sha256sum | cut -c1-16
}

install_package() {
  # One stamp per interpreter: installing into a venv does not invalidate another's stamp.
  local stamp
  stamp="$root/.state/setup/pip-$("$python" -c 'import sys; print(sys.executable)' \
    | sha256sum | cut -c1-12).stamp"
  if installed_and_current "$stamp"; then
    log "smlocal is installed (editable) for $("$python" -c 'import sys; print(sys.executable)')"
    return 0
  fi
  PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --disable-pip-version-check -q -e '.[test,sdk]' \
    || die "pip install -e '.[test,sdk]' failed (see above); PyPI or a package index must be reachable"
  mkdir -p "$(dirname "$stamp")"
  install_key >"$stamp"
  installed_and_current "$stamp" || die "smlocal was installed but '$python -c \"import orchestrator\"' does not find this checkout"
}

start=$SECONDS
step 1/5 "Docker engine"
bash "$here/ensure-docker.sh" || die "no Docker engine (see the message above)"
step 2/5 "Python package (pip install -e '.[test,sdk]')"
check_python
install_package
step 3/5 "SageMaker Python SDK v3 (own venv)"
PYTHON=$python bash "$here/setup-sdk3.sh" \
  || die "installing the SageMaker Python SDK v3 failed (see above)"
step 4/5 "images"
bash "$here/build-images.sh" || die "building the images failed (see above)"
bash "$here/ensure-browser.sh" || die "headless Chromium for the browser tests is missing (see above)"
step 5/5 "example data"
"$python" "$here/make-example-data.py" "$root/data/example" >/dev/null \
  || die "writing the example data failed"
log "done in $((SECONDS - start)) s: images $(docker images --format '{{.Repository}}' 'smlocal/*' | sort | tr '\n' ' ')| data in data/example/"
