//! Exact-search throughput: queries per second at 1 and 2 threads (and more if asked).
//!
//! ```text
//! cargo run --release -p swan-searcher --example throughput -- [rows] [dim] [queries] [k] [f32|f16] [threads...]
//! ```
//! Defaults: 100000 rows x 512, 1000 queries, k = 10, f32, threads 1 2. Data are
//! deterministic pseudo-random unit vectors. A measurement, not a test: no assertions.

use std::time::Instant;

use half::f16;
use swan_searcher::{search, Rows};

fn unit_rows(seed: u64, rows: usize, dim: usize) -> Vec<f32> {
    let mut s = seed;
    let mut v: Vec<f32> = (0..rows * dim)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    for row in v.chunks_mut(dim) {
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// CPU seconds this process has used (all threads), from /proc/self/stat where it exists:
/// on a shared machine, queries per CPU-second is steadier than wall-clock rate.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| args.get(i).map(|a| a.parse().expect("a number")).unwrap_or(default);
    let (rows, dim, nq, k) = (num(0, 100_000), num(1, 512), num(2, 1000), num(3, 10));
    let dtype = args.get(4).map(String::as_str).unwrap_or("f32");
    let threads: Vec<usize> = if args.len() > 5 { args[5..].iter().map(|a| a.parse().expect("a number")).collect() } else { vec![1, 2] };

    let base = unit_rows(1, rows, dim);
    let base16: Vec<f16> = if dtype == "f16" { base.iter().map(|&x| f16::from_f32(x)).collect() } else { Vec::new() };
    let queries = unit_rows(2, nq, dim);
    let rows_view = match dtype {
        "f16" => Rows::f16(&base16, dim).unwrap(),
        _ => Rows::f32(&base, dim).unwrap(),
    };
    println!("{rows} x {dim} {dtype} rows, {nq} queries, k = {k}, kernel {}", rows_view.kernel());
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        pool.install(|| search(&rows_view, &queries[..dim.min(queries.len())], k, None)).unwrap(); // warm the pages
        let (start, cpu0) = (Instant::now(), cpu_seconds());
        let hits = pool.install(|| search(&rows_view, &queries, k, None)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        let gflops = 2.0 * (rows * dim * nq) as f64 / secs / 1e9;
        print!("threads {t}: {secs:.3} s wall, {:.0} queries/s ({gflops:.1} GFLOP/s)", nq as f64 / secs);
        if let Some(cpu) = cpu {
            print!("; {cpu:.2} CPU-s, {:.0} queries per CPU-second", nq as f64 / cpu);
        }
        println!("; top hit of query 0: {:?}", hits[0][0]);
    }
}
