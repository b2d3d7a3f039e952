#!/usr/bin/env bash
# Build smlocal/toolkit:latest (scripts/build-images.sh runs this instead of its generic build).
# Needs Debian packages and PyPI. The build context is a temporary folder holding this folder's
# files and the host's CA bundle (host-ca.crt; empty when there is none), so pip works behind
# TLS-intercepting proxies and nothing is written into the source tree.
#
# Environment: SMLOCAL_BASE_IMAGE (default smlocal/python-base:latest), SMLOCAL_HOST_CA (default
# /etc/ssl/certs/ca-certificates.crt). Extra arguments go to `docker build` (e.g. --quiet).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ca=${SMLOCAL_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
context=$(mktemp -d "${TMPDIR:-/tmp}/smlocal-toolkit.XXXXXX")
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$here/train.py" "$context/"
if [ -f "$ca" ]; then cp "$ca" "$context/host-ca.crt"; else : >"$context/host-ca.crt"; fi
docker build "$@" --build-arg "BASE_IMAGE=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}" \
  -t smlocal/toolkit:latest "$context"
