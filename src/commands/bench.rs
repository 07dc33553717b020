//! `swan bench`: forward-pass throughput and precision deviation.

use swan_embedder::{bench, ComputePrecision};

use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(corpus) = &args.decode {
        return decode(&args, corpus);
    }
    if args.train {
        return train(&args);
    }
    // Throughput does not depend on the weights: hashinit unless a checkpoint is given.
    let enc = &super::model::load(&args.model, Some(1))?;
    let cfg = enc.config();
    let mut results = Vec::new();
    if args.image_batch > 0 {
        results.push(bench::images(enc, args.image_batch, args.warmup, args.iterations)?);
    }
    if args.text_batch > 0 {
        results.push(bench::captions(enc, args.text_batch, args.warmup, args.iterations)?);
    }
    let probe = bench::probe_embeddings(enc)?;
    if let Some(path) = &args.probe_out {
        swan_store::npy::write_f32(path, &[probe.len() / 512, 512], &probe)?;
    }
    let deviation = match &args.probe_ref {
        Some(path) => {
            let reference = swan_store::NpyFile::open(path)?;
            anyhow::ensure!(reference.shape() == [probe.len() / 512, 512], "{}: not a probe file of this swan", path.display());
            Some(bench::deviation(reference.as_f32()?, &probe))
        }
        None => None,
    };
    let device = format!("{:?}", cfg.device);
    let threads = swan_embedder::runtime::cpu_threads();
    if args.json {
        crate::output::json_line(&serde_json::json!({
            "device": device, "precision": cfg.precision, "channels_last": cfg.channels_last, "cpu_threads": threads,
            "results": results,
            "deviation_from_ref": deviation.map(|(c, a)| serde_json::json!({"min_cosine": c, "max_abs": a})),
        }))?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(out, "device {device}, precision {}, channels-last {}, {threads} CPU threads", cfg.precision, cfg.channels_last)?;
    for r in &results {
        writeln!(
            out,
            "{:>9}: {:>10.1}/s at batch {:>4} ({:.1} ms per batch, {} iterations)",
            r.what, r.per_second, r.batch, r.ms_per_batch, r.iterations
        )?;
    }
    if let Some((cos, abs)) = deviation {
        writeln!(out, "deviation from reference probe: min cosine {cos:.6}, max abs {abs:.2e}")?;
    }
    Ok(())
}

fn decode(args: &BenchArgs, corpus: &std::path::Path) -> anyhow::Result<()> {
    let c = swan_store::Corpus::open(corpus, &swan_store::CorpusOptions::default())?;
    let paths: Vec<std::path::PathBuf> = c.images.iter().take(args.decode_limit).map(|i| i.path.clone()).collect();
    anyhow::ensure!(!paths.is_empty(), "{}: no images", corpus.display());
    let all = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    // Warm the page cache so the figures measure decoding, not the disk.
    bench::decode(&paths, all)?;
    let mut results = vec![bench::decode(&paths, 1)?];
    if all > 1 {
        results.push(bench::decode(&paths, all)?);
    }
    if args.json {
        crate::output::json_line(
            &serde_json::json!({ "corpus": corpus, "images": paths.len(), "decoder": swan_embedder::image::JPEG_DECODER, "results": results }),
        )?;
    } else {
        let mut out = crate::output::stdout();
        for r in &results {
            writeln!(
                out,
                "decode+resize: {:>8.1} images/s on {} worker(s) ({:.1} per worker), {} images, JPEG via {}",
                r.per_second,
                r.batch,
                r.per_second / r.batch as f64,
                paths.len(),
                swan_embedder::image::JPEG_DECODER
            )?;
        }
    }
    Ok(())
}

/// `--train`: training samples/s in `--precision` (bf16/fp16: autocast; fp16: loss scaling).
fn train(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.train_batch >= 2, "--train-batch must be at least 2 (the loss compares pairs within a batch)");
    anyhow::ensure!(args.iterations >= 1, "--iterations must be at least 1");
    anyhow::ensure!(!args.model.channels_last, "--train does not take --channels-last (training runs the default layout)");
    if let Some(n) = args.model.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        swan_embedder::runtime::set_threads(n)?;
    }
    let device = match &args.model.device {
        Some(d) => swan_embedder::runtime::parse_device(d)?,
        None => swan_embedder::runtime::default_device(),
    };
    let precision = args.model.precision.map(Into::into).unwrap_or_else(|| ComputePrecision::default_for(device));
    // Before the first CUDA operation (fp32 switches TF32 off for the process).
    precision.prepare(device).map_err(anyhow::Error::msg)?;
    let r = bench::train_steps(device, precision, args.train_batch, args.warmup, args.iterations)?;
    let (t, first, last) = (&r.throughput, r.loss_first, r.loss_last);
    let threads = swan_embedder::runtime::cpu_threads();
    let device = format!("{device:?}");
    if args.json {
        crate::output::json_line(&serde_json::json!({
            "peer": "swan", "device": device, "precision": precision, "cpu_threads": threads, "batch": t.batch,
            "steps": t.iterations, "samples_per_s": t.per_second, "ms_per_step": t.ms_per_batch,
            "loss_first": first, "loss_last": last, "skipped_steps": r.skipped_steps,
        }))?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    let skipped = if r.skipped_steps > 0 { format!(", {} skipped by the loss scaler", r.skipped_steps) } else { String::new() };
    writeln!(
        out,
        "train: {:.2} pairs/s at batch {} ({:.0} ms per step, {} steps{skipped}; {device}, {precision}, {threads} CPU threads; loss {first:.3} -> {last:.3})",
        t.per_second, t.batch, t.ms_per_batch, t.iterations
    )?;
    Ok(())
}
