//! One training step: forward in training mode, VSE hinge loss, backward, Adam; in bf16 or
//! fp16 the forward runs under autocast as `torch.autocast(device, dtype)` does (weights,
//! gradients and Adam's state stay fp32), and fp16 scales the loss ([`LossScaler`]).

use tch::{Kind, Tensor};

use super::adam::{clip_grad_norm, Adam, AdamConfig};
use super::loss::{vse_hinge, MARGIN};
use super::scaler::{LossScaler, ScalerConfig};
use crate::autocast::AutocastGuard;
use crate::error::{EmbedError, Result};
use crate::model::{Mode, Swan};
use crate::precision::ComputePrecision;

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
    /// Numerics (`--precision`): fp32 and tf32 as the device computes them, bf16 and fp16
    /// under autocast, fp16 with dynamic loss scaling. The caller runs
    /// [`ComputePrecision::prepare`] for the device before any tensor exists.
    pub precision: ComputePrecision,
}

impl Default for StepConfig {
    fn default() -> StepConfig {
        StepConfig {
            lr: 2e-4,
            max_violation: false,
            grad_clip: None,
            finetune_backbone: false,
            dropout: true,
            precision: ComputePrecision::Fp32,
        }
    }
}

/// What [`Trainer::apply_gradients`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Applied {
    /// The gradients' global norm (unscaled), when clipping computed it.
    pub grad_norm: Option<f64>,
    /// fp16 only: the gradients overflowed, so Adam did not step (GradScaler's skip).
    pub skipped: bool,
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
    scaler: Option<LossScaler>,
    config: StepConfig,
}

impl Trainer {
    /// Make `swan`'s parameters trainable as the reference does and start fresh Adam state.
    pub fn new(mut swan: Swan, config: StepConfig) -> Trainer {
        let (names, params): (Vec<String>, Vec<Tensor>) = swan.trainable_parameters(config.finetune_backbone).into_iter().unzip();
        let adam = Adam::new(&params, AdamConfig::with_lr(config.lr));
        let device = swan.device();
        let scaler = config.precision.scales_loss().then(|| LossScaler::new(ScalerConfig::default(), device));
        Trainer { swan, names, params, adam, scaler, config }
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

    /// The loss scaler (fp16 only).
    pub fn scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
    }

    /// The loss scaler, to restore it (fp16 only).
    pub fn scaler_mut(&mut self) -> Option<&mut LossScaler> {
        self.scaler.as_mut()
    }

    /// Forward and backward on one batch: pair `i` is image `i` (normalised,
    /// `B x 3 x 256 x 256`) and caption `i` (row `i` of `ids`, padded to the batch's
    /// longest caption). Leaves the gradients in the parameters; changes no weight except
    /// the BatchNorm running statistics.
    pub fn forward_backward(&mut self, images: &Tensor, ids: &Tensor, lengths: &[i64]) -> Result<StepLoss> {
        for p in &mut self.params {
            p.zero_grad();
        }
        let precision = self.config.precision;
        if precision == ComputePrecision::Fp16 && !images.device().is_cuda() {
            return Err(EmbedError::Input("fp16 training needs a CUDA device; use bf16 or fp32 on the CPU".into()));
        }
        let scores = {
            // As the reference's peer: `with torch.autocast(device, dtype): scores = model(...).float()`;
            // the loss and backward outside it (backward follows the forward's casts).
            let _autocast = match precision.autocast_kind() {
                Some(kind) => Some(AutocastGuard::new(images.device(), kind)?),
                None => None,
            };
            let (img, txt) = self.swan.forward_train(images, ids, lengths, Mode::train(self.config.dropout))?;
            img.matmul(&txt.tr()).to_kind(Kind::Float)
        };
        let loss = vse_hinge(&scores, MARGIN, self.config.max_violation);
        let other = tch::no_grad(|| vse_hinge(&scores, MARGIN, !self.config.max_violation)).double_value(&[]);
        let value = loss.double_value(&[]);
        match &self.scaler {
            Some(scaler) => scaler.scale(&loss).backward(),
            None => loss.backward(),
        }
        let (loss_sum, loss_max_violation) = if self.config.max_violation { (other, value) } else { (value, other) };
        Ok(StepLoss { scores: scores.detach(), loss_sum, loss_max_violation, loss: value })
    }

    /// Clip the gradients if configured, then one Adam step. fp16: the gradients are
    /// unscaled first (so clipping sees their true norm), and when any is inf or NaN the step
    /// is skipped and the scale backs off, as `GradScaler.step`/`update` do.
    pub fn apply_gradients(&mut self) -> Applied {
        apply(&self.params, &mut self.adam, self.scaler.as_mut(), self.config.grad_clip)
    }
}

