#!/usr/bin/env bash
# Build smlocal/NAME:latest, a framework stand-in, from containers/NAME/Dockerfile on top of
# smlocal/toolkit:latest (built first with containers/toolkit/build.sh when it is missing). The
# build context is a temporary folder holding the Dockerfile and a wheels/ folder with the WHEEL
# files given (none for a framework the toolkit image already has), so the build needs no
# network. Used by the build.sh of containers/*-framework.
#
#   bash containers/common/build-framework.sh NAME [WHEEL ...] [-- DOCKER BUILD ARGS ...]
set -euo pipefail
containers=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: build-framework.sh NAME [WHEEL ...] [-- DOCKER BUILD ARGS ...]}
shift
wheels=()
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do wheels+=("$1"); shift; done
[ "$#" -gt 0 ] && shift
toolkit=smlocal/toolkit:latest
if ! docker image inspect "$toolkit" >/dev/null 2>&1; then
  printf 'build-framework.sh: building %s first\n' "$toolkit" >&2
  bash "$containers/toolkit/build.sh" --quiet >&2
fi
context=$(mktemp -d "${TMPDIR:-/tmp}/smlocal-$name.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir "$context/wheels"
cp "$containers/$name/Dockerfile" "$containers/common/framework-train" \
  "$containers/common/install-wheels" "$context/"
for wheel in "${wheels[@]}"; do
  if [ -d "$wheel" ]; then cp -r "$wheel"/. "$context/wheels/"; else cp "$wheel" "$context/wheels/"; fi
done
docker build "$@" --build-arg "TOOLKIT_IMAGE=$toolkit" -t "smlocal/$name:latest" "$context"
