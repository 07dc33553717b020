//! Dynamic loss scaling for fp16 training, as `torch.amp.GradScaler` does it with its
//! defaults, through the same libtorch kernels (`_amp_foreach_non_finite_check_and_unscale_`,
//! `_amp_update_scale_`): the loss is multiplied by the scale before backward so small
//! gradients survive fp16; the gradients are divided by it again before clipping and Adam; a
//! step whose gradients hold an inf or NaN is skipped (Adam untouched) and the scale halves;
//! after `growth_interval` good steps in a row it doubles.

use tch::{Device, Kind, Tensor};

/// GradScaler's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScalerConfig {
    /// Scale at the start.
    pub init_scale: f64,
    /// Factor after `growth_interval` good steps in a row.
    pub growth_factor: f64,
    /// Factor after a step with non-finite gradients.
    pub backoff_factor: f64,
    /// Good steps in a row before growing.
    pub growth_interval: i64,
}

impl Default for ScalerConfig {
    /// `torch.amp.GradScaler()`'s: 2^16, x2 every 2000 good steps, x0.5 on overflow.
    fn default() -> ScalerConfig {
        ScalerConfig { init_scale: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000 }
    }
}

/// The scale and the count of good steps in a row (both on the device, as GradScaler keeps
/// them, so checking gradients costs one host read per step).
#[derive(Debug)]
pub struct LossScaler {
    config: ScalerConfig,
    /// Current scale, `[1]` f32.
    scale: Tensor,
    /// Good steps since the last change, `[1]` i32.
    growth_tracker: Tensor,
}

impl LossScaler {
    /// A fresh scaler on `device`.
    pub fn new(config: ScalerConfig, device: Device) -> LossScaler {
        LossScaler {
            config,
            scale: Tensor::full([1], config.init_scale, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([1], (Kind::Int, device)),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ScalerConfig {
        &self.config
    }

    /// `loss * scale`, to back-propagate instead of `loss`.
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        loss * self.scale.to_kind(loss.kind()).view([])
    }

    /// Divide every defined gradient of `params` by the scale, in place; true when any of
    /// them holds an inf or NaN (GradScaler's `unscale_`, with its fp64 reciprocal).
    pub fn unscale(&self, params: &[Tensor]) -> bool {
        tch::no_grad(|| {
            let inv_scale = self.scale.to_kind(Kind::Double).reciprocal().to_kind(Kind::Float);
            let mut found_inf = Tensor::zeros([1], (Kind::Float, self.scale.device()));
            for p in params {
                let mut g = p.grad();
                if g.defined() {
                    g.internal_amp_non_finite_check_and_unscale(&mut found_inf, &inv_scale);
                }
            }
            found_inf.double_value(&[0]) != 0.0
        })
    }

    /// After a step: back off when `found_inf`, else count a good step and grow the scale
    /// every `growth_interval` of them (GradScaler's `update`).
    pub fn update(&mut self, found_inf: bool) {
        let c = self.config;
        let found = Tensor::full([1], if found_inf { 1.0 } else { 0.0 }, (Kind::Float, self.scale.device()));
        tch::no_grad(|| {
            let _ =
                self.scale.internal_amp_update_scale_(&self.growth_tracker, &found, c.growth_factor, c.backoff_factor, c.growth_interval);
        });
    }

    /// The current scale.
    pub fn scale_value(&self) -> f64 {
        self.scale.double_value(&[0])
    }

    /// Good steps in a row since the scale last changed.
    pub fn growth_tracker(&self) -> i64 {
        self.growth_tracker.int64_value(&[0])
    }

    /// The state to save: `(scale, growth_tracker)`.
    pub fn state(&self) -> (&Tensor, &Tensor) {
        (&self.scale, &self.growth_tracker)
    }

    /// Restore a saved state (same shapes and types as [`LossScaler::state`]'s).
    pub fn restore(&mut self, scale: &Tensor, growth_tracker: &Tensor) {
        tch::no_grad(|| {
            self.scale.copy_(scale);
            self.growth_tracker.copy_(growth_tracker);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_with_grad(values: &[f32]) -> Tensor {
        let p = Tensor::from_slice(&vec![1.0f32; values.len()]).set_requires_grad(true);
        (&p * Tensor::from_slice(values)).sum(Kind::Float).backward();
        p
    }

    fn grad(p: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(p.grad()).unwrap()
    }

    #[test]
    fn scales_the_loss_and_unscales_the_gradients() {
        let s = LossScaler::new(ScalerConfig { init_scale: 8.0, ..Default::default() }, Device::Cpu);
        let loss = Tensor::from_slice(&[1.5f32]).view([]);
        assert_eq!(s.scale(&loss).double_value(&[]), 12.0);
        let p = param_with_grad(&[8.0, -4.0, 0.5]);
        assert!(!s.unscale(&[p.shallow_clone()]));
        assert_eq!(grad(&p), vec![1.0, -0.5, 0.0625]);
    }

    #[test]
    fn grows_after_the_interval_of_good_steps_and_backs_off_on_overflow() {
        let mut s = LossScaler::new(ScalerConfig { init_scale: 4.0, growth_interval: 3, ..Default::default() }, Device::Cpu);
        for want_tracker in [1, 2] {
            s.update(false);
            assert_eq!((s.scale_value(), s.growth_tracker()), (4.0, want_tracker));
        }
        s.update(false);
        assert_eq!((s.scale_value(), s.growth_tracker()), (8.0, 0));
        s.update(false);
        s.update(true);
        assert_eq!((s.scale_value(), s.growth_tracker()), (4.0, 0));
        s.update(true);
        assert_eq!((s.scale_value(), s.growth_tracker()), (2.0, 0));
    }

    #[test]
    fn an_inf_or_nan_in_any_gradient_is_found() {
        let s = LossScaler::new(ScalerConfig::default(), Device::Cpu);
        for bad in [f32::INFINITY, f32::NAN] {
            let good = param_with_grad(&[1.0, 2.0]);
            let overflowed = param_with_grad(&[3.0, bad]);
            assert!(s.unscale(&[good.shallow_clone(), overflowed.shallow_clone()]), "{bad}");
        }
        // Parameters without a gradient are skipped.
        let none = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        assert!(!s.unscale(&[none]));
    }

    #[test]
    fn state_round_trips() {
        let mut a = LossScaler::new(ScalerConfig { growth_interval: 5, ..Default::default() }, Device::Cpu);
        a.update(true);
        a.update(false);
        let mut b = LossScaler::new(ScalerConfig::default(), Device::Cpu);
        let (scale, tracker) = a.state();
        b.restore(scale, tracker);
        assert_eq!((b.scale_value(), b.growth_tracker()), (32768.0, 1));
    }
}
