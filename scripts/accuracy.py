#!/usr/bin/env python3
"""Accuracy of the bundled catalog on ../shared/corpus/faultline-fixtures (not part of cargo test).

For each labelled log: is its expected playbook id in our catalog (coverage); among those, is it
ranked first (top-1) and within the first three (top-3); and do disallowed ids stay out of the
top three. Prints the figures and, with -v, every miss.

usage: scripts/accuracy.py [--bin target/release/faultline] [--shared ../shared] [-v]
"""
import argparse, json, os, subprocess, sys, tempfile
import yaml

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="target/release/faultline")
ap.add_argument("--shared", default="../shared")
ap.add_argument("--playbooks", default=None, help="directory instead of the bundled catalog")
ap.add_argument("-v", "--verbose", action="store_true")
args = ap.parse_args()

extra = ["--playbooks", args.playbooks] if args.playbooks else []
ids = {p["id"] for p in json.loads(subprocess.check_output([args.bin, "list", "--json"] + extra))}
corpus = os.path.join(args.shared, "corpus", "faultline-fixtures")
total = covered = top1 = top3 = disallowed_hits = 0
missing_ids, misses = {}, []
with tempfile.TemporaryDirectory() as tmp:
    for name in sorted(os.listdir(corpus)):
        if not name.endswith(".yaml"):
            continue
        fx = yaml.safe_load(open(os.path.join(corpus, name)))
        total += 1
        want = fx["expected_playbook"]
        if want not in ids:
            missing_ids.setdefault(want, []).append(name)
            continue
        covered += 1
        path = os.path.join(tmp, "log")
        open(path, "w").write(fx["log"])
        out = json.loads(subprocess.check_output([args.bin, "analyze", "--json", "--top", "5", path] + extra))
        got = [r["id"] for r in out["results"]]
        if got[:1] == [want]:
            top1 += 1
        if want in got[:3]:
            top3 += 1
        bad = [d for d in (fx.get("disallowed_playbooks") or []) if d in got[:3]]
        disallowed_hits += bool(bad)
        if got[:1] != [want]:
            misses.append((name, want, got[:3], fx.get("class")))
print(f"fixtures: {total}; expected id in our catalog: {covered} ({100 * covered / total:.1f} %)")
print(f"among those: top-1 {top1}/{covered} = {top1 / max(covered, 1):.3f}, top-3 {top3}/{covered} = {top3 / max(covered, 1):.3f}")
print(f"fixtures with a disallowed id in our top 3: {disallowed_hits}")
if missing_ids:
    print("expected ids we do not have: " + ", ".join(f"{k} ({len(v)})" for k, v in sorted(missing_ids.items())))
if args.verbose:
    for name, want, got, cls in misses:
        print(f"MISS {name} [{cls}]: want {want}, got {got}")
