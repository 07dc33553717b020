//! The SWAN model: one struct per reference module, variables named like the reference
//! state-dict keys so that checkpoints load by name. Every forward pass takes a [`Mode`]:
//! eval (what embedding uses) or training (batch statistics, optional dropout).

mod checkpoint;
mod image;
mod layers;
mod resnet;
mod text;

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

pub use checkpoint::{
    check_safetensors, hashinit_unused, is_dead_parameter, is_unused, model_keys, read_unused, reference_keys, to_safetensors_bytes,
    write_hashinit_checkpoint, CheckpointInfo, ReferenceKey,
};
pub use image::ImageIntermediates;
pub use layers::{l2norm, Mode};
pub use text::{TextIntermediates, EMBED_ROWS};

use crate::error::{EmbedError, Result};

/// Embedding size of both branches.
pub const EMBED_DIM: i64 = swan_store::EMBED_DIM as i64;
/// Side of the square input images.
pub const IMAGE_SIZE: i64 = 256;

/// SWAN with its weights, on one device.
pub struct Swan {
    vs: nn::VarStore,
    image: image::ImageBranch,
    text: text::TextBranch,
}

impl std::fmt::Debug for Swan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swan").field("device", &self.vs.device()).finish_non_exhaustive()
    }
}

impl Swan {
    /// Build the model on `device` with placeholder weights; load a checkpoint next.
    pub fn new(device: Device) -> Swan {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let image = image::ImageBranch::new(&root);
        let text = text::TextBranch::new(&root);
        let mut swan = Swan { vs, image, text };
        swan.vs.freeze();
        swan
    }

    /// Build and load `checkpoint` (safetensors with the reference key names).
    pub fn load(checkpoint: &Path, device: Device) -> Result<(Swan, CheckpointInfo)> {
        let swan = Swan::new(device);
        let info = checkpoint::load_into(&swan.vs, checkpoint)?;
        Ok((swan, info))
    }

    /// Replace the ResNet-50 backbone's weights with those of `path` (`--backbone`).
    pub fn load_backbone(&self, path: &Path) -> Result<usize> {
        checkpoint::load_backbone(&self.vs, path)
    }

    /// Overwrite rows of the word-embedding table (`text_encoder.embed.weight`, row = token
    /// id) with `vectors` (300 values each), e.g. GloVe vectors.
    pub fn set_word_vectors(&self, vectors: &std::collections::HashMap<i64, Vec<f32>>) -> Result<()> {
        let table = self.vs.variables()["text_encoder.embed.weight"].shallow_clone();
        for (&row, v) in vectors {
            if !(0..EMBED_ROWS).contains(&row) || v.len() != 300 {
                return Err(EmbedError::Input(format!("word vector for row {row} with {} values", v.len())));
            }
            tch::no_grad(|| table.get(row).copy_(&Tensor::from_slice(v).to_kind(table.kind())));
        }
        Ok(())
    }

    /// Build with swan-hashinit v1 weights for `seed` (parity tests, demos).
    pub fn hashinit(seed: u64, device: Device) -> Swan {
        let swan = Swan::new(device);
        checkpoint::fill_hashinit(&swan.vs, seed);
        swan
    }

