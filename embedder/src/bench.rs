//! Forward-pass throughput of an [`Encoder`], measured the way the reference figures
//! were: inputs already on the device, warm-up first, wall time around whole batches
//! (each batch ends with its embeddings back on the host, which synchronises).

use std::time::Instant;

use serde::Serialize;
use tch::Tensor;

use crate::encoder::Encoder;
use crate::error::Result;
use crate::hashinit;
use crate::padding::TextPadding;

/// One throughput measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// `images`, `captions` or `decode`.
    pub what: &'static str,
    /// Items per forward pass (for `decode`: worker threads).
    pub batch: usize,
    /// Timed forward passes (for `decode`: images decoded).
    pub iterations: usize,
    /// Items per second.
    pub per_second: f64,
    /// Mean milliseconds per batch.
    pub ms_per_batch: f64,
}

fn time(what: &'static str, batch: usize, warmup: usize, iterations: usize, mut run: impl FnMut() -> Result<()>) -> Result<Throughput> {
    for _ in 0..warmup {
        run()?;
    }
    let start = Instant::now();
    for _ in 0..iterations {
        run()?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Throughput { what, batch, iterations, per_second: (batch * iterations) as f64 / secs, ms_per_batch: secs * 1e3 / iterations as f64 })
}

/// Images per second at `batch`, on synthetic hashinit images placed on the device.
pub fn images(encoder: &Encoder, batch: usize, warmup: usize, iterations: usize) -> Result<Throughput> {
    let cfg = encoder.config();
    let pixels = hashinit::input_images(batch, 11);
    let images = Tensor::from_slice(&pixels).view([batch as i64, 3, 256, 256]).to_device(cfg.device);
    time("images", batch, warmup, iterations, || encoder.encode_image_tensor(&images).map(drop))
}

/// Token lists with caption-like lengths (5..=30 tokens, mean ~15, as in RSICD/RSITMD).
pub fn synthetic_captions(count: usize, seed: u64) -> Vec<Vec<i64>> {
    let u = hashinit::uniform("bench.captions", seed, count * 31);
    (0..count)
        .map(|i| {
            let row = &u[i * 31..(i + 1) * 31];
            let len = 5 + ((row[0] + 1.0) * 13.0) as usize;
            row[1..=len].iter().map(|&v| 1 + ((v + 1.0) * 0.5 * 1300.0) as i64).collect()
        })
        .collect()
}

/// Captions per second at `batch`, one reference shard (`shard:batch`) per forward pass.
pub fn captions(encoder: &Encoder, batch: usize, warmup: usize, iterations: usize) -> Result<Throughput> {
    let caps = synthetic_captions(batch, 5);
    time("captions", batch, warmup, iterations, || encoder.encode_captions(&caps, TextPadding::Shard(batch), batch).map(drop))
}

/// Embeddings of a fixed probe set (8 images, 64 captions), for comparing precisions.
pub fn probe_embeddings(encoder: &Encoder) -> Result<Vec<f32>> {
    let mut out = encoder.encode_images(&hashinit::input_images(8, 13))?;
    out.extend(encoder.encode_captions(&synthetic_captions(64, 17), TextPadding::Alone, 64)?);
    Ok(out)
}

/// How far embeddings `b` moved from `a` (rows of 512): min cosine, max |a - b|.
pub fn deviation(a: &[f32], b: &[f32]) -> (f64, f64) {
    let mut min_cos = f64::INFINITY;
    let mut max_abs = 0f64;
    for (ra, rb) in a.chunks(512).zip(b.chunks(512)) {
        let dot: f64 = ra.iter().zip(rb).map(|(&x, &y)| x as f64 * y as f64).sum();
        let na: f64 = ra.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = rb.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        min_cos = min_cos.min(dot / (na * nb));
        max_abs = ra.iter().zip(rb).map(|(&x, &y)| (x - y).abs() as f64).fold(max_abs, f64::max);
    }
    (min_cos, max_abs)
}

