//! Per-query work: the rank of a target and the labels of the top `r` items, without
//! sorting whole rows.
//!
//! Ranking order: score descending, equal scores by index ascending. The reference code
//! ranks with `np.argsort(row)[::-1]`; numpy's default sort (introsort) is not stable,
//! so the reference leaves the order of exactly equal scores unspecified (with a stable
//! sort, `[::-1]` would put equal scores in *descending* index order). The two orders
//! therefore agree wherever a target does not tie exactly with another item, which is
//! the case for real embeddings; we pick a fixed, documented order so results are
//! reproducible on any machine.

use crate::topk::{f64_key, Slot, TopK};

/// 0-based position of `target` in the ranking of `scores`: the items scoring strictly
/// higher, plus the equal items with a smaller index.
#[inline]
pub(crate) fn rank_of(scores: &[f64], target: usize) -> usize {
    let t = scores[target];
    // Branch-free counts, which the compiler vectorises.
    let before: usize = scores[..target].iter().map(|&s| (s >= t) as usize).sum();
    let after: usize = scores[target + 1..].iter().map(|&s| (s > t) as usize).sum();
    before + after
}

/// The candidate placed first in the ranking of `scores` (the highest score, the
/// smallest index among equals). `candidates` must be non-empty and ascending; the
/// smallest rank among several targets is the rank of this one.
#[inline]
pub(crate) fn first_of(scores: &[f64], candidates: &[usize]) -> usize {
    let mut best = candidates[0];
    for &c in &candidates[1..] {
        if scores[c] > scores[best] {
            best = c;
        }
    }
    best
}

/// Scratch for [`scene_hits`], one per thread.
pub(crate) struct TopScratch {
    top: TopK<u64>,
    sorted: Vec<Slot<u64>>,
}

impl TopScratch {
    /// Room for the best `k` items.
    pub(crate) fn new(k: usize) -> TopScratch {
        TopScratch { top: TopK::new(1, k), sorted: Vec::with_capacity(k) }
    }
}

/// For each cut-off `rs[x]`, how many of the top `min(rs[x], len)` items of `scores`
/// satisfy `matches`, written to `out[x]`. Selection keeps a bounded heap of the best
/// `max(rs)` items, so most items cost one comparison.
pub(crate) fn scene_hits(scores: &[f64], matches: impl Fn(usize) -> bool, rs: &[usize], scratch: &mut TopScratch, out: &mut [u32]) {
    let TopScratch { top, sorted } = scratch;
    top.reset(1);
    for (j, &s) in scores.iter().enumerate() {
        let key = f64_key(s);
        if !top.rejects(0, key) {
            top.push(0, key, j as u32);
        }
    }
    sorted.clear();
    top.sorted_into(0, sorted);
    for (o, &r) in out.iter_mut().zip(rs) {
        *o = sorted[..r.min(sorted.len())].iter().filter(|s| matches(s.id as usize)).count() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_counts_higher_scores_and_earlier_ties() {
        let s = [0.5, 0.9, 0.5, 0.1, 0.5];
        assert_eq!(rank_of(&s, 1), 0);
        assert_eq!(rank_of(&s, 0), 1);
        assert_eq!(rank_of(&s, 2), 2);
        assert_eq!(rank_of(&s, 4), 3);
        assert_eq!(rank_of(&s, 3), 4);
        assert_eq!(first_of(&s, &[0, 2, 4]), 0);
        assert_eq!(first_of(&s, &[2, 3, 4]), 2);
        assert_eq!(rank_of(&[-0.0, 0.0], 1), 1, "-0.0 and 0.0 tie");
    }

    #[test]
    fn scene_hits_take_the_top_r_in_ranking_order() {
        // Ranking: 1 (0.9), 0, 2, 4 (0.5 ties by index), 3.
        let s = [0.5, 0.9, 0.5, 0.1, 0.5];
        let mut scratch = TopScratch::new(5);
        let mut out = [0u32; 4];
        scene_hits(&s, |j| j % 2 == 0, &[1, 2, 4, 9], &mut scratch, &mut out);
        assert_eq!(out, [0, 1, 3, 3]);
    }
}
