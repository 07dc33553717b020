//! Checkpoints: safetensors files whose keys are the reference state-dict keys.
//!
//! Loading is strict: every variable of the model must be present with its exact
//! shape, and every key of the file must be a variable, except the entries the
//! reference carries but never uses, which are expected and skipped.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
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
pub fn is_unused(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
        || name.starts_with("tcge.conv1d_block_")            // dead branch, see text.rs
        || name.starts_with("text_encoder.projection.")
        || name.starts_with("image_encoder.resnet.fc.") // AID classifier head
}

/// Parameters the reference's optimizer trains but whose gradient is always zero because
/// they never reach the loss: `text_encoder.projection` (never called) and the TCGE conv
/// blocks (their output sits after position `T - 1` and is never gathered; see text.rs).
/// This model does not build them, so they keep the values they were loaded with, which
/// is what one reference Adam step does to them (`shared/reference/train-seed1`).
pub fn is_dead_parameter(name: &str) -> bool {
    let dead_module = name.starts_with("text_encoder.projection.") || name.starts_with("tcge.conv1d_block_");
    dead_module && (name.ends_with(".weight") || name.ends_with(".bias"))
}

/// Read the entries of a checkpoint the model does not hold ([`is_unused`]) so that a
/// checkpoint written after training carries them unchanged.
pub fn read_unused(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| EmbedError::Checkpoint { path: path.to_owned(), problems: vec![format!("not a readable safetensors file: {e}")] })?;
    Ok(tensors.into_iter().filter(|(k, _)| is_unused(k)).collect())
}

/// The unused entries with their swan-hashinit v1 values for `seed`.
pub fn hashinit_unused(seed: u64) -> Vec<(String, Tensor)> {
    reference_keys().into_iter().filter(|k| is_unused(&k.name)).map(|k| (k.name.clone(), hashinit_tensor(&k, seed))).collect()
}

fn hashinit_tensor(k: &ReferenceKey, seed: u64) -> Tensor {
    if k.dtype == "int64" {
        Tensor::zeros(k.shape.as_slice(), (Kind::Int64, tch::Device::Cpu))
    } else {
        Tensor::from_slice(&hashinit::param_value(&k.name, &k.shape, seed)).view(k.shape.as_slice())
    }
}

/// A safetensors view over bytes copied out of a tensor (tch's own view type is private).
struct OwnedView {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for OwnedView {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Serialise named tensors (any device; `f32`, `i64` or `u8`) to safetensors bytes. The
/// layout depends only on names, kinds and values, so equal weights give equal bytes.
pub fn to_safetensors_bytes(tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_device(tch::Device::Cpu).contiguous();
        let dtype = match t.kind() {
            Kind::Float => safetensors::Dtype::F32,
            Kind::Int64 => safetensors::Dtype::I64,
            Kind::Uint8 => safetensors::Dtype::U8,
            k => return Err(EmbedError::Torch(format!("{name}: cannot save {k:?} tensors"))),
        };
        let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, t.numel())?;
        views.push((name.clone(), OwnedView { dtype, shape: t.size().iter().map(|&d| d as usize).collect(), bytes }));
    }
    safetensors::tensor::serialize(views, &metadata).map_err(|e| EmbedError::Torch(format!("safetensors: {e:?}")))
}

/// Write a swan checkpoint: every variable of `vs` plus the `carried` unused entries, all
/// under reference key names, atomically (a crash leaves the old file or the new one).
pub fn write_checkpoint(path: &Path, vs: &nn::VarStore, carried: &[(String, Tensor)]) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(k, v)| (k, v.detach())).collect();
    let held: std::collections::HashSet<String> = tensors.iter().map(|(k, _)| k.clone()).collect();
    tensors.extend(carried.iter().filter(|(k, _)| !held.contains(k)).map(|(k, v)| (k.clone(), v.shallow_clone())));
    let bytes = to_safetensors_bytes(&tensors, None)?;
    Ok(swan_store::fsutil::write_atomic(path, &bytes)?)
}

