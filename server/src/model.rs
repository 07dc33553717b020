//! The SWAN encoder behind the batcher: captions padded `alone` (each to its own length,
//! so a query's embedding never depends on what it was batched with, and equals what
//! `swan search --text` computes), images as `swan embed` resizes them.

use std::path::PathBuf;

use swan_embedder::{Encoder, EncoderConfig, TextPadding, EMBED_DIM};

use crate::batch::Backend;

/// Where the model weights come from.
pub(crate) struct ModelSpec {
    pub checkpoint: PathBuf,
    pub config: EncoderConfig,
    pub max_batch: usize,
}

pub(crate) struct ModelBackend {
    encoder: Encoder,
    max_batch: usize,
}

impl ModelBackend {
    /// Load the checkpoint; also returns its SHA-256.
    pub fn load(spec: ModelSpec) -> Result<(ModelBackend, Option<String>), String> {
        let encoder =
            Encoder::load(&spec.checkpoint, spec.config).map_err(|e| format!("loading checkpoint {}: {e}", spec.checkpoint.display()))?;
        let sha = encoder.checkpoint_sha256().map(str::to_owned);
        Ok((ModelBackend { encoder, max_batch: spec.max_batch.max(1) }, sha))
    }
}

impl Backend for ModelBackend {
    fn texts(&mut self, ids: &[Vec<i64>]) -> Result<Vec<f32>, String> {
        self.encoder.encode_captions(ids, TextPadding::Alone, self.max_batch).map_err(|e| e.to_string())
    }

    fn images(&mut self, pixels: &[u8], _n: usize) -> Result<Vec<f32>, String> {
        self.encoder.encode_pixels(pixels).map_err(|e| e.to_string())
    }

    fn dim(&self) -> usize {
        EMBED_DIM
    }
}
