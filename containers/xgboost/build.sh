#!/usr/bin/env bash
# Build smlocal/xgboost:latest, the built-in XGBoost algorithm stand-in (scripts/build-images.sh
# runs this instead of its generic build). Needs PyPI from the host the first time only: the
# `xgboost-cpu` wheel (about 6 MB; the plain `xgboost` wheel bundles CUDA and is hundreds of MB)
# is downloaded with the host's pip, for the base image's Python and the engine's architecture,
# into a cache folder, and copied into the build context; the build itself needs no network.
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
version=${SMLOCAL_XGBOOST_VERSION:-3.2.0}
if [ "$(id -u)" -eq 0 ]; then
  cache_dir=${SMLOCAL_CACHE_DIR:-/var/cache/smlocal}
else
  cache_dir=${SMLOCAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smlocal}
fi
log() { printf 'xgboost/build.sh: %s\n' "$*" >&2; }

arch=$(docker info --format '{{.Architecture}}' 2>/dev/null || uname -m)
case $arch in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) log "unsupported architecture $arch"; exit 1 ;;
esac
wheels="$cache_dir/wheels"
mkdir -p "$wheels"
shopt -s nullglob
found=("$wheels"/xgboost_cpu-"$version"-*manylinux*"$arch".whl)
if [ "${#found[@]}" -eq 0 ]; then
  pyver=$(docker run --rm --network none --entrypoint python3 "$base" \
    -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  log "downloading xgboost-cpu==$version for Python $pyver on $arch (one time) into $wheels"
  download=$(mktemp -d "$wheels/.download.XXXXXX")
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --implementation cp --python-version "$pyver" --platform "manylinux_2_28_$arch" \
    -d "$download" "xgboost-cpu==$version" >&2
  got=("$download"/xgboost_cpu-*.whl)
  [ "${#got[@]}" -eq 1 ] || { log "pip downloaded no xgboost-cpu wheel"; exit 1; }
  mv "${got[0]}" "$wheels/"
  found=("$wheels/$(basename "${got[0]}")")
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/smlocal-xgboost.XXXXXX")
trap 'rm -rf "$context" ${download:+"$download"}' EXIT
mkdir "$context/wheels"
cp "$here/Dockerfile" "$here/train.py" "$containers/common/smcontract.py" "$context/"
cp "${found[0]}" "$context/wheels/"
docker build "$@" --build-arg "BASE_IMAGE=$base" -t smlocal/xgboost:latest "$context"
