//! The training set: one item per caption of a corpus split, paired with its image;
//! seeded per-epoch order; the reference's collation.

use std::path::PathBuf;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use swan_store::Corpus;

use crate::error::{EmbedError, Result};
use crate::text::Vocab;

/// One training pair: a caption's token ids and its image's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Token ids (possibly empty: the empty caption).
    pub ids: Vec<i64>,
    /// Index into [`TrainSet::images`].
    pub image: usize,
}

/// Captions of one split with their images (only captions whose image file exists).
#[derive(Clone, Debug)]
pub struct TrainSet {
    /// Image files.
    pub images: Vec<PathBuf>,
    /// One item per caption, in corpus order.
    pub items: Vec<Item>,
    /// Captions left out because their image file is missing.
    pub missing_images: usize,
}

impl TrainSet {
    /// Tokenise every caption of `corpus` with `vocab`. Errors when the split has no
    /// caption or when none of its images exists (`what` names the split in messages).
    pub fn new(corpus: &Corpus, vocab: &Vocab, what: &str) -> Result<TrainSet> {
        if corpus.captions.is_empty() {
            return Err(EmbedError::Input(format!("{what} split of {} has no captions", corpus.source.display())));
        }
        let exists: Vec<bool> = corpus.images.iter().map(|i| i.path.is_file()).collect();
        if !exists.iter().any(|&e| e) {
            let first = corpus.images.first().map(|i| i.path.display().to_string()).unwrap_or_default();
            return Err(EmbedError::Input(format!(
                "{what} split of {}: none of its {} images exists (first: {first})",
                corpus.source.display(),
                corpus.images.len()
            )));
        }
        let mut items = Vec::with_capacity(corpus.captions.len());
        let mut missing_images = 0;
        for c in &corpus.captions {
            if exists[c.image] {
                items.push(Item { ids: vocab.encode(&c.text), image: c.image });
            } else {
                missing_images += 1;
            }
        }
        Ok(TrainSet { images: corpus.images.iter().map(|i| i.path.clone()).collect(), items, missing_images })
    }

    /// Items per epoch.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Mix a run's seed with up to two counters into one RNG seed (splitmix64 finaliser), so
/// each epoch, step and sample gets an independent stream that a resumed run recreates.
pub fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The item order of `epoch`: a seeded shuffle, or corpus order without `shuffle`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed, 1, epoch as u64)));
    }
    order
}

/// A collated batch: items sorted by caption length, longest first (stable), ids padded
/// to the longest; an empty caption becomes length 1, token 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Item indices in batch order.
    pub items: Vec<usize>,
    /// `B x T` ids, row-major.
    pub ids: Vec<i64>,
    /// Caption lengths (each >= 1).
    pub lengths: Vec<i64>,
    /// `T`.
    pub width: usize,
}

/// Collate `members` (item indices) of `set` as the reference's `collate_fn` does.
pub fn collate(set: &TrainSet, members: &[usize]) -> Batch {
    let mut items = members.to_vec();
    items.sort_by_key(|&i| std::cmp::Reverse(set.items[i].ids.len()));
    let lengths: Vec<i64> = items.iter().map(|&i| set.items[i].ids.len().max(1) as i64).collect();
    let width = lengths.iter().copied().max().unwrap_or(1) as usize;
    let mut ids = vec![0i64; items.len() * width];
    for (row, &i) in items.iter().enumerate() {
        let c = &set.items[i].ids;
        ids[row * width..row * width + c.len()].copy_from_slice(c);
    }
    Batch { items, ids, lengths, width }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lengths: &[usize]) -> TrainSet {
        let items = lengths.iter().enumerate().map(|(i, &l)| Item { ids: (1..=l as i64).collect(), image: i / 2 }).collect();
        TrainSet { images: vec![], items, missing_images: 0 }
    }

    #[test]
    fn collation_sorts_longest_first_pads_and_gives_empty_captions_length_one() {
        let s = set(&[2, 0, 3, 2]);
        let b = collate(&s, &[0, 1, 2, 3]);
        assert_eq!(b.items, vec![2, 0, 3, 1]);
        assert_eq!(b.lengths, vec![3, 2, 2, 1]);
        assert_eq!(b.width, 3);
        assert_eq!(b.ids, vec![1, 2, 3, 1, 2, 0, 1, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn epoch_orders_are_seeded_permutations() {
        let a = epoch_order(50, 7, 0, true);
        assert_eq!(a, epoch_order(50, 7, 0, true));
        assert_ne!(a, epoch_order(50, 7, 1, true));
        assert_ne!(a, epoch_order(50, 8, 0, true));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 7, 3, false), vec![0, 1, 2, 3, 4]);
    }
}
