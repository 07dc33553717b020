//! Computing top-k lists: exact (blocked, multi-threaded [`search_range`]) or through
//! one or more indexes. Queries are read a block at a time, so memory is the lists
//! (`queries x k`) plus one block of query vectors, whatever the number of queries.

use std::ops::Range;

use rayon::prelude::*;
use swan_indexer::{Hit, IndexSet, SearchParams};

use super::Lists;
use crate::error::Result;
use crate::exact::{search_range, Rows};

/// Reads the query vectors `range` into `out` (`range.len() x dim` values).
pub type QueryReader<'a> = dyn Fn(Range<usize>, &mut [f32]) -> Result<()> + Sync + 'a;

/// Queries read and searched at a time: 8 MiB of 512-d `f32` vectors.
const QUERY_BLOCK: usize = 4096;

/// The exact top `k` of rows `range` of `base` for each of `nq` queries read by `read`.
/// Ids are rows of `base` (global, also for a slice); rows `base` marks invalid never
/// answer. `progress(done, total)` reports queries answered. Runs on the current rayon pool.
pub fn exact_topk(
    base: &Rows<'_>,
    range: Range<usize>,
    nq: usize,
    read: &QueryReader<'_>,
    k: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<Lists> {
    in_query_blocks(nq, base.dim(), k, read, progress, |qs| search_range(base, range.clone(), qs, k, None))
}

/// The top `k` of each query through `index` (one index, or a shard set whose indexes
/// each answer from their rows, merged in ranking order), with `params`. One searcher per
/// thread; results do not depend on the thread count.
pub fn ann_topk(
    index: &IndexSet,
    nq: usize,
    dim: usize,
    read: &QueryReader<'_>,
    k: usize,
    params: &SearchParams,
    progress: &dyn Fn(usize, usize),
) -> Result<Lists> {
    in_query_blocks(nq, dim, k, read, progress, |qs| {
        qs.par_chunks(dim)
            .map_init(|| index.searcher(), |searcher, q| -> Result<Vec<Hit>> { Ok(searcher.search_filtered(q, k, params, None)?.to_vec()) })
            .collect()
    })
}

/// The lists of `nq` queries answered by `search`, one block of at most [`QUERY_BLOCK`]
/// query vectors at a time (read by `read` into one reused buffer): the loop both the
/// exact and the index path share.
fn in_query_blocks(
    nq: usize,
    dim: usize,
    k: usize,
    read: &QueryReader<'_>,
    progress: &dyn Fn(usize, usize),
    search: impl Fn(&[f32]) -> Result<Vec<Vec<Hit>>>,
) -> Result<Lists> {
    let mut lists = Lists::empty(nq, k)?;
    let mut buf = vec![0f32; QUERY_BLOCK.min(nq) * dim];
    let mut q0 = 0;
    while q0 < nq {
        let n = QUERY_BLOCK.min(nq - q0);
        let qs = &mut buf[..n * dim];
        read(q0..q0 + n, qs)?;
        let hits = search(qs)?;
        fill(&mut lists, q0, &hits);
        q0 += n;
        progress(q0, nq);
    }
    Ok(lists)
}

fn fill(lists: &mut Lists, q0: usize, hits: &[Vec<Hit>]) {
    let k = lists.k;
    for (i, h) in hits.iter().enumerate() {
        let at = (q0 + i) * k;
        for (j, hit) in h.iter().take(k).enumerate() {
            lists.ids[at + j] = hit.id as i64;
            lists.scores[at + j] = hit.score;
        }
    }
}
