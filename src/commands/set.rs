//! An embedding set on disk with its corpus: what `swan eval` and `swan search` read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use swan_store::{Corpus, CorpusOptions, Manifest, NpyFile, Table};

/// A loaded embedding folder.
pub struct EmbeddingSet {
    pub corpus: Corpus,
    pub images: Option<(NpyFile, Table)>,
    pub captions: Option<(NpyFile, Table)>,
}

impl EmbeddingSet {
    pub fn open(dir: &Path, corpus: Option<&Path>, images_dir: Option<&Path>) -> anyhow::Result<EmbeddingSet> {
        let manifest = Manifest::load(dir)?;
        let corpus_path = corpus.map(Path::to_owned).unwrap_or_else(|| PathBuf::from(&manifest.corpus.path));
        let options = CorpusOptions { layout: None, split: manifest.corpus.split.clone(), images: images_dir.map(Path::to_owned) };
        let corpus = Corpus::open(&corpus_path, &options)
            .with_context(|| format!("reading the corpus of {} (pass --corpus if it moved)", dir.display()))?;
        if (corpus.images.len(), corpus.captions.len()) != (manifest.corpus.images, manifest.corpus.captions) {
            bail!(
                "{} has {} images and {} captions, but {} was embedded from {} and {}",
                corpus_path.display(),
                corpus.images.len(),
                corpus.captions.len(),
                dir.display(),
                manifest.corpus.images,
                manifest.corpus.captions
            );
        }
        let open = |t: &Option<Table>| -> anyhow::Result<Option<(NpyFile, Table)>> {
            Ok(match t {
                Some(t) => Some((Manifest::open_table(dir, t)?, t.clone())),
                None => None,
            })
        };
        let images = open(&manifest.images)?;
        let captions = open(&manifest.captions)?;
        Ok(EmbeddingSet { corpus, images, captions })
    }
}

/// Row of each corpus item in a table (`None` where the item is not in it).
pub fn rows_by_item(table: &Table, items: usize) -> Vec<Option<usize>> {
    let mut out = vec![None; items];
    for (row, item) in table.item_indices().into_iter().enumerate() {
        if let Some(slot) = out.get_mut(item) {
            *slot = Some(row);
        }
    }
    out
}
