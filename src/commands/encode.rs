//! `swan encode`: embed given image files and caption lines.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use swan_embedder::pipeline::{load_input, PIXELS};
use swan_embedder::tch::Tensor;
use swan_embedder::text::{tokenize, Vocab};
use swan_embedder::TextPadding;
use swan_store::{CorpusRef, DType, Manifest, NpyWriter, Producer, Table, WriteSpec};

use crate::cli::EncodeArgs;

const DIM: usize = swan_store::EMBED_DIM;

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    let padding: TextPadding = args.text_padding.parse().map_err(anyhow::Error::msg)?;
    let dtype: DType = args.dtype.parse().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(matches!(dtype, DType::F32 | DType::F16), "--dtype must be f32 or f16");
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let captions = read_captions(&args)?;
    if args.images.is_empty() && captions.is_empty() {
        bail!("nothing to encode: give --image FILE, --caption TEXT or --captions-file FILE");
    }
    let vocab = match (&args.vocab, captions.is_empty()) {
        (Some(path), _) => Some(Vocab::load(path)?),
        (None, false) => bail!("--vocab is required to encode captions"),
        (None, true) => None,
    };
    let loaded = super::model::load(&args.model, None)?;
    let enc = &loaded.encoder;

    // The same input path as `swan embed` (8-bit pixels, normalised on the device), so
    // both commands give identical vectors for the same file.
    let mut image_vectors = Vec::with_capacity(args.images.len() * DIM);
    for batch in args.images.chunks(args.batch_size) {
        let mut pixels = vec![0u8; PIXELS * batch.len()];
        for (path, out) in batch.iter().zip(pixels.chunks_mut(PIXELS)) {
            load_input(path, out)?;
        }
        let input = Tensor::from_slice(&pixels).view([batch.len() as i64, 256, 256, 3]);
        image_vectors.extend(Vec::<f32>::try_from(enc.encode_image_u8(&input)?.view([-1]))?);
    }
    let tokens: Vec<Vec<String>> = captions.iter().map(|c| tokenize(c)).collect();
    let caption_vectors = match &vocab {
        Some(v) => {
            let ids: Vec<Vec<i64>> = tokens.iter().map(|t| t.iter().map(|w| v.id(w)).collect()).collect();
            enc.encode_captions(&ids, padding, args.batch_size)?
        }
        None => Vec::new(),
    };

    if let Some(dir) = &args.out {
        let cfg = enc.config();
        let producer = Producer {
            model: "swan".into(),
            checkpoint_sha256: loaded.checkpoint_sha256.clone(),
            precision: cfg.precision.to_string(),
            text_padding: (!captions.is_empty()).then(|| padding.to_string()),
            swan_version: env!("CARGO_PKG_VERSION").into(),
        };
        let corpus = CorpusRef {
            path: "(command line)".into(),
            layout: "files".into(),
            split: None,
            images: args.images.len(),
            captions: captions.len(),
        };
        let mut manifest = Manifest::new(producer, corpus, true);
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        if !args.images.is_empty() {
            write_npy(&dir.join("images.npy"), dtype, &image_vectors)?;
            manifest.images = Some(Table::identity("images.npy", dtype, args.images.len(), DIM));
        }
        if !captions.is_empty() {
            write_npy(&dir.join("captions.npy"), dtype, &caption_vectors)?;
            manifest.captions = Some(Table::identity("captions.npy", dtype, captions.len(), DIM));
        }
        let path = manifest.save(dir)?;
        crate::output::message(&format!(
            "wrote {} images and {} captions to {} ({})",
            args.images.len(),
            captions.len(),
            dir.display(),
            path.display()
        ));
        return Ok(());
    }

    let mut out = crate::output::stdout();
    for (path, v) in args.images.iter().zip(image_vectors.chunks(DIM)) {
        print_vector(&mut out, args.json, serde_json::json!({ "kind": "image", "file": path }), v)?;
    }
    for ((text, toks), v) in captions.iter().zip(&tokens).zip(caption_vectors.chunks(DIM)) {
        print_vector(&mut out, args.json, serde_json::json!({ "kind": "caption", "text": text, "tokens": toks }), v)?;
    }
    Ok(())
}

fn read_captions(args: &EncodeArgs) -> anyhow::Result<Vec<String>> {
    let mut captions = args.captions.clone();
    if let Some(path) = &args.captions_file {
        // The corpus readers' line rules (Python's readlines, CRLF, UTF-8 checks per line);
        // a query file with a bad line is refused rather than embedded from repaired text.
        let mut warnings = Vec::new();
        let lines = swan_store::corpus::read_lines(path, &mut warnings)?;
        if let Some(w) = warnings.first() {
            bail!("{}:{}: caption is not valid UTF-8", w.path.display(), w.line.unwrap_or(0));
        }
        captions.extend(lines);
    }
    Ok(captions)
}

fn write_npy(path: &Path, dtype: DType, rows: &[f32]) -> anyhow::Result<PathBuf> {
    let n = rows.len() / DIM;
    let spec = WriteSpec { dtype, rows: n, dim: DIM, chunk_rows: n.max(1), key: "encode".into() };
    let mut w = NpyWriter::create(path, spec)?;
    if n > 0 {
        w.write_chunk(0, rows)?;
    }
    Ok(w.finish()?)
}

fn print_vector(out: &mut crate::output::Stdout, json: bool, mut meta: serde_json::Value, v: &[f32]) -> anyhow::Result<()> {
    if json {
        meta["vector"] = serde_json::json!(v);
        out.json_line(&meta)?;
    } else {
        let label = meta.get("file").or_else(|| meta.get("text")).map(|l| l.to_string()).unwrap_or_default();
        let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.5}")).collect();
        writeln!(out, "{} {label}: [{}, ...] ({} values)", meta["kind"].as_str().unwrap_or(""), head.join(", "), v.len())?;
    }
    Ok(())
}
