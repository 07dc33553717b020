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
use crate::precision::ComputePrecision;

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
    /// Steps taken so far (fp16 steps the loss scaler skipped count too).
    pub global_step: u64,
    /// Best validation mR so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Length of the metrics log at this point (a resumed run truncates it to this).
    pub metrics_bytes: u64,
    /// The settings the run was started with; a resume must use the same.
    pub fingerprint: String,
    /// `--precision` of the run (a resume must use the same). States written before swan
    /// recorded it lack it: those runs computed in the device's default precision.
    #[serde(default)]
    pub precision: Option<ComputePrecision>,
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
    if let Some(scaler) = trainer.scaler() {
        let (scale, growth_tracker) = scaler.state();
        tensors.push(("scaler.scale".into(), scale.shallow_clone()));
        // i32 on the device (GradScaler's), i64 in the file (what the writer supports).
        tensors.push(("scaler.growth_tracker".into(), growth_tracker.to_kind(Kind::Int64)));
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("version".to_string(), CURRENT.to_string());
    meta.insert("progress".to_string(), serde_json::to_string(progress).expect("progress serialises"));
    let bytes = to_safetensors_bytes(&tensors, Some(meta))?;
    Ok(swan_store::fsutil::write_atomic(path, &bytes)?)
}

/// Where the run saved in `path` stands, and with which settings. Reads only the file's
/// header (the tensors are checked by [`load`]), so a resume can compare settings first.
pub fn read_progress(path: &Path) -> Result<Progress> {
    use std::io::Read;
    let io = |source| EmbedError::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| bad(path, "not a training state: shorter than a safetensors header"))?;
    let len = u64::from_le_bytes(len);
    // safetensors' own limit on a header.
    if len > 100_000_000 {
        return Err(bad(path, format!("not a training state: header of {len} bytes")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(|_| bad(path, "not a training state: header cut short"))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| bad(path, format!("not a training state: header: {e}")))?;
    let meta: HashMap<String, String> = header.get("__metadata__").and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
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
    Ok(progress)
}

/// Restore a state saved by [`save`] into `trainer` (built with the same settings; check
/// them first with [`read_progress`]).
pub fn load(path: &Path, trainer: &mut Trainer) -> Result<Progress> {
    let progress = read_progress(path)?;
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io { path: path.to_owned(), source })?;
    safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(path, format!("not a training state: {e:?}")))?;
    drop(bytes);
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
        if let Some(scaler) = trainer.scaler_mut() {
            let (scale, growth_tracker) = scaler.state();
            let scale = take("scaler.scale", scale)?;
            let growth_tracker = take("scaler.growth_tracker", &growth_tracker.to_kind(Kind::Int64))?;
            scaler.restore(&scale, &growth_tracker);
        }
        Ok(())
    })?;
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Swan;
    use crate::train::StepConfig;

    fn trainer(precision: ComputePrecision) -> Trainer {
        Trainer::new(Swan::hashinit(1, tch::Device::Cpu), StepConfig { precision, ..StepConfig::default() })
    }

    #[test]
    fn the_loss_scale_and_precision_survive_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.safetensors");
        let mut a = trainer(ComputePrecision::Fp16);
        let scaler = a.scaler_mut().unwrap();
        scaler.update(true); // 65536 -> 32768
        scaler.update(false);
        scaler.update(false); // two good steps in a row
        let progress = Progress {
            epoch: 1,
            batch: 2,
            global_step: 3,
            best: None,
            metrics_bytes: 0,
            fingerprint: "f".into(),
            precision: Some(ComputePrecision::Fp16),
        };
        save(&path, &a, &progress).unwrap();
        assert_eq!(read_progress(&path).unwrap(), progress);

        let mut b = trainer(ComputePrecision::Fp16);
        assert_eq!(b.scaler().unwrap().scale_value(), 65536.0);
        assert_eq!(load(&path, &mut b).unwrap(), progress);
        let s = b.scaler().unwrap();
        assert_eq!((s.scale_value(), s.growth_tracker()), (32768.0, 2));

        // A state saved without a scaler (as an fp32 run's) does not load into an fp16 trainer.
        let mut tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(&path).unwrap();
        tensors.retain(|(k, _)| !k.starts_with("scaler."));
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("version".to_string(), CURRENT.to_string());
        meta.insert("progress".to_string(), serde_json::to_string(&progress).unwrap());
        std::fs::write(&path, to_safetensors_bytes(&tensors, Some(meta)).unwrap()).unwrap();
        let err = load(&path, &mut b).unwrap_err().to_string();
        assert!(err.contains("missing scaler.scale"), "{err}");
    }

    #[test]
    fn a_state_without_a_recorded_precision_reads_as_none() {
        let json = r#"{"epoch":0,"batch":0,"global_step":0,"best":null,"metrics_bytes":0,"fingerprint":"f"}"#;
        let p: Progress = serde_json::from_str(json).unwrap();
        assert_eq!(p.precision, None);
    }
}
