#!/usr/bin/env python3
"""Reads `go test -bench` output on stdin (BenchmarkSgemm/<shape>/<impl>,
BenchmarkFMAPeak/<set>) and prints the best GFLOP/s of each (best-of
-count runs: the machine is shared, the maximum is the least disturbed) as
a table with native/peer ratios."""
import re
import sys
from collections import OrderedDict

best = OrderedDict()
lines = []
for line in sys.stdin:
    lines.append(line)
    m = re.match(r"Benchmark(\S+?)(-\d+)?\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) GFLOP/s", line)
    if not m:
        if line.startswith("openblas core:"):
            print(line.strip())
        continue
    name, g = m.group(1), float(m.group(3))
    best[name] = max(best.get(name, 0.0), g)

peaks = [(k.split("/", 1)[1], v) for k, v in best.items() if k.startswith("FMAPeak/")]
for name, v in peaks:
    print(f"fma_peak {name:8s} {v:8.1f} GFLOP/s (register-only loop, all threads)")

# Level-1/2 kernels: the native kernel set next to the pure-Go reference
# ("ref"), as a ratio, one line per operation.
lvl = OrderedDict()
for k, v in best.items():
    if k.startswith("Level1/") and k.count("/") >= 2:
        op, impl = k[len("Level1/"):].rsplit("/", 1)
        lvl.setdefault(op, OrderedDict())[impl] = v
for op, d in lvl.items():
    cells = "  ".join(f"{i}={v:.1f}" for i, v in d.items())
    fast = [i for i in d if i != "ref"]
    ratio = f"  {fast[0]}/ref = {d[fast[0]] / d['ref']:.2f}x" if fast and "ref" in d else ""
    print(f"level-1/2 {op:18s} GFLOP/s: {cells}{ratio}")

shapes = OrderedDict()
for k, v in best.items():
    parts = k.split("/")
    if parts[0] != "Sgemm" or len(parts) != 3:
        continue
    shapes.setdefault(parts[1], {})[parts[2]] = v

impls = []
for d in shapes.values():
    for i in d:
        if i not in impls:
            impls.append(i)
if not shapes:
    sys.exit(0)
native = next((i for i in impls if i.startswith("native-")), None)
hdr = f"{'sgemm GFLOP/s':20s}" + "".join(f"{i:>16s}" for i in impls)
peers = [i for i in impls if not i.startswith("native-")]
hdr += "".join(f"{native + '/' + p:>26s}" for p in peers) if native else ""
print(hdr)
for s, d in shapes.items():
    row = f"{s:20s}" + "".join(f"{d[i]:16.1f}" if i in d else f"{'-':>16s}" for i in impls)
    if native:
        for p in peers:
            row += f"{d[native] / d[p]:25.2f}x" if p in d and native in d else f"{'-':>26s}"
    print(row)
