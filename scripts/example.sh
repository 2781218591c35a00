#!/usr/bin/env bash
# The main job on the bundled example (fixtures/example): `dsync compose up -d` with an rsync
# sync of ./src into a named volume, then a change on the host read back inside the container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build

dsync() { node bin/run.js "$@"; }
example=fixtures/example
echo "\$ dsync compose --project-directory $example up -d" >&2
dsync compose --project-directory "$example" up -d

stamp="hello from the host at $(date -u +%H:%M:%S.%N)"
echo "$stamp" > "$example/src/now.txt"
dsync flush --project-directory "$example"
seen=$(dsync compose --project-directory "$example" exec -T app cat /app/now.txt)
echo "inside the app container: $seen" >&2
[ "$seen" = "$stamp" ] || { echo "example: the container did not see the change" >&2; exit 1; }
dsync status --project-directory "$example"
echo "stop it with: node bin/run.js compose --project-directory $example down -v" >&2
