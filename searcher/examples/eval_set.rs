//! Evaluate an embedding set through the whole similarity matrix or in blocks of images,
//! to compare their peak memory and time (BENCHMARKS.md has the command):
//!
//! `cargo run --release -p swan-searcher --example eval_set -- SET CORPUS matrix|blocked`
//!
//! Prints the metrics as one JSON line and the seconds taken on stderr.

use std::path::Path;

use swan_searcher::{evaluate_set_with, EvalOptions, ExactPath};
use swan_store::EmbeddingSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, set, corpus, path] = &args[..] else {
        return Err("usage: eval_set SET CORPUS matrix|blocked".into());
    };
    let path = match path.as_str() {
        "matrix" => ExactPath::Matrix,
        "blocked" => ExactPath::Blocked,
        other => return Err(format!("path must be matrix or blocked, not {other}").into()),
    };
    let set = EmbeddingSet::open(Path::new(set), Some(Path::new(corpus)), None)?;
    let start = std::time::Instant::now();
    let (m, _) = evaluate_set_with(&set, &EvalOptions::default(), path)?;
    eprintln!("{path:?}: {:.1}s", start.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}
