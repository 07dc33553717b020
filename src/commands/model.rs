//! Turning `ModelArgs` into a ready `Encoder`.

use anyhow::Context;
use swan_embedder::{runtime, ComputePrecision, Encoder, EncoderConfig};

use crate::cli::ModelArgs;

/// The configuration the arguments ask for, checked (device exists, precision fits it).
pub fn config(args: &ModelArgs) -> anyhow::Result<EncoderConfig> {
    if let Some(n) = args.threads {
        runtime::set_threads(n)?;
    }
    let device = match &args.device {
        Some(d) => runtime::parse_device(d)?,
        None => runtime::default_device(),
    };
    let precision = match args.precision {
        Some(p) => p.into(),
        None => ComputePrecision::default_for(device),
    };
    Ok(EncoderConfig { device, precision, channels_last: args.channels_last })
}

/// Load the checkpoint (or, with `hashinit_seed`, hashinit weights when none is given).
pub fn load(args: &ModelArgs, hashinit_seed: Option<u64>) -> anyhow::Result<Encoder> {
    let cfg = config(args)?;
    match (&args.checkpoint, hashinit_seed) {
        (Some(path), _) => Encoder::load(path, cfg).with_context(|| format!("loading checkpoint {}", path.display())),
        (None, Some(seed)) => Ok(Encoder::hashinit(seed, cfg)?),
        (None, None) => anyhow::bail!("--checkpoint is required (make a demo one with `swan checkpoint hashinit --out FILE`)"),
    }
}
