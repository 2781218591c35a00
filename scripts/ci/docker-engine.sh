#!/usr/bin/env bash
# Sets up, idempotently, what the end-to-end tests and benchmarks need on a Debian machine:
# a Docker engine, Compose, rsync, unison, inotify-tools, and the seeded base image
# debian:bookworm-slim (no registry can be reached, so it is built from Debian's packages).
# Safe to run again: every step checks first.
set -euo pipefail

log() { printf 'docker-engine: %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
command -v unison >/dev/null 2>&1 || need_pkgs+=(unison)
command -v inotifywait >/dev/null 2>&1 || need_pkgs+=(inotify-tools)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/dockerd.log"; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { log "no Debian mirror found in the apt configuration"; exit 1; }
  log "seeding debian:bookworm-slim with debootstrap"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /tmp/debootstrap.log"; exit 1; }
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

log "ready: $(docker version --format '{{.Server.Version}}') engine, $( (docker compose version --short 2>/dev/null || docker-compose version --short) | head -1) compose, $(rsync --version | head -1 | awk '{print $3}') rsync, $(unison -version | awk '{print $3}') unison"
