//! Checkpoints: safetensors files whose keys are the reference state-dict keys.
//!
//! Loading is strict: every variable of the model must be present with its exact
//! shape, and every key of the file must be a variable, except the entries the
//! reference carries but never uses, which are expected and skipped.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use tch::{nn, Kind, Tensor};

use crate::error::{EmbedError, Result};
use crate::hashinit;

/// One entry of the reference state dict.
#[derive(Clone, Debug, Deserialize)]
pub struct ReferenceKey {
    /// Key, e.g. `image_encoder.resnet.conv1.weight`.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// `float32` or `int64`.
    pub dtype: String,
}

/// The 429 keys of a reference checkpoint (`shared/reference/model-seed1/state_dict_manifest.json`).
pub fn reference_keys() -> Vec<ReferenceKey> {
    serde_json::from_str(include_str!("reference_state_dict.json")).expect("bundled manifest parses")
}

/// Keys a reference checkpoint has that SWAN's forward pass never reads.
fn is_unused(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
        || name.starts_with("tcge.conv1d_block_")            // dead branch, see text.rs
        || name.starts_with("text_encoder.projection.")
        || name.starts_with("image_encoder.resnet.fc.") // AID classifier head
}

/// What a load found, for manifests and logs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckpointInfo {
    /// SHA-256 of the file.
    pub sha256: String,
    /// Tensors loaded into the model.
    pub loaded: usize,
    /// Known-unused entries skipped.
    pub skipped: usize,
}

pub(super) fn load_into(vs: &nn::VarStore, path: &Path) -> Result<CheckpointInfo> {
    let sha256 = swan_store::fsutil::sha256_file(path)
        .map_err(|e| EmbedError::Checkpoint { path: path.to_owned(), problems: vec![e.to_string()] })?;
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| EmbedError::Checkpoint { path: path.to_owned(), problems: vec![format!("not a readable safetensors file: {e}")] })?;
    let mut file: HashMap<String, Tensor> = tensors.into_iter().collect();
    let vars = vs.variables();
    let mut problems = Vec::new();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in &names {
        match file.get(*name) {
            None => problems.push(format!("missing key {name} {:?}", vars[*name].size())),
            Some(t) if t.size() != vars[*name].size() => {
                problems.push(format!("key {name} has shape {:?}, the model needs {:?}", t.size(), vars[*name].size()))
            }
            Some(t) if !t.is_floating_point() => problems.push(format!("key {name} holds {:?}, not floating point", t.kind())),
            Some(_) => {}
        }
    }
    let mut unexpected: Vec<&String> = file.keys().filter(|k| !vars.contains_key(*k) && !is_unused(k)).collect();
    unexpected.sort();
    problems.extend(unexpected.into_iter().map(|k| format!("unexpected key {k} {:?}", file[k].size())));
    if !problems.is_empty() {
        return Err(EmbedError::Checkpoint { path: path.to_owned(), problems });
    }
    let skipped = file.keys().filter(|k| !vars.contains_key(*k)).count();
    tch::no_grad(|| {
        for name in &names {
            let src = file.remove(*name).expect("checked above");
            let mut dst = vars[*name].shallow_clone();
            dst.copy_(&src.to_kind(dst.kind()));
        }
    });
    Ok(CheckpointInfo { sha256, loaded: names.len(), skipped })
}

pub(super) fn fill_hashinit(vs: &nn::VarStore, seed: u64) {
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            let size = var.size();
            let values = hashinit::param_value(&name, &size, seed);
            let mut var = var;
            var.copy_(&Tensor::from_slice(&values).view(size.as_slice()).to_kind(var.kind()));
        }
    });
}

/// Write a checkpoint with every key of the reference state dict (unused ones
/// included, so it is shaped exactly like a converted reference checkpoint) holding
/// swan-hashinit v1 values for `seed`.
pub fn write_hashinit_checkpoint(path: &Path, seed: u64) -> Result<()> {
    swan_store::fsutil::check_output(path)?;
    let tensors: Vec<(String, Tensor)> = reference_keys()
        .into_iter()
        .map(|k| {
            let t = if k.dtype == "int64" {
                Tensor::zeros(k.shape.as_slice(), (Kind::Int64, tch::Device::Cpu))
            } else {
                Tensor::from_slice(&hashinit::param_value(&k.name, &k.shape, seed)).view(k.shape.as_slice())
            };
            (k.name, t)
        })
        .collect();
    // tch writes the file itself, so it writes the temporary file and the store's atomic
    // writer publishes it (fsync, rename, fsync of the folder): a crash never leaves a
    // truncated checkpoint, and a folder or device at `path` is refused before any work.
    let tmp = path.with_extension("safetensors.partial");
    let written = Tensor::write_safetensors(&tensors, &tmp)
        .map_err(|e| EmbedError::Torch(e.to_string()))
        .and_then(|()| Ok(swan_store::fsutil::publish(&tmp, path)?));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
