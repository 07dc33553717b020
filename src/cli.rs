//! Command-line syntax. Doc comments are the help text. Nothing here leaves this crate:
//! commands turn these structs into the libraries' own typed options.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// swan: remote-sensing image-text retrieval with SWAN (embed, index, search, evaluate).
#[derive(Parser, Debug)]
#[command(name = "swan", version, about, long_about = None)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the libtorch in use: version, CUDA and cuDNN availability, devices, threads.
    Info {
        /// Also run a small matmul on this device (cpu, cuda, cuda:N) and compare it with the CPU.
        #[arg(long, value_parser = parse_device)]
        probe: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read a corpus and print its summary: images, captions, scenes, warnings.
    Corpus(CorpusArgs),
    /// Write the deterministic synthetic fixture corpus (precomp layout, JPEG and TIFF).
    Fixtures {
        /// Output folder (created; existing files are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Training images per scene.
        #[arg(long, default_value_t = 6)]
        train_per_scene: usize,
        /// Test images per scene.
        #[arg(long, default_value_t = 2)]
        test_per_scene: usize,
        /// Random seed; the same seed gives byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Inspect and convert embedding files (.npy).
    #[command(subcommand)]
    Npy(NpyCommand),
    /// Train SWAN on a corpus's training split as the reference does, validating every
    /// epoch; writes best.safetensors, last.safetensors, metrics.jsonl and a resumable
    /// train-state.safetensors into --out (rerun the same command to resume).
    Train(TrainArgs),
    /// Embed a whole corpus (or a 1/N slice) into images.npy, captions.npy and a
    /// manifest; resumable after a crash, bad images listed in errors.jsonl.
    Embed(EmbedArgs),
    /// Join the outputs of `swan embed --shard I/N` runs into one set.
    Merge {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Shard output folders (any order).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Retrieval metrics (R@1/5/10, medR, meanR, mR, scene recall) of an embedding set,
    /// or of a precomputed similarity matrix.
    Eval(EvalArgs),
    /// Search an embedding set by free text, image file, or row.
    Search(SearchArgs),
    /// Build HNSW indexes over embedding files.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Work with top-k lists (`swan search --queries ... --out`).
    #[command(subcommand)]
    Topk(TopkCommand),
    /// Serve an embedding set over HTTP: a JSON API (search by text, image or row; items;
    /// thumbnails) and a web page. Listens on 127.0.0.1 unless --addr says otherwise.
    Serve(ServeArgs),
    /// Write a synthetic archive (N x 512 unit vectors in scene-like clusters, plus
    /// queries) for benchmarks.
    Synth(SynthArgs),
    /// Embed image files and/or captions with a checkpoint; print the vectors or write
    /// them as .npy files with a manifest.
    Encode(EncodeArgs),
    /// Write a checkpoint: `hashinit` makes swan-hashinit v1 weights (for tests and demos;
    /// not a trained model).
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Build vocabularies and tokenize captions the way the reference does.
    #[command(subcommand)]
    Vocab(VocabCommand),
    /// Measure forward-pass throughput (images/s, captions/s) and precision deviation.
    Bench(BenchArgs),
}

/// Where and how the model runs; shared by every command that runs it.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Checkpoint (safetensors with reference key names; see scripts/convert_checkpoint.py).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// cpu, cuda or cuda:N (default: cuda when available).
    #[arg(long, value_parser = parse_device)]
    pub device: Option<String>,
    /// Numerics of the forward pass (default: fp32 on the CPU, tf32 on CUDA).
    #[arg(long, value_enum)]
    pub precision: Option<ModelPrecision>,
    /// Run convolutions channels-last (NHWC).
    #[arg(long)]
    pub channels_last: bool,
    /// CPU threads for libtorch (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
}

#[derive(Subcommand, Debug)]
pub enum CheckpointCommand {
    /// Write swan-hashinit v1 weights (every reference key) as safetensors.
    Hashinit {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Global seed of the hash (the reference outputs use 1).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Images per forward pass (0 skips images).
    #[arg(long, default_value_t = 4)]
    pub image_batch: usize,
    /// Captions per forward pass (0 skips captions).
    #[arg(long, default_value_t = 128)]
    pub text_batch: usize,
    /// Timed forward passes.
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Untimed forward passes first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Instead of forward passes: time whole training steps (forward with Dropout, VSE
    /// hinge loss, backward, Adam) on a synthetic batch of --train-batch pairs.
    #[arg(long)]
    pub train: bool,
    /// Pairs per training step with --train.
    #[arg(long, default_value_t = 32)]
    pub train_batch: usize,
    /// Instead of the model: time decode + resize of this corpus's images (first
    /// --decode-limit), on 1 worker and on --workers.
    #[arg(long)]
    pub decode: Option<PathBuf>,
    /// Images to decode with --decode.
    #[arg(long, default_value_t = 2000)]
    pub decode_limit: usize,
    /// Worker threads for --decode (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write the probe embeddings (8 images, 64 captions) to this .npy.
    #[arg(long)]
    pub probe_out: Option<PathBuf>,
    /// Compare the probe embeddings with this .npy (e.g. written by an fp32 run): min cosine, max abs.
    #[arg(long)]
    pub probe_ref: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct CorpusArgs {
    /// A precomp folder, a JSON Lines manifest, or a folder of images.
    pub path: PathBuf,
    /// Split of a precomp corpus (train, test, train_verify, val_verify).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Image folder of a precomp corpus (default: PATH/images).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Layout, instead of detecting it.
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
    /// List every warning, not only their counts.
    #[arg(long)]
    pub warnings: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum NpyCommand {
    /// Shape, dtype and row-norm statistics of a .npy file.
    Info {
        /// The file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Copy an embedding file to another dtype (f32 <-> f16), optionally L2-normalising rows.
    /// Resumable: an interrupted conversion continues where it stopped when run again.
    Convert {
        /// Input .npy (f16, f32 or f64 rows).
        input: PathBuf,
        /// Output .npy; appears only when complete.
        output: PathBuf,
        /// Output element type.
        #[arg(long, value_enum, default_value_t = FileDType::F16)]
        dtype: FileDType,
        /// Divide each row by its L2 norm (plus 1e-8, as SWAN does).
        #[arg(long)]
        normalize: bool,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum VocabCommand {
    /// Build a vocabulary from a corpus's captions with the reference rules: NLTK
    /// tokenization, English stopwords dropped, words seen at least --min-count times,
    /// ids in order of first appearance, `<unk>` last.
    Build {
        /// Corpus (precomp folder or JSON Lines manifest).
        corpus: PathBuf,
        /// Precomp splits to read, in order (the reference vocabularies read train then test).
        #[arg(long, value_delimiter = ',', default_value = "train,test")]
        splits: Vec<String>,
        /// Minimum count for a word to get an id.
        #[arg(long, default_value_t = 5)]
        min_count: usize,
        /// Output vocabulary JSON (the reference format).
        #[arg(long)]
        out: PathBuf,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print, for each caption line of FILE, a JSON object with its line number, tokens and ids.
    Tokenize {
        /// Vocabulary JSON.
        #[arg(long)]
        vocab: PathBuf,
        /// Caption file, one caption per line ("-" for standard input).
        file: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Vocabulary JSON (needed for captions).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Image file to embed (JPEG, PNG or TIFF); repeatable.
    #[arg(long = "image")]
    pub images: Vec<PathBuf>,
    /// Caption to embed; repeatable.
    #[arg(long = "caption")]
    pub captions: Vec<String>,
    /// File of captions to embed, one per line.
    #[arg(long)]
    pub captions_file: Option<PathBuf>,
    /// Text padding: alone (each caption on its own, as for queries) or shard:N.
    #[arg(long, value_parser = parse_padding, default_value = "alone")]
    pub text_padding: swan_embedder::TextPadding,
    /// Items per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Write images.npy / captions.npy and manifest.json into this folder instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Element type of written files.
    #[arg(long, value_enum, default_value_t = FileDType::F32)]
    pub dtype: FileDType,
    /// Print JSON lines (one per vector) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Corpus: precomp folder, JSON Lines manifest or image folder.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Split of a precomp corpus.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Image folder of a precomp corpus (default: CORPUS/images).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Vocabulary JSON (needed when the corpus has captions).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Element type of the files.
    #[arg(long, value_enum, default_value_t = FileDType::F32)]
    pub dtype: FileDType,
    /// Items per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Rows per durable chunk (the unit of resumption and of --shard slices), a multiple of
    /// --batch-size [default: 1024 rounded up to a multiple of --batch-size]. Caption chunks
    /// are further rounded up to whole --text-padding shards.
    #[arg(long)]
    pub chunk_rows: Option<usize>,
    /// Decode threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Decoded batches allowed to wait for the device.
    #[arg(long, default_value_t = 4)]
    pub queue: usize,
    /// Caption padding: shard:N (shard:128 is the reference evaluation's) or alone.
    #[arg(long, value_parser = parse_padding, default_value = "shard:128")]
    pub text_padding: swan_embedder::TextPadding,
    /// Embed slice I of N (0-based), e.g. 0/4; join the outputs with `swan merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Stop at the first unreadable image or caption instead of listing it.
    #[arg(long)]
    pub strict: bool,
    /// Discard unfinished work in --out instead of resuming it (needed when it was made
    /// with other inputs or settings).
    #[arg(long)]
    pub restart: bool,
    /// Skip images.
    #[arg(long)]
    pub no_images: bool,
    /// Skip captions.
    #[arg(long)]
    pub no_captions: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Embedding folder written by `swan embed` (images and captions).
    #[arg(long, conflicts_with = "sims")]
    pub embeddings: Option<PathBuf>,
    /// Corpus of the embeddings, if not where the manifest says.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Image folder of a precomp corpus (default: CORPUS/images).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Precomputed similarity matrix (.npy, images x captions, f32 or f64).
    #[arg(long, requires = "filenames")]
    pub sims: Option<PathBuf>,
    /// With --sims: one image file name per caption line (like test_filename.txt).
    #[arg(long)]
    pub filenames: Option<PathBuf>,
    /// Also answer through this index (built over the set's images or captions), or a
    /// shard set (`swan index shards`): ANN recall@k against exact search, queries/s and latency.
    #[arg(long, requires = "embeddings")]
    pub index: Option<PathBuf>,
    /// Metrics from top-k lists (`swan search --queries ... --out`, merged) instead of the
    /// similarity matrix: one list per direction (captions against images: text->image;
    /// images against captions: image->text); give both for mR.
    #[arg(long, requires = "embeddings", conflicts_with = "index", num_args = 1..=2)]
    pub topk: Vec<PathBuf>,
    /// With --topk: exact lists of the same queries, to measure the --topk (ANN) lists'
    /// recall@k against.
    #[arg(long, requires = "topk", num_args = 1..=2)]
    pub exact_topk: Vec<PathBuf>,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Cut-offs r for scene recall SR@r.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    pub scene_recall: Vec<usize>,
    /// How --embeddings are scored: the whole similarity matrix in memory, blocks of
    /// images (memory per thread: 64 x captions), or the matrix up to 2^25 similarities
    /// and blocks beyond. Both give the same metrics.
    #[arg(long, value_enum, default_value_t = ExactPathArg::Auto)]
    pub exact_path: ExactPathArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Embedding folder written by `swan embed`.
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Corpus of the embeddings, if not where the manifest says (for names and captions).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Free-text query (encoded alone with the text branch; needs --checkpoint and --vocab).
    #[arg(long, group = "query")]
    pub text: Option<String>,
    /// Image file query (needs --checkpoint).
    #[arg(long, group = "query")]
    pub image: Option<PathBuf>,
    /// Query by a row of the set: `images:N` or `captions:N`.
    #[arg(long, group = "query", value_parser = parse_row)]
    pub row: Option<RowArg>,
    /// Many queries at once, answered into top-k lists (needs --out): `captions` or
    /// `images` (every row of that table of the set), a `.npy` of query vectors, or a text
    /// file of captions, one a line (encoded with --checkpoint and --vocab).
    #[arg(long, group = "query", requires = "out", conflicts_with = "scene")]
    pub queries: Option<String>,
    /// What to search (default: images for text queries, captions otherwise).
    #[arg(long, visible_alias = "table", value_enum)]
    pub target: Option<TableArg>,
    /// With --queries: search only row slice I of N (0-based; contiguous, rows*I/N to
    /// rows*(I+1)/N); the lists hold global row ids (join them with `swan topk merge`).
    #[arg(long, value_parser = parse_slice, requires = "queries", conflicts_with = "index")]
    pub rows: Option<swan_store::RowSlice>,
    /// With --queries: the folder to write the top-k lists to (ids.npy, scores.npy, topk.json).
    #[arg(long, requires = "queries")]
    pub out: Option<PathBuf>,
    /// Results per query.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Keep only results of this scene label.
    #[arg(long)]
    pub scene: Option<String>,
    /// Search through this index (built with `swan index build` over the target table),
    /// or a shard set (`swan index shards`), instead of exactly.
    #[arg(long)]
    pub index: Option<PathBuf>,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Vocabulary JSON, for --text.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Build an HNSW index over an embedding set's images (or captions), or a bare .npy.
    Build(IndexBuildArgs),
    /// Describe the indexes of the row slices of one table (`index build --rows I/N`) as
    /// one shard set, which `search --index` and `eval --index` accept; checks that they
    /// were built over the same file and cover its rows exactly once.
    Shards {
        /// The shard-set file to write (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Index folders, one per slice (any order).
        #[arg(required = true)]
        indexes: Vec<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
}

/// `swan index build`: its options, by name.
#[derive(clap::Args, Debug)]
pub struct IndexBuildArgs {
    /// Embedding folder written by `swan embed` (invalid rows are skipped).
    #[arg(long, conflicts_with = "npy")]
    pub embeddings: Option<PathBuf>,
    /// Which table of --embeddings.
    #[arg(long, value_enum, default_value_t = TableArg::Images)]
    pub table: TableArg,
    /// A bare .npy of rows (f32 or f16).
    #[arg(long)]
    pub npy: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Links per node (2M on layer 0).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// Beam width while building.
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// Vectors the graph walk reads; results are always re-ranked with the
    /// full-precision rows.
    #[arg(long, value_enum, default_value_t = WalkPrecision::Int8)]
    pub precision: WalkPrecision,
    /// Split the rows into N graphs searched together (for archives larger than one
    /// graph should hold).
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// Index only row slice I of N (0-based; rows*I/N to rows*(I+1)/N), so N machines
    /// build N indexes of one table; join them with `swan index shards`.
    #[arg(long, value_parser = parse_slice)]
    pub rows: Option<swan_store::RowSlice>,
    /// Build threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Measure recall@10 against exact search on a sample and record the smallest
    /// search beam (ef) that reaches this recall; searches use it unless given --ef.
    /// Fails, writing nothing, when --max-ef does not reach it. Without this option
    /// every build measures toward 0.95 anyway and records the beam that reaches it, or
    /// --max-ef with a warning where none does (see --no-tune).
    #[arg(long, conflicts_with = "no_tune")]
    pub target_recall: Option<f64>,
    /// Measure nothing: searches use ef 64 unless given --ef (the build is a little
    /// faster; recall is whatever ef 64 gives at this size).
    #[arg(long)]
    pub no_tune: bool,
    /// Sample queries for measuring recall (a .npy of rows like the queries to come).
    /// Default: the set's captions when indexing the images of --embeddings, else
    /// held-out indexed rows, each searched without itself (these overstate the
    /// recall of text queries, which sit apart from image rows).
    #[arg(long, conflicts_with = "no_tune")]
    pub tune_queries: Option<PathBuf>,
    /// At most this many sample queries for measuring recall.
    #[arg(long, default_value_t = 1000)]
    pub tune_sample: usize,
    /// Largest ef the recall measurement tries.
    #[arg(long, default_value_t = 4096)]
    pub max_ef: usize,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum TopkCommand {
    /// Join the lists of row slices (`swan search --rows I/N`) into the list of the whole
    /// table; refuses lists of other queries, k or tables, and slices that overlap or leave
    /// rows uncovered.
    Merge {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// List folders, one per slice (any order).
        #[arg(required = true)]
        lists: Vec<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Embedding folder to serve (its images table is searched).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Corpus of the embeddings, if not where the manifest says (file names, captions,
    /// scenes, thumbnails).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// HNSW index over the set's images table (searches go through it unless a request
    /// asks for exact results).
    #[arg(long)]
    pub index: Option<PathBuf>,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Vocabulary JSON, for text queries (with --checkpoint).
    #[arg(long, requires = "checkpoint")]
    pub vocab: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on (port 0: any free port). Other than a loopback address only
    /// with --token or --no-auth.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on /api/*.
    #[arg(long, conflicts_with = "no_auth")]
    pub token: Option<String>,
    /// Allow a non-loopback --addr without a token.
    #[arg(long)]
    pub no_auth: bool,
    /// Most queries encoded in one forward pass (1: no dynamic batching).
    #[arg(long, default_value_t = 32)]
    pub max_batch: usize,
    /// How long the first query of a batch waits for others, in milliseconds.
    #[arg(long, default_value_t = 3)]
    pub batch_window_ms: u64,
    /// Largest image upload, in MiB.
    #[arg(long, default_value_t = 10)]
    pub max_upload_mib: usize,
    /// Log requests as JSON lines (stderr).
    #[arg(long)]
    pub json: bool,
}

/// How an index is searched (`--index` of eval and search).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct WalkArgs {
    /// Beam width of the graph walk with --index (default: the one the index recorded
    /// with --target-recall, else 64).
    #[arg(long)]
    pub ef: Option<usize>,
    /// Re-rank factor with --index: the best k x rerank walk results are scored exactly.
    #[arg(long, default_value_t = 4)]
    pub rerank: usize,
}

impl WalkArgs {
    /// The index search parameters for `k` results (the beam is at least `k`).
    pub fn params(self, k: usize) -> swan_indexer::SearchParams {
        // ef 0 asks the index for its own (tuned or default) beam.
        swan_indexer::SearchParams { ef: self.ef.map_or(0, |ef| ef.max(k)), rerank: self.rerank }
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Corpus (precomp folder or JSON Lines manifest).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Training split of a precomp corpus.
    #[arg(long, default_value = "train_verify")]
    pub train_split: String,
    /// Validation split ("none": no validation, no best.safetensors).
    #[arg(long, default_value = "val_verify")]
    pub val_split: String,
    /// Image folder of a precomp corpus (default: CORPUS/images).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Vocabulary JSON.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Start from this whole swan checkpoint (default: swan-hashinit weights, --seed).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Converted ResNet-50 backbone (safetensors, image_encoder.resnet.* keys).
    #[arg(long)]
    pub backbone: Option<PathBuf>,
    /// Word vectors for the vocabulary from a 300-d GloVe text file (e.g. glove.840B.300d.txt).
    #[arg(long)]
    pub word_vectors: Option<std::path::PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Captions per batch.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Adam learning rate (x0.7 at every epoch e with e % 20 == 19).
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Hardest-negative hinge loss instead of the sum over negatives.
    #[arg(long)]
    pub max_violation: bool,
    /// Clip the gradients' global L2 norm.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Train the ResNet-50 too.
    #[arg(long)]
    pub finetune_backbone: bool,
    /// Stop after this many optimizer steps in total.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Switch Dropout off (BatchNorm stays in training mode).
    #[arg(long)]
    pub no_dropout: bool,
    /// Eval transform instead of random rotation and crop.
    #[arg(long)]
    pub no_augment: bool,
    /// Corpus order instead of a shuffle per epoch.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Seed of the initial weights (hashinit), the order, augmentation and dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Save the resumable state every N steps (and at every epoch end).
    #[arg(long, default_value_t = 100)]
    pub save_every: u64,
    /// Log a step line to metrics.jsonl every N steps (0: epoch lines only).
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    /// Device (cpu, cuda, cuda:N; default: cuda if available).
    #[arg(long, value_parser = parse_device)]
    pub device: Option<String>,
    /// Numerics: fp32 (TF32 off), tf32 (PyTorch's CUDA default; fp32 on the CPU), bf16
    /// (autocast, as torch.autocast; CPU and CUDA), fp16 (autocast with dynamic loss scaling,
    /// CUDA only). Weights and Adam's state stay fp32. Default: fp32 on the CPU, tf32 on CUDA.
    #[arg(long, value_enum)]
    pub precision: Option<ModelPrecision>,
    /// CPU threads for libtorch.
    #[arg(long)]
    pub threads: Option<i32>,
    /// Print JSON Lines (one per epoch and a summary) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Element type of written embedding files.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// What the rows look like.
    #[arg(long, value_enum, default_value_t = SynthKind::Clusters)]
    pub kind: SynthKind,
    /// Rows.
    #[arg(long, default_value_t = 200_000)]
    pub rows: usize,
    /// Query rows (written to queries.npy).
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Cluster centres (standard normal; in the latent space with --kind crossmodal).
    #[arg(long, default_value_t = 64)]
    pub centres: usize,
    /// Noise added before normalising: per-value scale relative to the centres
    /// (clusters, default 0.9), or norm of the off-manifold noise (crossmodal, default 0.2).
    #[arg(long)]
    pub noise: Option<f32>,
    /// Crossmodal: dimension of the manifold the rows lie on.
    #[arg(long, default_value_t = 24)]
    pub intrinsic_dim: usize,
    /// Crossmodal: norm of the constant offset (modality gap) added to every query.
    #[arg(long, default_value_t = 0.8)]
    pub gap: f32,
    /// Crossmodal: latent spread around a centre.
    #[arg(long, default_value_t = 1.0)]
    pub spread: f32,
    /// Element type of the written rows (f16 halves the disk of a large archive).
    #[arg(long, value_enum, default_value_t = FileDType::F32)]
    pub dtype: FileDType,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// Generators of `swan synth`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthKind {
    /// Rows around standard-normal centres in 512-d with isotropic noise (queries alike).
    Clusters,
    /// Cross-modal-like: rows on a low-dimensional curved manifold with a little noise;
    /// queries from the same manifold shifted by a constant modality gap, as text
    /// queries against image rows.
    Crossmodal,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum FileDType {
    /// 4-byte floats.
    F32,
    /// 2-byte floats (half the size; about 3 significant digits).
    F16,
}

impl From<FileDType> for swan_store::DType {
    fn from(d: FileDType) -> swan_store::DType {
        match d {
            FileDType::F32 => swan_store::DType::F32,
            FileDType::F16 => swan_store::DType::F16,
        }
    }
}

/// Numerics of the model's forward pass.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ModelPrecision {
    /// Full fp32 (TF32 off).
    Fp32,
    /// fp32 with TF32 matrix products (CUDA).
    Tf32,
    /// bfloat16.
    Bf16,
    /// float16 (CUDA only).
    Fp16,
}

impl From<ModelPrecision> for swan_embedder::ComputePrecision {
    fn from(p: ModelPrecision) -> swan_embedder::ComputePrecision {
        match p {
            ModelPrecision::Fp32 => swan_embedder::ComputePrecision::Fp32,
            ModelPrecision::Tf32 => swan_embedder::ComputePrecision::Tf32,
            ModelPrecision::Bf16 => swan_embedder::ComputePrecision::Bf16,
            ModelPrecision::Fp16 => swan_embedder::ComputePrecision::Fp16,
        }
    }
}

/// Vectors an index's graph walk reads.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum WalkPrecision {
    /// int8 with one scale per vector (1 byte a value).
    Int8,
    /// int8 with one scale per dimension.
    Int8PerDim,
    /// Half precision (2 bytes a value).
    F16,
    /// The source rows themselves (no copy).
    F32,
}

impl From<WalkPrecision> for swan_indexer::Precision {
    fn from(p: WalkPrecision) -> swan_indexer::Precision {
        match p {
            WalkPrecision::Int8 => swan_indexer::Precision::Int8,
            WalkPrecision::Int8PerDim => swan_indexer::Precision::Int8PerDim,
            WalkPrecision::F16 => swan_indexer::Precision::F16,
            WalkPrecision::F32 => swan_indexer::Precision::Full,
        }
    }
}

/// Corpus layout.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LayoutArg {
    /// `{split}_caps.txt` + `{split}_filename.txt` + an image folder.
    Precomp,
    /// A JSON Lines manifest.
    Jsonl,
    /// A folder of images without captions.
    Folder,
}

impl From<LayoutArg> for swan_store::Layout {
    fn from(l: LayoutArg) -> swan_store::Layout {
        match l {
            LayoutArg::Precomp => swan_store::Layout::Precomp,
            LayoutArg::Jsonl => swan_store::Layout::Jsonl,
            LayoutArg::Folder => swan_store::Layout::Folder,
        }
    }
}

/// `--exact-path` of eval.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExactPathArg {
    /// The matrix up to 2^25 similarities (256 MiB), blocks beyond.
    Auto,
    /// The whole f64 similarity matrix in memory.
    Matrix,
    /// Blocks of 64 images at a time.
    Blocked,
}

impl From<ExactPathArg> for swan_searcher::ExactPath {
    fn from(p: ExactPathArg) -> swan_searcher::ExactPath {
        match p {
            ExactPathArg::Auto => swan_searcher::ExactPath::Auto,
            ExactPathArg::Matrix => swan_searcher::ExactPath::Matrix,
            ExactPathArg::Blocked => swan_searcher::ExactPath::Blocked,
        }
    }
}

/// A table of an embedding set.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableArg {
    /// The image embeddings.
    Images,
    /// The caption embeddings.
    Captions,
}

impl From<TableArg> for swan_indexer::SetTable {
    fn from(t: TableArg) -> swan_indexer::SetTable {
        match t {
            TableArg::Images => swan_indexer::SetTable::Images,
            TableArg::Captions => swan_indexer::SetTable::Captions,
        }
    }
}

/// `--row TABLE:N`.
#[derive(Clone, Copy, Debug)]
pub struct RowArg {
    pub table: TableArg,
    pub row: usize,
}

fn parse_row(text: &str) -> Result<RowArg, String> {
    let bad = || format!("expected images:N or captions:N, not '{text}'");
    let (table, row) = text.split_once(':').ok_or_else(bad)?;
    let table = TableArg::from_str(table, false).map_err(|_| bad())?;
    let row = row.parse().map_err(|_| bad())?;
    Ok(RowArg { table, row })
}

fn parse_slice(text: &str) -> Result<swan_store::RowSlice, String> {
    swan_store::RowSlice::parse(text)
}

/// `cpu`, `cuda` or `cuda:N`; whether that device exists is checked when it is opened.
fn parse_device(text: &str) -> Result<String, String> {
    let ok = text == "cpu" || text == "cuda" || text.strip_prefix("cuda:").is_some_and(|n| n.parse::<usize>().is_ok());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!("expected cpu, cuda or cuda:N, not '{text}'"))
    }
}

fn parse_padding(text: &str) -> Result<swan_embedder::TextPadding, String> {
    text.parse()
}
