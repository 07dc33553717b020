#!/usr/bin/env python3
"""Compare swan's HNSW index with hnswlib and faiss (and hnsw_rs) on the same vectors.

The archive is swan's synthetic generator (`indexer/examples/synth.rs`: 64 standard-normal
centres in 512-d, rows = centre + 0.9 x noise, L2-normalised; 1,000 queries drawn the
same way), so every engine reads the same `base.npy` and `queries.npy`. Ground truth is
exact inner-product top-k by numpy, cached as `gt.npy`.

For each size: build time (all `--threads`), then for each ef recall@k and QPS with one
thread and with all threads (best of `--repeat`). swan and hnsw_rs run through the Rust
benchmark `indexer/examples/bench_index.rs`, which prints JSON.

    scripts/bench_ann.sh --rows 50000 100000 --out /tmp/ann.md   (installs the peers, runs this nice'd)

Needs: numpy, hnswlib, faiss-cpu (matplotlib for the plot): scripts/requirements-bench.txt.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Exact top-k ground truth (cached as gt.npy): one implementation for both benchmarks.
from bench_scale import ground_truth  # scripts/ is on the path: it is this script's folder

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))


def log(msg):
    print(f"bench_ann: {msg}", file=sys.stderr, flush=True)


def cargo_examples():
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    subprocess.run(
        ["cargo", "build", "--release", "--examples", "--features", "baseline", "--manifest-path", str(ROOT / "indexer/Cargo.toml")],
        check=True,
        env=env,
    )
    return TARGET / "release/examples"


def ensure_data(bin_dir, data_dir, rows, queries, seed):
    d = Path(data_dir) / f"n{rows}"
    if not (d / "base.npy").exists() or not (d / "queries.npy").exists():
        log(f"generating {rows} rows into {d}")
        subprocess.run([str(bin_dir / "synth"), str(d), str(rows), str(queries), str(seed)], check=True)
    return d


def recall(found, gt, k):
    return float(np.mean([len(set(f[:k]) & set(g[:k])) / k for f, g in zip(found, gt)]))


def timed_best(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_hnswlib(x, q, gt, args):
    import hnswlib

    p = hnswlib.Index(space="ip", dim=x.shape[1])
    p.init_index(max_elements=len(x), ef_construction=args.efc, M=args.m, random_seed=100)
    p.set_num_threads(args.threads)
    t = time.perf_counter()
    p.add_items(x, np.arange(len(x)))
    build = time.perf_counter() - t
    points = []
    for ef in args.efs:
        p.set_ef(max(ef, args.k))
        p.set_num_threads(1)
        t1, (labels, _) = timed_best(lambda: p.knn_query(q, k=args.k), args.repeat)
        p.set_num_threads(args.threads)
        tn, _ = timed_best(lambda: p.knn_query(q, k=args.k), args.repeat)
        points.append({"ef": ef, "recall": recall(labels, gt, args.k), "qps_1t": len(q) / t1, "qps_mt": len(q) / tn})
    return {"engine": "hnswlib", "build_s": build, "points": points, "note": f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''}"}


def run_faiss(x, q, gt, args):
    import faiss

    idx = faiss.IndexHNSWFlat(x.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = args.efc
    faiss.omp_set_num_threads(args.threads)
    t = time.perf_counter()
    idx.add(x)
    build = time.perf_counter() - t
    points = []
    for ef in args.efs:
        idx.hnsw.efSearch = max(ef, args.k)
        faiss.omp_set_num_threads(1)
        t1, (_, labels) = timed_best(lambda: idx.search(q, args.k), args.repeat)
        faiss.omp_set_num_threads(args.threads)
        tn, _ = timed_best(lambda: idx.search(q, args.k), args.repeat)
        points.append({"ef": ef, "recall": recall(labels, gt, args.k), "qps_1t": len(q) / t1, "qps_mt": len(q) / tn})
    return {"engine": "faiss-hnsw", "build_s": build, "points": points}


def run_rust(bin_dir, d, args, engine, extra):
    cmd = [
        str(bin_dir / "bench_index"),
        "--base", str(d / "base.npy"),
        "--queries", str(d / "queries.npy"),
        "--gt", str(d / "gt.npy"),
        "--k", str(args.k),
        "--m", str(args.m),
        "--efc", str(args.efc),
        "--threads", str(args.threads),
        "--repeat", str(args.repeat),
        "--efs", ",".join(map(str, args.efs)),
        "--engine", engine,
    ] + extra
    log(" ".join(cmd))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_at(points, floor):
    ok = [p for p in points if p["recall"] >= floor]
    return max(ok, key=lambda p: p["qps_1t"]) if ok else None


def label(r):
    if r["engine"] == "swan":
        linking = "" if r.get("linking", "Hnswlib") == "Hnswlib" else f", linking {r['linking']}"
        return f"swan {r['precision']} x{r.get('shards', 1)} rerank {r['rerank']}{linking} [{r.get('kernels', '?')}]"
    if r["engine"] == "hnsw_rs":
        return f"hnsw_rs ({r['search']} search)"
    return r["engine"]


def split_hnsw_rs(r):
    """The Rust hnsw_rs run reports its own search and swan's search over its graph."""
    if r["engine"] != "hnsw_rs":
        return [r]
    out = []
    for s in ("hnsw_rs", "swan", "swan-one-pass-descent"):
        rr = dict(r, search=s, points=[p for p in r["points"] if p.get("search") == s])
        out.append(rr)
    return out


