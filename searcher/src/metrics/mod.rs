//! Retrieval metrics of a similarity matrix, as the reference evaluation defines them
//! (`spec/SWAN.md`, "Metrics (reference definitions)"), generalised to any number of
//! captions per image.
//!
//! - image -> text: an image's rank is the best (smallest, 0-based) position of any of
//!   its captions in its ranking of all captions. Images without captions are not
//!   image -> text queries (neither for ranks nor for scene recall).
//! - text -> image: a caption's rank is the position of its image in its ranking of
//!   all images.
//! - `R@K` = 100 x fraction of ranks `< K` (K = 1, 5, 10); `medR` = floor(median) + 1
//!   (the median of an even count is the mean of the two middle ranks, as in numpy);
//!   `meanR` = mean + 1; `mR` = mean of the six `R@K`.
//! - scene recall at `r`: per query, the fraction of its top `r` results (top
//!   `min(r, n)` if there are fewer) whose scene label equals the query's, averaged over
//!   the queries that have a label. A result without a label never matches.
//!
//! Rankings order equal scores by index ascending; see the `rank` module for how that
//! relates to the reference's `np.argsort`. Ranks are counted, not sorted: the rank of a
//! target is the number of items placed before it, and scene recall selects the top `r`
//! with a bounded heap. Queries run in parallel on the current rayon pool; results are
//! the same for any thread count.

mod blocked;
mod rank;
mod sim;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use swan_store::Corpus;

use crate::error::{Error, Result};
pub use blocked::evaluate_blocked;
use rank::{first_of, rank_of, scene_hits, TopScratch};
pub use sim::SimMatrix;

/// `R@1`, `R@5`, `R@10`, `medR` and `meanR` of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    /// Percentage of queries whose target is first.
    pub r1: f64,
    /// Percentage of queries whose target is in the top 5.
    pub r5: f64,
    /// Percentage of queries whose target is in the top 10.
    pub r10: f64,
    /// 1-based median rank (floor of the 0-based median, plus one).
    pub medr: f64,
    /// 1-based mean rank.
    pub meanr: f64,
}

/// Scene recall at several cut-offs, in the order they were asked for. Serialises as a
/// JSON object keyed by the cut-off (`{"1": 0.87, "5": 0.83}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SceneRecall(pub Vec<(usize, f64)>);

impl SceneRecall {
    /// The value at cut-off `r`, if it was computed.
    pub fn get(&self, r: usize) -> Option<f64> {
        self.0.iter().find(|(k, _)| *k == r).map(|&(_, v)| v)
    }
}

