#!/usr/bin/env bash
# Runs every capture script in turn (see README.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
for s in apt cargo pip npm nginx postgres redis docker; do
  SCRATCH=$(mktemp -d /tmp/healthy.XXXXXX) "$HERE/$s.sh"
done
du -sh "${OUT:-$HERE/../../tests/fixtures/healthy}"
