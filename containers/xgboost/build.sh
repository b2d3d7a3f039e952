#!/usr/bin/env bash
# Build smlocal/xgboost:latest, the built-in XGBoost algorithm stand-in (scripts/build-images.sh
# runs this instead of its generic build). Needs PyPI from the host the first time only: the
# `xgboost-cpu` wheel is downloaded with the host's pip into a cache folder by
# containers/common/xgboost-wheel.sh and copied into the build context; the build itself needs
# no network.
#
# Environment:
#   SMLOCAL_BASE_IMAGE       base image (default smlocal/python-base:latest)
#   SMLOCAL_XGBOOST_VERSION  xgboost-cpu version (default 3.2.0)
#   SMLOCAL_CACHE_DIR        cache (default /var/cache/smlocal as root, else ~/.cache/smlocal);
#                            the wheel is kept in its wheels/ folder
# Extra arguments go to `docker build` (e.g. --quiet).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
containers=$(dirname "$here")
base=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}
wheel=$(bash "$containers/common/xgboost-wheel.sh" "$base")

context=$(mktemp -d "${TMPDIR:-/tmp}/smlocal-xgboost.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir "$context/wheels"
cp "$here/Dockerfile" "$here/train.py" "$containers/common/smcontract.py" "$context/"
cp "$wheel" "$context/wheels/"
docker build "$@" --build-arg "BASE_IMAGE=$base" -t smlocal/xgboost:latest "$context"
