#!/usr/bin/env bash
# What `npm run example` and `npm test` need, set up only where missing: the npm dependencies,
# and a Docker engine with compose, rsync and unison (on Debian as root: Engine 26 and Compose
# v2 from Debian 13, Compose v1 and the tools from Debian 12, installed and started by
# scripts/ci/docker-engine.sh; elsewhere: say what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@oclif/core ] || [ ! -d node_modules/vitest ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
fi

if docker info >/dev/null 2>&1 && command -v rsync >/dev/null 2>&1 \
   && { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } \
   && docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/ci/docker-engine.sh
  exit 0
fi
echo "setup: needs a running Docker engine, docker compose (or docker-compose), rsync and the image debian:bookworm-slim; scripts/ci/docker-engine.sh sets them up on Debian as root" >&2
exit 69
