#!/usr/bin/env bash
# Build smlocal/xgboost-framework:latest, the stand-in for the SageMaker XGBoost framework image
# in script mode (sagemaker-xgboost with `sagemaker_program`, SDK `XGBoost` estimators): the
# toolkit image plus PyPI's `xgboost-cpu` wheel, which containers/common/xgboost-wheel.sh
# downloads on the host the first time (SMLOCAL_XGBOOST_VERSION, SMLOCAL_CACHE_DIR as for
# containers/xgboost/build.sh). scripts/build-images.sh runs this instead of its generic build.
# Extra arguments go to `docker build` (e.g. --quiet).
set -euo pipefail
containers=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}
wheel=$(bash "$containers/common/xgboost-wheel.sh" "$base")
exec bash "$containers/common/build-framework.sh" xgboost-framework "$wheel" -- "$@"
