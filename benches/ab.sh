#!/usr/bin/env bash
# Before/after comparison of `faultline analyze` binaries on the same log: the binaries run
# alternately (so the machine's drift hits them alike), N times each; prints the minimum and the
# median wall and user time of each.
#
#   benches/ab.sh N BINARY... [-- PLAYBOOK_DIR]
#
# The log is target/bench/log-200mb.log (benches/throughput.sh generates it); PLAYBOOK_DIR
# defaults to ../shared/faultline-pack. Build the "before" binary from another checkout, e.g.
#   git worktree add /tmp/before REV && (cd /tmp/before && cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
N=$1
shift
bins=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
PLAYBOOKS=${1:-../shared/faultline-pack}
LOG=target/bench/log-200mb.log
[ -s "$LOG" ] || { echo "no $LOG: run benches/throughput.sh first" >&2; exit 2; }
times=$(mktemp)
trap 'rm -f "$times"' EXIT
for _ in $(seq "$N"); do
  for b in "${bins[@]}"; do
    /usr/bin/time -f "$b %U %e" -a -o "$times" "$b" analyze --playbooks "$PLAYBOOKS" --json "$LOG" >/dev/null
  done
done
bytes=$(stat -c %s "$LOG")
python3 - "$times" "$bytes" "${bins[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
mb = int(sys.argv[2]) / 1e6
for b in sys.argv[3:]:
    wall = sorted(float(r[2]) for r in rows if r[0] == b)
    user = sorted(float(r[1]) for r in rows if r[0] == b)
    print(f"{b}: wall min {wall[0]:.3f} s, median {statistics.median(wall):.3f} s "
          f"({mb / wall[0]:.0f} / {mb / statistics.median(wall):.0f} MB/s); "
          f"user min {user[0]:.3f} s, median {statistics.median(user):.3f} s")
PY
