#!/usr/bin/env python3
"""Parity with Faultline v0.4.2: analyse every fixture of ../shared/corpus/faultline-fixtures with
`--playbooks ../shared/faultline-pack` and compare our top-1 id, score and confidence (2 decimals)
with the fixture's reference_ranking[0]. Not part of `cargo test` (a fresh clone has no ../shared).

usage: scripts/parity.py [--bin target/release/faultline] [--shared ../shared] [-v]
"""
import argparse, json, os, subprocess, sys, tempfile
import yaml

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="target/release/faultline")
ap.add_argument("--shared", default="../shared")
ap.add_argument("-v", "--verbose", action="store_true")
args = ap.parse_args()

corpus = os.path.join(args.shared, "corpus", "faultline-fixtures")
pack = os.path.join(args.shared, "faultline-pack")
files = sorted(f for f in os.listdir(corpus) if f.endswith(".yaml"))
ok = 0
total = 0
full = 0
mismatches = []
with tempfile.TemporaryDirectory() as tmp:
    for name in files:
        with open(os.path.join(corpus, name)) as fh:
            fx = yaml.safe_load(fh)
        ref = (fx.get("reference_ranking") or [None])[0]
        log_path = os.path.join(tmp, "log")
        with open(log_path, "w") as fh:
            fh.write(fx["log"])
        out = subprocess.run([args.bin, "analyze", "--playbooks", pack, "--json", "--top", "5", log_path],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: exit {out.returncode}: {out.stderr.strip()}", file=sys.stderr)
            sys.exit(2)
        got = json.loads(out.stdout)["results"]
        top = got[0] if got else None
        total += 1
        if ref is None:
            same = top is None
        else:
            same = (top is not None and top["id"] == ref["id"]
                    and f"{top['score']:.2f}" == f"{ref['score']:.2f}"
                    and f"{top['confidence']:.2f}" == f"{ref['confidence']:.2f}")
        if same:
            ok += 1
        ranked = [(r["id"], f"{r['score']:.2f}", f"{r['confidence']:.2f}") for r in got[:len(fx.get("reference_ranking") or [])]]
        wanted = [(r["id"], f"{r['score']:.2f}", f"{r['confidence']:.2f}") for r in (fx.get("reference_ranking") or [])]
        if ranked == wanted:
            full += 1
        elif args.verbose:
            print(f"ranking differs below top-1: {name}\n  reference {wanted}\n  ours      {ranked}")
        else:
            mismatches.append((name, ref, top, got, fx.get("reference_ranking")))
for name, ref, top, got, refs in mismatches:
    print(f"MISMATCH {name}")
    print(f"  reference: {[(r['id'], r['score'], r['confidence']) for r in (refs or [])]}")
    print(f"  ours:      {[(r['id'], r['score'], r['confidence']) for r in got]}")
print(f"whole reference ranking (up to 5 entries) identical: {full}/{total}")
print(f"parity: {ok}/{total} fixtures with the same top-1 id, score and confidence ({100.0*ok/max(total,1):.1f}%)")
sys.exit(0 if ok == total else 1)