    /// The variables, named like the reference state dict.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Convert the weights to `kind` (`Float`, `Half`, `BFloat16`).
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
    }

    /// Every image-branch intermediate for normalised images `B x 3 x 256 x 256`.
    pub fn image_intermediates(&self, images: &Tensor) -> Result<ImageIntermediates> {
        check_images(images)?;
        Ok(tch::no_grad(|| self.image.forward_intermediates(images, Mode::EVAL)))
    }

    /// L2-normalised image embeddings `B x 512` (`f32`) for normalised images
    /// `B x 3 x 256 x 256` in the weights' element type. The norm is taken in `f32`
    /// whatever the precision of the forward pass.
    pub fn encode_images(&self, images: &Tensor) -> Result<Tensor> {
        check_images(images)?;
        Ok(tch::no_grad(|| l2norm(&self.image.forward_raw(images, Mode::EVAL).to_kind(Kind::Float))))
    }

    /// Text intermediates for ids `B x T` (zero-padded, `T >= max(lengths)`; the
    /// reference uses `T = max(lengths)` of its batch) and per-caption lengths.
    pub fn text_intermediates(&self, ids: &Tensor, lengths: &[i64]) -> Result<TextIntermediates> {
        check_text(ids, lengths)?;
        Ok(tch::no_grad(|| self.text.forward_intermediates(ids, lengths, Mode::EVAL)))
    }

    /// L2-normalised caption embeddings `B x 512` (`f32`, normalised in `f32`).
    pub fn encode_texts(&self, ids: &Tensor, lengths: &[i64]) -> Result<Tensor> {
        let raw = self.text_intermediates(ids, lengths)?.raw;
        Ok(tch::no_grad(|| l2norm(&raw.to_kind(Kind::Float))))
    }

    /// Write the weights as a swan checkpoint (atomically), with the `carried` entries the
    /// model does not hold ([`read_unused`], [`hashinit_unused`]).
    pub fn save(&self, path: &Path, carried: &[(String, Tensor)]) -> Result<()> {
        checkpoint::write_checkpoint(path, &self.vs, carried)
    }

    /// Forward pass with autograd for training: L2-normalised image embeddings `B x 512`
    /// and caption embeddings `B' x 512`, both `f32`. With `mode.train` every BatchNorm
    /// updates its running statistics.
    pub fn forward_train(&self, images: &Tensor, ids: &Tensor, lengths: &[i64], mode: Mode) -> Result<(Tensor, Tensor)> {
        check_images(images)?;
        check_text(ids, lengths)?;
        let img = l2norm(&self.image.forward_raw(images, mode).to_kind(Kind::Float));
        let txt = l2norm(&self.text.forward_intermediates(ids, lengths, mode).raw.to_kind(Kind::Float));
        Ok((img, txt))
    }

    /// Switch autograd on for the parameters the reference trains and return them, named,
    /// in the reference's `named_parameters()` order: every weight and bias except the
    /// ResNet's unless `backbone` (`--finetune-backbone`, the reference's `is_finetune`).
    /// BatchNorm running statistics are buffers, never trained. Parameters the reference
    /// holds but this model does not build (see [`is_dead_parameter`]) are not
    /// listed.
    pub fn trainable_parameters(&mut self, backbone: bool) -> Vec<(String, Tensor)> {
        let vars = self.vs.variables();
        let mut out = Vec::new();
        for key in reference_keys() {
            let Some(var) = vars.get(&key.name) else { continue };
            let buffer = key.name.ends_with(".running_mean") || key.name.ends_with(".running_var");
            let frozen = !backbone && key.name.starts_with("image_encoder.resnet.");
            if buffer || frozen {
                continue;
            }
            out.push((key.name.clone(), var.set_requires_grad(true)));
        }
        out
    }

    /// Give every 4-d weight channels-last strides, so convolutions run NHWC (pair with
    /// channels-last inputs; see [`crate::precision::to_channels_last`]).
    pub fn set_channels_last(&mut self) {
        tch::no_grad(|| {
            for (_, mut var) in self.vs.variables() {
                if var.dim() == 4 {
                    let nhwc = crate::precision::to_channels_last(&var);
                    var.set_data(&nhwc);
                }
            }
        });
    }
}

fn check_images(images: &Tensor) -> Result<()> {
    let size = images.size();
    if size.len() != 4 || size[1] != 3 || size[2] != IMAGE_SIZE || size[3] != IMAGE_SIZE {
        return Err(EmbedError::Input(format!("images must be B x 3 x 256 x 256, got {size:?}")));
    }
    Ok(())
}

fn check_text(ids: &Tensor, lengths: &[i64]) -> Result<()> {
    let size = ids.size();
    let max = lengths.iter().copied().max().unwrap_or(0);
    if size.len() != 2 || size[0] != lengths.len() as i64 || size[1] < max || lengths.iter().any(|&l| l < 1) {
        return Err(EmbedError::Input(format!(
            "token ids must be B x T with T >= max(lengths) and every length >= 1; got {size:?} for lengths {lengths:?}"
        )));
    }
    if ids.kind() != Kind::Int64 {
        return Err(EmbedError::Input(format!("token ids must be int64, got {:?}", ids.kind())));
    }
    if ids.numel() > 0 {
        let (lo, hi) = (ids.min().int64_value(&[]), ids.max().int64_value(&[]));
        if lo < 0 || hi >= EMBED_ROWS {
            return Err(EmbedError::Input(format!("token ids must be in 0..{EMBED_ROWS}, found {lo}..={hi}")));
        }
    }
    Ok(())
}
