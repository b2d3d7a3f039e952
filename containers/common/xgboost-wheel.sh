#!/usr/bin/env bash
# Print the path of PyPI's `xgboost-cpu` wheel for IMAGE's Python and the engine's architecture,
# downloading it with the host's pip the first time only (about 6 MB; the plain `xgboost` wheel
# bundles CUDA and is hundreds of MB) into the cache's wheels/ folder. Used by the build.sh of
# containers/xgboost and containers/xgboost-framework, so their builds need no network.
#
#   bash containers/common/xgboost-wheel.sh IMAGE
#
# Environment:
#   SMLOCAL_XGBOOST_VERSION  xgboost-cpu version (default 3.2.0)
#   SMLOCAL_CACHE_DIR        cache (default /var/cache/smlocal as root, else ~/.cache/smlocal)
set -euo pipefail
image=${1:?usage: xgboost-wheel.sh IMAGE}
version=${SMLOCAL_XGBOOST_VERSION:-3.2.0}
if [ "$(id -u)" -eq 0 ]; then
  cache_dir=${SMLOCAL_CACHE_DIR:-/var/cache/smlocal}
else
  cache_dir=${SMLOCAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smlocal}
fi
log() { printf 'xgboost-wheel.sh: %s\n' "$*" >&2; }

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
  pyver=$(docker run --rm --network none --entrypoint python3 "$image" \
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
printf '%s\n' "${found[0]}"
