//! Evaluation of an embedding set ([`swan_store::EmbeddingSet`]): which images and captions
//! take part, in what order, and the metrics of those.
//!
//! - Images the manifest lists as invalid (unreadable files), and their captions, take no
//!   part; nor do captions listed invalid. Every other caption's image must be in the set.
//! - Images and captions are taken in corpus order (by item index), never in storage
//!   order: rankings break ties by position, so two sets holding the same rows in another
//!   order (merged shards, say) get the same metrics.
//!
//! The same selection drives the ANN report ([`ann_report`]), so the index's text -> image
//! queries are exactly the exact table's.
//!
//! A set made without a corpus (`swan synth`, `swan encode --out`) has no caption-image
//! pairs: its selection holds every valid row ([`Selection::caption_image`] is `None`), its
//! index can still be measured against exact search, but retrieval metrics need a corpus.

mod ann;
#[cfg(test)]
mod tests;
mod topk;

use std::collections::HashSet;

use swan_store::corpus::scene_from_name;
use swan_store::{CorpusRef, EmbeddingSet, Table};

use crate::error::{Error, Result};
use crate::metrics::{evaluate, evaluate_blocked, EvalOptions, Metrics, SimMatrix};
use crate::Rows;

pub use ann::{ann_report, AnnReport};
pub use topk::{evaluate_topk, recall_against, TopkMetrics};

/// The images and captions of a set that take part in an evaluation, in corpus order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Image-table rows taking part, by ascending corpus image index.
    pub image_rows: Vec<usize>,
    /// Caption-table rows taking part, by ascending corpus caption index.
    pub caption_rows: Vec<usize>,
    /// For each of `caption_rows`, the position of its image in `image_rows`; `None` for a
    /// set without a corpus, whose captions (queries) describe no image.
    pub caption_image: Option<Vec<usize>>,
    /// Scene label of each of `image_rows`.
    pub scenes: Vec<Option<String>>,
    /// Image rows left out (invalid).
    pub excluded_images: usize,
    /// Caption rows left out (invalid, or describing an invalid image).
    pub excluded_captions: usize,
}

impl Selection {
    /// Select from `set`, which must have both tables.
    pub fn new(set: &EmbeddingSet) -> Result<Selection> {
        let (Some((_, images)), Some((_, captions))) = (&set.images, &set.captions) else {
            return Err(Error::Invalid(format!("{}: evaluation needs both image and caption embeddings", set.dir.display())));
        };
        let Some(corpus) = &set.corpus else { return Ok(Selection::unpaired(images, captions, &set.manifest.corpus)) };
        let bad_images: HashSet<usize> = images.invalid.iter().copied().collect();
        let bad_captions: HashSet<usize> = captions.invalid.iter().copied().collect();
        let image_row = images.rows_by_item(corpus.images.len());
        let mut position = vec![None; corpus.images.len()];
        let (mut image_rows, mut scenes) = (Vec::new(), Vec::new());
        for (item, row) in image_row.iter().enumerate() {
            if let Some(row) = row.filter(|r| !bad_images.contains(r)) {
                position[item] = Some(image_rows.len());
                image_rows.push(row);
                scenes.push(corpus.images[item].scene.clone());
            }
        }
        let (mut caption_rows, mut caption_image) = (Vec::new(), Vec::new());
        for (item, row) in captions.rows_by_item(corpus.captions.len()).into_iter().enumerate() {
            let Some(row) = row else { continue };
            let image = corpus.captions[item].image;
            if image_row[image].is_none() {
                return Err(Error::Invalid(format!(
                    "{}: caption row {row} describes image {image}, which this set does not hold (merge the shards first)",
                    set.dir.display()
                )));
            }
            if let (Some(pos), false) = (position[image], bad_captions.contains(&row)) {
                caption_rows.push(row);
                caption_image.push(pos);
            }
        }
        let excluded_images = images.rows - image_rows.len();
        let excluded_captions = captions.rows - caption_rows.len();
        Ok(Selection { image_rows, caption_rows, caption_image: Some(caption_image), scenes, excluded_images, excluded_captions })
    }

    /// Every valid row of both tables, in item order, with no pairs and no scenes.
    fn unpaired(images: &Table, captions: &Table, corpus: &CorpusRef) -> Selection {
        let valid = |t: &Table, items: usize| -> Vec<usize> {
            let bad: HashSet<usize> = t.invalid.iter().copied().collect();
            t.rows_by_item(items).into_iter().flatten().filter(|r| !bad.contains(r)).collect()
        };
        let (image_rows, caption_rows) = (valid(images, corpus.images), valid(captions, corpus.captions));
        Selection {
            scenes: vec![None; image_rows.len()],
            excluded_images: images.rows - image_rows.len(),
            excluded_captions: captions.rows - caption_rows.len(),
            image_rows,
            caption_rows,
            caption_image: None,
        }
    }
}