/// Load the ResNet-50 backbone (`image_encoder.resnet.*` keys, as
/// `scripts/convert_checkpoint.py` writes a bare ResNet-50) from `path` into `vs`; every
/// backbone variable must be present with its shape (the classifier head is ignored).
/// Returns how many tensors were loaded.
pub(super) fn load_backbone(vs: &nn::VarStore, path: &Path) -> Result<usize> {
    let fail = |problems: Vec<String>| EmbedError::Checkpoint { path: path.to_owned(), problems };
    if !path.is_file() {
        return Err(fail(vec!["backbone file not found".into()]));
    }
    let file: HashMap<String, Tensor> =
        Tensor::read_safetensors(path).map_err(|e| fail(vec![format!("not a readable safetensors file: {e}")]))?.into_iter().collect();
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().filter(|k| k.starts_with("image_encoder.resnet.")).collect();
    names.sort();
    let mut problems = Vec::new();
    for name in &names {
        match file.get(*name) {
            None => problems.push(format!("missing key {name} {:?}", vars[*name].size())),
            Some(t) if t.size() != vars[*name].size() => {
                problems.push(format!("key {name} has shape {:?}, the backbone needs {:?}", t.size(), vars[*name].size()))
            }
            Some(t) if !t.is_floating_point() => problems.push(format!("key {name} holds {:?}, not floating point", t.kind())),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    tch::no_grad(|| {
        for name in &names {
            let mut dst = vars[*name].shallow_clone();
            dst.copy_(&file[*name].to_kind(dst.kind()));
        }
    });
    Ok(names.len())
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

/// The variables SWAN holds, `(name, shape)`: the reference keys less the unused ones
/// (`tests/parity.rs` checks this list against the built model both ways).
pub fn model_keys() -> Vec<(String, Vec<i64>)> {
    reference_keys().into_iter().filter(|k| !is_unused(&k.name)).map(|k| (k.name, k.shape)).collect()
}

/// Check a safetensors file image against the variables `vars` (`(name, shape)`, e.g.
/// [`model_keys`]) from its header alone: every variable present with its shape and a
/// floating-point dtype, and no other key but the known-unused reference entries. Returns one
/// line per problem, empty if the file fits. No tensor is made, so a header that declares
/// huge or odd shapes is refused before anything is allocated for it.
pub fn check_safetensors(bytes: &[u8], vars: &[(String, Vec<i64>)]) -> Vec<String> {
    let file = match SafeTensors::deserialize(bytes) {
        Ok(file) => file,
        Err(e) => return vec![format!("not a readable safetensors file: {e:?}")],
    };
    let mut problems = Vec::new();
    let mut sorted: Vec<&(String, Vec<i64>)> = vars.iter().collect();
    sorted.sort();
    for (name, shape) in sorted {
        match file.tensor(name) {
            Err(_) => problems.push(format!("missing key {name} {shape:?}")),
            Ok(t) if !t.shape().iter().map(|&d| i64::try_from(d).ok()).eq(shape.iter().map(|&d| Some(d))) => {
                problems.push(format!("key {name} has shape {:?}, the model needs {shape:?}", t.shape()))
            }
            Ok(t) if !matches!(t.dtype(), Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64) => {
                problems.push(format!("key {name} holds {:?}, not floating point", t.dtype()))
            }
            Ok(_) => {}
        }
    }
    let mut unexpected: Vec<(String, TensorView)> =
        file.tensors().into_iter().filter(|(k, _)| !vars.iter().any(|(v, _)| v == k) && !is_unused(k)).collect();
    unexpected.sort_by(|a, b| a.0.cmp(&b.0));
    problems.extend(unexpected.into_iter().map(|(k, t)| format!("unexpected key {k} {:?}", t.shape())));
    problems
}

pub(super) fn load_into(vs: &nn::VarStore, path: &Path) -> Result<CheckpointInfo> {
    let refuse = |problems: Vec<String>| EmbedError::Checkpoint { path: path.to_owned(), problems };
    let sha256 = swan_store::fsutil::sha256_file(path).map_err(|e| refuse(vec![e.to_string()]))?;
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io { path: path.to_owned(), source })?;
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let wanted: Vec<(String, Vec<i64>)> = names.iter().map(|&n| (n.clone(), vars[n].size())).collect();
    let problems = check_safetensors(&bytes, &wanted);
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| refuse(vec![format!("not a readable safetensors file: {e:?}")]))?;
    let skipped = file.len().saturating_sub(names.len());
    tch::no_grad(|| -> Result<()> {
        for name in &names {
            let view = file.tensor(name).map_err(|e| refuse(vec![format!("key {name}: {e:?}")]))?;
            let kind = Kind::try_from(view.dtype())?;
            let src = Tensor::f_from_data_size(view.data(), &vars[*name].size(), kind)?;
            let mut dst = vars[*name].shallow_clone();
            dst.f_copy_(&src.f_to_kind(dst.kind())?)?;
        }
        Ok(())
    })?;
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
    let tensors: Vec<(String, Tensor)> = reference_keys().into_iter().map(|k| (k.name.clone(), hashinit_tensor(&k, seed))).collect();
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
