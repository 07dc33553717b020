//! The set being served: its images table (searched exactly or through an index), and what
//! each row shows (corpus item, file name, scene, captions).

use std::path::{Path, PathBuf};

use serde::Serialize;
use swan_indexer::{Hit, Index, LoadOptions, SearchParams};
use swan_searcher::Rows;
use swan_store::{EmbeddingSet, NpyFile, Table};

use crate::error::{ApiError, Error, Result};

/// Scene id of a row without a scene label.
const NO_SCENE: u32 = u32::MAX;

/// What a result row shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Item {
    pub row: usize,
    pub item: usize,
    pub file: Option<String>,
    pub scene: Option<String>,
    pub captions: Vec<String>,
}

/// An index's parameters, as `/api/info` shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IndexInfo {
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
    pub precision: &'static str,
}

/// The served set, read-only after opening.
pub(crate) struct Catalog {
    set: EmbeddingSet,
    index: Option<Index>,
    walk: SearchParams,
    /// Corpus image of each images-table row.
    items: Vec<usize>,
    /// Scene id of each row ([`NO_SCENE`] without a label).
    row_scene: Vec<u32>,
    /// Scene names and their valid rows, by name.
    scenes: Vec<(String, usize)>,
    /// Caption indices of each corpus image.
    captions_of: Vec<Vec<usize>>,
    /// Rows marked invalid (not searchable, no vector).
    invalid: Vec<bool>,
    corpus_path: String,
}

impl Catalog {
    /// Open the set (memory-mapped, nothing copied) and its index; the index must be built
    /// over the set's images table.
    pub fn open(embeddings: &Path, corpus: Option<&Path>, index: Option<&Path>, walk: SearchParams) -> Result<Catalog> {
        let set = EmbeddingSet::open(embeddings, corpus, None)?;
        let (file, table) = images(&set)
            .ok_or_else(|| Error::Config(format!("{} has no image embeddings: swan serve searches images", embeddings.display())))?;
        if table.invalid.len() >= table.rows {
            return Err(Error::Config(format!("{}: every image row is marked invalid: nothing to search", file.path().display())));
        }
        // Checked once here, so per-query Rows::from_npy cannot fail on shape or type.
        Rows::from_npy(file)?.with_invalid(&table.invalid)?;
        let index = match index {
            None => None,
            Some(dir) => {
                let options = LoadOptions { source_if_moved: Some(file.path().to_owned()), ..Default::default() };
                let index = Index::load(dir, &options)?;
                if !swan_store::fsutil::same_file(index.source_path(), file.path()) {
                    return Err(Error::Config(format!(
                        "{} indexes {}, not the set's images table {}",
                        dir.display(),
                        index.source_path().display(),
                        file.path().display()
                    )));
                }
                Some(index)
            }
        };
        // `ef` 0 means "the index's own beam" (recorded by `index build --target-recall`, else
        // the default), as for `swan search --index`; without this the walk ran with ef = k.
        let mut walk = walk;
        if walk.ef == 0 {
            walk.ef = index.as_ref().map_or(swan_indexer::DEFAULT_EF, Index::default_ef);
        }
        let items = table.item_indices();
        let mut invalid = vec![false; table.rows];
        for &r in &table.invalid {
            invalid[r] = true;
        }
        let mut scenes: Vec<(String, usize)> = Vec::new();
        let mut row_scene = vec![NO_SCENE; table.rows];
        let mut captions_of = Vec::new();
        if let Some(c) = &set.corpus {
            let mut names: Vec<&str> = c.images.iter().filter_map(|i| i.scene.as_deref()).collect();
            names.sort_unstable();
            names.dedup();
            scenes = names.iter().map(|n| (n.to_string(), 0)).collect();
            for (row, &item) in items.iter().enumerate() {
                let Some(scene) = c.images.get(item).and_then(|i| i.scene.as_deref()) else { continue };
                let id = names.binary_search(&scene).expect("listed above");
                row_scene[row] = id as u32;
                if !invalid[row] {
                    scenes[id].1 += 1;
                }
            }
            captions_of = c.captions_by_image();
        }
        // The folder itself (not `set/../corpus`), for a person reading /api/info.
        let shown = |p: PathBuf| p.canonicalize().unwrap_or(p).display().to_string();
        let corpus_path = match (corpus, &set.corpus) {
            (Some(p), _) => shown(p.to_owned()),
            (None, Some(_)) => shown(set.manifest.corpus_path(&set.dir)),
            (None, None) => set.manifest.corpus.path.clone(),
        };
        Ok(Catalog { set, index, walk, items, row_scene, scenes, captions_of, invalid, corpus_path })
    }

    fn table(&self) -> (&NpyFile, &Table) {
        let (f, t) = images(&self.set).expect("checked at open");
        (f, t)
    }

    /// Rows of the images table (valid or not).
    pub fn rows(&self) -> usize {
        self.items.len()
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.table().0.dim()
    }

