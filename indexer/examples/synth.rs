//! Write the synthetic benchmark archive (`base.npy`, `queries.npy`, `manifest.json`).
//!
//! ```text
//! cargo run --release --example synth -- OUT_DIR ROWS [QUERIES=1000] [SEED=42] [CENTRES=64] [NOISE=0.9] [DIM=512]
//! cargo run --release --example synth -- crossmodal OUT_DIR ROWS [QUERIES=1000] [SEED=1] [INTRINSIC_DIM=24] [GAP=0.8] [DTYPE=f16]
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let crossmodal = args.first().is_some_and(|a| a == "crossmodal");
    if crossmodal {
        args.remove(0);
    }
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let out = std::path::PathBuf::from(args.first().ok_or("usage: synth [crossmodal] OUT_DIR ROWS [...]")?);
    let t = std::time::Instant::now();
    let files = if crossmodal {
        let spec = swan_indexer::CrossModalSpec {
            rows: arg(1, "200000").parse()?,
            queries: arg(2, "1000").parse()?,
            seed: arg(3, "1").parse()?,
            intrinsic_dim: arg(4, "24").parse()?,
            gap: arg(5, "0.8").parse()?,
            ..swan_indexer::CrossModalSpec::default()
        };
        let dtype = if arg(6, "f16") == "f16" { swan_store::DType::F16 } else { swan_store::DType::F32 };
        spec.write_as(&out, dtype)?
    } else {
        let spec = swan_indexer::SynthSpec {
            rows: arg(1, "200000").parse()?,
            queries: arg(2, "1000").parse()?,
            seed: arg(3, "42").parse()?,
            centres: arg(4, "64").parse()?,
            noise: arg(5, "0.9").parse()?,
            dim: arg(6, "512").parse()?,
        };
        spec.write(&out)?
    };
    eprintln!("synth: wrote {} and {} in {:.1}s", files.base.display(), files.queries.display(), t.elapsed().as_secs_f64());
    Ok(())
}
