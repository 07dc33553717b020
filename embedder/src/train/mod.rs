//! Training SWAN as the reference does (`swan train`).
//!
//! - [`loss`]: the VSE hinge loss, summed or hardest negative.
//! - [`adam`]: Adam as `torch.optim.Adam` computes it, with saveable state; gradient clipping.
//! - [`step`]: one step: training-mode forward, loss, backward, Adam.

pub mod adam;
pub mod loss;
pub mod step;

pub use adam::{Adam, AdamConfig};
pub use step::{StepConfig, StepLoss, Trainer};
