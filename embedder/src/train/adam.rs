//! Adam exactly as `torch.optim.Adam` computes it on the CPU (its single-tensor path,
//! no weight decay, no amsgrad), written out so that its state can be saved and
//! restored for resumable training: tch's wrapper around the C++ optimizer exposes no
//! state, and the C++ `torch::optim::Adam` updates the first moment with `mul_/add_`
//! where Python uses `lerp_`.

use tch::Tensor;

/// Adam's hyper-parameters (the reference's: betas 0.9/0.999, eps 1e-8, no weight decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
}

impl AdamConfig {
    /// The reference's settings with learning rate `lr`.
    pub fn with_lr(lr: f64) -> AdamConfig {
        AdamConfig { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

/// Per-parameter state: step count and both moments, in parameter order.
#[derive(Debug)]
pub struct Adam {
    /// Hyper-parameters; `lr` changes with the schedule.
    pub config: AdamConfig,
    /// Steps taken per parameter (a parameter without a gradient is skipped, as in torch).
    pub steps: Vec<i64>,
    /// First moments.
    pub exp_avg: Vec<Tensor>,
    /// Second moments.
    pub exp_avg_sq: Vec<Tensor>,
}

impl Adam {
    /// Fresh state (zero moments) for `params`.
    pub fn new(params: &[Tensor], config: AdamConfig) -> Adam {
        let zeros = || params.iter().map(|p| p.zeros_like().detach()).collect::<Vec<_>>();
        Adam { config, steps: vec![0; params.len()], exp_avg: zeros(), exp_avg_sq: zeros() }
    }

    /// One step over `params` with their current gradients.
    pub fn step(&mut self, params: &[Tensor]) {
        let c = self.config;
        tch::no_grad(|| {
            for (i, p) in params.iter().enumerate() {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                self.steps[i] += 1;
                let step = self.steps[i] as f64;
                let _ = self.exp_avg[i].lerp_(&grad, 1.0 - c.beta1);
                // addcmul_(grad, grad, value = 1 - beta2): value * grad * grad, in that order.
                let _ = self.exp_avg_sq[i].g_mul_scalar_(c.beta2);
                let _ = self.exp_avg_sq[i].g_add_(&((&grad * (1.0 - c.beta2)) * &grad));
                let bias_correction1 = 1.0 - c.beta1.powf(step);
                let bias_correction2 = 1.0 - c.beta2.powf(step);
                let step_size = c.lr / bias_correction1;
                let denom = self.exp_avg_sq[i].sqrt() / bias_correction2.sqrt() + c.eps;
                // addcdiv_(exp_avg, denom, value = -step_size).
                let mut p = p.shallow_clone();
                let _ = p.g_add_(&((&self.exp_avg[i] / denom) * (-step_size)));
            }
        });
    }
}

/// `torch.nn.utils.clip_grad_norm_`: scale every gradient by `max_norm / (total + 1e-6)`
/// when that is below 1; returns the total L2 norm before clipping.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> f64 {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let total = total.double_value(&[]);
        let coef = (max_norm / (total + 1e-6)).min(1.0);
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.g_mul_scalar_(coef);
        }
        total
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_steps_match_torch_adam() {
        // torch.optim.Adam([p], lr=0.1) with p = [1, -2, 3], grads [0.5, -1, 0] then [0.1, 0.2, 0]
        // gives these values after each step (computed with the .venv's torch 2.11).
        let p = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).set_requires_grad(true);
        let mut adam = Adam::new(&[p.shallow_clone()], AdamConfig::with_lr(0.1));
        for (g, want) in [([0.5f32, -1.0, 0.0], [0.9f32, -1.9, 3.0]), ([0.1, 0.2, 0.0], [0.819_696, -1.848_897_3, 3.0])] {
            let mut grad = p.grad();
            if !grad.defined() {
                (&p * Tensor::from_slice(&g)).sum(tch::Kind::Float).backward();
            } else {
                let _ = grad.copy_(&Tensor::from_slice(&g));
            }
            adam.step(&[p.shallow_clone()]);
            let got = Vec::<f32>::try_from(p.detach()).unwrap();
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn clipping_scales_only_above_the_threshold() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        (&p * &p.detach()).sum(tch::Kind::Float).backward(); // grad = [3, 4], norm 5
        assert!((clip_grad_norm(&[p.shallow_clone()], 10.0) - 5.0).abs() < 1e-6);
        assert_eq!(Vec::<f32>::try_from(p.grad()).unwrap(), vec![3.0, 4.0]);
        clip_grad_norm(&[p.shallow_clone()], 1.0);
        let g = Vec::<f32>::try_from(p.grad()).unwrap();
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6, "{g:?}");
    }
}
