//! One training step: forward in training mode, VSE hinge loss, backward, Adam.

use tch::Tensor;

use super::adam::{clip_grad_norm, Adam, AdamConfig};
use super::loss::{vse_hinge, MARGIN};
use crate::error::Result;
use crate::model::{Mode, Swan};

/// What a step does; the defaults are the reference's recipe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepConfig {
    /// Adam's learning rate at the start (the schedule changes it per epoch).
    pub lr: f64,
    /// Train on the hardest negative only (`--max-violation`).
    pub max_violation: bool,
    /// Clip the gradients' global L2 norm to this (`--grad-clip`); the reference does not.
    pub grad_clip: Option<f64>,
    /// Train the ResNet too (`--finetune-backbone`, the reference's `is_finetune`).
    pub finetune_backbone: bool,
    /// Dropout active (`--no-dropout` switches it off; BatchNorm stays in training mode).
    pub dropout: bool,
}

impl Default for StepConfig {
    fn default() -> StepConfig {
        StepConfig { lr: 2e-4, max_violation: false, grad_clip: None, finetune_backbone: false, dropout: true }
    }
}

/// Losses of one batch, both variants (the other one computed without a gradient).
#[derive(Debug)]
pub struct StepLoss {
    /// `B x B` similarities of the batch (image `i` against caption `j`).
    pub scores: Tensor,
    /// Hinge summed over all negatives.
    pub loss_sum: f64,
    /// Hinge of the hardest negatives.
    pub loss_max_violation: f64,
    /// The one that was back-propagated.
    pub loss: f64,
}

/// SWAN with its trainable parameters and optimizer state.
#[derive(Debug)]
pub struct Trainer {
    swan: Swan,
    names: Vec<String>,
    params: Vec<Tensor>,
    adam: Adam,
    config: StepConfig,
}

impl Trainer {
    /// Make `swan`'s parameters trainable as the reference does and start fresh Adam state.
    pub fn new(mut swan: Swan, config: StepConfig) -> Trainer {
        let (names, params): (Vec<String>, Vec<Tensor>) = swan.trainable_parameters(config.finetune_backbone).into_iter().unzip();
        let adam = Adam::new(&params, AdamConfig::with_lr(config.lr));
        Trainer { swan, names, params, adam, config }
    }

    /// The model.
    pub fn swan(&self) -> &Swan {
        &self.swan
    }

    /// The configuration.
    pub fn config(&self) -> &StepConfig {
        &self.config
    }

    /// Trainable parameters, named, in the reference's order.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.names.iter().map(String::as_str).zip(&self.params)
    }

    /// Optimizer state.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// Optimizer state, to restore it or change the learning rate.
    pub fn adam_mut(&mut self) -> &mut Adam {
        &mut self.adam
    }

    /// Forward and backward on one batch: pair `i` is image `i` (normalised,
    /// `B x 3 x 256 x 256`) and caption `i` (row `i` of `ids`, padded to the batch's
    /// longest caption). Leaves the gradients in the parameters; changes no weight except
    /// the BatchNorm running statistics.
    pub fn forward_backward(&mut self, images: &Tensor, ids: &Tensor, lengths: &[i64]) -> Result<StepLoss> {
        for p in &mut self.params {
            p.zero_grad();
        }
        let (img, txt) = self.swan.forward_train(images, ids, lengths, Mode::train(self.config.dropout))?;
        let scores = img.matmul(&txt.tr());
        let loss = vse_hinge(&scores, MARGIN, self.config.max_violation);
        let other = tch::no_grad(|| vse_hinge(&scores, MARGIN, !self.config.max_violation)).double_value(&[]);
        let value = loss.double_value(&[]);
        loss.backward();
        let (loss_sum, loss_max_violation) = if self.config.max_violation { (other, value) } else { (value, other) };
        Ok(StepLoss { scores: scores.detach(), loss_sum, loss_max_violation, loss: value })
    }

    /// Clip the gradients if configured, then one Adam step. Returns the gradients' global
    /// norm when clipping (computed only then).
    pub fn apply_gradients(&mut self) -> Option<f64> {
        let norm = self.config.grad_clip.map(|max| clip_grad_norm(&self.params, max));
        self.adam.step(&self.params);
        norm
    }
}
