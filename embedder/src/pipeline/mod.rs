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
//! Committing: the tables are published by rename, then `errors.jsonl`, then the manifest.
//! An earlier set's manifest in the folder is removed before the first rename, so a
//! crash between the renames leaves a folder that is no set at all (and a rerun that
//! finishes it), never a manifest over files of two different jobs.
//!
//! Determinism: chunks and batches are aligned to multiples of their size in the
//! corpus's own row numbering, whatever the slice, so a resumed run and the slices of
//! a sharded run compute exactly the batches of an uninterrupted, unsharded run.

mod captions;
mod errors;
mod failpoint;
mod images;
mod lock;
mod provenance;
mod slice;
mod vectors;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use swan_store::{Corpus, DType, Manifest, Table};

pub use errors::{ItemError, ItemKind};
pub(crate) use images::fit;
pub use images::{load_input, load_input_bytes, PIXELS};
pub use lock::{DirLock, LOCK_FILE};
pub use provenance::{corpus_digest, corpus_ref, producer, ResumeRecord, RESUME_FILE};
pub use slice::slice;
pub use vectors::{save_vectors, Vectors};

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
    /// Rows per durable chunk: a multiple of the batch size (caption chunks are rounded
    /// up to whole padding shards).
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
    /// Discard unfinished work in the output folder instead of resuming it.
    pub restart: bool,
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
    /// The manifest written last, which makes the folder a set.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
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
    /// Progress sink.
    pub progress: &'a dyn Progress,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The most items per forward pass: the image batch buffers take 192 KiB per item.
pub const MAX_BATCH: usize = 4096;
/// The most rows per durable chunk (a chunk is held in memory: 2 KiB per row).
pub const MAX_CHUNK_ROWS: usize = 1 << 20;
/// The most decoded batches that may wait for the device.
pub const MAX_QUEUE: usize = 64;
/// The most host memory the image batch buffers may take together.
pub const MAX_BUFFER_BYTES: usize = 8 << 30;

/// Round `rows` up to a multiple of `unit` (both checked to be small by [`EmbedOptions::check`]).
fn round_up(rows: usize, unit: usize) -> usize {
    rows.max(1).div_ceil(unit.max(1)) * unit.max(1)
}

impl EmbedOptions {
    /// The chunk size used when none is given: 1024 rows rounded up to a multiple of `batch_size`.
    pub fn default_chunk_rows(batch_size: usize) -> usize {
        round_up(1024, batch_size.clamp(1, MAX_BATCH))
    }

    /// Check every setting before anything is allocated or computed: sizes a user gives
    /// reach tensor allocations, so each has a bound and an error that names the flag.
    pub fn check(&self) -> crate::Result<()> {
        let bad = |msg: String| Err(crate::EmbedError::Input(msg));
        if !matches!(self.dtype, DType::F32 | DType::F16) {
            return bad(format!("--dtype must be f32 or f16, not {}", self.dtype));
        }
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            return bad(format!("--batch-size must be between 1 and {MAX_BATCH}, got {}", self.batch_size));
        }
        if !(1..=MAX_CHUNK_ROWS).contains(&self.chunk_rows) {
            return bad(format!("--chunk-rows must be between 1 and {MAX_CHUNK_ROWS}, got {}", self.chunk_rows));
        }
        if self.chunk_rows % self.batch_size != 0 {
            let (down, up) = (self.chunk_rows / self.batch_size * self.batch_size, round_up(self.chunk_rows, self.batch_size));
            let nearest = if down == 0 { format!("{up}") } else { format!("{down} or {up}") };
            return bad(format!("--chunk-rows {} is not a multiple of --batch-size {} (try {nearest})", self.chunk_rows, self.batch_size));
        }
        if let TextPadding::Shard(n) = self.padding {
            if n > MAX_CHUNK_ROWS {
                return bad(format!("--text-padding shard:{n}: a shard may hold at most {MAX_CHUNK_ROWS} captions"));
            }
        }
        crate::runtime::check_threads("--workers", self.workers.min(i64::MAX as usize) as i64)
            .map_err(|e| crate::EmbedError::Input(e.to_string()))?;
        if self.queue_depth > MAX_QUEUE {
            return bad(format!("--queue must be at most {MAX_QUEUE}, got {}", self.queue_depth));
        }
        let buffers = (self.queue_depth + 2) * self.batch_size * PIXELS;
        if self.images && buffers > MAX_BUFFER_BYTES {
            return bad(format!(
                "--batch-size {} with --queue {} needs {} MiB of image buffers (at most {} MiB): lower one of them",
                self.batch_size,
                self.queue_depth,
                buffers >> 20,
                MAX_BUFFER_BYTES >> 20
            ));
        }
        Ok(())
    }
}

