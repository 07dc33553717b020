//! `swan search`: top-k of an embedding set for a free-text, image or row query (many
//! queries at once into top-k lists: `batch`).

use anyhow::{bail, Context};
use serde::Serialize;
use swan_embedder::text::Vocab;
use swan_embedder::TextPadding;
use swan_searcher::{search, Rows};
use swan_store::{NpyFile, Table};

use super::Outcome;
use crate::cli::{RowArg, SearchArgs, TableArg as Target};
use swan_store::EmbeddingSet;

/// One line of output.
#[derive(Serialize)]
struct Line {
    rank: usize,
    score: f32,
    row: u32,
    /// Image file name (image hits) or the caption's image (caption hits); none for a set
    /// made without a corpus (swan synth, swan encode --out), whose rows have no names.
    image: Option<String>,
    scene: Option<String>,
    /// The caption (caption hits) or the image's first caption (image hits).
    caption: Option<String>,
}

pub fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    if let (Some(spec), Some(out)) = (&args.queries, &args.out) {
        return super::batch::run(&args, spec, out);
    }
    anyhow::ensure!(args.k >= 1, "-k must be at least 1");
    let set = EmbeddingSet::open(&args.embeddings, args.corpus.as_deref(), None)?;
    if let Some(scene) = &args.scene {
        let mut scenes: Vec<&str> = set.corpus()?.images.iter().filter_map(|i| i.scene.as_deref()).collect();
        scenes.sort_unstable();
        scenes.dedup();
        anyhow::ensure!(
            scenes.contains(&scene.as_str()),
            "--scene {scene:?}: no image of the corpus has that scene label (labels: {})",
            if scenes.is_empty() { "none".to_string() } else { scenes.join(", ") }
        );
    }
    let (query, default_target) = query_vector(&args, &set)?;
    let target = args.target.unwrap_or(default_target);
    let (file, table): &(NpyFile, Table) = match target {
        Target::Images => set.images.as_ref().context("this set has no image embeddings")?,
        Target::Captions => set.captions.as_ref().context("this set has no caption embeddings")?,
    };
    let rows = Rows::from_npy(file)?.with_invalid(&table.invalid)?;
    anyhow::ensure!(table.invalid.len() < table.rows, "{}: every row is marked invalid: nothing to search", file.path().display());
    let items = table.item_indices();
    // A set made without a corpus is searched all the same; its hits just have no names.
    let corpus = set.corpus.as_ref();
    let image_of = |row: usize| -> Option<usize> {
        Some(match target {
            Target::Images => items[row],
            Target::Captions => corpus?.captions[items[row]].image,
        })
    };
    let scene_of = |row: usize| -> Option<&str> { corpus?.images[image_of(row)?].scene.as_deref() };
    let scene_ok = |row: usize| args.scene.as_deref().is_none_or(|s| scene_of(row) == Some(s));
    let filter: &(dyn Fn(usize) -> bool + Sync) = &scene_ok;
    // The scene filter is applied inside the search, so k results come back whenever k
    // rows of the scene exist.
    let hits = match &args.index {
        None => search(&rows, &query, args.k, args.scene.is_some().then_some(filter))?.pop().unwrap_or_default(),
        Some(dir) => {
            // If the set moved with its index, the target table is the source (digest-checked).
            let options = swan_indexer::LoadOptions { source_if_moved: Some(file.path().to_owned()), ..Default::default() };
            let index = swan_indexer::IndexSet::open(dir, &options)?;
            let source = index.first().source_path();
            anyhow::ensure!(
                swan_store::fsutil::same_file(source, file.path()),
                "{} indexes {}, not {} (pass --target to pick the table it was built over)",
                dir.display(),
                source.display(),
                file.path().display()
            );
            let row_filter = |row: u32| scene_ok(row as usize);
            let mut searcher = index.searcher();
            searcher.search_filtered(&query, args.k, &args.walk.params(args.k), args.scene.is_some().then_some(&row_filter as _))?.to_vec()
        }
    };
    let by_image = corpus.map(|c| c.captions_by_image()).unwrap_or_default();
    let results: Vec<Line> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let row = h.id as usize;
            let (image, scene, caption) = match (corpus, image_of(row)) {
                (Some(corpus), Some(image)) => {
                    let caption = match target {
                        Target::Captions => Some(corpus.captions[items[row]].text.clone()),
                        Target::Images => by_image[image].first().map(|&c| corpus.captions[c].text.clone()),
                    };
                    (Some(corpus.images[image].name.clone()), corpus.images[image].scene.clone(), caption)
                }
                _ => (None, None, None),
            };
            Line { rank: i + 1, score: h.score, row: h.id, image, scene, caption }
        })
        .collect();
    if results.is_empty() {
        let scene = args.scene.as_deref().map(|s| format!(" of scene '{s}'")).unwrap_or_default();
        return Ok(Outcome::NothingFound(format!("no results: no valid row{scene} in {}", file.path().display())));
    }
    if args.json {
        for r in &results {
            crate::output::json_line(r)?;
        }
    } else {
        let mut out = crate::output::stdout();
        writeln!(out, "{:>4} {:>8} {:>6}  {:<28} {:<18} caption", "rank", "score", "row", "image", "scene")?;
        for r in &results {
            writeln!(
                out,
                "{:>4} {:>8.4} {:>6}  {:<28} {:<18} {}",
                r.rank,
                r.score,
                r.row,
                r.image.as_deref().unwrap_or("-"),
                r.scene.as_deref().unwrap_or("-"),
                r.caption.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(Outcome::Done)
}

/// The query as a normalised vector, and the default target for its kind.
fn query_vector(args: &SearchArgs, set: &EmbeddingSet) -> anyhow::Result<(Vec<f32>, Target)> {
    if let Some(RowArg { table, row: n }) = args.row {
        let (file, target, which) = match table {
            Target::Images => (&set.images, Target::Captions, "images"),
            Target::Captions => (&set.captions, Target::Images, "captions"),
        };
        let (file, _) = file.as_ref().with_context(|| format!("this set has no {which}"))?;
        let mut v = vec![0f32; file.dim()];
        file.row_into_f32(n, &mut v)?;
        // A NaN query scores NaN against every row: refuse it rather than print NaN ranks.
        anyhow::ensure!(
            v.iter().all(|x| x.is_finite()),
            "{}: row {n} holds NaN or infinite values; it cannot be a query",
            file.path().display()
        );
        return Ok((v, target));
    }
    let model = super::model::load(&args.model, None)?;
    if let Some(text) = &args.text {
        let vocab_path = args.vocab.as_ref().context("--text needs --vocab VOCAB.json")?;
        let vocab = Vocab::load(vocab_path)?;
        // Queries are encoded alone: deterministic, independent of any batch.
        let v = model.encode_texts(&vocab, &[text], TextPadding::Alone, 1)?;
        return Ok((v, Target::Images));
    }
    if let Some(path) = &args.image {
        return Ok((model.encode_image_files(std::slice::from_ref(path), 1)?, Target::Captions));
    }
    bail!("give a query: --text TEXT, --image FILE or --row images:N|captions:N")
}