/// Decode + convert + resize throughput (the CPU half of `swan embed`) over `paths`
/// on `workers` threads: images per second, and per core.
pub fn decode(paths: &[std::path::PathBuf], workers: usize) -> Result<Throughput> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers.max(1)).build().map_err(|e| crate::EmbedError::Input(e.to_string()))?;
    let start = Instant::now();
    let failures = pool.install(|| {
        paths
            .par_iter()
            .map_init(|| vec![0u8; crate::pipeline::PIXELS], |buf, p| crate::pipeline::load_input(p, buf).is_err() as usize)
            .sum::<usize>()
    });
    let secs = start.elapsed().as_secs_f64();
    if failures > 0 {
        return Err(crate::EmbedError::Input(format!("{failures} of {} images failed to decode", paths.len())));
    }
    Ok(Throughput {
        what: "decode",
        batch: workers,
        iterations: paths.len(),
        per_second: paths.len() as f64 / secs,
        ms_per_batch: secs * 1e3 / paths.len() as f64,
    })
}

/// The synthetic training batch of `swan bench --train` and of
/// `scripts/train_step_reference.py bench`: standard-normal images, caption lengths
/// cycling 8..=22 sorted longest first, token `t` of row `b` = `1 + (7t + 13b) % 90`.
pub fn synthetic_train_batch(batch: usize, device: tch::Device) -> (Tensor, Tensor, Vec<i64>) {
    tch::manual_seed(1);
    let images = Tensor::randn([batch as i64, 3, 256, 256], (tch::Kind::Float, device));
    let mut lengths: Vec<i64> = (0..batch as i64).map(|i| 8 + i % 15).collect();
    lengths.sort_by_key(|&l| std::cmp::Reverse(l));
    let width = lengths.first().copied().unwrap_or(1);
    let mut ids = vec![0i64; batch * width as usize];
    for (b, &n) in lengths.iter().enumerate() {
        for t in 0..n {
            ids[b * width as usize + t as usize] = 1 + (t * 7 + b as i64 * 13) % 90;
        }
    }
    (images, Tensor::from_slice(&ids).view([batch as i64, width]).to_device(device), lengths)
}

/// A [`train_steps`] measurement.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBench {
    /// Pairs per second and time per step.
    pub throughput: Throughput,
    /// First timed loss.
    pub loss_first: f64,
    /// Last timed loss.
    pub loss_last: f64,
    /// fp16: timed steps the loss scaler skipped (overflowing gradients).
    pub skipped_steps: usize,
}

/// Training throughput: whole steps (training-mode forward with Dropout, VSE hinge,
/// backward, Adam; autocast and loss scaling as `precision` says) on
/// [`synthetic_train_batch`], hashinit weights, the ResNet frozen. The caller runs
/// [`crate::ComputePrecision::prepare`] first.
pub fn train_steps(
    device: tch::Device,
    precision: crate::ComputePrecision,
    batch: usize,
    warmup: usize,
    iterations: usize,
) -> Result<TrainBench> {
    use crate::train::{StepConfig, Trainer};
    let mut trainer = Trainer::new(crate::model::Swan::hashinit(1, device), StepConfig { precision, ..StepConfig::default() });
    let (images, ids, lengths) = synthetic_train_batch(batch, device);
    let (mut losses, mut skipped) = (Vec::new(), Vec::new());
    let throughput = time("train", batch, warmup, iterations, || {
        let out = trainer.forward_backward(&images, &ids, &lengths)?;
        skipped.push(trainer.apply_gradients().skipped);
        // The loss read back to the host also synchronises a GPU (so does fp16's overflow check).
        losses.push(out.loss);
        Ok(())
    })?;
    let from = warmup.min(losses.len());
    let timed = &losses[from..];
    Ok(TrainBench {
        throughput,
        loss_first: timed.first().copied().unwrap_or(f64::NAN),
        loss_last: timed.last().copied().unwrap_or(f64::NAN),
        skipped_steps: skipped[from..].iter().filter(|&&s| s).count(),
    })
}
