//! What a set's bytes depend on: the manifest's [`Producer`] and [`CorpusRef`], and the
//! resume record that keeps an interrupted job from being finished with other inputs.
//!
//! The record (`resume.json` in the output folder) is written before the first chunk and
//! removed once the set is committed. A rerun into a folder holding unfinished work for a
//! different record is refused with the list of differences (`--restart` discards the
//! work instead), so a changed vocabulary, checkpoint, corpus line order, precision, ...
//! can never produce a file half of one and half of the other.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use swan_store::{Corpus, CorpusRef, DType, Producer};

use super::EmbedJob;
use crate::encoder::Encoder;
use crate::error::{EmbedError, Result};
use crate::padding::TextPadding;
use crate::text::Vocab;

/// File name of the resume record inside an output folder.
pub const RESUME_FILE: &str = "resume.json";

/// Files an interrupted job leaves behind (besides the record itself).
pub(super) const UNFINISHED: [&str; 5] =
    ["images.npy.partial", "images.npy.progress", "captions.npy.partial", "captions.npy.progress", "errors.jsonl.partial"];

/// Everything that changes the bytes a job writes. Equal records give identical files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRecord {
    /// What computes the vectors.
    pub producer: Producer,
    /// Which corpus, contents included.
    pub corpus: CorpusRef,
    /// Element type of the files.
    pub dtype: DType,
    /// Rows per durable chunk of the image and caption tables.
    pub chunk_rows: [usize; 2],
    /// `I/N` slice of the corpus.
    pub shard: String,
    /// Which tables are embedded.
    pub tables: Vec<String>,
}

impl ResumeRecord {
    /// The record of `job`.
    pub fn of(job: &EmbedJob) -> ResumeRecord {
        let opts = &job.options;
        let tables = [(opts.images, "images"), (opts.captions, "captions")];
        let vocab = job.vocab.filter(|_| opts.captions);
        ResumeRecord {
            producer: producer(job.encoder, vocab, opts.captions.then_some(opts.padding), opts.images, opts.batch_size),
            corpus: corpus_ref(job.corpus, &opts.out_dir),
            dtype: opts.dtype,
            chunk_rows: [job.image_chunk_rows(), job.caption_chunk_rows()],
            shard: format!("{}/{}", opts.shard.0, opts.shard.1),
            tables: tables.iter().filter(|(on, _)| *on).map(|(_, name)| name.to_string()).collect(),
        }
    }

    /// The key given to the `.npy` writers: progress made under another key is not reused.
    pub fn key(&self) -> String {
        serde_json::to_string(self).expect("serialises")
    }

    /// Refuse to resume unfinished work in `dir` made under another record (unless
    /// `restart`, which discards it), then record `self` as the folder's job.
    pub fn claim(&self, dir: &Path, restart: bool) -> Result<()> {
        let path = dir.join(RESUME_FILE);
        let unfinished: Vec<PathBuf> = UNFINISHED.iter().map(|f| dir.join(f)).filter(|p| p.exists()).collect();
        if restart {
            for p in &unfinished {
                std::fs::remove_file(p).map_err(|source| EmbedError::Io { path: p.clone(), source })?;
            }
        } else if !unfinished.is_empty() {
            let earlier = match std::fs::read(&path) {
                Ok(bytes) => serde_json::from_slice::<ResumeRecord>(&bytes).ok(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(EmbedError::Io { path, source }),
            };
            let differences = match &earlier {
                Some(earlier) => swan_store::field_differences(earlier, self),
                None => vec![format!("{RESUME_FILE} is missing or unreadable, so the inputs of the unfinished work are unknown")],
            };
            if !differences.is_empty() {
                return Err(EmbedError::ResumeMismatch { dir: dir.to_owned(), differences });
            }
        }
        let mut text = serde_json::to_string_pretty(self).expect("serialises");
        text.push('\n');
        swan_store::fsutil::write_atomic(&path, text.as_bytes())?;
        Ok(())
    }
}

/// The producer of vectors computed by `encoder`, with `vocab` and `padding` when there
/// are captions, `images` when there are images, `batch_size` items per forward pass.
pub fn producer(encoder: &Encoder, vocab: Option<&Vocab>, padding: Option<TextPadding>, images: bool, batch_size: usize) -> Producer {
    let config = encoder.config();
    Producer {
        model: "swan".into(),
        checkpoint_sha256: encoder.checkpoint_sha256().map(str::to_owned),
        precision: config.precision.to_string(),
        text_padding: padding.map(|p| p.to_string()),
        swan_version: env!("CARGO_PKG_VERSION").into(),
        vocab_sha256: vocab.map(|v| sha256_hex(v.to_json().as_bytes())),
        channels_last: Some(config.channels_last),
        jpeg_decoder: images.then(|| crate::image::JPEG_DECODER.to_owned()),
        batch_size: Some(batch_size),
        // The default thread count comes from the machine (its cores, the process's CPU
        // affinity), so a rerun elsewhere or under another cpuset may differ silently.
        cpu_threads: (!config.device.is_cuda()).then(|| crate::runtime::cpu_threads().max(1) as usize),
    }
}

/// The reference to `corpus` of a manifest in `dir`, with a digest of its contents.
pub fn corpus_ref(corpus: &Corpus, dir: &Path) -> CorpusRef {
    CorpusRef {
        path: CorpusRef::path_for(&corpus.source, dir),
        layout: corpus.layout.name().into(),
        split: corpus.split.clone(),
        images: corpus.images.len(),
        captions: corpus.captions.len(),
        sha256: Some(corpus_digest(corpus)),
    }
}

/// SHA-256 over what the embeddings are computed from, in order: each image's path, each
/// caption's text and image. Length-prefixed fields, so no two corpora share a stream.
pub fn corpus_digest(corpus: &Corpus) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"images");
    for image in &corpus.images {
        field(image.path.as_os_str().as_encoded_bytes());
    }
    field(b"captions");
    for caption in &corpus.captions {
        field(caption.text.as_bytes());
        field(&(caption.image as u64).to_le_bytes());
    }
    hex(&h.finalize())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
