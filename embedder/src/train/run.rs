//! A whole training run (`swan train`): epochs over a [`TrainSet`], validation after each
//! epoch, `best`/`last` checkpoints, a JSON Lines metrics log, and a resumable state.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use tch::{Device, Tensor};

use super::augment::{train_transform, Draw};
use super::data::{collate, epoch_order, mix, TrainSet};
use super::plot;
use super::state::{self, Progress};
use super::step::Trainer;
use crate::error::{EmbedError, Result};
use crate::image::{decode_file, preprocess_file, INPUT_LEN};
use crate::model::{Swan, EMBED_DIM};
use crate::padding::{plan, TextPadding};
use crate::precision::ComputePrecision;

/// File names inside the output folder.
pub const LAST: &str = "last.safetensors";
/// Best validation mR so far.
pub const BEST: &str = "best.safetensors";
/// Resumable state.
pub const STATE: &str = "train-state.safetensors";
/// Metrics log (JSON Lines).
pub const METRICS: &str = "metrics.jsonl";

/// Learning-rate decay of the reference: x0.7 at every epoch `e` with `e % 20 == 19`.
pub fn lr_at(base: f64, epoch: usize) -> f64 {
    base * 0.7f64.powi(((epoch + 1) / 20) as i32)
}

/// Everything a run needs besides the data and the model.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Output folder (checkpoints, log, state).
    pub out: PathBuf,
    /// Epochs.
    pub epochs: usize,
    /// Captions per batch.
    pub batch_size: usize,
    /// Stop after this many optimizer steps in total.
    pub max_steps: Option<u64>,
    /// Random rotation and crop (off: the eval transform).
    pub augment: bool,
    /// Shuffle each epoch (off: corpus order).
    pub shuffle: bool,
    /// Seed of every random draw (order, augmentation, dropout).
    pub seed: u64,
    /// Save the resumable state every this many steps (and at every epoch end).
    pub save_every: u64,
    /// Write a step line to the metrics log every this many steps.
    pub log_every: u64,
    /// Device.
    pub device: Device,
    /// What the run trains on, for the resume check (corpus, splits, init...).
    pub identity: String,
}

/// A line of the metrics log for a step.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    /// Always `"step"`.
    pub kind: &'static str,
    /// Epoch (from 0).
    pub epoch: usize,
    /// Steps so far, this one included (fp16 steps the loss scaler skipped count too).
    pub step: u64,
    /// Batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// The back-propagated loss.
    pub loss: f64,
    /// Learning rate.
    pub lr: f64,
    /// Training pairs per second over this step.
    pub samples_per_s: f64,
    /// fp16: the loss scale after this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// fp16: the gradients overflowed, so this step changed no weight (the scale backed off).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// A line of the metrics log for an epoch.
#[derive(Clone, Debug, Serialize)]
pub struct EpochRecord {
    /// Always `"epoch"`.
    pub kind: &'static str,
    /// Epoch (from 0).
    pub epoch: usize,
    /// Steps so far (as in [`StepRecord::step`]).
    pub step: u64,
    /// Mean loss over the epoch's batches run in this process (all of them unless resumed mid-epoch).
    pub loss: f64,
    /// Learning rate.
    pub lr: f64,
    /// Seconds of training (validation excluded) in this process.
    pub train_seconds: f64,
    /// Pairs per second of training.
    pub samples_per_s: f64,
    /// `--precision` of the run.
    pub precision: ComputePrecision,
    /// fp16: steps of this epoch skipped because their gradients overflowed.
    pub skipped_steps: u64,
    /// Validation metrics (the validator's JSON), if validated.
    pub val: Option<serde_json::Value>,
    /// Validation mR.
    pub mr: Option<f64>,
    /// Whether this epoch's checkpoint became `best`.
    pub best: bool,
}

