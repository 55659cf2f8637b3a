#!/usr/bin/env python3
"""Prints every literal pattern of a playbook directory (match.any/all/none/partial), one per line,
normalised the way faultline matches them (trimmed, white space collapsed, lower-cased), deduplicated.
Used to give ripgrep the same literal patterns in the throughput benchmark.

usage: benches/pack_patterns.py PLAYBOOK_DIR > patterns.txt
"""
import os, sys
import yaml

seen = set()
for root, dirs, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        if not f.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(root, f)) as fh:
            doc = yaml.safe_load(fh) or {}
        m = doc.get("match") or {}
        lists = [m.get("any") or [], m.get("all") or [], m.get("none") or []]
        lists += [g.get("patterns") or [] for g in (m.get("partial") or [])]
        for lst in lists:
            for p in lst:
                if isinstance(p, dict):
                    continue  # regexes are not literals
                n = " ".join(str(p).split()).lower()
                if n and n not in seen:
                    seen.add(n)
                    print(n)
