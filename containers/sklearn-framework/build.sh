#!/usr/bin/env bash
# Build smlocal/sklearn-framework:latest, the stand-in for the SageMaker scikit-learn framework
# images (sagemaker-scikit-learn, SDK `SKLearn` estimators in script mode): the toolkit image,
# whose base already has scikit-learn, so the build needs no network once smlocal/toolkit:latest
# exists (it is built first when missing). scripts/build-images.sh runs this instead of its
# generic build. Extra arguments go to `docker build` (e.g. --quiet).
set -euo pipefail
containers=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec bash "$containers/common/build-framework.sh" sklearn-framework -- "$@"
