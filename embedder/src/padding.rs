//! How captions are padded into batches, which changes their embeddings (the GA block
//! attends over padding): `alone` pads each caption to its own length (deterministic,
//! order-independent: for queries); `shard:N` pads each run of N captions in corpus
//! order to the run's longest (how the reference evaluation reproduces published numbers).

use serde::{Deserialize, Serialize};

/// A text padding mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TextPadding {
    /// Each caption padded to its own length.
    Alone,
    /// Runs of N captions in corpus order, each padded to its longest member.
    Shard(usize),
}

impl std::fmt::Display for TextPadding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextPadding::Alone => f.write_str("alone"),
            TextPadding::Shard(n) => write!(f, "shard:{n}"),
        }
    }
}

impl std::str::FromStr for TextPadding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "alone" {
            return Ok(TextPadding::Alone);
        }
        match s.strip_prefix("shard:").map(str::parse::<usize>) {
            Some(Ok(n)) if n > 0 => Ok(TextPadding::Shard(n)),
            _ => Err(format!("unknown text padding '{s}' (expected alone or shard:N with N >= 1)")),
        }
    }
}

/// One forward batch: which captions (indices into the input) it holds, all padded to `width`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextBatch {
    /// Input indices, in batch-row order.
    pub members: Vec<usize>,
    /// Padded length `T` of the batch.
    pub width: usize,
}

/// Split captions of the given token counts into forward batches of at most
/// `max_batch` rows. An empty caption counts as length 1 (it is encoded as token 0).
///
/// `Shard(n)` batches are exactly the reference's shards (one shard per batch, split
/// further only if `n > max_batch`, which keeps the padding width of the whole shard).
/// `Alone` groups captions of equal length, so padding never changes an embedding and
/// batches stay full.
pub fn plan(lengths: &[usize], padding: TextPadding, max_batch: usize) -> Vec<TextBatch> {
    let max_batch = max_batch.max(1);
    let len = |i: usize| lengths[i].max(1);
    let mut out = Vec::new();
    match padding {
        TextPadding::Shard(n) => {
            for start in (0..lengths.len()).step_by(n) {
                let shard: Vec<usize> = (start..(start + n).min(lengths.len())).collect();
                let width = shard.iter().map(|&i| len(i)).max().unwrap_or(1);
                for part in shard.chunks(max_batch) {
                    out.push(TextBatch { members: part.to_vec(), width });
                }
            }
        }
        TextPadding::Alone => {
            let mut by_len: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
            for i in 0..lengths.len() {
                by_len.entry(len(i)).or_default().push(i);
            }
            for (width, members) in by_len {
                for part in members.chunks(max_batch) {
                    out.push(TextBatch { members: part.to_vec(), width });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_follow_corpus_order_and_pad_to_their_longest() {
        let lengths = [3, 9, 0, 4, 4, 2, 7];
        let batches = plan(&lengths, TextPadding::Shard(3), 128);
        assert_eq!(
            batches,
            vec![
                TextBatch { members: vec![0, 1, 2], width: 9 },
                TextBatch { members: vec![3, 4, 5], width: 4 },
                TextBatch { members: vec![6], width: 7 },
            ]
        );
        // A shard wider than the batch keeps its width.
        let split = plan(&lengths, TextPadding::Shard(3), 2);
        assert_eq!(split[0], TextBatch { members: vec![0, 1], width: 9 });
        assert_eq!(split[1], TextBatch { members: vec![2], width: 9 });
    }

    #[test]
    fn alone_groups_equal_lengths() {
        let batches = plan(&[3, 9, 0, 3, 1, 3], TextPadding::Alone, 2);
        assert_eq!(
            batches,
            vec![
                TextBatch { members: vec![2, 4], width: 1 },
                TextBatch { members: vec![0, 3], width: 3 },
                TextBatch { members: vec![5], width: 3 },
                TextBatch { members: vec![1], width: 9 },
            ]
        );
    }

    #[test]
    fn parses_modes() {
        assert_eq!("alone".parse::<TextPadding>(), Ok(TextPadding::Alone));
        assert_eq!("shard:128".parse::<TextPadding>(), Ok(TextPadding::Shard(128)));
        assert!("shard:0".parse::<TextPadding>().is_err());
        assert_eq!(TextPadding::Shard(128).to_string(), "shard:128");
    }
}
