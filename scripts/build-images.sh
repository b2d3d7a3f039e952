#!/usr/bin/env bash
# Build the training images: every containers/<name>/ with a Dockerfile (except python-base,
# the base image) becomes smlocal/<name>:latest. Makes sure Docker answers and the base image
# exists first. The builds take everything from the base image, so they work offline; Docker's
# layer cache makes a rebuild of unchanged images take about a second each.
#
#   bash scripts/build-images.sh            # all images
#   bash scripts/build-images.sh gbm epoch  # only these
#
# Environment: SMLOCAL_BASE_IMAGE (base image tag, default smlocal/python-base:latest) is passed
# to the builds as the BASE_IMAGE build argument (Dockerfiles that declare it use it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
base_image=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}

log() { printf 'build-images: %s\n' "$*" >&2; }

bash "$here/ensure-docker.sh"
bash "$here/build-base-image.sh"

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for dockerfile in "$root"/containers/*/Dockerfile; do
    [ -e "$dockerfile" ] || continue
    name=$(basename "$(dirname "$dockerfile")")
    [ "$name" = python-base ] && continue
    names+=("$name")
  done
fi
[ "${#names[@]}" -gt 0 ] || { log "no containers/*/Dockerfile found"; exit 1; }

failed=()
for name in "${names[@]}"; do
  dir="$root/containers/$name"
  tag="smlocal/$name:latest"
  if [ ! -f "$dir/Dockerfile" ]; then
    log "no $dir/Dockerfile"
    failed+=("$name")
    continue
  fi
  start=$SECONDS
  # --quiet prints only the image id; on failure Docker still prints the error and the
  # failing step's output, which we show.
  if out=$(docker build --quiet --build-arg "BASE_IMAGE=$base_image" -t "$tag" "$dir" 2>&1); then
    log "built $tag ($((SECONDS - start)) s)"
  else
    printf '%s\n' "$out" >&2
    log "FAILED to build $tag from containers/$name"
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
