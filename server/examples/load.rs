//! A load generator for `swan serve` (used by scripts/bench_serve.sh): text queries from a
//! file, `--concurrency` clients each with one keep-alive connection, `--requests` in all.
//!
//! Closed loop by default (each client sends its next query when the last is answered: the
//! saturated throughput). With `--rate Q` the queries are scheduled at Q per second in all
//! and each latency is measured from its scheduled time, so a stalled server is charged
//! for the queries it delayed (no coordinated omission).
//!
//! Prints one JSON line: qps, latency percentiles, errors, mean encoder batch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Server base URL (http://127.0.0.1:PORT).
    #[arg(long)]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Queries in all.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Queries per second in all (open loop); default: as fast as answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Query texts, one a line (used in turn).
    #[arg(long)]
    texts: std::path::PathBuf,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Bearer token.
    #[arg(long)]
    token: Option<String>,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
    batch_sum: u64,
}

fn main() {
    let args = Args::parse();
    let texts: Vec<String> = std::fs::read_to_string(&args.texts)
        .unwrap_or_else(|e| panic!("{}: {e}", args.texts.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!texts.is_empty(), "no query texts");
    let bodies: Arc<Vec<String>> = Arc::new(texts.iter().map(|t| serde_json::json!({ "text": t, "k": args.k }).to_string()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let url = format!("{}/api/search", args.url.trim_end_matches('/'));
    let start = Instant::now();
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (bodies, next, tally, url, token) = (bodies.clone(), next.clone(), tally.clone(), url.clone(), args.token.clone());
            let (requests, rate) = (args.requests, args.rate);
            std::thread::spawn(move || {
                let agent: ureq::Agent =
                    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into();
                let mut local = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let scheduled = match rate {
                        Some(q) => {
                            let at = start + Duration::from_secs_f64(i as f64 / q);
                            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            at
                        }
                        None => Instant::now(),
                    };
                    let mut req = agent.post(&url).header("Content-Type", "application/json");
                    if let Some(t) = &token {
                        req = req.header("Authorization", format!("Bearer {t}"));
                    }
                    let outcome = req.send(bodies[i % bodies.len()].as_bytes()).map_err(|e| e.to_string()).and_then(|mut r| {
                        let status = r.status().as_u16();
                        let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
                        if status != 200 {
                            return Err(format!("{status}: {text}"));
                        }
                        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                        Ok(v["batch"].as_u64().unwrap_or(0))
                    });
                    match outcome {
                        Ok(batch) => {
                            local.latencies.push(scheduled.elapsed().as_secs_f64() * 1e3);
                            local.batch_sum += batch;
                        }
                        Err(e) => {
                            local.errors += 1;
                            local.first_error.get_or_insert(e);
                        }
                    }
                }
                let mut t = tally.lock().unwrap();
                t.latencies.extend(local.latencies);
                t.errors += local.errors;
                t.batch_sum += local.batch_sum;
                if t.first_error.is_none() {
                    t.first_error = local.first_error;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    t.latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if t.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * t.latencies.len() as f64).ceil() as usize;
        t.latencies[i.clamp(1, t.latencies.len()) - 1]
    };
    let ok = t.latencies.len();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "concurrency": args.concurrency,
            "rate": args.rate,
            "requests": args.requests,
            "ok": ok,
            "errors": t.errors,
            "first_error": t.first_error,
            "seconds": round(seconds),
            "qps": round(ok as f64 / seconds),
            "p50_ms": round(pct(50.0)),
            "p90_ms": round(pct(90.0)),
            "p99_ms": round(pct(99.0)),
            "max_ms": round(pct(100.0)),
            "mean_batch": round(if ok > 0 { t.batch_sum as f64 / ok as f64 } else { 0.0 }),
        })
    );
}