/// What happens during a run, for progress display.
#[derive(Debug)]
pub enum Event<'a> {
    /// Starting (or resuming at epoch/batch).
    Start {
        /// Pairs per epoch.
        items: usize,
        /// Batches per epoch.
        batches: usize,
        /// Where a resumed run continues.
        resumed: Option<(usize, usize)>,
    },
    /// A step finished.
    Step(&'a StepRecord),
    /// An epoch finished (validated and saved).
    Epoch(&'a EpochRecord),
}

/// The validation split: images (eval transform) and tokenised captions, corpus order.
#[derive(Clone, Debug)]
pub struct ValSet {
    /// Image files (a missing one gets a zero row: it ranks nowhere).
    pub images: Vec<PathBuf>,
    /// Token ids per caption.
    pub captions: Vec<Vec<i64>>,
}

/// Scores of one validation.
#[derive(Clone, Debug)]
pub struct ValScore {
    /// Mean of the six R@K (what `best` is chosen by).
    pub mr: f64,
    /// Everything measured, for the log.
    pub metrics: serde_json::Value,
}

/// Computes metrics from L2-normalised image rows and caption rows (`n x 512`, corpus
/// order). The binary supplies it (swan-searcher's reference metrics).
pub type Validator<'a> = dyn FnMut(&[f32], &[f32]) -> Result<ValScore> + 'a;

/// How a run ended.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Epochs completed.
    pub epochs: usize,
    /// Steps (as in [`StepRecord::step`]).
    pub steps: u64,
    /// Best validation mR and its epoch.
    pub best: Option<(f64, usize)>,
    /// Stopped by `max_steps`.
    pub stopped_at_max_steps: bool,
    /// Resumed from a saved state.
    pub resumed: bool,
    /// `--precision` of the run.
    pub precision: ComputePrecision,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EmbedError + '_ {
    move |source| EmbedError::Io { path: path.to_owned(), source }
}

/// Embed the validation set with the current weights (eval mode): the reference's
/// evaluation, captions in shards of 128 padded to each shard's longest.
pub fn embed_val(swan: &Swan, set: &ValSet, device: Device) -> Result<(Vec<f32>, Vec<f32>)> {
    let dim = EMBED_DIM as usize;
    let mut images = vec![0f32; set.images.len() * dim];
    for (chunk_i, chunk) in set.images.chunks(16).enumerate() {
        let pixels: Vec<Option<Vec<f32>>> = chunk
            .par_iter()
            .map(|p| {
                let mut v = vec![0f32; INPUT_LEN];
                preprocess_file(p, &mut v).ok().map(|_| v)
            })
            .collect();
        let present: Vec<usize> = (0..chunk.len()).filter(|&i| pixels[i].is_some()).collect();
        if present.is_empty() {
            continue;
        }
        let flat: Vec<f32> = present.iter().flat_map(|&i| pixels[i].as_ref().unwrap().iter().copied()).collect();
        let x = Tensor::from_slice(&flat).view([present.len() as i64, 3, 256, 256]).to_device(device);
        let emb = Vec::<f32>::try_from(swan.encode_images(&x)?.to_device(Device::Cpu).view([-1]))?;
        for (row, &i) in present.iter().enumerate() {
            let at = (chunk_i * 16 + i) * dim;
            images[at..at + dim].copy_from_slice(&emb[row * dim..(row + 1) * dim]);
        }
    }
    let lengths: Vec<usize> = set.captions.iter().map(Vec::len).collect();
    let mut captions = vec![0f32; set.captions.len() * dim];
    for batch in plan(&lengths, TextPadding::Shard(128), 128) {
        let width = batch.width;
        let mut ids = vec![0i64; batch.members.len() * width];
        let mut lens = Vec::with_capacity(batch.members.len());
        for (row, &i) in batch.members.iter().enumerate() {
            ids[row * width..row * width + set.captions[i].len()].copy_from_slice(&set.captions[i]);
            lens.push(set.captions[i].len().max(1) as i64);
        }
        let ids = Tensor::from_slice(&ids).view([batch.members.len() as i64, width as i64]).to_device(device);
        let emb = Vec::<f32>::try_from(swan.encode_texts(&ids, &lens)?.to_device(Device::Cpu).view([-1]))?;
        for (row, &i) in batch.members.iter().enumerate() {
            captions[i * dim..(i + 1) * dim].copy_from_slice(&emb[row * dim..(row + 1) * dim]);
        }
    }
    Ok((images, captions))
}

/// Load and transform the images of a batch (in parallel; each sample's draws come from
/// its own seeded stream, so results do not depend on threads).
fn batch_images(set: &TrainSet, items: &[usize], cfg: &RunConfig, epoch: usize) -> Result<Tensor> {
    let pixels: Vec<Result<Vec<f32>>> = items
        .par_iter()
        .map(|&i| {
            let path = &set.images[set.items[i].image];
            let mut out = vec![0f32; INPUT_LEN];
            if cfg.augment {
                let img = decode_file(path)?;
                let draw = Draw::sample(&mut ChaCha8Rng::seed_from_u64(mix(cfg.seed, 2 + epoch as u64, i as u64)));
                train_transform(&img, draw, &mut out);
            } else {
                preprocess_file(path, &mut out)?;
            }
            Ok(out)
        })
        .collect();
    let mut flat = Vec::with_capacity(items.len() * INPUT_LEN);
    for p in pixels {
        flat.extend_from_slice(&p?);
    }
    Ok(Tensor::from_slice(&flat).view([items.len() as i64, 3, 256, 256]).to_device(cfg.device))
}

