//! `swan encode`: embed given image files and caption lines.

use anyhow::bail;
use swan_embedder::pipeline::{producer, save_vectors, Vectors};
use swan_embedder::text::{tokenize, Vocab};
use swan_embedder::TextPadding;
use swan_store::{CorpusRef, DType, EMBED_DIM};

use crate::cli::EncodeArgs;

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    let padding: TextPadding = args.text_padding;
    let dtype: DType = args.dtype.into();
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
    let enc = super::model::load(&args.model, None)?;
    let image_vectors = enc.encode_image_files(&args.images, args.batch_size)?;
    let caption_vectors = match &vocab {
        Some(v) => enc.encode_texts(v, &captions, padding, args.batch_size)?,
        None => Vec::new(),
    };

    if let Some(dir) = &args.out {
        let has_captions = !captions.is_empty();
        let vocab = vocab.as_ref().filter(|_| has_captions);
        let producer = producer(&enc, vocab, has_captions.then_some(padding), !args.images.is_empty(), args.batch_size);
        let corpus = CorpusRef {
            path: "(command line)".into(),
            layout: "files".into(),
            split: None,
            images: args.images.len(),
            captions: captions.len(),
            sha256: None,
        };
        let vectors = Vectors {
            images: (!args.images.is_empty()).then_some(&image_vectors[..]),
            captions: has_captions.then_some(&caption_vectors[..]),
        };
        let path = save_vectors(dir, producer, corpus, dtype, vectors)?;
        crate::output::message(&format!(
            "wrote {} images and {} captions to {} ({})",
            args.images.len(),
            captions.len(),
            dir.display(),
            path.display()
        ));
        return Ok(());
    }

    let tokens: Vec<Vec<String>> = captions.iter().map(|c| tokenize(c)).collect();
    let mut out = crate::output::stdout();
    for (path, v) in args.images.iter().zip(image_vectors.chunks(EMBED_DIM)) {
        print_vector(&mut out, args.json, serde_json::json!({ "kind": "image", "file": path }), v)?;
    }
    for ((text, toks), v) in captions.iter().zip(&tokens).zip(caption_vectors.chunks(EMBED_DIM)) {
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