def markdown(results, args):
    lines = [
        f"M={args.m}, ef_construction={args.efc}, k={args.k}, {args.threads} build/search threads, best of {args.repeat}; "
        f"machine: {os.cpu_count()} CPUs ({platform_cpu()}).",
        "",
    ]
    for n, rs in results.items():
        lines += [f"### {n:,} rows", "", "| engine | build s | ef | recall@10 | QPS 1 thread | QPS all threads |", "|---|---:|---:|---:|---:|---:|"]
        for r in rs:
            for i, p in enumerate(r["points"]):
                build = f"{r['build_s']:.1f}" if i == 0 else ""
                lines.append(f"| {label(r) if i == 0 else ''} | {build} | {p['ef']} | {p['recall']:.3f} | {p['qps_1t']:,.0f} | {p['qps_mt']:,.0f} |")
        lines.append("")
        ref = next((r for r in rs if r["engine"] == "hnswlib"), None)
        ref_best = best_at(ref["points"], args.floor) if ref else None
        lines.append(f"At recall@{args.k} >= {args.floor} (fastest single-thread point):")
        lines.append("")
        for r in rs:
            b = best_at(r["points"], args.floor)
            if b is None:
                lines.append(f"- {label(r)}: never reaches {args.floor} (max {max(p['recall'] for p in r['points']):.3f})")
                continue
            cmp = ""
            if ref_best and r is not ref:
                cmp = f" = {b['qps_1t'] / ref_best['qps_1t']:.2f}x hnswlib's QPS, build {r['build_s'] / ref['build_s']:.2f}x hnswlib's time"
            lines.append(f"- {label(r)}: ef {b['ef']}, recall {b['recall']:.3f}, {b['qps_1t']:,.0f} QPS{cmp}")
        lines.append("")
    return "\n".join(lines)


def platform_cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def plot(results, path, args):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (n, rs) in zip(axes[0], results.items()):
        for r in rs:
            pts = r["points"]
            ax.plot([p["recall"] for p in pts], [p["qps_1t"] for p in pts], marker="o", label=label(r))
        ax.set_title(f"{n:,} x 512, M={args.m}, efc={args.efc}")
        ax.set_xlabel(f"recall@{args.k}")
        ax.set_ylabel("queries/s, 1 thread")
        ax.set_yscale("log")
        ax.axvline(args.floor, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[50_000, 100_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", default="/tmp/annbench")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--efs", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--floor", type=float, default=0.95)
    ap.add_argument("--engines", nargs="+", default=["hnswlib", "faiss", "swan"], help="hnswlib faiss swan hnsw_rs")
    ap.add_argument("--precision", nargs="+", default=["int8"], help="swan walk precisions: full f16 int8 int8-per-dim")
    ap.add_argument("--rerank", type=int, default=4)
    ap.add_argument("--swan-args", default="", help="extra arguments for bench_index (e.g. '--shards 2')")
    ap.add_argument("--out", default="bench_ann.md")
    ap.add_argument("--json", default=None, help="also write raw results here")
    ap.add_argument("--plot", default=None, help="PNG path (default: --out with .png)")
    ap.add_argument("--append", default=None, help="also append the table, with the command, to this file (e.g. BENCHMARKS.md)")
    args = ap.parse_args()

    bin_dir = cargo_examples()
    results = {}
    for n in args.rows:
        d = ensure_data(bin_dir, args.data_dir, n, args.queries, args.seed)
        gt = ground_truth(d, args.k)
        rs = []
        x = q = None
        if {"hnswlib", "faiss"} & set(args.engines):
            x = np.ascontiguousarray(np.load(d / "base.npy"), dtype=np.float32)
            q = np.ascontiguousarray(np.load(d / "queries.npy"), dtype=np.float32)
        for engine in args.engines:
            log(f"{n} rows: {engine}")
            if engine == "hnswlib":
                rs.append(run_hnswlib(x, q, gt, args))
            elif engine == "faiss":
                rs.append(run_faiss(x, q, gt, args))
            elif engine == "swan":
                for p in args.precision:
                    rs.append(run_rust(bin_dir, d, args, "swan", ["--precision", p, "--rerank", str(args.rerank)] + args.swan_args.split()))
            elif engine == "hnsw_rs":
                rs += split_hnsw_rs(run_rust(bin_dir, d, args, "hnsw_rs", []))
            else:
                sys.exit(f"unknown engine {engine}")
            r = rs[-1]
            log(f"  build {r['build_s']:.1f}s; " + ", ".join(f"ef {p['ef']}: {p['recall']:.3f} @ {p['qps_1t']:.0f}" for p in r["points"]))
        del x, q
        results[n] = rs
    text = markdown(results, args)
    Path(args.out).write_text(text + "\n")
    if args.append:
        command = "scripts/bench_ann.sh " + " ".join(sys.argv[1:])
        with open(args.append, "a") as f:
            f.write(f"\n### ANN peer benchmark ({time.strftime('%Y-%m-%d')})\n\n`{command}`\n\n{text}\n")
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    plot(results, args.plot or str(Path(args.out).with_suffix(".png")), args)


if __name__ == "__main__":
    main()
