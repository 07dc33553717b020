//! [`evaluate`](super::evaluate) without the matrix: the similarities of a block of images
//! with every caption are computed, used and dropped, so memory is `O(block x captions)`
//! per thread instead of `images x captions` (4 GB of `f64` at 10k x 50k).
//!
//! - image -> text needs one image's row: done per image of the block, as the matrix path.
//! - text -> image needs a caption's column, which no block holds whole. The rank of the
//!   caption's image is a count (images scoring higher, plus equal ones with a smaller
//!   index), so it is summed block by block once the target's own score is known (a first
//!   pass computes it, with the same kernel, so the same bits). Scene recall keeps a bounded
//!   heap of the best `max(r)` images per caption, merged across blocks (a total order, so
//!   the merge order does not matter).
//!
//! Every similarity is the `f32` kernel score widened to `f64`, as in
//! [`SimMatrix::from_embeddings`](super::SimMatrix::from_embeddings), and the counts and
//! heaps use the same comparisons, so the metrics are identical to the matrix path's.

use rayon::prelude::*;

use super::rank::TopScratch;
use super::{EvalOptions, Metrics, Prep, NO_LABEL, NO_RANK};
use crate::error::{Error, Result};
use crate::exact::Rows;
use crate::topk::{f64_key, Slot, TopK};

/// Images per block: 64 x 50k captions x 8 bytes = 25 MB per thread.
const IMAGE_BLOCK: usize = 64;

