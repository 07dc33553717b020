//! The HNSW graph in flat arrays and the two searches over it (Malkov & Yashunin,
//! algorithms 2 and 5): a greedy descent through the upper layers and a beam search of
//! width `ef` in a layer.
//!
//! Layout as in hnswlib's `hnswalg.h`: layer 0 is one array of fixed-size blocks
//! `[count, id x m0]`, one per node; a node of level `L > 0` owns `L` blocks
//! `[count, id x m]` in a second array, located through a prefix-sum offset table.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::vectors::Space;

/// A frozen graph, as searched and stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Graph {
    /// Maximum links per node on layers above 0.
    pub m: usize,
    /// Maximum links per node on layer 0.
    pub m0: usize,
    /// Entry node (one of the highest level).
    pub entry: u32,
    /// Level of the entry node.
    pub max_level: u8,
    /// Level of each node.
    pub levels: Vec<u8>,
    /// `n * (m0 + 1)` words.
    pub links0: Vec<u32>,
    /// `n + 1` prefix sums of `levels`: node `i`'s upper blocks are `upper_start[i]..upper_start[i + 1]`.
    pub upper_start: Vec<u32>,
    /// Upper-layer blocks of `m + 1` words.
    pub upper: Vec<u32>,
}

/// `levels.len() + 1` prefix sums of `levels`: the `upper_start` of a graph with these levels.
pub(crate) fn upper_offsets(levels: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(levels.len() + 1);
    let mut total = 0u32;
    for &l in levels {
        out.push(total);
        total += l as u32;
    }
    out.push(total);
    out
}

impl Graph {
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// Check the structural invariants (after loading a file): every id in range, counts
    /// within the block size, offsets consistent with the levels.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let n = self.len();
        if n == 0 {
            return Ok(());
        }
        if self.m == 0 || self.m0 < self.m {
            return Err(format!("link limits m={} m0={} are impossible", self.m, self.m0));
        }
        if self.entry as usize >= n || self.levels[self.entry as usize] != self.max_level {
            return Err(format!("entry node {} (max level {}) is not a node of that level", self.entry, self.max_level));
        }
        if self.links0.len() != n * (self.m0 + 1) || self.upper_start.len() != n + 1 {
            return Err("link table sizes do not match the node count".into());
        }
        let mut total = 0u64;
        for (i, &l) in self.levels.iter().enumerate() {
            if self.upper_start[i] as u64 != total || l > self.max_level {
                return Err(format!("node {i}: level {l} or upper offset {} is inconsistent", self.upper_start[i]));
            }
            total += l as u64;
        }
        if self.upper_start[n] as u64 != total || self.upper.len() as u64 != total * (self.m as u64 + 1) {
            return Err("upper-layer table size does not match the levels".into());
        }
        let check = |blocks: &[u32], width: usize| -> Result<(), String> {
            for (b, block) in blocks.chunks_exact(width + 1).enumerate() {
                let count = block[0] as usize;
                if count > width {
                    return Err(format!("link block {b} holds {count} links, more than {width}"));
                }
                if let Some(&bad) = block[1..=count].iter().find(|&&id| id as usize >= n) {
                    return Err(format!("link block {b} points at node {bad} of {n}"));
                }
            }
            Ok(())
        };
        check(&self.links0, self.m0)?;
        check(&self.upper, self.m)?;
        // A node on layer l links only to nodes that are on layer l too.
        for (i, &l) in self.levels.iter().enumerate() {
            for level in 1..=l as usize {
                let start = (self.upper_start[i] as usize + level - 1) * (self.m + 1);
                let block = &self.upper[start..start + self.m + 1];
                if let Some(&bad) = block[1..=block[0] as usize].iter().find(|&&id| (self.levels[id as usize] as usize) < level) {
                    return Err(format!("node {i} links on layer {level} to node {bad} of level {}", self.levels[bad as usize]));
                }
            }
        }
        Ok(())
    }

    /// Mean layer-0 out-degree and the number of nodes no layer-0 link reaches.
    pub(crate) fn degree_stats(&self) -> (f64, usize) {
        let n = self.len();
        let mut reached = vec![false; n];
        let mut links = 0usize;
        for block in self.links0.chunks_exact(self.m0 + 1) {
            let c = block[0] as usize;
            links += c;
            block[1..=c].iter().for_each(|&id| reached[id as usize] = true);
        }
        let unreached = (0..n).filter(|&i| !reached[i] && i != self.entry as usize).count();
        (links as f64 / n.max(1) as f64, unreached)
    }
}

