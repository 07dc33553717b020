//! Write the synthetic benchmark archive (`base.npy`, `queries.npy`, `manifest.json`).
//!
//! ```text
//! cargo run --release --example synth -- OUT_DIR ROWS [QUERIES=1000] [SEED=42] [CENTRES=64] [NOISE=0.9] [DIM=512]
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let out = std::path::PathBuf::from(args.first().ok_or("usage: synth OUT_DIR ROWS [QUERIES SEED CENTRES NOISE DIM]")?);
    let spec = swan_indexer::SynthSpec {
        rows: arg(1, "200000").parse()?,
        queries: arg(2, "1000").parse()?,
        seed: arg(3, "42").parse()?,
        centres: arg(4, "64").parse()?,
        noise: arg(5, "0.9").parse()?,
        dim: arg(6, "512").parse()?,
    };
    let t = std::time::Instant::now();
    let files = spec.write(&out)?;
    eprintln!("synth: wrote {} and {} in {:.1}s", files.base.display(), files.queries.display(), t.elapsed().as_secs_f64());
    Ok(())
}
