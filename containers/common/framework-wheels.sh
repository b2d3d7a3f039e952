#!/usr/bin/env bash
# Print a folder of wheels for IMAGE's Python on the engine's architecture: the requirements
# given and their dependencies (binary wheels, resolved by the host's pip for that Python and
# Linux), downloaded the first time only into the cache's wheels/NAME-<key>/ folder, so that the
# framework builds (containers/*-framework/build.sh) need no network afterwards. The folder
# also holds requirements.txt (the REQs, to install with their dependencies: `pip install
# --no-index --find-links DIR -r DIR/requirements.txt`) and no-deps.txt. `--sdist REQ` adds a
# pure-Python package that PyPI has only as a source archive: the host builds its wheel, and
# no-deps.txt names it, to install with `--no-deps` (its dependencies must be in the image
# already). Exit non-zero when pip cannot get them.
#
#   bash containers/common/framework-wheels.sh NAME IMAGE [--sdist REQ ...] REQ ...
#
# Environment: SMLOCAL_CACHE_DIR (default /var/cache/smlocal as root, else ~/.cache/smlocal).
set -euo pipefail
name=${1:?usage: framework-wheels.sh NAME IMAGE [--sdist REQ ...] REQ ...}
image=${2:?usage: framework-wheels.sh NAME IMAGE [--sdist REQ ...] REQ ...}
shift 2
reqs=() sdists=()
while [ "$#" -gt 0 ]; do
  if [ "$1" = --sdist ]; then sdists+=("${2:?--sdist needs a requirement}"); shift 2
  else reqs+=("$1"); shift; fi
done
if [ "$(id -u)" -eq 0 ]; then
  cache_dir=${SMLOCAL_CACHE_DIR:-/var/cache/smlocal}
else
  cache_dir=${SMLOCAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smlocal}
fi
log() { printf 'framework-wheels.sh: %s\n' "$*" >&2; }

arch=$(docker info --format '{{.Architecture}}' 2>/dev/null || uname -m)
case $arch in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) log "unsupported architecture $arch"; exit 1 ;;
esac
pyver=$(docker run --rm --network none --entrypoint python3 "$image" \
  -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(printf '%s\n' "$pyver" "$arch" "${reqs[@]}" -- "${sdists[@]}" | sha256sum | cut -c1-12)
folder="$cache_dir/wheels/$name-$key"
if [ ! -f "$folder/requirements.txt" ]; then
  mkdir -p "$cache_dir/wheels"
  download=$(mktemp -d "$cache_dir/wheels/.download.XXXXXX")
  trap 'rm -rf "$download"' EXIT
  log "downloading ${reqs[*]} ${sdists[*]} for Python $pyver on $arch (one time) into $folder"
  # pip does not widen an explicit --platform to older glibc tags: name the usual ones.
  platforms=()
  for p in manylinux_2_28 manylinux_2_17 manylinux2014 manylinux_2_12 manylinux2010 \
           manylinux_2_5 manylinux1; do platforms+=(--platform "${p}_$arch"); done
  if [ "${#reqs[@]}" -gt 0 ]; then
    python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
      --implementation cp --python-version "$pyver" "${platforms[@]}" -d "$download" \
      "${reqs[@]}" >&2
  fi
  for req in "${sdists[@]}"; do
    python3 -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$download" "$req" >&2
  done
  : >"$download/no-deps.txt"
  for req in "${sdists[@]}"; do printf '%s\n' "${req%%[=<>!~ ;[]*}" >>"$download/no-deps.txt"; done
  if [ "${#reqs[@]}" -gt 0 ]; then printf '%s\n' "${reqs[@]}"; fi >"$download/requirements.txt"
  rm -rf "$folder"
  mv "$download" "$folder"
  trap - EXIT
fi
printf '%s\n' "$folder"
