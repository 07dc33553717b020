//! `swan train`: parse, load the data and the starting weights, run, print.

use anyhow::Context;
use swan_embedder::model::{hashinit_unused, read_unused, Swan};
use swan_embedder::pipeline::Progress;
use swan_embedder::text::Vocab;
use swan_embedder::train::{self, Event, RunConfig, StepConfig, TrainSet, Trainer, ValScore, ValSet};
use swan_embedder::{runtime, ComputePrecision, EmbedError};
use swan_searcher::{evaluate_corpus, EvalOptions, Rows, SimMatrix};
use swan_store::{Corpus, CorpusOptions};

use super::progress::Bars;
use crate::cli::TrainArgs;
use crate::output::{json_line, message};

fn open(args: &TrainArgs, split: &str) -> anyhow::Result<Corpus> {
    let opts = CorpusOptions { split: Some(split.to_string()), images: args.images.clone(), ..Default::default() };
    Ok(Corpus::open(&args.corpus, &opts)?)
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size >= 2, "--batch-size must be at least 2 (the loss compares pairs within a batch)");
    anyhow::ensure!(args.epochs >= 1, "--epochs must be at least 1");
    if let Some(n) = args.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        runtime::set_threads(n)?;
    }
    let device = match &args.device {
        Some(d) => runtime::parse_device(d)?,
        None => runtime::default_device(),
    };
    let precision = args.precision.map(Into::into).unwrap_or_else(|| ComputePrecision::default_for(device));
    // Before the first CUDA operation (fp32 switches TF32 off for the process).
    precision.prepare(device).map_err(anyhow::Error::msg)?;
    let vocab = Vocab::load(&args.vocab)?;
    let train_corpus = open(&args, &args.train_split)?;
    let set = TrainSet::new(&train_corpus, &vocab, &args.train_split)?;
    if set.missing_images > 0 {
        message(&format!("{} training captions skipped: their images are missing", set.missing_images));
    }
    let val_corpus = if args.val_split == "none" { None } else { Some(open(&args, &args.val_split)?) };
    let val_set = val_corpus.as_ref().map(|c| ValSet {
        images: c.images.iter().map(|i| i.path.clone()).collect(),
        captions: c.captions.iter().map(|cap| vocab.encode(&cap.text)).collect(),
    });

    let (swan, carried) = match &args.init {
        Some(path) => {
            let (swan, _) = Swan::load(path, device).with_context(|| format!("loading --init {}", path.display()))?;
            (swan, read_unused(path)?)
        }
        None => (Swan::hashinit(args.seed, device), hashinit_unused(args.seed)),
    };
    if let Some(path) = &args.backbone {
        let n = swan.load_backbone(path)?;
        message(&format!("backbone: {n} tensors from {}", path.display()));
    }
    if let Some(path) = &args.word_vectors {
        let (vectors, report) = train::glove::load(path, &vocab, 300)?;
        swan.set_word_vectors(&vectors)?;
        let shown: Vec<&str> = report.missed.iter().take(10).map(String::as_str).collect();
        let more = if report.missed.len() > shown.len() { ", ..." } else { "" };
        message(&format!(
            "word vectors: {} of {} vocabulary words found in {} ({} lines); missed {}: {}{more}",
            report.found,
            vocab.len(),
            path.display(),
            report.lines,
            report.missed.len(),
            shown.join(" ")
        ));
    }
    let step = StepConfig {
        lr: args.lr,
        max_violation: args.max_violation,
        grad_clip: args.grad_clip,
        finetune_backbone: args.finetune_backbone,
        dropout: !args.no_dropout,
        precision,
    };
    let mut trainer = Trainer::new(swan, step);
    let identity = serde_json::json!({
        "corpus": args.corpus, "train_split": args.train_split, "val_split": args.val_split, "vocab": args.vocab,
        "init": args.init, "backbone": args.backbone, "word_vectors": args.word_vectors,
    })
    .to_string();
    let cfg = RunConfig {
        out: args.out.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        max_steps: args.max_steps,
        augment: !args.no_augment,
        shuffle: !args.no_shuffle,
        seed: args.seed,
        save_every: args.save_every,
        log_every: args.log_every,
        device,
        identity,
    };

    let options = EvalOptions::default();
    let mut validate = |images: &[f32], captions: &[f32]| -> Result<ValScore, EmbedError> {
        let corpus = val_corpus.as_ref().expect("validator only runs with a validation split");
        // Every pair scored in f32 with the search kernels, as `swan eval` scores embedding sets.
        let dim = swan_embedder::EMBED_DIM;
        let stopped = |e: swan_searcher::Error| EmbedError::Stopped(e.to_string());
        let (images, captions) = (Rows::f32(images, dim).map_err(stopped)?, Rows::f32(captions, dim).map_err(stopped)?);
        let sims = SimMatrix::from_embeddings(&images, &captions).map_err(stopped)?;
        let m = evaluate_corpus(&sims, corpus, &options).map_err(stopped)?;
        Ok(ValScore { mr: m.mr, metrics: serde_json::to_value(&m).expect("metrics serialise") })
    };
    let val = val_set.as_ref().map(|v| (v, &mut validate as &mut train::Validator<'_>));

    // The shared progress display: pairs done in the epoch, pairs/s, ETA, and the loss.
    let bars = Bars::new(args.json);
    let json = args.json;
    let (batch_size, epochs) = (args.batch_size, args.epochs);
    let (mut items_per_epoch, mut bar_epoch) = (0usize, None);
    let mut on_event = |e: Event<'_>| match e {
        Event::Start { items, batches, resumed } => {
            items_per_epoch = items;
            let from = resumed.map(|(e, b)| format!("; resuming at epoch {e}, batch {b}")).unwrap_or_default();
            if !json {
                message(&format!("training on {items} pairs, {batches} batches per epoch, {precision}{from}"));
            }
        }
        Event::Step(s) => {
            let total = items_per_epoch as u64;
            if bar_epoch != Some(s.epoch) {
                bars.begin("train", total, (s.batch * batch_size).min(items_per_epoch) as u64);
                bar_epoch = Some(s.epoch);
            }
            bars.set(((s.batch + 1) * batch_size).min(items_per_epoch) as u64, total);
            bars.message(format!("epoch {}/{epochs} loss {:.4}", s.epoch + 1, s.loss));
        }
        Event::Epoch(r) => {
            bars.end();
            bar_epoch = None;
            if json {
                let _ = json_line(r);
            } else {
                let val = r.mr.map(|m| format!(", val mR {m:.2}{}", if r.best { " (best)" } else { "" })).unwrap_or_default();
                bars.println(&format!(
                    "epoch {}: loss {:.4}, {:.1} pairs/s, {:.1} s{val}",
                    r.epoch, r.loss, r.samples_per_s, r.train_seconds
                ));
            }
        }
    };
    let summary = train::run(&mut trainer, &set, val, &cfg, &carried, &mut on_event)?;
    bars.end();
    if json {
        json_line(&serde_json::json!({ "summary": summary }))?;
    } else {
        let best = summary.best.map(|(m, e)| format!("; best val mR {m:.2} at epoch {e}")).unwrap_or_default();
        message(&format!(
            "{} epochs, {} steps ({}){best}; checkpoints in {}",
            summary.epochs,
            summary.steps,
            summary.precision,
            args.out.display()
        ));
    }
    Ok(())
}
