#!/usr/bin/env bash
# Findings per million lines of `faultline watch --once --from-start` (default thresholds) over the
# healthy logs, with a breakdown by playbook and file.
# usage: scripts/healthy/measure.sh [--bin PATH] [--playbooks DIR]   (default: target/release/faultline, bundled catalog)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=$REPO/target/release/faultline; PB=()
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift 2 ;;
    --playbooks) PB=(--playbooks "$2"); shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
H=${HEALTHY:-$REPO/tests/fixtures/healthy}
S=$(mktemp -d); trap 'rm -rf "$S"' EXIT
mapfile -t files < <(find "$H" -type f | sort)
"$BIN" watch --once --from-start --state-dir "$S/state" --format json --log-level warn "${PB[@]}" "${files[@]}" >"$S/findings.json"
lines=$(cat "${files[@]}" | wc -l); bytes=$(cat "${files[@]}" | wc -c)
python3 - "$S/findings.json" "$lines" "$bytes" "${#files[@]}" "$H/" <<'PY'
import collections, json, sys
path, lines, nbytes, nfiles, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
found = [json.loads(l) for l in open(path) if l.strip()]
print(f"files {nfiles}, lines {lines}, bytes {nbytes}, findings {len(found)}, "
      f"findings per million lines {len(found) * 1e6 / max(lines, 1):.1f}")
c = collections.Counter((f["playbook"]["id"], f["stream"]["name"].replace(root, "")) for f in found)
for (pid, stream), n in sorted(c.items()):
    print(f"  {pid:40s} {stream} x{n}")
PY
