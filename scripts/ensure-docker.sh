#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent: does nothing when `docker info` works.
# On Debian/Ubuntu as root: installs docker.io with apt, starts dockerd in the background
# (log in $SMLOCAL_DOCKERD_LOG, default /var/log/smlocal-dockerd.log) and waits for the socket.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "no Docker engine answers and this is not root. Start Docker yourself (e.g. 'sudo systemctl start docker') or re-run as root."
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "no Docker engine answers and this machine has no apt-get. Install and start Docker (https://docs.docker.com/engine/install/), then re-run."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io with apt-get (one time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  logfile=${SMLOCAL_DOCKERD_LOG:-/var/log/smlocal-dockerd.log}
  log "starting dockerd (log: $logfile)"
  # A session of its own (setsid): Ctrl-C in this terminal, or the end of the job that ran
  # this script, signals its process group, and must not take the engine down with it.
  setsid nohup dockerd >"$logfile" 2>&1 </dev/null &
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine is up"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 60 s; see ${SMLOCAL_DOCKERD_LOG:-/var/log/smlocal-dockerd.log}"
exit 1
