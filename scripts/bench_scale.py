#!/usr/bin/env python3
"""swan's index against hnswlib at scale, side by side, alternating, in one run.

Every round answers all queries with hnswlib (in this process) and with swan (the
`bench_index` example, `--load`ing a saved index), one after the other, swapping which goes
first each round, so that both see the same machine load. Single-thread QPS only (the issue's
measure). Builds are done once and saved: hnswlib's index next to the data
(`hnswlib-M{m}-efc{efc}.bin`, build time in `.json`), swan's with
`bench_index --save DIR` (or `swan index build`) beforehand.

    .venv/bin/python scripts/bench_scale.py --data /tmp/cm1m --swan-index /tmp/cm1m/swan-m16 \
        --m 16 --hnsw-efs 128 192 256 --swan-efs 128 192 256 --rounds 5 --json out.json

The data folder holds `base.npy` and `queries.npy` (f32 or f16; `swan synth --kind
crossmodal --dtype f16`); exact top-k ground truth is computed once (`gt.npy`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))


def log(msg):
    print(f"bench_scale: {msg}", file=sys.stderr, flush=True)


def ground_truth(d, k):
    path = d / "gt.npy"
    if path.exists():
        gt = np.load(path)
        if gt.shape[1] >= k:
            return gt
    x = np.load(d / "base.npy", mmap_mode="r")
    q = np.load(d / "queries.npy").astype(np.float32)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    block = 100_000
    t = time.perf_counter()
    for start in range(0, len(x), block):
        s = q @ np.asarray(x[start : start + block], dtype=np.float32).T
        top = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        best_i = np.concatenate([best_i, top + start], axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(best_s, order, 1)
        best_i = np.take_along_axis(best_i, order, 1)
    np.save(path, best_i.astype(np.int64))
    log(f"ground truth in {time.perf_counter() - t:.1f}s")
    return best_i


def recall(found, gt, k):
    return float(np.mean([len(set(f[:k]) & set(g[:k])) / k for f, g in zip(found, gt)]))


def hnswlib_index(d, args):
    import hnswlib

    path = d / f"hnswlib-M{args.m}-efc{args.efc}.bin"
    meta = path.with_suffix(".json")
    x = np.load(d / "base.npy", mmap_mode="r")
    p = hnswlib.Index(space="ip", dim=x.shape[1])
    if path.exists():
        p.load_index(str(path), max_elements=len(x))
        return p, json.loads(meta.read_text())
    log(f"building hnswlib M {args.m} efc {args.efc} over {len(x)} rows, {args.threads} threads")
    p.init_index(max_elements=len(x), ef_construction=args.efc, M=args.m, random_seed=100)
    p.set_num_threads(args.threads)
    t = time.perf_counter()
    block = 100_000
    for start in range(0, len(x), block):
        p.add_items(np.asarray(x[start : start + block], dtype=np.float32), np.arange(start, min(start + block, len(x))))
    build = time.perf_counter() - t
    p.save_index(str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)
    info = {"build_s": build, "threads": args.threads, "m": args.m, "efc": args.efc, "rows": len(x)}
    meta.write_text(json.dumps(info))
    log(f"hnswlib built in {build:.1f}s")
    return p, info


def run_hnswlib(p, q, gt, args):
    p.set_num_threads(1)
    out = []
    for ef in args.hnsw_efs:
        p.set_ef(max(ef, args.k))
        p.knn_query(q[:100], k=args.k)  # warm
        dt = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            labels, _ = p.knn_query(q, k=args.k)
            dt = min(dt, time.perf_counter() - t)
        out.append({"ef": ef, "recall": recall(labels, gt, args.k), "qps": len(q) / dt})
    return out


def run_swan(d, gt_path, args, binary):
    cmd = [
        str(binary),
        "--base", str(d / "base.npy"),
        "--queries", str(d / "queries.npy"),
        "--gt", str(gt_path),
        "--k", str(args.k),
        "--load", str(args.swan_index),
        "--skip_digest", "1",
        "--threads", "1",
        "--mt", "0",
        "--repeat", str(args.repeat),
        "--rerank", str(args.rerank),
        "--efs", ",".join(map(str, args.swan_efs)),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return [{"ef": p["ef"], "recall": p["recall"], "qps": p["qps_1t"]} for p in res["points"]], res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--swan-index", required=True, type=Path)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rerank", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="hnswlib build threads")
    ap.add_argument("--hnsw-efs", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--swan-efs", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the queries per measurement (best kept)")
    ap.add_argument("--floor", type=float, default=0.95, help="recall the compared points must reach")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--swan-old", type=Path, help="another bench_index binary (an earlier build) to run alongside, as 'swan-old'")
    args = ap.parse_args()

    d = args.data
    gt = ground_truth(d, args.k)
    q = np.load(d / "queries.npy").astype(np.float32)
    p, hinfo = hnswlib_index(d, args)
    rounds = []
    swan_meta = None
    for r in range(args.rounds):
        engines = ["hnswlib", "swan"] + (["swan-old"] if args.swan_old else [])
        order = engines if r % 2 == 0 else engines[::-1]
        rnd = {}
        for engine in order:
            if engine == "hnswlib":
                rnd["hnswlib"] = run_hnswlib(p, q, gt, args)
            elif engine == "swan":
                rnd["swan"], swan_meta = run_swan(d, d / "gt.npy", args, TARGET / "release/examples/bench_index")
            else:
                rnd["swan-old"], _ = run_swan(d, d / "gt.npy", args, args.swan_old)
        load = os.getloadavg()[0]
        rnd["loadavg"] = load
        rounds.append(rnd)
        log(f"round {r + 1}: load {load:.1f} " + "; ".join(
            f"{e} " + ", ".join(f"ef {x['ef']} {x['recall']:.3f} {x['qps']:.0f}" for x in rnd[e]) for e in order))

    def summary(engine, efs):
        out = []
        for i, ef in enumerate(efs):
            qps = [rnd[engine][i]["qps"] for rnd in rounds]
            out.append({"ef": ef, "recall": rounds[0][engine][i]["recall"], "qps_median": statistics.median(qps),
                        "qps_min": min(qps), "qps_max": max(qps)})
        return out

    hs, ss = summary("hnswlib", args.hnsw_efs), summary("swan", args.swan_efs)
    so = summary("swan-old", args.swan_efs) if args.swan_old else None
    # Equal recall: the fastest point of each engine at or above the floor; the ratio per round.
    def pick(points):
        ok = [i for i, x in enumerate(points) if x["recall"] >= args.floor]
        return max(ok, key=lambda i: points[i]["qps_median"]) if ok else None

    hi, si = pick(hs), pick(ss)
    ratio = None
    if hi is not None and si is not None:
        ratios = [rnd["swan"][si]["qps"] / rnd["hnswlib"][hi]["qps"] for rnd in rounds]
        ratio = {"hnswlib_ef": hs[hi]["ef"], "hnswlib_recall": hs[hi]["recall"], "swan_ef": ss[si]["ef"],
                 "swan_recall": ss[si]["recall"], "median": statistics.median(ratios), "min": min(ratios),
                 "max": max(ratios), "per_round": ratios}
    result = {"rows": int(np.load(d / "base.npy", mmap_mode="r").shape[0]), "queries": len(q), "k": args.k,
              "m": args.m, "efc": args.efc, "hnswlib": hs, "swan": ss, "swan_old": so, "ratio": ratio, "hnswlib_build": hinfo,
              "swan_index": str(args.swan_index), "swan_stats": (swan_meta or {}).get("stats"),
              "loadavg": [rnd["loadavg"] for rnd in rounds], "rounds": args.rounds}

    if so:
        oi = pick(so)
        if oi is not None and hi is not None:
            old = [rnd["swan-old"][oi]["qps"] / rnd["hnswlib"][hi]["qps"] for rnd in rounds]
            result["ratio_old"] = {"swan_ef": so[oi]["ef"], "median": statistics.median(old), "min": min(old), "max": max(old)}
            log(f"swan-old ef {so[oi]['ef']} / hnswlib: {result['ratio_old']['median']:.2f}x [{min(old):.2f}-{max(old):.2f}]")
    for name, pts in (("hnswlib", hs), ("swan", ss)) + ((("swan-old", so),) if so else ()):
        for x in pts:
            log(f"{name} ef {x['ef']}: recall {x['recall']:.3f}, QPS {x['qps_median']:.0f} [{x['qps_min']:.0f}-{x['qps_max']:.0f}]")
    if ratio:
        log(f"swan ef {ratio['swan_ef']} ({ratio['swan_recall']:.3f}) / hnswlib ef {ratio['hnswlib_ef']} "
            f"({ratio['hnswlib_recall']:.3f}): {ratio['median']:.2f}x [{ratio['min']:.2f}-{ratio['max']:.2f}]")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
