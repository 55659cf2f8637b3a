# Sourced by the capture scripts.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$REPO/tests/fixtures/healthy}
SCRATCH=${SCRATCH:-$(mktemp -d /tmp/healthy.XXXXXX)}
mkdir -p "$OUT" "$SCRATCH"
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout=600"
# Run a command, capturing stdout and stderr (interleaved) into $OUT/$1.
capture() {
  local name=$1; shift
  mkdir -p "$(dirname "$OUT/$name")"
  echo "== $name: $*" >&2
  "$@" >"$OUT/$name" 2>&1
}
# Replace the scratch directory name in a captured file.
scrub() {
  sed -i "s#$SCRATCH#/tmp/healthy#g" "$@"
}
need() {  # need CMD PACKAGE...
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 || $APT install -y --no-install-recommends "$@"
}
