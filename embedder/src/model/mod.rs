//! The SWAN model: one struct per reference module, variables named like the reference
//! state-dict keys so that checkpoints load by name. Eval mode only.

mod checkpoint;
mod image;
mod layers;
mod resnet;
mod text;

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

pub use checkpoint::{reference_keys, write_hashinit_checkpoint, CheckpointInfo, ReferenceKey};
pub use image::ImageIntermediates;
pub use layers::l2norm;
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
        Ok(tch::no_grad(|| self.image.forward_intermediates(images)))
    }

    /// L2-normalised image embeddings `B x 512` (`f32`) for normalised images
    /// `B x 3 x 256 x 256` in the weights' element type. The norm is taken in `f32`
    /// whatever the precision of the forward pass.
    pub fn encode_images(&self, images: &Tensor) -> Result<Tensor> {
        check_images(images)?;
        Ok(tch::no_grad(|| l2norm(&self.image.forward_raw(images).to_kind(Kind::Float))))
    }

    /// Text intermediates for ids `B x T` (zero-padded, `T >= max(lengths)`; the
    /// reference uses `T = max(lengths)` of its batch) and per-caption lengths.
    pub fn text_intermediates(&self, ids: &Tensor, lengths: &[i64]) -> Result<TextIntermediates> {
        check_text(ids, lengths)?;
        Ok(tch::no_grad(|| self.text.forward_intermediates(ids, lengths)))
    }

    /// L2-normalised caption embeddings `B x 512` (`f32`, normalised in `f32`).
    pub fn encode_texts(&self, ids: &Tensor, lengths: &[i64]) -> Result<Tensor> {
        let raw = self.text_intermediates(ids, lengths)?.raw;
        Ok(tch::no_grad(|| l2norm(&raw.to_kind(Kind::Float))))
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