/// Read access to a node's links on a layer. The frozen graph hands out its slice; the
/// graph under construction copies its atomics into `buf`.
pub(crate) trait Links: Sync {
    fn neighbours<'s>(&'s self, node: u32, level: usize, buf: &'s mut Vec<u32>) -> &'s [u32];
    /// Start loading a node's layer-0 list (the next one the beam will expand).
    fn prefetch0(&self, _node: u32) {}
}

impl Links for Graph {
    #[inline]
    fn neighbours<'s>(&'s self, node: u32, level: usize, _buf: &'s mut Vec<u32>) -> &'s [u32] {
        let block = if level == 0 {
            let start = node as usize * (self.m0 + 1);
            &self.links0[start..start + self.m0 + 1]
        } else {
            let start = (self.upper_start[node as usize] as usize + level - 1) * (self.m + 1);
            &self.upper[start..start + self.m + 1]
        };
        &block[1..1 + block[0] as usize]
    }

    #[inline]
    fn prefetch0(&self, node: u32) {
        let start = node as usize * (self.m0 + 1);
        crate::distance::prefetch(self.links0.as_ptr().wrapping_add(start), 4 * (self.m0 + 1));
    }
}

/// A node and its distance to the current query, ordered by distance then id (a total
/// order, so results are deterministic under ties).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cand {
    pub dist: f32,
    pub id: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Visited set: one bit a node, and the list of nodes set, which the next search clears.
///
/// A bit rather than hnswlib's 2-byte epoch tag: at 2,000,000 nodes the bits take 250 KB
/// and stay in the L2 cache, where tags (4 MB) are read from L3 or memory for every
/// neighbour the walk looks at. Clearing costs one store per node visited, which the walk
/// has already paid for many times over.
#[derive(Default)]
pub(crate) struct Visited {
    bits: Vec<u64>,
    set: Vec<u32>,
}

impl Visited {
    pub(crate) fn start(&mut self, n: usize) {
        if self.set.len() > self.bits.len() / 8 {
            self.bits.fill(0);
        } else {
            for &id in &self.set {
                self.bits[id as usize >> 6] = 0;
            }
        }
        self.set.clear();
        if self.bits.len() < n.div_ceil(64) {
            self.bits.resize(n.div_ceil(64), 0);
        }
    }

    /// Mark `id`; true if it was not marked yet in this search.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        let word = &mut self.bits[id as usize >> 6];
        let bit = 1u64 << (id & 63);
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.set.push(id);
        true
    }
}

/// Per-thread search buffers, reused across queries.
#[derive(Default)]
pub(crate) struct Scratch {
    pub visited: Visited,
    candidates: BinaryHeap<Reverse<Cand>>,
    results: BinaryHeap<Cand>,
    buf: Vec<u32>,
    batch: Vec<u32>,
    /// Output of [`search_layer`], nearest first.
    pub out: Vec<Cand>,
}

