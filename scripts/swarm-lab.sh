#!/usr/bin/env bash
# A two-node Docker Swarm on one machine, for smlocal's swarm backend (issue 10):
#
#   bash scripts/swarm-lab.sh up     # idempotent: installs docker.io + docker-registry if missing
#   bash scripts/swarm-lab.sh down   # removes all of it but the image cache; safe to run twice
#   bash scripts/swarm-lab.sh down --purge   # also the image cache
#   bash scripts/swarm-lab.sh status
#
# Node 1 is this machine's Docker engine (swarm manager, advertised on 10.200.0.1). Node 2 is a
# second dockerd in the network namespace `smlocal-node2` (10.200.0.2), joined as a worker.
# A registry (Debian's docker-registry) listens on 10.200.0.1:5000. Recipe:
# ../shared/design/swarm-two-node.md. Root only. State under $SMLOCAL_LAB_DIR
# (/var/lib/smlocal-lab), run files under /run/smlocal-lab. Images (the registry's blobs and
# node 2's image store) are cached in $SMLOCAL_LAB_CACHE (/var/cache/smlocal-lab), so a second
# `up` does not push and pull a GiB again; `down --purge` removes the cache too.
#
# Printed on `up` (and by `env`): SMLOCAL_SWARM_REGISTRY, SMLOCAL_SWARM_ADDRESS, SMLOCAL_LAB_NODE2.
set -euo pipefail

LAB=${SMLOCAL_LAB_DIR:-/var/lib/smlocal-lab}
RUN=/run/smlocal-lab
CACHE=${SMLOCAL_LAB_CACHE:-/var/cache/smlocal-lab}
NS=smlocal-node2
HOST_IF=smlab0
NODE_IF=smlab1
HOST_IP=10.200.0.1
NODE_IP=10.200.0.2
REGISTRY=$HOST_IP:5000
SOCK2=$RUN/node2.sock
DAEMON_JSON=/etc/docker/daemon.json
ADDR_POOL=10.201.0.0/16  # overlay subnets (ingress, per-job networks)

