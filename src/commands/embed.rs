//! `swan embed`: a corpus into embedding files.

use anyhow::Context;
use swan_embedder::pipeline::{EmbedJob, EmbedOptions};
use swan_embedder::text::Vocab;
use swan_store::{Corpus, CorpusOptions, DType};

use crate::cli::EmbedArgs;

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let dtype: DType = args.dtype.into();
    let padding = args.text_padding;
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
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let options = EmbedOptions {
        out_dir: args.out.clone(),
        dtype,
        batch_size: args.batch_size,
        chunk_rows: args.chunk_rows.unwrap_or_else(|| EmbedOptions::default_chunk_rows(args.batch_size)),
        workers,
        queue_depth: args.queue,
        padding,
        shard,
        strict: args.strict,
        images: want_images,
        captions: want_captions,
        restart: args.restart,
    };
    // Checked before the model loads: a bad flag fails at once.
    options.check()?;
    let encoder = super::model::load(&args.model, None)?;
    let cfg = encoder.config();
    let bars = super::progress::Bars::new(args.json);
    let job = EmbedJob { corpus: &corpus, encoder: &encoder, vocab: vocab.as_ref(), options, progress: &bars };
    let report = job.run()?;

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
