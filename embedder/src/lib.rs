//! The SWAN model on libtorch (crate `tch`). The only swan crate that links libtorch.
//!
//! - [`runtime`]: makes CUDA visible at start-up and reports what libtorch offers.
//! - [`model`]: SWAN itself, with checkpoints loaded by reference key names.
//! - [`hashinit`]: swan-hashinit v1 weights and inputs, for parity tests and demos.
//! - [`image`]: decoding and Pillow-exact preprocessing.
//! - [`pipeline`]: whole corpora to embedding files, resumably (`swan embed`).
//! - [`autocast`]: autocast regions (`torch.autocast(device, dtype)`) for mixed-precision training.
//! - [`train`]: training (`swan train`): loss, optimizer, data, resumable runs.
//! - [`text`]: the caption tokenizer (NLTK 3.9.4 `word_tokenize` behaviour) and vocabularies.
//! - [`Encoder`]: batches of images and captions to normalised vectors, with the
//!   [`ComputePrecision`], device and [`TextPadding`] choices applied; it takes files, byte
//!   buffers or strings and returns plain `Vec<f32>` rows, so callers never handle tensors.
//!
//! ```
//! use swan_embedder::model::Swan;
//! let swan = Swan::hashinit(1, tch::Device::Cpu);
//! let ids = tch::Tensor::from_slice(&[5i64, 17, 2]).view([1, 3]);
//! let emb = swan.encode_texts(&ids, &[3]).unwrap();
//! assert_eq!(emb.size(), [1, 512]);
//! ```

#![deny(missing_docs)]

pub mod autocast;
pub mod bench;
mod encoder;
mod error;
pub mod hashinit;
pub mod image;
pub mod model;
mod padding;
pub mod pipeline;
mod precision;
pub mod runtime;
pub mod text;
pub mod train;

pub use encoder::{Encoder, EncoderConfig, IMAGE_FLOATS};
pub use error::{EmbedError, Result};
pub use padding::TextPadding;
pub use precision::ComputePrecision;
/// Values per embedding (both branches).
pub use swan_store::EMBED_DIM;