/// Greedy descent (algorithm 5's upper part): on each layer from `from` down to `to`
/// inclusive, move to the nearest neighbour until no neighbour is nearer.
pub(crate) fn greedy<S: Space, L: Links>(
    space: &S,
    links: &L,
    q: &S::Query,
    mut cur: Cand,
    from: usize,
    to: usize,
    buf: &mut Vec<u32>,
) -> Cand {
    for level in (to..=from).rev() {
        loop {
            let mut moved = false;
            let ns = links.neighbours(cur.id, level, buf);
            for &n in ns {
                space.prefetch(n);
            }
            for &n in ns {
                let d = space.dist(q, n);
                if d < cur.dist {
                    cur = Cand { dist: d, id: n };
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    cur
}

/// Beam search of width `ef` on `level` from `entry` (algorithm 2). Leaves the best `ef`
/// nodes that `accept` admits in `scratch.out`, nearest first.
///
/// The walk goes through every node, admitted or not; only the results are filtered, as in
/// hnswlib's `searchBaseLayerST` with an `isIdAllowed` filter. Until `ef` nodes are
/// admitted the walk does not stop, so a filter that admits few nodes costs up to a scan
/// of the layer (callers fall back to exact search for those). Unfiltered callers pass
/// `|_| true`, which compiles away.
#[allow(clippy::too_many_arguments)] // the algorithm's own inputs; a struct would only rename them
pub(crate) fn search_layer<S: Space, L: Links>(
    space: &S,
    links: &L,
    n_nodes: usize,
    q: &S::Query,
    entry: Cand,
    ef: usize,
    level: usize,
    scratch: &mut Scratch,
    accept: impl Fn(u32) -> bool,
) {
    let Scratch { visited, candidates, results, buf, batch, out } = scratch;
    visited.start(n_nodes);
    candidates.clear();
    results.clear();
    visited.insert(entry.id);
    candidates.push(Reverse(entry));
    if accept(entry.id) {
        results.push(entry);
    }
    let ef = ef.max(1);
    let worst = |results: &BinaryHeap<Cand>| results.peek().map_or(f32::INFINITY, |c| c.dist);
    while let Some(Reverse(c)) = candidates.pop() {
        // Stop when the nearest unexpanded candidate is farther than the ef-th result.
        if c.dist > worst(results) && results.len() >= ef {
            break;
        }
        if let Some(Reverse(next)) = candidates.peek() {
            links.prefetch0(next.id);
        }
        batch.clear();
        for &n in links.neighbours(c.id, level, buf) {
            if visited.insert(n) {
                batch.push(n);
            }
        }
        for &n in batch.iter() {
            space.prefetch(n);
        }
        for &n in batch.iter() {
            let d = space.dist(q, n);
            if results.len() < ef || d < worst(results) {
                let cand = Cand { dist: d, id: n };
                candidates.push(Reverse(cand));
                if accept(n) {
                    results.push(cand);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
    }
    out.clear();
    out.extend(results.drain());
    out.sort_unstable();
}

/// Full k-NN search in one graph: descent, then a beam of `ef` on layer 0. Results, the
/// nodes `accept` admits, in `scratch.out`, nearest first (at most `ef`).
pub(crate) fn search<S: Space>(graph: &Graph, space: &S, q: &S::Query, ef: usize, scratch: &mut Scratch, accept: impl Fn(u32) -> bool) {
    scratch.out.clear();
    if graph.len() == 0 {
        return;
    }
    let entry = Cand { dist: space.dist(q, graph.entry), id: graph.entry };
    let start = if graph.max_level > 0 { greedy(space, graph, q, entry, graph.max_level as usize, 1, &mut scratch.buf) } else { entry };
    search_layer(space, graph, graph.len(), q, start, ef, 0, scratch, accept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{build_graph, GraphParams, Linking};
    use crate::rows::RowData;
    use crate::vectors::FullSpace;

    fn small_graph() -> Graph {
        let (n, dim) = (1500usize, 8usize);
        let rows = crate::SynthSpec { rows: n, queries: 0, dim, centres: 4, noise: 0.9, seed: 5 }.rows_f32(0..n, false);
        let ids: Vec<u32> = (0..n as u32).collect();
        let space = FullSpace { rows: RowData::F32(&rows), row_ids: &ids, dim, k: crate::distance::kernels() };
        let p = GraphParams { m: 4, ef_construction: 32, threads: 2, seed: 1, linking: Linking::Hnswlib };
        build_graph(&space, n, &p, &|_, _| {}, 0, n)
    }

    #[test]
    fn built_graphs_validate_and_bad_links_are_refused() {
        let g = small_graph();
        assert_eq!(g.validate(), Ok(()));
        assert!(g.max_level >= 2, "{}", g.max_level);

        // A layer-1 list that points at a layer-0 node.
        let mut bad = g.clone();
        let node = bad.levels.iter().position(|&l| l >= 1).unwrap();
        let low = bad.levels.iter().position(|&l| l == 0).unwrap() as u32;
        let start = bad.upper_start[node] as usize * (bad.m + 1);
        bad.upper[start] = 1;
        bad.upper[start + 1] = low;
        assert!(bad.validate().unwrap_err().contains("links on layer 1 to node"), "{:?}", bad.validate());

        let mut bad = g.clone();
        bad.links0[0] = bad.m0 as u32 + 1;
        assert!(bad.validate().unwrap_err().contains("more than"));
        let mut bad = g.clone();
        bad.links0[1] = bad.len() as u32;
        assert!(bad.validate().unwrap_err().contains("points at node"));
        let mut bad = g;
        bad.entry = bad.levels.iter().position(|&l| l < bad.max_level).unwrap() as u32;
        assert!(bad.validate().unwrap_err().contains("entry node"));
    }

    #[test]
    fn visited_sets_start_empty_for_each_search() {
        let mut v = Visited::default();
        for round in 0..300u32 {
            v.start(1000);
            // Few marks (cleared one by one) and, every tenth round, most nodes (cleared at once).
            let marks: Vec<u32> = if round % 10 == 0 { (0..1000).collect() } else { vec![round % 1000, 999 - round % 7] };
            for &id in &marks {
                assert!(v.insert(id), "round {round}: {id} was marked by an earlier search");
                assert!(!v.insert(id));
            }
        }
        v.start(100_000);
        assert!(v.insert(99_999) && !v.insert(99_999) && v.insert(0));
    }
}