log() { printf 'swarm-lab: %s\n' "$*" >&2; }
docker2() { docker -H "unix://$SOCK2" "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

require_root() {
  if [ "$(id -u)" -ne 0 ]; then log "must run as root"; exit 1; fi
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get (one time)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

host_dockerd_pid() {
  if [ -f /var/run/docker.pid ]; then cat /var/run/docker.pid; else pgrep -xo dockerd; fi
}

# Add (or remove) the lab registry in the host engine's insecure-registries, then reload.
daemon_json() {
  local action=$1
  python3 - "$action" "$DAEMON_JSON" "$REGISTRY" "$LAB/daemon.json.absent" <<'EOF'
import json, os, sys
action, path, registry, marker = sys.argv[1:]
try:
    with open(path) as f:
        config = json.load(f)
    existed = True
except FileNotFoundError:
    config, existed = {}, False
regs = config.setdefault("insecure-registries", [])
if action == "add":
    if registry in regs:
        sys.exit(0)
    if not existed:
        open(marker, "w").close()  # we created the file: down removes it again
    regs.append(registry)
else:
    if registry not in regs:
        sys.exit(0)
    regs.remove(registry)
    if not regs:
        del config["insecure-registries"]
    if not config and os.path.exists(marker):
        os.remove(path)
        os.remove(marker)
        sys.exit(3)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(config, f, indent=2)
sys.exit(3)
EOF
}

reload_host_dockerd() {
  local pid
  pid=$(host_dockerd_pid) || true
  if [ -n "${pid:-}" ]; then kill -HUP "$pid"; sleep 1; fi
}

up() {
  require_root
  install_packages
  mkdir -p "$LAB" "$RUN"
  docker info >/dev/null 2>&1 || { log "the host's Docker engine does not answer"; exit 1; }

  # 1. network namespace and veth pair
  if ! ip netns list | grep -qw "$NS"; then
    log "creating network namespace $NS ($NODE_IP)"
    ip netns add "$NS"
  fi
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name "$NODE_IF"
    ip link set "$NODE_IF" netns "$NS"
    ip addr add "$HOST_IP/24" dev "$HOST_IF"
    ip netns exec "$NS" ip addr add "$NODE_IP/24" dev "$NODE_IF"
  fi
  ip link set "$HOST_IF" up
  ip netns exec "$NS" ip link set "$NODE_IF" up
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" ip route replace default via "$HOST_IP"

  # 2. the registry (before node 2, whose dockerd is told it is insecure)
  if ! alive "$RUN/registry.pid"; then
    mkdir -p "$CACHE/registry"
    cat >"$LAB/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $CACHE/registry}
  delete: {enabled: true}
http: {addr: "$REGISTRY"}
EOF
    log "starting docker-registry on $REGISTRY"
    setsid nohup docker-registry serve "$LAB/registry.yml" >"$LAB/registry.log" 2>&1 &
    echo $! >"$RUN/registry.pid"
  fi
  local rc=0
  daemon_json add || rc=$?
  if [ "$rc" -eq 3 ]; then log "host engine: $REGISTRY is an insecure registry (reload)"; reload_host_dockerd; fi

  # 3. node 2's engine: nsenter --net keeps the cgroup mounts (ip netns exec remounts /sys)
  if ! alive "$RUN/node2.pid"; then
    mkdir -p "$CACHE/node2" "$RUN/node2-exec"
    # its own (empty) config file: /etc/docker/daemon.json is the host engine's
    echo '{}' >"$LAB/node2-daemon.json"
    log "starting node 2's dockerd ($SOCK2)"
    setsid nohup nsenter --net="/var/run/netns/$NS" dockerd \
      --config-file "$LAB/node2-daemon.json" --data-root "$CACHE/node2" --exec-root "$RUN/node2-exec" --pidfile "$RUN/node2.pid" \
      -H "unix://$SOCK2" --bridge=none --iptables=true --ip-masq=true \
      --insecure-registry "$REGISTRY" >"$LAB/node2-dockerd.log" 2>&1 &
    for _ in $(seq 1 120); do docker2 info >/dev/null 2>&1 && break; sleep 0.5; done
    docker2 info >/dev/null 2>&1 || { log "node 2's dockerd did not start: see $LAB/node2-dockerd.log"; exit 1; }
  fi
  for _ in $(seq 1 60); do curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && break; sleep 0.5; done

  # 4. the swarm
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" = inactive ]; then
    log "docker swarm init --advertise-addr $HOST_IP"
    docker swarm init --advertise-addr "$HOST_IP" --listen-addr "$HOST_IP:2377" \
      --data-path-addr "$HOST_IP" --default-addr-pool "$ADDR_POOL" >/dev/null
    touch "$LAB/swarm-initialized"
  fi
  if [ "$(docker2 info --format '{{.Swarm.LocalNodeState}}')" = inactive ]; then
    log "node 2 joins the swarm"
    docker2 swarm join --advertise-addr "$NODE_IP" --listen-addr "$NODE_IP:2377" \
      --data-path-addr "$NODE_IP" \
      --token "$(docker swarm join-token -q worker)" "$HOST_IP:2377" >/dev/null
  fi
  for _ in $(seq 1 60); do
    [ "$(docker node ls --format '{{.Status}}' | grep -c Ready)" -ge 2 ] && break
    sleep 0.5
  done
  docker node ls >&2
  env_out
}

env_out() {
  echo "SMLOCAL_SWARM_REGISTRY=$REGISTRY"
  echo "SMLOCAL_SWARM_ADDRESS=$HOST_IP"
  echo "SMLOCAL_LAB_NODE2=unix://$SOCK2"
}

down() {
  require_root
  # services and networks smlocal left (none when all went well), then node 2 leaves
  if docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null | grep -q true; then
    docker service ls -q --filter label=smlocal.lab | xargs -r docker service rm >/dev/null || true
  fi
  if [ -S "$SOCK2" ] && docker2 info >/dev/null 2>&1; then
    docker2 swarm leave --force >/dev/null 2>&1 || true
  fi
  if alive "$RUN/node2.pid"; then
    local pid
    pid=$(cat "$RUN/node2.pid")
    log "stopping node 2's dockerd (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  if [ -f "$LAB/swarm-initialized" ]; then
    log "host engine leaves the swarm"
    docker swarm leave --force >/dev/null 2>&1 || true
    rm -f "$LAB/swarm-initialized"
  fi
  if alive "$RUN/registry.pid"; then
    kill "$(cat "$RUN/registry.pid")" || true
  fi
  local rc=0
  [ -d "$LAB" ] && { daemon_json remove || rc=$?; }
  if [ "$rc" -eq 3 ]; then reload_host_dockerd; fi
  if ip netns list 2>/dev/null | grep -qw "$NS"; then
    log "removing network namespace $NS"
    ip netns del "$NS"
  fi
  ip link del "$HOST_IF" 2>/dev/null || true
  # mounts node 2's engine may have left (it shares our mount namespace)
  for dir in "$LAB" "$RUN" "$CACHE"; do
    findmnt -rn -o TARGET | grep "^$dir/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  done
  rm -rf "$LAB" "$RUN"
  if [ "${1:-}" = --purge ]; then rm -rf "$CACHE"; fi
  log "down"
}

status() {
  ip netns list | grep -w "$NS" || echo "no namespace $NS"
  docker node ls 2>/dev/null || echo "host engine not in a swarm"
  alive "$RUN/registry.pid" && echo "registry on $REGISTRY" || echo "no registry"
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  env) env_out ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
