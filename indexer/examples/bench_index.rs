//! Build and query benchmark for swan's index (and hnsw_rs, for comparison) on `.npy`
//! files; prints one JSON object per engine on stdout. Driven by `scripts/bench_ann.py`.
//!
//! ```text
//! cargo run --release -p swan-indexer --features baseline --example bench_index -- --base base.npy --queries queries.npy \
//!     [--gt gt.npy] [--k 10] [--m 16] [--efc 200] [--threads 2] [--precision int8] \
//!     [--shards 1] [--rerank 4] [--efs 32,64,128] [--engine swan|hnsw_rs] \
//!     [--linking hnswlib|keep-closest|wide-own|hnsw-rs] [--save DIR | --load DIR] [--repeat 2] [--limit N]
//!     [--mt 0] [--skip_digest 1] [--target-recall 0.95 [--tune-sample 1000] [--max-ef 4096] [--tune-on-queries 1]]
//! ```

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;
use swan_indexer::baseline::{HnswRs, HnswRsOptions};
use swan_indexer::{BuildParams, Index, Linking, LoadOptions, Precision, SearchParams, Source};
use swan_store::NpyFile;

type Res<T> = Result<T, Box<dyn std::error::Error>>;
type QueryFn<'a> = dyn Fn(&[f32]) -> Vec<(u32, f32)> + Sync + 'a;

/// Resident anonymous (heap) and file-backed (mapped files) memory now, MiB.
fn rss_now_mib() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    serde_json::json!({"anon_mib": get("RssAnon:"), "file_mib": get("RssFile:")})
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Args {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let key = k.trim_start_matches("--").to_string();
            let v = it.next().unwrap_or_default();
            map.insert(key, v);
        }
        Args(map)
    }
    fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        self.0.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
    fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.as_str())
    }
}

fn recall(results: &[Vec<(u32, f32)>], gt: &[Vec<u32>], k: usize) -> f64 {
    let hits: usize = results.iter().zip(gt).map(|(r, g)| r.iter().take(k).filter(|(id, _)| g[..k].contains(id)).count()).sum();
    hits as f64 / (k * results.len()) as f64
}

/// Best-of-`repeat` QPS with one thread and with all threads, and the results.
fn measure(queries: &[f32], dim: usize, repeat: usize, mt: bool, one: &QueryFn) -> (Vec<Vec<(u32, f32)>>, f64, f64) {
    let nq = queries.len() / dim;
    let mut results = Vec::new();
    let mut best1 = f64::MAX;
    for _ in 0..repeat {
        let t = Instant::now();
        results = queries.chunks_exact(dim).map(one).collect();
        best1 = best1.min(t.elapsed().as_secs_f64());
    }
    let mut bestn = f64::MAX;
    for _ in 0..if mt { repeat } else { 0 } {
        let t = Instant::now();
        let _r: Vec<_> = queries.par_chunks_exact(dim).map(one).collect();
        bestn = bestn.min(t.elapsed().as_secs_f64());
    }
    (results, nq as f64 / best1, nq as f64 / bestn)
}

