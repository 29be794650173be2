#!/usr/bin/env python3
"""Print criterion medians from target/criterion as a table.

usage: scripts/bench-table.py [CRITERION_DIR] [GROUP ...]
Per benchmark: median time per iteration, elements per ns (throughput) and the
ratio of each id's median to the group's first id at the same parameter.
"""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
groups = sys.argv[2:] or sorted(d for d in os.listdir(root) if d != "report")
for g in groups:
    gdir = os.path.join(root, g)
    rows = {}
    for fid in sorted(os.listdir(gdir)):
        fdir = os.path.join(gdir, fid)
        if fid == "report" or not os.path.isdir(fdir):
            continue
        # Ids with a parameter have one folder per value; plain ids have `new` directly.
        params = ["-"] if os.path.isdir(os.path.join(fdir, "new")) else os.listdir(fdir)
        for param in params:
            base = fdir if param == "-" else os.path.join(fdir, param)
            est = os.path.join(base, "new", "estimates.json")
            bench = os.path.join(base, "new", "benchmark.json")
            if not os.path.exists(est):
                continue
            med = json.load(open(est))["median"]["point_estimate"]
            thr = json.load(open(bench)).get("throughput") or {}
            n = thr.get("Elements")
            rows.setdefault(param, []).append((fid, med, n))
    print(f"## {g}")
    print("| n | id | median | ns/elem | elem/ns |")
    print("|---|---|---|---|---|")
    key = lambda p: int(p) if p.isdigit() else p
    for param in sorted(rows, key=key):
        for fid, med, n in sorted(rows[param], key=lambda r: r[1]):
            t = f"{med/1e3:.2f} µs" if med >= 1e3 else f"{med:.1f} ns"
            per = f"{med/n:.3f}" if n else "-"
            rate = f"{n/med:.2f}" if n else "-"
            print(f"| {param} | {fid} | {t} | {per} | {rate} |")
