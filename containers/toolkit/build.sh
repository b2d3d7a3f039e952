#!/usr/bin/env bash
# Build smlocal/toolkit:latest. Copies the host's CA bundle into the build context (removed
# afterwards) so pip works behind TLS-intercepting proxies. The Dockerfile is named
# toolkit.Dockerfile so scripts/build-images.sh (offline builds only) does not pick it up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ca=${SMLOCAL_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
cleanup() { rm -f "$here/host-ca.crt"; }
trap cleanup EXIT
[ -f "$ca" ] && cp "$ca" "$here/host-ca.crt"
docker build -f "$here/toolkit.Dockerfile" --build-arg "BASE_IMAGE=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}" \
  -t smlocal/toolkit:latest "$here"
