//! The resumable training state: every model variable (weights and BatchNorm running
//! statistics), Adam's moments and step counts, and where the run stands. One safetensors
//! file, replaced atomically, so a crash leaves either the previous state or the new one.
//! RNG state needs no saving: every draw is seeded from the run's seed and the epoch,
//! step or sample it belongs to (see [`super::data::mix`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::step::Trainer;
use crate::error::{EmbedError, Result};
use crate::model::to_safetensors_bytes;

/// Format name in the file's metadata.
pub const FORMAT: &str = "swan-train-state";
/// Version written.
pub const CURRENT: u32 = 1;
/// Oldest version read.
pub const OLDEST_READABLE: u32 = 1;

/// Where a run stands when its state is saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epoch to run next (or the one in progress).
    pub epoch: usize,
    /// Next batch of that epoch.
    pub batch: usize,
    /// Optimizer steps taken so far.
    pub global_step: u64,
    /// Best validation mR so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Length of the metrics log at this point (a resumed run truncates it to this).
    pub metrics_bytes: u64,
    /// The settings the run was started with; a resume must use the same.
    pub fingerprint: String,
}

fn bad(path: &Path, msg: impl Into<String>) -> EmbedError {
    EmbedError::Checkpoint { path: path.to_owned(), problems: vec![msg.into()] }
}

/// Save `trainer`'s model and optimizer with `progress` to `path`, atomically.
pub fn save(path: &Path, trainer: &Trainer, progress: &Progress) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> =
        trainer.swan().var_store().variables().into_iter().map(|(k, v)| (format!("model.{k}"), v.detach())).collect();
    let adam = trainer.adam();
    for (i, (name, _)) in trainer.parameters().enumerate() {
        tensors.push((format!("adam.exp_avg.{name}"), adam.exp_avg[i].shallow_clone()));
        tensors.push((format!("adam.exp_avg_sq.{name}"), adam.exp_avg_sq[i].shallow_clone()));
    }
    tensors.push(("adam.steps".into(), Tensor::from_slice(&adam.steps)));
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("version".to_string(), CURRENT.to_string());
    meta.insert("progress".to_string(), serde_json::to_string(progress).expect("progress serialises"));
    let bytes = to_safetensors_bytes(&tensors, Some(meta))?;
    Ok(swan_store::fsutil::write_atomic(path, &bytes)?)
}

/// Restore a state saved by [`save`] into `trainer` (built with the same settings).
pub fn load(path: &Path, trainer: &mut Trainer) -> Result<Progress> {
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io { path: path.to_owned(), source })?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(path, format!("not a training state: {e:?}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(path, format!("not a {FORMAT} file")));
    }
    let version: u32 = meta.get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
    if !(OLDEST_READABLE..=CURRENT).contains(&version) {
        return Err(bad(
            path,
            format!("version {version}; this swan reads {OLDEST_READABLE}..={CURRENT}: start a new run in another folder"),
        ));
    }
    let progress: Progress = meta
        .get("progress")
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or_else(|| bad(path, "its progress record is missing or unreadable"))?;
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
    let take = |key: &str, like: &Tensor| -> Result<Tensor> {
        let t = tensors.get(key).ok_or_else(|| bad(path, format!("missing {key}")))?;
        if t.size() != like.size() || t.kind() != like.kind() {
            return Err(bad(path, format!("{key} has shape {:?} {:?}, expected {:?} {:?}", t.size(), t.kind(), like.size(), like.kind())));
        }
        Ok(t.to_device(like.device()))
    };
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in trainer.swan().var_store().variables() {
            var.copy_(&take(&format!("model.{name}"), &var)?);
        }
        let names: Vec<String> = trainer.parameters().map(|(n, _)| n.to_string()).collect();
        let n = names.len() as i64;
        let steps = take("adam.steps", &Tensor::zeros([n], (Kind::Int64, tch::Device::Cpu)))?;
        let adam = trainer.adam_mut();
        adam.steps = Vec::<i64>::try_from(&steps)?;
        for (i, name) in names.iter().enumerate() {
            let m = take(&format!("adam.exp_avg.{name}"), &adam.exp_avg[i])?;
            adam.exp_avg[i].copy_(&m);
            let v = take(&format!("adam.exp_avg_sq.{name}"), &adam.exp_avg_sq[i])?;
            adam.exp_avg_sq[i].copy_(&v);
        }
        Ok(())
    })?;
    Ok(progress)
}