impl EmbedJob<'_> {
    /// Rows per chunk for images.
    pub fn image_chunk_rows(&self) -> usize {
        self.options.chunk_rows
    }

    /// Rows per chunk for captions (a multiple of the batch and of the padding shard).
    pub fn caption_chunk_rows(&self) -> usize {
        let shard = match self.options.padding {
            TextPadding::Shard(n) => n,
            TextPadding::Alone => 1,
        };
        let batch = self.options.batch_size.max(1);
        round_up(self.options.chunk_rows, batch / gcd(batch, shard) * shard)
    }

    /// Run the job: lock the folder, check that unfinished work in it was made with the
    /// same inputs (see [`ResumeRecord`]), embed, then commit the set (tables,
    /// `errors.jsonl`, and the manifest last).
    pub fn run(&self) -> crate::Result<EmbedReport> {
        self.options.check()?;
        let start = std::time::Instant::now();
        let dir = &self.options.out_dir;
        std::fs::create_dir_all(dir).map_err(|source| crate::EmbedError::Io { path: dir.clone(), source })?;
        let _lock = DirLock::acquire(dir)?;
        let record = ResumeRecord::of(self);
        record.claim(dir, self.options.restart)?;
        let key = record.key();

        let mut report = EmbedReport::default();
        let (index, count) = self.options.shard;
        let image_rows = slice(self.corpus.images.len(), index, count, self.image_chunk_rows());
        let caption_rows = slice(self.corpus.captions.len(), index, count, self.caption_chunk_rows());
        let mut log = errors::ErrorLog::open(dir)?;
        let mut image_writer = None;
        if self.options.images {
            let (writer, table) = images::run(self, &key, image_rows, &mut log, &mut report.times)?;
            image_writer = Some(writer);
            report.images = Some(table);
        }
        let mut caption_writer = None;
        if self.options.captions {
            let vocab = self.vocab.ok_or_else(|| crate::EmbedError::Input("a vocabulary is needed to embed captions".into()))?;
            let (writer, table) = captions::run(self, vocab, &key, caption_rows, &mut log, &mut report.times)?;
            caption_writer = Some(writer);
            report.captions = Some(table);
        }

        // Commit. From here on the old set (if any) is gone: no manifest until the new one.
        let t = std::time::Instant::now();
        let old_manifest = dir.join(swan_store::MANIFEST_FILE);
        match std::fs::remove_file(&old_manifest) {
            Ok(()) => swan_store::fsutil::sync_parent(&old_manifest)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(crate::EmbedError::Io { path: old_manifest, source }),
        }
        if let Some(w) = image_writer {
            w.finish()?;
            failpoint::hit("after-images-rename");
        }
        if let Some(w) = caption_writer {
            w.finish()?;
            failpoint::hit("after-captions-rename");
        }
        report.errors = log.finish()?;
        let manifest = self.manifest(&record, &report);
        manifest.save(dir)?;
        let resume = dir.join(RESUME_FILE);
        std::fs::remove_file(&resume).map_err(|source| crate::EmbedError::Io { path: resume, source })?;
        report.times.write += secs(t.elapsed());
        report.manifest = Some(manifest);
        report.times.wall = secs(start.elapsed());
        Ok(report)
    }

    /// The manifest of the committed set.
    fn manifest(&self, record: &ResumeRecord, report: &EmbedReport) -> Manifest {
        let mut manifest = Manifest::new(record.producer.clone(), record.corpus.clone(), true);
        let dtype = self.options.dtype;
        let table = |file: &str, t: &TableReport, kind: ItemKind| Table {
            items: vec![t.items],
            invalid: report.errors.iter().filter(|e| e.kind == kind && e.invalid).map(|e| e.row).collect(),
            ..Table::identity(file, dtype, t.rows, swan_store::EMBED_DIM)
        };
        manifest.images = report.images.as_ref().map(|t| table("images.npy", t, ItemKind::Image));
        manifest.captions = report.captions.as_ref().map(|t| table("captions.npy", t, ItemKind::Caption));
        manifest
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