/// Run (or resume) training. `carried` are the checkpoint entries the model does not hold
/// (written unchanged into `best`/`last`).
pub fn run(
    trainer: &mut Trainer,
    set: &TrainSet,
    val: Option<(&ValSet, &mut Validator<'_>)>,
    cfg: &RunConfig,
    carried: &[(String, Tensor)],
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<RunSummary> {
    if set.is_empty() {
        return Err(EmbedError::Input("the training split has no usable caption".into()));
    }
    std::fs::create_dir_all(&cfg.out).map_err(io(&cfg.out))?;
    // What must not change between a run and its resumption (epochs and max_steps may).
    let c = trainer.config();
    let fingerprint = serde_json::json!({
        "identity": cfg.identity, "batch_size": cfg.batch_size, "augment": cfg.augment, "shuffle": cfg.shuffle,
        "seed": cfg.seed, "lr": c.lr, "max_violation": c.max_violation, "grad_clip": c.grad_clip,
        "dropout": c.dropout, "finetune_backbone": c.finetune_backbone,
    })
    .to_string();
    let precision = trainer.config().precision;
    let (state_path, metrics_path) = (cfg.out.join(STATE), cfg.out.join(METRICS));
    // The state to save at a point of the run.
    let progress_at = |epoch, batch, global_step, best, metrics_bytes| Progress {
        epoch,
        batch,
        global_step,
        best,
        metrics_bytes,
        fingerprint: fingerprint.clone(),
        precision: Some(precision),
    };
    let mut progress = progress_at(0, 0, 0, None, 0);
    let mut resumed = false;
    if state_path.exists() {
        let saved = state::read_progress(&state_path)?;
        // States from before swan recorded the precision ran in the device's default.
        let saved_precision = saved.precision.unwrap_or_else(|| ComputePrecision::default_for(cfg.device));
        if saved_precision != precision {
            return Err(EmbedError::Stopped(format!(
                "{} holds a run trained with --precision {saved_precision}; rerun with --precision {saved_precision} to resume it, or use another --out",
                cfg.out.display()
            )));
        }
        if saved.fingerprint != fingerprint {
            return Err(EmbedError::Stopped(format!(
                "{} holds a run with other settings; rerun the same command to resume it, or use another --out",
                cfg.out.display()
            )));
        }
        progress = state::load(&state_path, trainer)?;
        progress.precision = Some(precision);
        resumed = true;
    }
    // The log keeps exactly the lines written up to the saved state.
    let log = OpenOptions::new().create(true).truncate(false).write(true).open(&metrics_path).map_err(io(&metrics_path))?;
    log.set_len(progress.metrics_bytes).map_err(io(&metrics_path))?;
    let mut log = std::io::BufWriter::new(OpenOptions::new().append(true).open(&metrics_path).map_err(io(&metrics_path))?);
    let mut metrics_bytes = progress.metrics_bytes;
    let write_line = |log: &mut std::io::BufWriter<std::fs::File>, bytes: &mut u64, line: String| -> Result<()> {
        writeln!(log, "{line}").and_then(|_| log.flush()).map_err(io(&metrics_path))?;
        *bytes += line.len() as u64 + 1;
        Ok(())
    };

    let batches = set.len().div_ceil(cfg.batch_size);
    on_event(Event::Start { items: set.len(), batches, resumed: resumed.then_some((progress.epoch, progress.batch)) });
    let base_lr = trainer.config().lr;
    let mut val = val;
    let mut stopped = false;
    let (mut epoch, mut global_step, mut best) = (progress.epoch, progress.global_step, progress.best);
    let mut start_batch = progress.batch;
    while epoch < cfg.epochs && !stopped {
        let lr = lr_at(base_lr, epoch);
        trainer.adam_mut().config.lr = lr;
        let order = epoch_order(set.len(), cfg.seed, epoch, cfg.shuffle);
        let (mut loss_total, mut loss_n, mut train_s, mut samples, mut skipped_steps) = (0.0, 0usize, 0.0, 0usize, 0u64);
        for (b, members) in order.chunks(cfg.batch_size).enumerate().skip(start_batch) {
            if cfg.max_steps.is_some_and(|m| global_step >= m) {
                // Stop here, resumable from this batch (a larger --max-steps continues).
                let p = progress_at(epoch, b, global_step, best, metrics_bytes);
                state::save(&state_path, trainer, &p)?;
                stopped = true;
                break;
            }
            let t0 = Instant::now();
            let batch = collate(set, members);
            let images = batch_images(set, &batch.items, cfg, epoch)?;
            let ids = Tensor::from_slice(&batch.ids).view([batch.items.len() as i64, batch.width as i64]).to_device(cfg.device);
            // Dropout draws from libtorch's generator: reseed it per step so a resumed run
            // draws the same masks.
            tch::manual_seed(mix(cfg.seed, 3, global_step) as i64 & i64::MAX);
            let out = trainer.forward_backward(&images, &ids, &batch.lengths)?;
            // The loss itself (fp32, unscaled) must be finite in every precision; fp16's
            // overflowing *gradients* are the loss scaler's business (a skipped step).
            if !out.loss.is_finite() {
                return Err(EmbedError::Stopped(format!(
                    "loss is {} at step {} (epoch {epoch}, batch {b}); stopped without applying it: {} and {} hold the last good state",
                    out.loss,
                    global_step + 1,
                    STATE,
                    LAST
                )));
            }
            // A skipped fp16 step still counts: `global_step` numbers batches (it seeds
            // dropout, bounds --max-steps and places the resume), as a PyTorch loop's
            // iteration counter does around GradScaler.
            let applied = trainer.apply_gradients();
            skipped_steps += applied.skipped as u64;
            global_step += 1;
            let dt = t0.elapsed().as_secs_f64();
            train_s += dt;
            samples += members.len();
            loss_total += out.loss;
            loss_n += 1;
            let rec = StepRecord {
                kind: "step",
                epoch,
                step: global_step,
                batch: b,
                batches,
                loss: out.loss,
                lr,
                samples_per_s: members.len() as f64 / dt,
                loss_scale: trainer.scaler().map(|s| s.scale_value()),
                skipped: applied.skipped,
            };
            if cfg.log_every > 0 && global_step % cfg.log_every == 0 {
                write_line(&mut log, &mut metrics_bytes, serde_json::to_string(&rec).expect("record serialises"))?;
            }
            on_event(Event::Step(&rec));
            if cfg.save_every > 0 && global_step % cfg.save_every == 0 {
                let p = progress_at(epoch, b + 1, global_step, best, metrics_bytes);
                state::save(&state_path, trainer, &p)?;
            }
        }
        if stopped {
            break;
        }
        let (val_json, mr) = match val.as_mut() {
            Some((set, validate)) => {
                let (img, cap) = embed_val(trainer.swan(), set, cfg.device)?;
                let score = validate(&img, &cap)?;
                (Some(score.metrics), Some(score.mr))
            }
            None => (None, None),
        };
        trainer.swan().save(&cfg.out.join(LAST), carried)?;
        let is_best = mr.is_some_and(|m| best.is_none_or(|(b, _)| m > b));
        if is_best {
            best = Some((mr.unwrap(), epoch));
            trainer.swan().save(&cfg.out.join(BEST), carried)?;
        }
        let rec = EpochRecord {
            kind: "epoch",
            epoch,
            step: global_step,
            loss: if loss_n > 0 { loss_total / loss_n as f64 } else { f64::NAN },
            lr,
            train_seconds: train_s,
            samples_per_s: if train_s > 0.0 { samples as f64 / train_s } else { 0.0 },
            precision,
            skipped_steps,
            val: val_json,
            mr,
            best: is_best,
        };
        write_line(&mut log, &mut metrics_bytes, serde_json::to_string(&rec).expect("record serialises"))?;
        plot::write(&cfg.out.join(plot::PLOT), &metrics_path)?;
        on_event(Event::Epoch(&rec));
        epoch += 1;
        start_batch = 0;
        let p = progress_at(epoch, 0, global_step, best, metrics_bytes);
        state::save(&state_path, trainer, &p)?;
    }
    if stopped {
        trainer.swan().save(&cfg.out.join(LAST), carried)?;
    }
    Ok(RunSummary { epochs: epoch, steps: global_step, best, stopped_at_max_steps: stopped, resumed, precision })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_decays_at_epochs_19_and_39() {
        assert_eq!(lr_at(1.0, 0), 1.0);
        assert_eq!(lr_at(1.0, 18), 1.0);
        assert!((lr_at(1.0, 19) - 0.7).abs() < 1e-12);
        assert!((lr_at(1.0, 38) - 0.7).abs() < 1e-12);
        assert!((lr_at(1.0, 39) - 0.49).abs() < 1e-12);
    }
}
