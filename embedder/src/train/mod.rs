//! Training SWAN as the reference does (`swan train`).
//!
//! - [`loss`]: the VSE hinge loss, summed or hardest negative.
//! - [`adam`]: Adam as `torch.optim.Adam` computes it, with saveable state; gradient clipping.
//! - [`scaler`]: dynamic loss scaling for fp16 (`torch.amp.GradScaler`).
//! - [`step`]: one step: training-mode forward, loss, backward, Adam.
//! - [`data`]: the training set over captions, seeded epoch order, collation.
//! - [`augment`]: the training-time image transform.
//! - [`glove`]: word vectors from a GloVe text file, with the reference's lookup rule.
//! - [`state`]: the resumable training state.
//! - [`plot`]: the PNG of loss and validation mR per epoch.
//! - [`run`]: a whole run: epochs, validation, checkpoints, metrics log, resumption.

pub mod adam;
pub mod augment;
pub mod data;
pub mod glove;
pub mod loss;
pub mod plot;
pub mod run;
pub mod scaler;
pub mod state;
pub mod step;

pub use adam::{Adam, AdamConfig};
pub use data::TrainSet;
pub use run::{run, Event, RunConfig, RunSummary, ValScore, ValSet, Validator};
pub use scaler::{LossScaler, ScalerConfig};
pub use step::{Applied, StepConfig, StepLoss, Trainer};
