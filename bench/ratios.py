#!/usr/bin/env python3
"""Ratios of every tool against rmesos, per size and run (first = changes, second = none),
from one results.jsonl of ../shared/bench, and the issue's targets checked."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
g = defaultdict(list)
for r in rows:
    g[(r["n"], r["m"], r["phase"], r["tool"])].append(r)
med = lambda rs, k: statistics.median(x[k] for x in rs)  # noqa: E731
sizes = sorted({(r["n"], r["m"]) for r in rows})
phases = sorted({r["phase"] for r in rows})
tools = sorted({r["tool"] for r in rows} - {"rmesos"})
print("Ratios are other tool / rmesos (higher = rmesos better), medians of the same run.\n")
print("| N x M | run | rmesos wall s | rmesos ctrl CPU s | rmesos peak PSS MB | "
      + " | ".join(f"{t} wall x" for t in tools) + " | " + " | ".join(f"{t} CPU x" for t in tools) + " |")
print("|" + "---|" * (5 + 2 * len(tools)))
checks = []
for (n, m) in sizes:
    for ph in phases:
        rm = g.get((n, m, ph, "rmesos"))
        if not rm:
            continue
        w, c, p = med(rm, "wall_s"), med(rm, "ctrl_cpu_s"), med(rm, "peak_pss_mb")
        cols_w, cols_c = [], []
        for t in tools:
            o = g.get((n, m, ph, t))
            cols_w.append(f"{med(o, 'wall_s') / w:.1f}" if o else "-")
            cols_c.append(f"{med(o, 'ctrl_cpu_s') / c:.1f}" if o and c > 0 else "-")
        print(f"| {n}x{m} | {ph} | {w:.2f} | {c:.2f} | {p:.0f} | " + " | ".join(cols_w) + " | " + " | ".join(cols_c) + " |")
        if (n, m) == (50, 20):
            def ratio(t):
                o = g.get((n, m, ph, t))
                return med(o, "wall_s") / w if o else None
            rb, at, py = ratio("raw-batch"), ratio("ansible-tuned"), ratio("pyinfra")
            checks.append((f"50x20 {ph}: wall <= raw-batch", rb is not None and rb >= 1.0, rb))
            checks.append((f"50x20 {ph}: >= 40x faster than ansible-tuned", at is not None and at >= 40, at))
            checks.append((f"50x20 {ph}: >= 3x faster than pyinfra", py is not None and py >= 3, py))
            checks.append((f"50x20 {ph}: peak PSS < 60 MB", p < 60, p))
        bad = [r for r in rm if not r.get("state_ok", True) or (ph == "second" and r.get("changed"))]
        if bad:
            checks.append((f"{n}x{m} {ph}: rmesos state and changes correct", False, None))
if checks:
    print("\n| target | met | value |\n|---|---|---|")
    for name, ok, val in checks:
        v = "-" if val is None else f"{val:.2f}"
        print(f"| {name} | {'yes' if ok else 'NO'} | {v} |")