/// [`Trainer::apply_gradients`] on its parts: unscale (fp16), skip on overflow, clip, Adam.
fn apply(params: &[Tensor], adam: &mut Adam, scaler: Option<&mut LossScaler>, grad_clip: Option<f64>) -> Applied {
    if let Some(scaler) = scaler {
        let found_inf = scaler.unscale(params);
        // GradScaler.update after the (possibly skipped) step; the order does not matter.
        scaler.update(found_inf);
        if found_inf {
            return Applied { grad_norm: None, skipped: true };
        }
    }
    let grad_norm = grad_clip.map(|max| clip_grad_norm(params, max));
    adam.step(params);
    Applied { grad_norm, skipped: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.detach().to_kind(Kind::Float)).unwrap()
    }

    /// A parameter `[1, 1]` whose gradient is `grad`.
    fn param(grad: [f32; 2]) -> Tensor {
        let p = Tensor::from_slice(&[1.0f32, 1.0]).set_requires_grad(true);
        (&p * Tensor::from_slice(&grad)).sum(Kind::Float).backward();
        p
    }

    #[test]
    fn fp16_gradients_are_unscaled_before_clipping_and_an_overflow_skips_adam() {
        let cfg = ScalerConfig { init_scale: 1024.0, ..ScalerConfig::default() };
        // Gradient [3, 4] * 1024, as a loss scaled by 1024 leaves it: clipping sees norm 5.
        let p = param([3072.0, 4096.0]);
        let mut adam = Adam::new(&[p.shallow_clone()], AdamConfig::with_lr(0.1));
        let mut scaler = LossScaler::new(cfg, Device::Cpu);
        let applied = apply(&[p.shallow_clone()], &mut adam, Some(&mut scaler), Some(1.0));
        assert!(!applied.skipped);
        assert!((applied.grad_norm.unwrap() - 5.0).abs() < 1e-4, "{applied:?}");
        let g = values(&p.grad());
        assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5, "clipped after unscaling: {g:?}");
        assert_eq!(adam.steps, vec![1]);
        let after_first = values(&p);
        assert!(after_first.iter().all(|&v| (v - 0.9).abs() < 1e-5), "{after_first:?}");
        assert_eq!((scaler.scale_value(), scaler.growth_tracker()), (1024.0, 1));

        // An inf in the gradient: no Adam step, moments untouched, the scale halves.
        let moments = (values(&adam.exp_avg[0]), values(&adam.exp_avg_sq[0]));
        p.grad().copy_(&Tensor::from_slice(&[1.0f32, f32::INFINITY]));
        let applied = apply(&[p.shallow_clone()], &mut adam, Some(&mut scaler), Some(1.0));
        assert_eq!(applied, Applied { grad_norm: None, skipped: true });
        assert_eq!(adam.steps, vec![1]);
        assert_eq!((values(&adam.exp_avg[0]), values(&adam.exp_avg_sq[0])), moments);
        assert_eq!(values(&p), after_first);
        assert_eq!((scaler.scale_value(), scaler.growth_tracker()), (512.0, 0));
    }

    #[test]
    fn without_a_scaler_gradients_are_used_as_they_are() {
        let p = param([3.0, 4.0]);
        let mut adam = Adam::new(&[p.shallow_clone()], AdamConfig::with_lr(0.1));
        let applied = apply(&[p.shallow_clone()], &mut adam, None, Some(10.0));
        assert!(!applied.skipped);
        assert!((applied.grad_norm.unwrap() - 5.0).abs() < 1e-5);
        assert_eq!(adam.steps, vec![1]);
    }

    fn one_step(precision: ComputePrecision) -> (Trainer, StepLoss) {
        let swan = Swan::hashinit(1, Device::Cpu);
        let mut trainer = Trainer::new(swan, StepConfig { dropout: false, precision, ..StepConfig::default() });
        let (b, t) = (3, 9);
        let images = Tensor::from_slice(&crate::hashinit::input_images(b, 11)).view([b as i64, 3, 256, 256]);
        let lengths = [9i64, 6, 4];
        let ids: Vec<i64> = (0..b * t).map(|i| if (i % t) < lengths[i / t] as usize { 1 + (i as i64 * 7) % 90 } else { 0 }).collect();
        let ids = Tensor::from_slice(&ids).view([b as i64, t as i64]);
        let out = trainer.forward_backward(&images, &ids, &lengths).unwrap();
        (trainer, out)
    }

    #[test]
    fn a_bf16_step_on_the_cpu_is_close_to_fp32_and_keeps_weights_and_adam_in_fp32() {
        let (_, fp32) = one_step(ComputePrecision::Fp32);
        let (mut trainer, bf16) = one_step(ComputePrecision::Bf16);
        let rel = (bf16.loss - fp32.loss).abs() / fp32.loss.abs();
        // Non-zero: the forward really ran in bf16; small: it is the same computation.
        assert!(bf16.loss.is_finite() && rel > 1e-6 && rel < 0.05, "fp32 {} bf16 {} (rel {rel})", fp32.loss, bf16.loss);
        assert_eq!(bf16.scores.kind(), Kind::Float);
        let before: Vec<Tensor> = trainer.parameters().map(|(_, p)| p.detach().copy()).collect();
        let applied = trainer.apply_gradients();
        assert!(!applied.skipped);
        let mut moved = 0;
        for ((name, p), old) in trainer.parameters().zip(&before) {
            assert_eq!(p.kind(), Kind::Float, "{name}");
            let g = p.grad();
            if g.defined() {
                assert_eq!(g.kind(), Kind::Float, "{name} gradient");
            }
            moved += !p.detach().equal(old) as usize;
        }
        assert!(moved > 10, "only {moved} parameters changed");
        for m in trainer.adam().exp_avg.iter().chain(&trainer.adam().exp_avg_sq) {
            assert_eq!(m.kind(), Kind::Float);
            assert!(m.isfinite().all().int64_value(&[]) == 1);
        }
        assert!(trainer.scaler().is_none());
    }

    #[test]
    fn fp16_on_the_cpu_is_refused() {
        let swan = Swan::hashinit(1, Device::Cpu);
        let mut trainer = Trainer::new(swan, StepConfig { precision: ComputePrecision::Fp16, ..StepConfig::default() });
        assert!(trainer.scaler().is_some());
        let images = Tensor::zeros([2, 3, 256, 256], (Kind::Float, Device::Cpu));
        let ids = Tensor::ones([2, 3], (Kind::Int64, Device::Cpu));
        let err = trainer.forward_backward(&images, &ids, &[3, 3]).unwrap_err().to_string();
        assert!(err.contains("fp16 training needs a CUDA device"), "{err}");
    }
}
