//! `swan embed`: a corpus into embedding files.

use anyhow::Context;
use swan_embedder::pipeline::{EmbedJob, EmbedOptions};
use swan_embedder::text::Vocab;
use swan_store::{Corpus, CorpusOptions, CorpusRef, DType, Manifest, Producer, Table};

use crate::cli::EmbedArgs;

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let dtype: DType = args.dtype.parse().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(matches!(dtype, DType::F32 | DType::F16), "--dtype must be f32 or f16");
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let padding = args.text_padding.parse().map_err(anyhow::Error::msg)?;
    let shard = parse_shard(args.shard.as_deref())?;
    let options = CorpusOptions { layout: None, split: Some(args.split.clone()), images: args.images.clone() };
    let corpus = Corpus::open(&args.corpus, &options).with_context(|| format!("reading corpus {}", args.corpus.display()))?;
    let want_captions = !args.no_captions && !corpus.captions.is_empty();
    let want_images = !args.no_images && !corpus.images.is_empty();
    let vocab = match (&args.vocab, want_captions) {
        (Some(p), true) => Some(Vocab::load(p)?),
        (None, true) => anyhow::bail!("{} has captions: give --vocab VOCAB.json (or --no-captions)", args.corpus.display()),
        (_, false) => None,
    };
    if args.strict {
        if let Some(w) = corpus.warnings.iter().find(|w| w.kind != swan_store::corpus::WarningKind::EmptyCaption) {
            anyhow::bail!("--strict: {w}");
        }
    }
    let loaded = super::model::load(&args.model, None)?;
    let cfg = loaded.encoder.config();
    let checkpoint = loaded.checkpoint_sha256.clone().unwrap_or_default();
    let corpus_ref = CorpusRef {
        path: CorpusRef::path_for(&args.corpus, &args.out),
        layout: corpus.layout.name().into(),
        split: corpus.split.clone(),
        images: corpus.images.len(),
        captions: corpus.captions.len(),
    };
    // Progress is reused only for the same inputs, model and numerics.
    let key = format!(
        "swan {} corpus={} layout={} split={:?} n={}/{} ckpt={checkpoint} precision={} channels_last={} dtype={dtype} batch={}",
        env!("CARGO_PKG_VERSION"),
        args.corpus.canonicalize().unwrap_or(args.corpus.clone()).display(),
        corpus_ref.layout,
        corpus_ref.split,
        corpus_ref.images,
        corpus_ref.captions,
        cfg.precision,
        cfg.channels_last,
        args.batch_size
    );
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let options = EmbedOptions {
        out_dir: args.out.clone(),
        dtype,
        batch_size: args.batch_size,
        chunk_rows: args.chunk_rows,
        workers,
        queue_depth: args.queue,
        padding,
        shard,
        strict: args.strict,
        images: want_images,
        captions: want_captions,
    };
    let bars = super::progress::Bars::new(args.json);
    let job = EmbedJob { corpus: &corpus, encoder: &loaded.encoder, vocab: vocab.as_ref(), options, key, progress: &bars };
    let report = job.run()?;

    let producer = Producer {
        model: "swan".into(),
        checkpoint_sha256: loaded.checkpoint_sha256.clone(),
        precision: cfg.precision.to_string(),
        text_padding: want_captions.then(|| padding.to_string()),
        swan_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut manifest = Manifest::new(producer, corpus_ref, true);
    if let Some(t) = &report.images {
        let invalid = report.errors.iter().filter(|e| e.kind == "image").map(|e| e.row).collect();
        manifest.images = Some(Table { items: vec![t.items], invalid, ..Table::identity("images.npy", dtype, t.rows, 512) });
    }
    if let Some(t) = &report.captions {
        manifest.captions = Some(Table { items: vec![t.items], ..Table::identity("captions.npy", dtype, t.rows, 512) });
    }
    // Written last: a folder whose manifest lists a file is a complete set.
    manifest.save(&args.out)?;

    if args.json {
        crate::output::json_line(&serde_json::json!({
            "out": args.out, "device": format!("{:?}", cfg.device), "precision": cfg.precision,
            "images": report.images, "captions": report.captions, "errors": report.errors.len(), "times": report.times,
        }))?;
    } else {
        for (what, t) in [("images", &report.images), ("captions", &report.captions)] {
            if let Some(t) = t {
                let rate = t.computed as f64 / t.seconds.max(1e-9);
                crate::output::message(&format!(
                    "{what:>8}: {} rows ({} computed, {} resumed, {} invalid), {:.1}/s",
                    t.rows, t.computed, t.resumed, t.invalid, rate
                ));
            }
        }
        let tm = &report.times;
        crate::output::message(&format!(
            "   times: wall {:.2}s, decode {:.2} CPU-s, waiting for input {:.2}s, transfer {:.2}s, forward {:.2}s, tokenize {:.2}s, write {:.2}s",
            tm.wall, tm.decode_cpu, tm.waiting_for_input, tm.transfer, tm.forward, tm.tokenize, tm.write
        ));
        if !report.errors.is_empty() {
            crate::output::message(&format!(
                "{} item(s) could not be embedded; see {}",
                report.errors.len(),
                args.out.join("errors.jsonl").display()
            ));
        }
        crate::output::message(&format!("wrote {}", args.out.join(swan_store::MANIFEST_FILE).display()));
    }
    Ok(())
}

/// `I/N` with `I < N`.
fn parse_shard(text: Option<&str>) -> anyhow::Result<(usize, usize)> {
    let Some(text) = text else { return Ok((0, 1)) };
    let parsed = text.split_once('/').and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
    match parsed {
        Some((i, n)) if n >= 1 && i < n => Ok((i, n)),
        _ => anyhow::bail!("--shard must be I/N with 0 <= I < N, got '{text}'"),
    }
}
