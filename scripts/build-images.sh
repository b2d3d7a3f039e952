#!/usr/bin/env bash
# Build the training images: every containers/<name>/ with a Dockerfile or a build.sh (except
# python-base, the base image) becomes smlocal/<name>:latest. Makes sure Docker answers and the
# base image exists first. A folder with an OPTIONAL file (its text says why, e.g. the
# TensorFlow stand-in's download and build time) is built only when named.
#   - containers/<name>/build.sh, when present, does the build (e.g. toolkit, which needs PyPI);
#   - otherwise: docker build -f containers/<name>/Dockerfile containers, i.e. the build context
#     is containers/ so images share code from containers/common/. These builds take everything
#     from the base image, so they work offline.
# Docker's layer cache makes a rebuild of unchanged images take about a second each.
#
#   bash scripts/build-images.sh            # all images
#   bash scripts/build-images.sh gbm epoch  # only these
#
# Environment: SMLOCAL_BASE_IMAGE (base image tag, default smlocal/python-base:latest) is passed
# to the builds as the BASE_IMAGE build argument (and exported for build.sh scripts).
# SMLOCAL_BUILD_PROGRESS=1 shows Docker's output of each build as it goes (`smlocal images
# build` sets it) instead of only the outcome; SMLOCAL_BUILD_NO_CACHE=1 passes --no-cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
containers="$root/containers"
export SMLOCAL_BASE_IMAGE=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}

log() { printf 'build-images: %s\n' "$*" >&2; }

bash "$here/ensure-docker.sh"
bash "$here/build-base-image.sh"

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for dir in "$containers"/*/; do
    name=$(basename "$dir")
    [ "$name" = python-base ] && continue
    if [ -f "$dir/OPTIONAL" ]; then
      log "skipping optional smlocal/$name:latest ($(head -n1 "$dir/OPTIONAL")); build it" \
        "with: bash scripts/build-images.sh $name"
      continue
    fi
    if [ -f "$dir/build.sh" ] || [ -f "$dir/Dockerfile" ]; then
      names+=("$name")
    fi
  done
fi
[ "${#names[@]}" -gt 0 ] || { log "no containers/*/Dockerfile found"; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# --quiet prints only the image id; on failure Docker still prints the error and the failing
# step's output, which we show.
docker_args=(--quiet)
[ "${SMLOCAL_BUILD_PROGRESS:-0}" = 1 ] && docker_args=()
[ "${SMLOCAL_BUILD_NO_CACHE:-0}" = 1 ] && docker_args+=(--no-cache)

failed=()
for name in "${names[@]}"; do
  dir="$containers/$name"
  tag="smlocal/$name:latest"
  start=$SECONDS
  if [ -f "$dir/build.sh" ]; then
    log "building $tag with containers/$name/build.sh"
    build=(bash "$dir/build.sh" "${docker_args[@]}")
  elif [ -f "$dir/Dockerfile" ]; then
    log "building $tag"
    build=(docker build "${docker_args[@]}" --build-arg "BASE_IMAGE=$SMLOCAL_BASE_IMAGE"
      -t "$tag" -f "$dir/Dockerfile" "$containers")
  else
    log "no containers/$name/Dockerfile or build.sh"
    failed+=("$name")
    continue
  fi
  if [ "${SMLOCAL_BUILD_PROGRESS:-0}" = 1 ]; then
    output=/dev/stderr  # shown as it goes
  else
    output=$out  # shown only on failure
  fi
  if "${build[@]}" >"$output" 2>&1 && docker image inspect "$tag" >/dev/null 2>&1; then
    log "built $tag ($((SECONDS - start)) s)"
  else
    [ "$output" = "$out" ] && cat "$out" >&2
    log "FAILED to build $tag from containers/$name"
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