fn main() -> Res<()> {
    let a = Args::parse();
    let base_path = a.str("base").ok_or("--base is required")?.to_string();
    let base = NpyFile::open(&base_path)?;
    let qfile = NpyFile::open(a.str("queries").ok_or("--queries is required")?)?;
    let dim = base.dim();
    let limit: usize = a.get("limit", usize::MAX);
    // f16 query files (a large f16 archive's) are widened once.
    let queries: Vec<f32> = match qfile.dtype() {
        swan_store::DType::F16 => qfile.as_f16()?.iter().map(|h| h.to_f32()).collect(),
        _ => qfile.as_f32()?.to_vec(),
    };
    let queries = &queries[..queries.len().min(limit * dim)];
    let nq = queries.len() / dim;
    let k: usize = a.get("k", 10);
    let m: usize = a.get("m", 16);
    let efc: usize = a.get("efc", 200);
    let threads: usize = a.get("threads", 0);
    let repeat: usize = a.get("repeat", 2);
    let rerank: usize = a.get("rerank", 4);
    let efs: Vec<usize> = a.str("efs").unwrap_or("16,32,64,128,256").split(',').filter_map(|s| s.parse().ok()).collect();
    let engine = a.str("engine").unwrap_or("swan").to_string();
    // `--mt 0`: single-thread QPS only (qps_mt is then 0).
    let mt = a.get("mt", 1) != 0;
    if threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }

    let gt: Vec<Vec<u32>> = match a.str("gt") {
        Some(p) => {
            let g = NpyFile::open(p)?;
            let w = g.dim();
            let v: Vec<u32> = match g.dtype() {
                swan_store::DType::I64 => g.as_i64()?.iter().map(|&x| x as u32).collect(),
                _ => return Err("--gt must be int64".into()),
            };
            v.chunks(w).take(nq).map(|c| c.to_vec()).collect()
        }
        None => {
            eprintln!("bench: computing ground truth by brute force");
            let rows = base.as_f32()?;
            let dot = swan_indexer::distance::kernels().dot_f32;
            queries
                .par_chunks_exact(dim)
                .map(|q| {
                    let mut s: Vec<(f32, u32)> = rows.chunks_exact(dim).enumerate().map(|(i, r)| (dot(q, r), i as u32)).collect();
                    s.select_nth_unstable_by(k, |x, y| y.0.total_cmp(&x.0));
                    s.truncate(k);
                    s.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
                    s.into_iter().map(|x| x.1).collect()
                })
                .collect()
        }
    };

    let mut points = Vec::new();
    let mut extra = serde_json::Map::new();
    let build_s;
    match engine.as_str() {
        "swan" => {
            let precision = Precision::parse(a.str("precision").unwrap_or("int8")).ok_or("bad --precision")?;
            let linking = Linking::parse(a.str("linking").unwrap_or("hnswlib")).ok_or("bad --linking")?;
            let params =
                BuildParams { m, ef_construction: efc, precision, shards: a.get("shards", 1), linking, threads, ..BuildParams::default() };
            let t = Instant::now();
            let mut index = match a.str("load") {
                Some(dir) => Index::load(
                    std::path::Path::new(dir),
                    &LoadOptions { skip_source_digest: a.get("skip_digest", 0) != 0, ..LoadOptions::default() },
                )?,
                None => Index::build(&Source::npy(&base_path), &params, &|_, _| {})?,
            };
            build_s = t.elapsed().as_secs_f64();
            extra.insert("build_peak_rss_mib".into(), peak_rss_mib().into());
            extra.insert("rss_after_build".into(), rss_now_mib());
            if let Some(dir) = a.str("save") {
                let t = Instant::now();
                index.save(std::path::Path::new(dir))?;
                extra.insert("save_s".into(), t.elapsed().as_secs_f64().into());
                drop(index);
                let t = Instant::now();
                index = Index::load(std::path::Path::new(dir), &LoadOptions::default())?;
                extra.insert("load_s".into(), t.elapsed().as_secs_f64().into());
                extra.insert("rss_after_load".into(), rss_now_mib());
            }
            // `--target-recall R`: tune ef on held-out rows (on these queries with `--tune-on-queries 1`).
            if let Some(target) = a.str("target-recall").and_then(|v| v.parse::<f64>().ok()) {
                let spec = swan_indexer::TuneSpec {
                    target,
                    k,
                    queries: a.get("tune-sample", 1000),
                    max_ef: a.get("max-ef", 4096),
                    rerank,
                    best_effort: false,
                };
                let t = Instant::now();
                let tuned = index.tune(&spec, (a.get("tune-on-queries", 0) != 0).then_some(queries));
                extra.insert("tune_s".into(), t.elapsed().as_secs_f64().into());
                match tuned {
                    Ok(tuning) => extra.insert("tuning".into(), serde_json::to_value(tuning)?),
                    Err(e) => extra.insert("tuning_error".into(), e.to_string().into()),
                };
                if let Some(dir) = a.str("save") {
                    index.save(std::path::Path::new(dir))?;
                }
            }
            extra.insert("stats".into(), serde_json::to_value(index.stats())?);
            extra.insert("precision".into(), precision.name().into());
            extra.insert("shards".into(), params.shards.into());
            extra.insert("rerank".into(), rerank.into());
            extra.insert("linking".into(), format!("{linking:?}").into());
            // Warm the page cache and the allocator.
            for q in queries.chunks_exact(dim).take(200) {
                index.search(q, k, &SearchParams { ef: efs[0], rerank })?;
            }
            for &ef in &efs {
                let sp = SearchParams { ef, rerank };
                // One searcher per thread, reused across queries.
                let pool: thread_local_searchers::Pool = thread_local_searchers::Pool::new(&index);
                let (res, qps1, qpsn) = measure(queries, dim, repeat, mt, &|q| pool.search(q, k, &sp));
                points.push(serde_json::json!({"ef": ef, "recall": recall(&res, &gt, k), "qps_1t": qps1, "qps_mt": qpsn}));
            }
            extra.insert("rss_after_search".into(), rss_now_mib());
        }
        "hnsw_rs" => {
            let rows = base.as_f32()?;
            let options = HnswRsOptions {
                extend_candidates: a.get("extend", false),
                keep_pruned: a.get("keep_pruned", false),
                parallel: threads != 1,
            };
            let t = Instant::now();
            let h = HnswRs::build(rows, dim, m, efc, options);
            build_s = t.elapsed().as_secs_f64();
            extra.insert("build_peak_rss_mib".into(), peak_rss_mib().into());
            extra.insert("options".into(), format!("{options:?}").into());
            let g = h.extract();
            let (deg, unreached) = g.degree_stats();
            extra.insert("mean_degree0".into(), deg.into());
            extra.insert("unreachable0".into(), unreached.into());
            extra.insert("dropped_upper_links".into(), g.dropped_links.into());
            // "hnsw_rs": its own search, then swan's search over the same graph.
            for &ef in &efs {
                let (res, qps1, qpsn) = measure(queries, dim, repeat, mt, &|q| h.search(q, k, ef));
                points.push(
                    serde_json::json!({"ef": ef, "recall": recall(&res, &gt, k), "qps_1t": qps1, "qps_mt": qpsn, "search": "hnsw_rs"}),
                );
            }
            for &ef in &efs {
                let (res, qps1, qpsn) = measure(queries, dim, repeat, mt, &|q| g.search(q, k, ef));
                points
                    .push(serde_json::json!({"ef": ef, "recall": recall(&res, &gt, k), "qps_1t": qps1, "qps_mt": qpsn, "search": "swan"}));
            }
            for &ef in &efs {
                let (res, qps1, qpsn) = measure(queries, dim, repeat, mt, &|q| g.search_one_pass_descent(q, k, ef));
                let search = "swan-one-pass-descent";
                points
                    .push(serde_json::json!({"ef": ef, "recall": recall(&res, &gt, k), "qps_1t": qps1, "qps_mt": qpsn, "search": search}));
            }
        }
        other => return Err(format!("unknown engine {other}").into()),
    }
    let mut out = serde_json::json!({
        "engine": engine, "n": base.rows(), "dim": dim, "queries": nq, "k": k, "m": m, "efc": efc,
        "threads": rayon::current_num_threads(), "build_s": build_s, "points": points,
        "peak_rss_mib": peak_rss_mib(), "kernels": swan_indexer::distance::kernels().name,
    });
    out.as_object_mut().expect("object").extend(extra);
    println!("{out}");
    Ok(())
}

mod thread_local_searchers {
    //! One `IndexSearcher` per rayon thread, so neither the 1-thread nor the n-thread loop
    //! allocates per query.
    use std::sync::Mutex;

    use swan_indexer::{Index, IndexSearcher, SearchParams};

    pub struct Pool<'a> {
        index: &'a Index,
        slots: Vec<Mutex<Option<IndexSearcher<'a>>>>,
    }

    impl<'a> Pool<'a> {
        pub fn new(index: &'a Index) -> Pool<'a> {
            let n = rayon::current_num_threads() + 1;
            Pool { index, slots: (0..n).map(|_| Mutex::new(None)).collect() }
        }

        pub fn search(&self, q: &[f32], k: usize, sp: &SearchParams) -> Vec<(u32, f32)> {
            let slot = rayon::current_thread_index().map_or(self.slots.len() - 1, |i| i);
            let mut guard = self.slots[slot].lock().expect("slot");
            let s = guard.get_or_insert_with(|| self.index.searcher());
            s.search(q, k, sp).expect("search").iter().map(|h| (h.id, h.score)).collect()
        }
    }
}
