#!/usr/bin/env python3
"""Builds or settings of swan's search side by side on one saved index, alternating.

Each variant is NAME=BINARY:RERANK:EFS, where BINARY is a `bench_index` example (an earlier
build, or one built with a temporary change) and RERANK the re-rank factor. Every round runs
every variant once (order reversed every other round), each the best of 3 passes over the
queries on one thread; the summary gives the median QPS and its spread per variant and ef.

    .venv/bin/python scripts/bench_variants.py --data cm2m --index cm2m/swan-idx --rounds 7 \\
        main=target/release/examples/bench_index:4:70,96 rerank2=target/release/examples/bench_index:2:70,96 \\
        ahead1=/tmp/bench_index.ahead1:4:70,96

The data folder holds `base.npy`, `queries.npy` and `gt.npy` (as `scripts/bench_scale.py` makes them).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

from bench_scale import run_swan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("variants", nargs="+", metavar="NAME=BINARY:RERANK:EFS")
    args = ap.parse_args()
    variants = []
    for spec in args.variants:
        name, rest = spec.split("=", 1)
        binary, rerank, efs = rest.rsplit(":", 2)
        variants.append((name, binary, rerank, efs))
    data = Path(args.data)
    points = {}
    for r in range(args.rounds):
        line = []
        for name, binary, rerank, efs in variants if r % 2 == 0 else variants[::-1]:
            # The same bench_index call as bench_scale's swan side (best of 3 passes, one thread).
            run = SimpleNamespace(k=10, swan_index=args.index, repeat=3, rerank=rerank, swan_efs=efs.split(","))
            found, _ = run_swan(data, data / "gt.npy", run, binary)
            for p in found:
                points.setdefault((name, p["ef"]), []).append((p["recall"], p["qps"]))
                line.append(f"{name} ef {p['ef']} {p['recall']:.3f} {p['qps']:.0f}")
        load = open("/proc/loadavg").read().split()[0]
        print(f"bench_variants: round {r + 1}: load {load}: " + "; ".join(line), file=sys.stderr, flush=True)
    summary = []
    for (name, ef), pts in points.items():
        qps = [q for _, q in pts]
        summary.append({"variant": name, "ef": ef, "recall": pts[0][0], "qps_median": statistics.median(qps),
                        "qps_min": min(qps), "qps_max": max(qps)})
        print(f"{name:>12} ef {ef:4d} recall {pts[0][0]:.4f} QPS {statistics.median(qps):8.0f} [{min(qps):.0f}-{max(qps):.0f}]")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