/// The metrics of the matrix of image rows `image_rows` of `images` (in that order) by
/// caption rows `caption_rows` of `captions`, as [`evaluate`](super::evaluate) computes
/// them from that matrix, without holding it. `caption_image` and `scenes` are indexed by
/// position in `caption_rows` and `image_rows`.
pub fn evaluate_blocked(
    images: &Rows<'_>,
    captions: &Rows<'_>,
    image_rows: &[usize],
    caption_rows: &[usize],
    caption_image: &[usize],
    scenes: Option<&[Option<&str>]>,
    options: &EvalOptions,
) -> Result<Metrics> {
    if images.dim() != captions.dim() {
        return Err(Error::shape(
            images.path().or(captions.path()),
            format!("image rows have {} values but caption rows have {}", images.dim(), captions.dim()),
        ));
    }
    for (rows, table) in [(image_rows, images), (caption_rows, captions)] {
        if let Some(&row) = rows.iter().find(|&&r| r >= table.len()) {
            return Err(Error::RowOutOfRange { path: table.path().map(Into::into), row, rows: table.len() });
        }
    }
    images.check_finite()?;
    captions.check_finite()?;
    let (ni, nc, dim) = (image_rows.len(), caption_rows.len(), images.dim());
    let p = Prep::new(ni, nc, None, caption_image, scenes, options)?;
    let (w, max_r) = (p.w, p.max_r);
    let ct_rows = captions.len();
    // Column of each caption row (u32::MAX: not evaluated) and which rows to score.
    let mut column = vec![u32::MAX; ct_rows];
    for (j, &r) in caption_rows.iter().enumerate() {
        column[r] = j as u32;
    }
    let mask: Vec<bool> = column.iter().map(|&c| c != u32::MAX).collect();
    let nan = |i: usize, j: usize| Error::NotANumber { path: None, row: image_rows[i], col: caption_rows[j] };

    // Pass 1: each caption's score with its own image (the target of its ranking).
    let target: Vec<f64> = (0..nc)
        .into_par_iter()
        .map_init(
            || vec![0f32; dim],
            |q, j| {
                images.row_into_f32(image_rows[caption_image[j]], q);
                captions.score(q, caption_rows[j]) as f64
            },
        )
        .collect();
    if let Some(j) = target.iter().position(|t| t.is_nan()) {
        return Err(nan(caption_image[j], j));
    }

    // Pass 2: blocks of images. Each thread folds its blocks into text -> image counts and
    // heaps; image -> text results are written per image.
    let scene_t2i = p.image_label.is_some() && !p.rs.is_empty();
    let heap_k = max_r.min(ni);
    let mut i2t_rank = vec![NO_RANK; ni];
    let mut i2t_hits = vec![0u32; ni * w];
    let folded = i2t_rank
        .par_chunks_mut(IMAGE_BLOCK)
        .zip(i2t_hits.par_chunks_mut(IMAGE_BLOCK * w))
        .enumerate()
        .try_fold(
            || Fold::new(nc, if scene_t2i { heap_k } else { 0 }, max_r.min(nc)),
            |mut f, (b, (ranks, hits))| -> Result<Fold> {
                let i0 = b * IMAGE_BLOCK;
                let n = ranks.len();
                f.query.resize(n * dim, 0.0);
                for q in 0..n {
                    images.row_into_f32(image_rows[i0 + q], &mut f.query[q * dim..(q + 1) * dim]);
                }
                f.sims.resize(n * nc, 0.0);
                let sims = &mut f.sims;
                captions.score_tiles(&f.query, 0..ct_rows, Some(&mask), |q, r, s| sims[q * nc + column[r as usize] as usize] = s as f64);
                for q in 0..n {
                    let i = i0 + q;
                    let row = &f.sims[q * nc..(q + 1) * nc];
                    if let Some(j) = row.iter().position(|s| s.is_nan()) {
                        return Err(nan(i, j));
                    }
                    p.image_query(i, row, &mut f.scratch, &mut ranks[q], &mut hits[q * w..(q + 1) * w]);
                    // Text -> image: the comparisons of `rank_of` and `scene_hits`, one image at a time.
                    for (j, &s) in row.iter().enumerate() {
                        let (ti, t) = (caption_image[j], target[j]);
                        f.count[j] += ((i < ti && s >= t) || (i > ti && s > t)) as u32;
                    }
                    if let (true, Some(cl)) = (scene_t2i, &p.caption_label) {
                        for (j, &s) in row.iter().enumerate() {
                            if cl[j] != NO_LABEL {
                                let key = f64_key(s);
                                if !f.top.rejects(j, key) {
                                    f.top.push(j, key, i as u32);
                                }
                            }
                        }
                    }
                }
                Ok(f)
            },
        )
        .try_reduce_with(|mut a, b| {
            a.absorb(&b);
            Ok(a)
        })
        .expect("at least one image block")?;

    let t2i_rank: Vec<usize> = folded.count.iter().map(|&c| c as usize).collect();
    let mut t2i_hits = vec![0u32; nc * w];
    if let (true, Some(il), Some(cl)) = (scene_t2i, &p.image_label, &p.caption_label) {
        let mut sorted: Vec<Slot<u64>> = Vec::with_capacity(heap_k);
        for j in (0..nc).filter(|&j| cl[j] != NO_LABEL) {
            sorted.clear();
            folded.top.sorted_into(j, &mut sorted);
            for (o, &r) in t2i_hits[j * w..(j + 1) * w].iter_mut().zip(p.rs) {
                *o = sorted[..r.min(sorted.len())].iter().filter(|s| il[s.id as usize] == cl[j]).count() as u32;
            }
        }
    }
    Ok(p.finish(&i2t_rank, &i2t_hits, &t2i_rank, &t2i_hits))
}

/// One thread's share of the text -> image work, plus its scratch.
struct Fold {
    /// Images ranked before each caption's target so far.
    count: Vec<u32>,
    /// Best images so far of each caption (for scene recall).
    top: TopK<u64>,
    query: Vec<f32>,
    sims: Vec<f64>,
    scratch: TopScratch,
}

impl Fold {
    fn new(nc: usize, heap_k: usize, i2t_k: usize) -> Fold {
        Fold {
            count: vec![0; nc],
            top: TopK::new(if heap_k > 0 { nc } else { 0 }, heap_k),
            query: Vec::new(),
            sims: Vec::new(),
            scratch: TopScratch::new(i2t_k),
        }
    }

    fn absorb(&mut self, other: &Fold) {
        for (a, b) in self.count.iter_mut().zip(&other.count) {
            *a += b;
        }
        for j in 0..other.top.queries() {
            for s in other.top.items(j) {
                self.top.push(j, s.key, s.id);
            }
        }
    }
}
