#!/usr/bin/env bash
# Sets up, idempotently, what the end-to-end tests and benchmarks need on a Debian 12 machine
# (as root): Docker Engine 26 and Compose v2 from Debian 13 (trixie), Compose v1 (1.29, the
# second e2e leg), rsync, unison and inotify-tools from Debian 12, a running dockerd, and the
# seeded base image debian:bookworm-slim (no registry can be reached, so it is built from
# Debian's packages). Every step checks first: on a machine that has it all, nothing changes.
#
# The trixie packages are fetched with apt through a source list and lists folder of their
# own, so the system's apt state is untouched and nothing else is upgraded. The Debian mirror
# is read from the machine's apt configuration. A running engine is never stopped, restarted
# or upgraded.
#
# Overridable for a throw-away try: COMPOSE_V2_DIR (where the v2 plugin is extracted, default
# /opt/compose-v2) and DOCKER_CONFIG (whose cli-plugins folder gets the link).
set -euo pipefail

ENGINE_MIN_MAJOR=25 # Engine 25 (API 1.44) has the healthcheck start_interval dsync uses
COMPOSE_V2_DIR="${COMPOSE_V2_DIR:-/opt/compose-v2}"
PLUGINS_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
V2_BINARY="$COMPOSE_V2_DIR/usr/libexec/docker/cli-plugins/docker-compose"

log() { printf 'docker-engine: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

debian_mirror() {
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || die "no Debian mirror found in the apt configuration (/etc/apt/sources.list*)"
  printf '%s\n' "$mirror"
}

# Downloads trixie packages (by name) into the folder $1, through an apt source of its own.
trixie_download() {
  local dir=$1
  shift
  local apt_dir="$dir/apt"
  mkdir -p "$apt_dir/lists/partial"
  # apt drops to the _apt user to download: the folders must be reachable by it.
  chmod 755 "$dir" "$apt_dir" "$apt_dir/lists" "$apt_dir/lists/partial"
  echo "deb $(debian_mirror) trixie main" >"$apt_dir/trixie.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt_dir/trixie.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_dir/lists")
  log "fetching $* from Debian 13 (trixie)"
  apt-get "${opts[@]}" update -qq >/dev/null
  # The download folder is a temp folder of root's: no need to drop to the _apt user there.
  (cd "$dir" && apt-get "${opts[@]}" -o APT::Sandbox::User=root download "$@" >/dev/null)
}

# Empty when no dockerd is installed (a machine may have a docker CLI without the engine).
engine_major() {
  command -v dockerd >/dev/null 2>&1 || return 0
  dockerd --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p'
}

compose_v2_present() {
  docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'
}

# 1. From Debian 12: Compose v1, rsync, unison, inotify-tools, debootstrap (for the base image).
need_pkgs=()
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
command -v unison >/dev/null 2>&1 || need_pkgs+=(unison)
command -v inotifywait >/dev/null 2>&1 || need_pkgs+=(inotify-tools)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]} from Debian 12"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# 2. From Debian 13: Engine 26 (installed) and the Compose v2 plugin (extracted beside v1).
trixie_pkgs=()
major=$(engine_major)
if [ "${major:-0}" -lt "$ENGINE_MIN_MAJOR" ]; then
  if docker info >/dev/null 2>&1; then
    # Upgrading would restart the engine under whatever runs on it: the user decides.
    log "warning: the running engine is ${major:-unknown} (< $ENGINE_MIN_MAJOR); not upgrading a running engine: stop dockerd and run this script again"
  else
    trixie_pkgs+=(docker.io)
  fi
fi
command -v docker >/dev/null 2>&1 || trixie_pkgs+=(docker-cli)
if ! compose_v2_present && [ ! -x "$V2_BINARY" ]; then
  trixie_pkgs+=(docker-compose)
fi
if [ "${#trixie_pkgs[@]}" -gt 0 ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  trixie_download "$work" "${trixie_pkgs[@]}"
  debs=()
  for pkg in docker.io docker-cli; do
    for deb in "$work/${pkg}_"*.deb; do [ -e "$deb" ] && debs+=("$deb"); done
  done
  if [ "${#debs[@]}" -gt 0 ]; then
    # The dependencies (containerd, runc, tini, iptables) come from Debian 12.
    log "installing ${debs[*]##*/}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
  fi
  for deb in "$work"/docker-compose_*.deb; do
    [ -e "$deb" ] || continue
    # Extracted, not installed: the package would replace Compose v1, which the v1 leg needs.
    log "extracting the Compose v2 plugin into $COMPOSE_V2_DIR"
    rm -rf "$COMPOSE_V2_DIR"
    dpkg -x "$deb" "$COMPOSE_V2_DIR"
  done
  rm -rf "$work"
  trap - EXIT
fi
if ! compose_v2_present; then
  [ -x "$V2_BINARY" ] || die "no Compose v2 plugin at $V2_BINARY"
  log "linking the Compose v2 plugin into $PLUGINS_DIR"
  mkdir -p "$PLUGINS_DIR"
  ln -sfn "$V2_BINARY" "$PLUGINS_DIR/docker-compose"
  compose_v2_present || die "docker compose (v2) does not answer after linking $PLUGINS_DIR/docker-compose"
fi

# 3. A running engine.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || {
    log "dockerd did not start; see /tmp/dockerd.log"
    tail -20 /tmp/dockerd.log >&2
    exit 1
  }
fi

# 4. The base image, seeded from Debian's packages.
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  mirror=$(debian_mirror)
  log "seeding debian:bookworm-slim with debootstrap"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || die "debootstrap failed; see /tmp/debootstrap.log"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

log "ready: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), compose $(docker compose version --short) and $(docker-compose version --short), rsync $(rsync --version | head -1 | awk '{print $3}'), unison $(unison -version | awk '{print $3}')"
