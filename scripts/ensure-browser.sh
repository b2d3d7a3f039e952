#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are installed (for the browser tests).
# Idempotent: does nothing when both `chromium` and `chromedriver` are on PATH. Installs
# Debian's `chromium` and `chromium-driver` with apt as root; elsewhere says what to do.
set -euo pipefail

log() { printf 'ensure-browser: %s\n' "$*" >&2; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "chromium and chromedriver are not installed; install Debian's 'chromium' and 'chromium-driver' (apt-get install chromium chromium-driver) for the browser tests."
  exit 1
fi
log "installing chromium and chromium-driver with apt-get (one time)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
  || { log "chromium or chromedriver still missing after apt-get install"; exit 1; }
log "chromium $(chromium --version 2>/dev/null | awk '{print $2}') installed"
