//! `swan embed`: a whole corpus (or a 1/N slice of it) to image and caption embedding
//! files, resumably.
//!
//! Images flow through a pipeline that keeps the device busy: a pool of decode workers
//! fills 8-bit `256 x 256 x 3` batch buffers (pinned host memory on CUDA), a bounded
//! queue hands them to the forward pass, which copies bytes to the device (asynchronous
//! from pinned memory), normalises there, runs the model and copies 512-d rows back;
//! finished chunks go to a resumable [`NpyWriter`]. Decoding the next batches overlaps
//! the forward pass of the current one.
//!
//! Determinism: chunks and batches are aligned to multiples of their size in the
//! corpus's own row numbering, whatever the slice, so a resumed run and the slices of
//! a sharded run compute exactly the batches of an uninterrupted, unsharded run.

mod captions;
mod errors;
mod images;
mod slice;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use swan_store::{Corpus, DType};

pub use errors::ItemError;
pub use images::{load_input, PIXELS};
pub use slice::slice;

use crate::encoder::Encoder;
use crate::padding::TextPadding;
use crate::text::Vocab;

/// What to embed and how.
#[derive(Clone, Debug)]
pub struct EmbedOptions {
    /// Output folder (created).
    pub out_dir: PathBuf,
    /// Element type of the files.
    pub dtype: DType,
    /// Items per forward pass.
    pub batch_size: usize,
    /// Rows per durable chunk (rounded up to a multiple of the batch size, and of the
    /// padding shard for captions).
    pub chunk_rows: usize,
    /// Decode threads.
    pub workers: usize,
    /// Decoded batches that may wait for the device.
    pub queue_depth: usize,
    /// Caption padding.
    pub padding: TextPadding,
    /// `(index, count)`: embed slice `index` of `count`.
    pub shard: (usize, usize),
    /// Stop at the first unreadable item instead of recording it.
    pub strict: bool,
    /// Embed images.
    pub images: bool,
    /// Embed captions.
    pub captions: bool,
}

/// Reports progress; the CLI draws bars, tests and pipes use [`NoProgress`].
pub trait Progress: Sync {
    /// A stage starts: `total` items, `done` already done (resumed).
    fn begin(&self, stage: &'static str, total: u64, done: u64);
    /// `n` more items done.
    fn advance(&self, n: u64);
    /// The stage is over.
    fn end(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &'static str, _: u64, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Where the time went, in seconds. Decode time is summed over worker threads (CPU
/// seconds); `waiting_for_input` is how long the forward pass sat idle waiting for
/// decoded batches: when it is large, decoding is the bottleneck.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimes {
    /// CPU seconds decoding and resizing images (all workers).
    pub decode_cpu: f64,
    /// Forward-pass thread idle, waiting for decoded batches.
    pub waiting_for_input: f64,
    /// Issuing host-to-device copies (asynchronous from pinned memory, so mostly
    /// accounted in `forward` on CUDA).
    pub transfer: f64,
    /// Forward passes, including the copy back.
    pub forward: f64,
    /// Tokenising captions.
    pub tokenize: f64,
    /// Writing and syncing chunks.
    pub write: f64,
    /// Wall time of the whole job.
    pub wall: f64,
}

/// Counts for one table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableReport {
    /// Rows in this run's slice.
    pub rows: usize,
    /// Rows computed by this run (the rest were resumed).
    pub computed: usize,
    /// Rows already on disk from an interrupted run.
    pub resumed: usize,
    /// Rows whose item could not be read (zero vectors, listed in the manifest).
    pub invalid: usize,
    /// Corpus item range of the slice.
    pub items: [usize; 2],
    /// Seconds spent on this table.
    pub seconds: f64,
}

/// What a job did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EmbedReport {
    /// Images.
    pub images: Option<TableReport>,
    /// Captions.
    pub captions: Option<TableReport>,
    /// Items that could not be embedded (also in `errors.jsonl`).
    pub errors: Vec<ItemError>,
    /// Timings.
    pub times: StageTimes,
}

/// Everything a job needs.
pub struct EmbedJob<'a> {
    /// The corpus.
    pub corpus: &'a Corpus,
    /// The model, ready on its device.
    pub encoder: &'a Encoder,
    /// Vocabulary (required for captions).
    pub vocab: Option<&'a Vocab>,
    /// Options.
    pub options: EmbedOptions,
    /// Identity of the inputs (corpus, checkpoint, precision, ...): progress made under
    /// another identity is not reused.
    pub key: String,
    /// Progress sink.
    pub progress: &'a dyn Progress,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Round `rows` up to a multiple of `unit`.
fn round_up(rows: usize, unit: usize) -> usize {
    rows.max(1).div_ceil(unit.max(1)) * unit.max(1)
}

impl EmbedJob<'_> {
    /// Rows per chunk for images.
    pub fn image_chunk_rows(&self) -> usize {
        round_up(self.options.chunk_rows, self.options.batch_size)
    }

    /// Rows per chunk for captions (a multiple of the batch and of the padding shard).
    pub fn caption_chunk_rows(&self) -> usize {
        let shard = match self.options.padding {
            TextPadding::Shard(n) => n,
            TextPadding::Alone => 1,
        };
        let unit = self.options.batch_size.max(1) * shard / gcd(self.options.batch_size.max(1), shard);
        round_up(self.options.chunk_rows, unit)
    }

    /// Run the job: embed, then publish the files, `errors.jsonl` and nothing else
    /// (the caller writes the manifest last).
    pub fn run(&self) -> crate::Result<EmbedReport> {
        let start = std::time::Instant::now();
        std::fs::create_dir_all(&self.options.out_dir)
            .map_err(|source| crate::EmbedError::Io { path: self.options.out_dir.clone(), source })?;
        let mut report = EmbedReport::default();
        let (index, count) = self.options.shard;
        let image_rows = slice(self.corpus.images.len(), index, count, self.image_chunk_rows());
        let caption_rows = slice(self.corpus.captions.len(), index, count, self.caption_chunk_rows());
        let mut log = errors::ErrorLog::open(&self.options.out_dir)?;
        let mut image_writer = None;
        if self.options.images {
            let (writer, table) = images::run(self, image_rows, &mut log, &mut report.times)?;
            image_writer = Some(writer);
            report.images = Some(table);
        }
        if self.options.captions {
            let vocab = self.vocab.ok_or_else(|| crate::EmbedError::Input("a vocabulary is needed to embed captions".into()))?;
            report.captions = Some(captions::run(self, vocab, caption_rows, &mut log, &mut report.times)?);
        }
        // Publish images last among the tables, so that a crash while captions were
        // being embedded resumes without recomputing any image.
        if let Some(w) = image_writer {
            let t = std::time::Instant::now();
            w.finish()?;
            report.times.write += secs(t.elapsed());
        }
        report.errors = log.finish()?;
        report.times.wall = secs(start.elapsed());
        Ok(report)
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
