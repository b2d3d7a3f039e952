#!/usr/bin/env bash
# Build smlocal/tensorflow-framework:latest, the stand-in for the SageMaker TensorFlow framework
# images (tensorflow-training, sagemaker-tensorflow; SDK `TensorFlow` estimators in script
# mode): the toolkit image plus PyPI's tensorflow-cpu (SMLOCAL_TENSORFLOW_VERSION, default
# 2.15.1: the last release with Keras 2, whose `model.save(dir)` SageMaker scripts use, and one
# that takes the image's numpy 1.24) and sagemaker-tensorflow-training, downloaded once into the
# cache by containers/common/framework-wheels.sh (about 300 MB). scripts/build-images.sh runs
# this instead of its generic build. Extra arguments go to `docker build` (e.g. --quiet).
set -euo pipefail
containers=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! docker image inspect smlocal/toolkit:latest >/dev/null 2>&1; then
  bash "$containers/toolkit/build.sh" --quiet >&2
fi
wheels=$(bash "$containers/common/framework-wheels.sh" tensorflow-framework smlocal/toolkit:latest \
  --sdist "sagemaker-tensorflow-training==20.5.0" \
  "tensorflow-cpu==${SMLOCAL_TENSORFLOW_VERSION:-2.15.1}")
exec bash "$containers/common/build-framework.sh" tensorflow-framework "$wheels" -- "$@"