/// How [`evaluate_set_with`] computes the similarities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExactPath {
    /// The matrix up to [`MATRIX_MAX_VALUES`] similarities, blocks beyond.
    #[default]
    Auto,
    /// The whole `f64` matrix in memory ([`SimMatrix::from_embeddings`]).
    Matrix,
    /// Blocks of images, never the whole matrix ([`evaluate_blocked`]); same results.
    Blocked,
}

/// Largest matrix [`ExactPath::Auto`] holds in memory: 2^25 `f64` values, 256 MiB.
pub const MATRIX_MAX_VALUES: usize = 1 << 25;

/// The metrics of `set` over the images and captions [`Selection::new`] keeps.
pub fn evaluate_set(set: &EmbeddingSet, options: &EvalOptions) -> Result<(Metrics, Selection)> {
    evaluate_set_with(set, options, ExactPath::Auto)
}

/// [`evaluate_set`] through the matrix or in blocks of images (`path`); both give the
/// same metrics.
pub fn evaluate_set_with(set: &EmbeddingSet, options: &EvalOptions, path: ExactPath) -> Result<(Metrics, Selection)> {
    // Which caption describes which image is the corpus's to say.
    set.corpus()?;
    let selection = Selection::new(set)?;
    let Some(caption_image) = &selection.caption_image else { unreachable!("a set with a corpus is paired") };
    let (Some((img_file, _)), Some((cap_file, _))) = (&set.images, &set.captions) else { unreachable!("Selection::new checked") };
    let labels: Vec<Option<&str>> = selection.scenes.iter().map(Option::as_deref).collect();
    let has_labels = labels.iter().any(Option::is_some);
    let blocked = match path {
        ExactPath::Matrix => false,
        ExactPath::Blocked => true,
        ExactPath::Auto => img_file.rows().saturating_mul(cap_file.rows()) > MATRIX_MAX_VALUES,
    };
    if blocked {
        let (images, captions) = (Rows::from_npy(img_file)?, Rows::from_npy(cap_file)?);
        let (ir, cr) = (&selection.image_rows, &selection.caption_rows);
        let metrics = evaluate_blocked(&images, &captions, ir, cr, caption_image, has_labels.then_some(&labels[..]), options)?;
        return Ok((metrics, selection));
    }
    let full = SimMatrix::from_embeddings(&Rows::from_npy(img_file)?, &Rows::from_npy(cap_file)?)?;
    let identity = |rows: &[usize], n: usize| rows.len() == n && rows.iter().enumerate().all(|(i, &r)| i == r);
    let sims = if identity(&selection.image_rows, full.n_images()) && identity(&selection.caption_rows, full.n_captions()) {
        full
    } else {
        let mut data = Vec::with_capacity(selection.image_rows.len() * selection.caption_rows.len());
        for &r in &selection.image_rows {
            let row = full.row(r);
            data.extend(selection.caption_rows.iter().map(|&c| row[c]));
        }
        SimMatrix::new(selection.image_rows.len(), selection.caption_rows.len(), data)?
    };
    let metrics = evaluate(&sims, caption_image, has_labels.then_some(&labels[..]), options)?;
    Ok((metrics, selection))
}

/// The metrics of a similarity matrix whose captions (columns) are named by `names`, one
/// image file name per caption as in the precomp `test_filename.txt`: consecutive captions
/// with the same name belong to one image (row), whose scene is the name's prefix.
/// `names_file`, where the names were read from, is named in errors.
pub fn evaluate_named(sims: &SimMatrix, names: &[&str], names_file: &std::path::Path, options: &EvalOptions) -> Result<Metrics> {
    let of = sims.path().map(|p| format!(" of {}", p.display())).unwrap_or_default();
    if names.len() != sims.n_captions() {
        return Err(Error::shape(
            Some(names_file),
            format!("{} file names for the {} captions (columns){of}", names.len(), sims.n_captions()),
        ));
    }
    let mut caption_image = Vec::with_capacity(names.len());
    let mut scenes: Vec<String> = Vec::new();
    for (j, name) in names.iter().enumerate() {
        if j == 0 || names[j - 1] != *name {
            scenes.push(scene_from_name(name));
        }
        caption_image.push(scenes.len() - 1);
    }
    if scenes.len() != sims.n_images() {
        return Err(Error::shape(
            Some(names_file),
            format!("the file names form {} runs (images) but the matrix{of} has {} rows", scenes.len(), sims.n_images()),
        ));
    }
    let labels: Vec<Option<&str>> = scenes.iter().map(|s| Some(s.as_str())).collect();
    evaluate(sims, &caption_image, Some(&labels), options)
}
