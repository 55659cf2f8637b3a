#!/usr/bin/env bash
# What decoding costs `faultline watch`: the same log read to its end (`watch --once
# --from-start`, bundled catalog) as plain text without and with multi-line joining, and encoded
# as CRI and docker json-file lines (the cost of parsing them and joining partial lines).
#
#   benches/decode.sh [SIZE_MB]        # default 100; logs are generated into target/bench/
#
# Each command runs 3 times; the best wall time is reported (warm page cache).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-100}
OUT=target/bench
mkdir -p "$OUT"
PLAIN="$OUT/log-${SIZE_MB}mb.log"
[ -s "$PLAIN" ] || python3 benches/gen_log.py "$PLAIN" "$SIZE_MB" 42
# The same lines as a container runtime writes them (every 100th line split in two fragments).
python3 - "$PLAIN" "$OUT/decode-${SIZE_MB}mb" <<'PY'
import json, sys
src, base = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8", errors="replace") as f, open(base + ".cri.log", "w") as cri, open(base + "-json.log", "w") as js:
    for i, line in enumerate(f):
        line = line.rstrip("\n")
        ts = "2026-11-26T10:%02d:%02d.%09dZ" % (i // 60000 % 60, i // 1000 % 60, i % 1000 * 1000)
        stream = "stderr" if i % 7 == 0 else "stdout"
        parts = [line[: len(line) // 2], line[len(line) // 2 :]] if i % 100 == 0 else [line]
        for j, p in enumerate(parts):
            last = j == len(parts) - 1
            cri.write("%s %s %s %s\n" % (ts, stream, "F" if last else "P", p))
            js.write(json.dumps({"log": p + ("\n" if last else ""), "stream": stream, "time": ts}) + "\n")
PY
cargo build --release --quiet
BIN=target/release/faultline
best() { # best wall seconds and peak RSS (KB) over 3 runs of "$@"
  local best_t=999999 best_m=0
  for _ in 1 2 3; do
    rm -rf "$OUT/decode-state"
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" >/dev/null 2>&1 || true
    read -r t m < "$OUT/time.txt"
    if awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  echo "$best_t $best_m"
}
run() { # label, file, extra args
  local label=$1 file=$2; shift 2
  local bytes; bytes=$(stat -c %s "$file")
  read -r t m < <(best "$BIN" watch --once --from-start --min-confidence 0 --state-dir "$OUT/decode-state" "$@" "$file")
  printf '%-34s %7.1f MB in %6.2f s  %7.1f MB/s  %6.2f M lines/s  peak RSS %6.1f MB\n' "$label" \
    "$(awk "BEGIN{print $bytes/1e6}")" "$t" "$(awk "BEGIN{print $bytes/1e6/$t}")" \
    "$(awk "BEGIN{print $(wc -l < "$PLAIN")/1e6/$t}")" "$(awk "BEGIN{print $m/1024}")"
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(wc -l < "$PLAIN") lines"
run "plain (default)" "$PLAIN"
run "plain, --multiline" "$PLAIN" --multiline
run "CRI, --multiline" "$OUT/decode-${SIZE_MB}mb.cri.log" --multiline
run "docker json-file, --multiline" "$OUT/decode-${SIZE_MB}mb-json.log" --multiline