    /// The manifest's model name.
    pub fn model(&self) -> &str {
        &self.set.manifest.producer.model
    }

    /// The corpus as `/api/info` shows it.
    pub fn corpus_info(&self) -> serde_json::Value {
        let c = &self.set.manifest.corpus;
        serde_json::json!({ "path": self.corpus_path, "layout": c.layout, "split": c.split })
    }

    /// Captions of the corpus.
    pub fn captions(&self) -> usize {
        self.set.manifest.corpus.captions
    }

    /// Scene names and their valid rows.
    pub fn scenes(&self) -> &[(String, usize)] {
        &self.scenes
    }

    /// The index's parameters, if there is one.
    pub fn index_info(&self) -> Option<IndexInfo> {
        self.index.as_ref().map(|i| {
            let p = i.params();
            IndexInfo { m: p.m, ef_construction: p.ef_construction, ef_search: self.walk.ef, precision: p.precision.name() }
        })
    }

    /// The id of a scene label.
    pub fn scene_id(&self, name: &str) -> Result<u32, ApiError> {
        match self.scenes.iter().position(|(n, _)| n == name) {
            Some(i) => Ok(i as u32),
            None if self.scenes.is_empty() => {
                Err(ApiError::bad_request(format!("unknown scene {name:?}: the images of this set have no scene labels")))
            }
            None => Err(ApiError::bad_request(format!(
                "unknown scene {name:?} (scenes: {})",
                self.scenes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// What `row` shows; `None` past the last row.
    pub fn item(&self, row: usize) -> Option<Item> {
        let item = *self.items.get(row)?;
        let corpus = self.set.corpus.as_ref();
        let image = corpus.and_then(|c| c.images.get(item));
        let captions = match (corpus, self.captions_of.get(item)) {
            (Some(c), Some(list)) => list.iter().filter_map(|&j| c.captions.get(j)).map(|c| c.text.clone()).collect(),
            _ => Vec::new(),
        };
        Some(Item { row, item, file: image.map(|i| i.name.clone()), scene: image.and_then(|i| i.scene.clone()), captions })
    }

    /// The image file of `row`: only files the corpus lists.
    pub fn image_path(&self, row: usize) -> Option<PathBuf> {
        let item = *self.items.get(row)?;
        Some(self.set.corpus.as_ref()?.images.get(item)?.path.clone())
    }

    /// Whether the set has a corpus (file names, scenes, captions, thumbnails).
    pub fn has_corpus(&self) -> bool {
        self.set.corpus.is_some()
    }

    /// The stored vector of `row` (a "more like this" query).
    pub fn row_vector(&self, row: usize) -> Result<Vec<f32>, ApiError> {
        if row >= self.rows() {
            return Err(ApiError::bad_request(format!(
                "row {row} is out of range: the set has {} image rows (0..{})",
                self.rows(),
                self.rows()
            )));
        }
        if self.invalid[row] {
            return Err(ApiError::bad_request(format!("row {row} is marked invalid in the set (its image could not be embedded)")));
        }
        let file = self.table().0;
        let mut v = vec![0f32; file.dim()];
        file.row_into_f32(row, &mut v).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(v)
    }

    /// Whether searches go through an index unless asked to be exact.
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The best `k` valid rows for `query` (of `scene` only, if given: `k` results whenever
    /// `k` such rows exist), exactly or through the index; also says whether it was exact.
    pub fn search(&self, query: &[f32], k: usize, scene: Option<u32>, exact: bool) -> Result<(Vec<Hit>, bool), ApiError> {
        let internal = |e: &dyn std::fmt::Display| ApiError::internal(format!("search failed: {e}"));
        match (&self.index, exact) {
            (Some(index), false) => {
                let filter = |row: u32| scene.is_none_or(|s| self.row_scene.get(row as usize) == Some(&s));
                let params = SearchParams { ef: self.walk.ef.max(k), rerank: self.walk.rerank };
                let mut searcher = index.searcher();
                let hits =
                    searcher.search_filtered(query, k, &params, scene.is_some().then_some(&filter as _)).map_err(|e| internal(&e))?;
                Ok((hits.to_vec(), false))
            }
            _ => {
                let (file, table) = self.table();
                let rows = Rows::from_npy(file).and_then(|r| r.with_invalid(&table.invalid)).map_err(|e| internal(&e))?;
                let filter = |row: usize| scene.is_none_or(|s| self.row_scene.get(row) == Some(&s));
                let filter: &(dyn Fn(usize) -> bool + Sync) = &filter;
                let mut hits = swan_searcher::search(&rows, query, k, scene.is_some().then_some(filter)).map_err(|e| internal(&e))?;
                Ok((hits.pop().unwrap_or_default(), true))
            }
        }
    }
}

fn images(set: &EmbeddingSet) -> Option<(&NpyFile, &Table)> {
    set.images.as_ref().map(|(f, t)| (f, t))
}
