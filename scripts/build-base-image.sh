#!/usr/bin/env bash
# Build the base image of the example training containers: python3 with numpy, scipy and
# scikit-learn. Does nothing when the image exists.
#
#   online  (an image registry answers): docker build containers/python-base
#           (FROM the public python:3.11-slim-bookworm image + pinned pip packages)
#   offline (no registry): debootstrap a Debian bookworm minbase root file system with
#           python3-numpy/-scipy/-sklearn, strip caches, `docker import` it. The root file
#           system tarball is cached, so a rebuild after `docker rmi` takes seconds.
#
# Environment:
#   SMLOCAL_BASE_IMAGE     tag to build              (default smlocal/python-base:latest)
#   SMLOCAL_BASE_BUILD     auto | online | offline   (default auto: online if a registry answers)
#   SMLOCAL_CACHE_DIR      tarball cache  (default /var/cache/smlocal as root, else ~/.cache/smlocal)
#   SMLOCAL_DEBIAN_MIRROR  Debian mirror URL for debootstrap (default: debootstrap's own default)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
image=${SMLOCAL_BASE_IMAGE:-smlocal/python-base:latest}
mode=${SMLOCAL_BASE_BUILD:-auto}
public_base=python:3.11-slim-bookworm
suite=bookworm
packages=python3,python3-numpy,python3-scipy,python3-sklearn,ca-certificates
if [ "$(id -u)" -eq 0 ]; then
  cache_dir=${SMLOCAL_CACHE_DIR:-/var/cache/smlocal}
else
  cache_dir=${SMLOCAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smlocal}
fi

log() { printf 'build-base-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

image_exists() { docker image inspect "$image" >/dev/null 2>&1; }

smoke_test() {
  docker run --rm --network none "$image" \
    python3 -c 'import numpy, scipy, sklearn; print("python3", __import__("sys").version.split()[0], "numpy", numpy.__version__, "scikit-learn", sklearn.__version__)'
}

# True when the public base image is present or a registry delivers it. The first answer must
# come within 20 s (an unreachable registry usually fails at once, a black-holed one would hang);
# once the registry has answered the download may take up to 10 minutes.
have_public_base() {
  docker image inspect "$public_base" >/dev/null 2>&1 && return 0
  local out pid rc=0 waited=0
  out=$(mktemp)
  docker pull "$public_base" >"$out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 40 ] && ! grep -q 'Pulling from' "$out"; then
      kill "$pid" 2>/dev/null || true
      log "no image registry answered within 20 s"
      break
    fi
    if [ "$waited" -ge 1200 ]; then
      kill "$pid" 2>/dev/null || true
      log "pulling $public_base took more than 10 minutes; giving up"
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$rc" -ne 0 ] && [ -s "$out" ]; then
    log "cannot pull $public_base: $(tail -n 1 "$out")"
  fi
  rm -f "$out"
  return "$rc"
}

build_online() {
  log "building $image from containers/python-base (FROM $public_base)"
  docker build -t "$image" "$root/containers/python-base"
}

# Unmount whatever debootstrap left mounted under $1 (it bind-mounts /dev inside containers),
# deepest first, so that removing the directory can never reach the host's /dev or /proc.
unmount_under() {
  local dir=$1
  [ -d "$dir" ] || return 0
  awk -v d="$(realpath "$dir")" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts \
    | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

ensure_debootstrap() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || die "need ${missing[*]} to build $image offline, and this machine has no apt-get"
  log "installing ${missing[*]} with apt-get (one time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_rootfs_tarball() {
  local tarball=$1 work rootfs
  [ "$(id -u)" -eq 0 ] || die "no image registry answers, and the offline build (debootstrap) needs root. Re-run as root, or make a registry reachable."
  ensure_debootstrap
  mkdir -p "$cache_dir"
  work=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  rootfs="$work/rootfs"
  # shellcheck disable=SC2064  # expand now: the trap must clean this very directory
  trap "unmount_under '$work'; rm -rf --one-file-system '$work'" EXIT
  log "debootstrap $suite minbase with $packages (a few minutes; log: $work/debootstrap.log)"
  local args=(--variant=minbase "--include=$packages")
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
    && args+=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  args+=("$suite" "$rootfs")
  [ -n "${SMLOCAL_DEBIAN_MIRROR:-}" ] && args+=("$SMLOCAL_DEBIAN_MIRROR")
  if ! debootstrap "${args[@]}" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (Debian packages unreachable? set SMLOCAL_DEBIAN_MIRROR)"
  fi
  unmount_under "$rootfs"
  # Smaller image, no host details: package caches and lists, docs, logs, resolver/hostname.
  rm -rf --one-file-system "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/*
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/hostname"
  log "writing $tarball"
  tar --numeric-owner --one-file-system -C "$rootfs" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$tarball"
  unmount_under "$work"
  rm -rf --one-file-system "$work"
  trap - EXIT
}

build_offline() {
  # The package list is part of the cache key: a changed list never reuses an old tarball.
  local key tarball
  key=$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-12)
  tarball="$cache_dir/python-base-$suite-$key.tar"
  if [ -s "$tarball" ]; then
    log "using cached root file system $tarball"
  else
    make_rootfs_tarball "$tarball"
  fi
  log "docker import -> $image"
  docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null \
    || die "docker import of $tarball failed (delete it to rebuild it from Debian packages)"
}

main() {
  docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/ensure-docker.sh"
  if image_exists; then
    log "$image exists; nothing to do"
    return 0
  fi
  mkdir -p "$cache_dir" 2>/dev/null || true
  # One build at a time: a second caller waits, then finds the image.
  if command -v flock >/dev/null 2>&1 && [ -w "$cache_dir" ]; then
    exec 9>"$cache_dir/.build-base-image.lock"
    flock 9
    if image_exists; then
      log "$image exists (built meanwhile); nothing to do"
      return 0
    fi
  fi
  case $mode in
    online) have_public_base || die "no image registry answers (SMLOCAL_BASE_BUILD=online)"
            build_online || die "docker build of containers/python-base failed" ;;
    offline) build_offline ;;
    auto) if have_public_base && build_online; then
            :
          else
            log "building $image offline from Debian packages"
            build_offline
          fi ;;
    *) die "SMLOCAL_BASE_BUILD must be auto, online or offline (got '$mode')" ;;
  esac
  if ! smoke_test; then
    docker rmi "$image" >/dev/null 2>&1 || true
    die "$image was built but python3 cannot import numpy, scipy and scikit-learn; removed it"
  fi
  log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

main "$@"
