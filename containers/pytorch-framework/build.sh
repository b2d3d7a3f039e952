#!/usr/bin/env bash
# Build smlocal/pytorch-framework:latest, the stand-in for the SageMaker PyTorch framework
# images (pytorch-training, sagemaker-pytorch; SDK `PyTorch` estimators in script mode): the
# toolkit image plus a CPU-only torch and PyPI's sagemaker-pytorch-training. scripts/build-images.sh
# runs this instead of its generic build. Extra arguments go to `docker build` (e.g. --quiet).
#
# Where torch comes from (PyPI's Linux x86_64 torch wheels are CUDA builds with several GB of
# nvidia-* dependencies, too heavy for a CPU stand-in):
#   1. the CPU wheel torch==$SMLOCAL_TORCH_VERSION+cpu (default 2.13.0) where the host's pip can
#      get it (a find-links folder or an extra index that has PyTorch's `+cpu` wheels), with its
#      dependencies from PyPI, downloaded once into the cache by containers/common/framework-wheels.sh;
#   2. otherwise Debian bookworm's python3-torch 1.13.1 (CPU only), installed with apt in the
#      build (about 300 Debian packages).
# SMLOCAL_TORCH_SOURCE=debian forces 2; =wheel forbids the fallback.
set -euo pipefail
containers=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
toolkit=(--sdist "sagemaker-pytorch-training==3.0.0")
source=${SMLOCAL_TORCH_SOURCE:-auto}
log() { printf 'pytorch-framework/build.sh: %s\n' "$*" >&2; }

if [ "$source" != debian ]; then
  if ! docker image inspect smlocal/toolkit:latest >/dev/null 2>&1; then
    bash "$containers/toolkit/build.sh" --quiet >&2
  fi
  if wheels=$(bash "$containers/common/framework-wheels.sh" pytorch-framework \
      smlocal/toolkit:latest "${toolkit[@]}" "torch==${SMLOCAL_TORCH_VERSION:-2.13.0}+cpu"); then
    exec bash "$containers/common/build-framework.sh" pytorch-framework "$wheels" -- \
      --build-arg TORCH_SOURCE=wheel "$@"
  fi
  [ "$source" = wheel ] && { log "no CPU torch wheel (SMLOCAL_TORCH_SOURCE=wheel)"; exit 1; }
  log "no CPU torch wheel here: using Debian's python3-torch instead"
fi
wheels=$(bash "$containers/common/framework-wheels.sh" pytorch-framework-debian \
  smlocal/toolkit:latest "${toolkit[@]}")
exec bash "$containers/common/build-framework.sh" pytorch-framework "$wheels" -- \
  --build-arg TORCH_SOURCE=debian "$@"