impl Serialize for SceneRecall {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (r, v) in &self.0 {
            map.serialize_entry(&r.to_string(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SceneRecall {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = SceneRecall;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from cut-off (a number as a string) to scene recall")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<SceneRecall, A::Error> {
                let mut out = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, f64>()? {
                    let r = key.parse().map_err(|_| serde::de::Error::custom(format!("cut-off '{key}' is not a number")))?;
                    out.push((r, value));
                }
                Ok(SceneRecall(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Everything [`evaluate`] measures. Field names follow the reference `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Images (rows of the similarity matrix).
    pub n_images: usize,
    /// Captions (columns).
    pub n_captions: usize,
    /// Image -> text retrieval.
    pub i2t: Recall,
    /// Text -> image retrieval.
    pub t2i: Recall,
    /// Mean of the six `R@K`.
    #[serde(rename = "mR")]
    pub mr: f64,
    /// Image -> text scene recall; absent without scene labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_recall_i2t: Option<SceneRecall>,
    /// Text -> image scene recall; absent without scene labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_recall_t2i: Option<SceneRecall>,
}

/// Options of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalOptions {
    /// Cut-offs `r` for scene recall, each at least 1, no repeats. Default 1, 5, 10.
    pub scene_recall_at: Vec<usize>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { scene_recall_at: vec![1, 5, 10] }
    }
}

/// Label id of items without a scene label: matches nothing.
const NO_LABEL: u32 = u32::MAX;
/// Rank of a query that was not evaluated.
const NO_RANK: usize = usize::MAX;
/// Captions per text -> image task: their columns are gathered into one scratch block.
const CAPTION_BLOCK: usize = 64;

/// Compute the metrics of `sims` (images x captions).
///
/// `caption_image[j]` is the image caption `j` describes (any number of captions per
/// image, including none). `scenes`, if given, holds one optional scene label per image;
/// a caption's scene is its image's. Without labels the scene recall fields are `None`,
/// as they are when no query has a label.
pub fn evaluate(sims: &SimMatrix, caption_image: &[usize], scenes: Option<&[Option<&str>]>, options: &EvalOptions) -> Result<Metrics> {
    let (ni, nc) = (sims.n_images(), sims.n_captions());
    let p = Prep::new(ni, nc, sims.path(), caption_image, scenes, options)?;
    let (rs, nr, w, max_r) = (p.rs, p.rs.len(), p.w, p.max_r);

    // Image -> text: one row per query.
    let mut i2t_rank = vec![NO_RANK; ni];
    let mut i2t_hits = vec![0u32; ni * w];
    i2t_rank
        .par_iter_mut()
        .zip(i2t_hits.par_chunks_mut(w))
        .enumerate()
        .for_each_init(|| TopScratch::new(max_r.min(nc)), |scratch, (i, (rank, hits))| p.image_query(i, sims.row(i), scratch, rank, hits));

    // Text -> image: columns, gathered a block of captions at a time.
    let mut t2i_rank = vec![NO_RANK; nc];
    let mut t2i_hits = vec![0u32; nc * w];
    t2i_rank.par_chunks_mut(CAPTION_BLOCK).zip(t2i_hits.par_chunks_mut(CAPTION_BLOCK * w)).enumerate().for_each_init(
        || (vec![0.0f64; CAPTION_BLOCK * ni], TopScratch::new(max_r.min(ni))),
        |(cols, scratch), (b, (ranks, hits))| {
            let j0 = b * CAPTION_BLOCK;
            let n = ranks.len();
            for i in 0..ni {
                for (jj, &v) in sims.row(i)[j0..j0 + n].iter().enumerate() {
                    cols[jj * ni + i] = v;
                }
            }
            for (jj, rank) in ranks.iter_mut().enumerate() {
                let j = j0 + jj;
                let col = &cols[jj * ni..(jj + 1) * ni];
                *rank = rank_of(col, caption_image[j]);
                if let (Some(il), Some(cl)) = (&p.image_label, &p.caption_label) {
                    if cl[j] != NO_LABEL && nr > 0 {
                        scene_hits(col, |i| il[i] == cl[j], rs, scratch, &mut hits[jj * w..(jj + 1) * w]);
                    }
                }
            }
        },
    );
    Ok(p.finish(&i2t_rank, &i2t_hits, &t2i_rank, &t2i_hits))
}

/// What both evaluation paths (the matrix, [`evaluate`], and the blocked one,
/// [`evaluate_blocked`]) derive from the pairs and labels before scoring anything.
struct Prep<'a> {
    ni: usize,
    nc: usize,
    /// Captions of each image, ascending, in one flat list (CSR offsets `start`).
    start: Vec<usize>,
    caps: Vec<usize>,
    /// Scene labels as small integers, so comparisons in the loops are cheap.
    image_label: Option<Vec<u32>>,
    caption_label: Option<Vec<u32>>,
    rs: &'a [usize],
    w: usize,
    max_r: usize,
}

impl<'a> Prep<'a> {
    fn new(
        ni: usize,
        nc: usize,
        path: Option<&std::path::Path>,
        caption_image: &[usize],
        scenes: Option<&[Option<&str>]>,
        options: &'a EvalOptions,
    ) -> Result<Prep<'a>> {
        if ni == 0 || nc == 0 {
            return Err(Error::Invalid(format!("nothing to evaluate: the similarity matrix is {ni} x {nc}")));
        }
        if caption_image.len() != nc {
            return Err(Error::shape(path, format!("{} caption-to-image entries for {nc} captions (columns)", caption_image.len())));
        }
        if let Some((caption, &image)) = caption_image.iter().enumerate().find(|(_, &i)| i >= ni) {
            return Err(Error::CaptionImage { caption, image, n_images: ni });
        }
        if let Some(s) = scenes {
            if s.len() != ni {
                return Err(Error::shape(path, format!("{} scene labels for {ni} images (rows)", s.len())));
            }
        }
        let rs = &options.scene_recall_at[..];
        for (x, &r) in rs.iter().enumerate() {
            if r == 0 || rs[..x].contains(&r) {
                return Err(Error::Invalid(format!("scene recall cut-offs must be distinct and at least 1, got {rs:?}")));
            }
        }
        let mut start = vec![0usize; ni + 1];
        for &i in caption_image {
            start[i + 1] += 1;
        }
        for i in 0..ni {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut caps = vec![0usize; nc];
        for (j, &i) in caption_image.iter().enumerate() {
            caps[fill[i]] = j;
            fill[i] += 1;
        }
        let image_label: Option<Vec<u32>> = scenes.map(|s| {
            let mut ids: HashMap<&str, u32> = HashMap::new();
            s.iter()
                .map(|l| match l {
                    Some(name) => {
                        let next = ids.len() as u32;
                        *ids.entry(name).or_insert(next)
                    }
                    None => NO_LABEL,
                })
                .collect()
        });
        let caption_label: Option<Vec<u32>> = image_label.as_ref().map(|l| caption_image.iter().map(|&i| l[i]).collect());
        let max_r = rs.iter().copied().max().unwrap_or(0);
        Ok(Prep { ni, nc, start, caps, image_label, caption_label, rs, w: rs.len().max(1), max_r })
    }

    /// Image `i`'s rank and scene hits from its row of similarities (all captions).
    #[inline]
    fn image_query(&self, i: usize, row: &[f64], scratch: &mut TopScratch, rank: &mut usize, hits: &mut [u32]) {
        let mine = &self.caps[self.start[i]..self.start[i + 1]];
        if mine.is_empty() {
            return;
        }
        *rank = rank_of(row, first_of(row, mine));
        if let (Some(il), Some(cl)) = (&self.image_label, &self.caption_label) {
            if il[i] != NO_LABEL && !self.rs.is_empty() {
                scene_hits(row, |j| cl[j] == il[i], self.rs, scratch, hits);
            }
        }
    }

    fn finish(&self, i2t_rank: &[usize], i2t_hits: &[u32], t2i_rank: &[usize], t2i_hits: &[u32]) -> Metrics {
        let (ni, nc, rs, w) = (self.ni, self.nc, self.rs, self.w);
        let i2t = recall(i2t_rank);
        let t2i = recall(t2i_rank);
        let (scene_recall_i2t, scene_recall_t2i) = match (&self.image_label, &self.caption_label) {
            (Some(il), Some(cl)) => (
                scene_recall(rs, i2t_hits, w, nc, (0..ni).map(|i| i2t_rank[i] != NO_RANK && il[i] != NO_LABEL)),
                scene_recall(rs, t2i_hits, w, ni, cl.iter().map(|&l| l != NO_LABEL)),
            ),
            _ => (None, None),
        };
        Metrics {
            n_images: ni,
            n_captions: nc,
            mr: (i2t.r1 + i2t.r5 + i2t.r10 + t2i.r1 + t2i.r5 + t2i.r10) / 6.0,
            i2t,
            t2i,
            scene_recall_i2t,
            scene_recall_t2i,
        }
    }
}

/// [`evaluate`] with the captions, images and scene labels of a corpus, whose images and
/// captions must be the rows and columns of `sims` in corpus order.
pub fn evaluate_corpus(sims: &SimMatrix, corpus: &Corpus, options: &EvalOptions) -> Result<Metrics> {
    if (sims.n_images(), sims.n_captions()) != (corpus.images.len(), corpus.captions.len()) {
        return Err(Error::shape(
            sims.path(),
            format!(
                "the {} x {} similarity matrix does not fit corpus {} ({} images, {} captions)",
                sims.n_images(),
                sims.n_captions(),
                corpus.source.display(),
                corpus.images.len(),
                corpus.captions.len()
            ),
        ));
    }
    let caption_image: Vec<usize> = corpus.captions.iter().map(|c| c.image).collect();
    let scenes: Vec<Option<&str>> = corpus.images.iter().map(|i| i.scene.as_deref()).collect();
    let has_labels = scenes.iter().any(Option::is_some);
    evaluate(sims, &caption_image, has_labels.then_some(&scenes[..]), options)
}

/// The summary of the ranks of the evaluated queries (`NO_RANK` entries are skipped).
fn recall(ranks: &[usize]) -> Recall {
    let mut r: Vec<usize> = ranks.iter().copied().filter(|&r| r != NO_RANK).collect();
    let n = r.len();
    debug_assert!(n > 0, "at least one caption, so at least one query each way");
    let pct = |k: usize| 100.0 * r.iter().filter(|&&x| x < k).count() as f64 / n as f64;
    let (r1, r5, r10) = (pct(1), pct(5), pct(10));
    let meanr = r.iter().map(|&x| x as u128).sum::<u128>() as f64 / n as f64 + 1.0;
    r.sort_unstable();
    // numpy's median of an even count is the mean of the middle two; floor of that.
    let median_floor = if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2 };
    Recall { r1, r5, r10, medr: median_floor as f64 + 1.0, meanr }
}

/// Mean, over the queries `counted` yields true for, of each cut-off's hit fraction.
pub(crate) fn scene_recall(
    rs: &[usize],
    hits: &[u32],
    w: usize,
    n_candidates: usize,
    counted: impl Iterator<Item = bool>,
) -> Option<SceneRecall> {
    let mut sums = vec![0.0f64; rs.len()];
    let mut queries = 0usize;
    for (q, _) in counted.enumerate().filter(|&(_, c)| c) {
        queries += 1;
        for (x, &r) in rs.iter().enumerate() {
            sums[x] += hits[q * w + x] as f64 / r.min(n_candidates) as f64;
        }
    }
    (queries > 0).then(|| SceneRecall(rs.iter().zip(sums).map(|(&r, s)| (r, s / queries as f64)).collect()))
}
