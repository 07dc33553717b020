//! Turning `ModelArgs` into a ready `Encoder`.

use anyhow::Context;
use swan_embedder::model::Swan;
use swan_embedder::{runtime, Encoder, EncoderConfig, Precision};

use crate::cli::ModelArgs;

/// A loaded model and what to record about it.
pub struct LoadedModel {
    pub encoder: Encoder,
    /// SHA-256 of the checkpoint, `None` for hashinit weights.
    pub checkpoint_sha256: Option<String>,
}

/// The configuration the arguments ask for, checked (device exists, precision fits it).
pub fn config(args: &ModelArgs) -> anyhow::Result<EncoderConfig> {
    if let Some(n) = args.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        swan_embedder::tch::set_num_threads(n);
    }
    let device = match &args.device {
        Some(d) => runtime::parse_device(d)?,
        None => swan_embedder::tch::Device::cuda_if_available(),
    };
    let precision = match &args.precision {
        Some(p) => p.parse::<Precision>().map_err(anyhow::Error::msg)?,
        None => Precision::default_for(device),
    };
    Ok(EncoderConfig { device, precision, channels_last: args.channels_last })
}

/// Load the checkpoint (or, with `hashinit_seed`, hashinit weights when none is given).
pub fn load(args: &ModelArgs, hashinit_seed: Option<u64>) -> anyhow::Result<LoadedModel> {
    let cfg = config(args)?;
    // Before any CUDA work: fp32 must switch TF32 off first.
    cfg.precision.prepare(cfg.device).map_err(anyhow::Error::msg)?;
    let (swan, checkpoint_sha256) = match (&args.checkpoint, hashinit_seed) {
        (Some(path), _) => {
            let (swan, info) = Swan::load(path, cfg.device).with_context(|| format!("loading checkpoint {}", path.display()))?;
            (swan, Some(info.sha256))
        }
        (None, Some(seed)) => (Swan::hashinit(seed, cfg.device), None),
        (None, None) => anyhow::bail!("--checkpoint is required (make a demo one with `swan checkpoint hashinit --out FILE`)"),
    };
    Ok(LoadedModel { encoder: Encoder::new(swan, cfg)?, checkpoint_sha256 })
}
