//! Parallel HNSW construction, following hnswlib's `addPoint` / `mutuallyConnectNewElement`.
//!
//! Two choices decide recall on clustered data, and both differ from hnsw_rs 0.3.5:
//! - when a reverse link overflows a neighbour's list, the list is re-selected with the
//!   diversity heuristic (paper algorithm 4), not cut to the nearest (hnsw_rs
//!   `reverse_update_neighborhood_simple` sorts and pops the farthest, which removes the
//!   few long links that join clusters);
//! - a new node keeps `M` links of its own on every layer (room up to `2M` on layer 0 is
//!   left for reverse links), as hnswlib does.
//!
//! Links live in flat atomic arrays so that searches read them without locks while other
//! threads write (a torn read can only show an older valid id); writers of a node's
//! lists take that node's mutex, as in hnswlib's `link_list_locks_`.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::graph::{greedy, search_layer, Cand, Graph, Links, Scratch};
use crate::vectors::Space;

/// How links are chosen. Only [`Linking::Hnswlib`] is meant for use; the others (cargo
/// feature `baseline`) rebuild hnsw_rs 0.3.5's choices inside swan's graph, to measure
/// what each costs in recall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linking {
    /// hnswlib: a new node keeps `M` links on every layer; a full list that receives a
    /// reverse link is re-selected with the neighbour heuristic.
    #[default]
    Hnswlib,
    /// As hnswlib, but a full list keeps its nearest links and drops the farthest
    /// (hnsw_rs `reverse_update_neighborhood_simple`).
    #[cfg(feature = "baseline")]
    KeepClosest,
    /// As hnswlib, but a new node keeps up to `2M` links of its own on layer 0
    /// (hnsw_rs `insert_slice`).
    #[cfg(feature = "baseline")]
    WideOwn,
    /// Both of hnsw_rs's choices.
    #[cfg(feature = "baseline")]
    HnswRs,
}

impl Linking {
    #[cfg(feature = "baseline")]
    fn keep_closest(self) -> bool {
        matches!(self, Linking::KeepClosest | Linking::HnswRs)
    }
    #[cfg(feature = "baseline")]
    fn wide_own(self) -> bool {
        matches!(self, Linking::WideOwn | Linking::HnswRs)
    }
    #[cfg(not(feature = "baseline"))]
    fn keep_closest(self) -> bool {
        false
    }
    #[cfg(not(feature = "baseline"))]
    fn wide_own(self) -> bool {
        false
    }

    /// Parse the kebab-case name (`hnswlib`; with feature `baseline` also `keep-closest`,
    /// `wide-own`, `hnsw-rs`).
    pub fn parse(s: &str) -> Option<Linking> {
        Some(match s {
            "hnswlib" => Linking::Hnswlib,
            #[cfg(feature = "baseline")]
            "keep-closest" => Linking::KeepClosest,
            #[cfg(feature = "baseline")]
            "wide-own" => Linking::WideOwn,
            #[cfg(feature = "baseline")]
            "hnsw-rs" => Linking::HnswRs,
            _ => return None,
        })
    }
}

/// Graph parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GraphParams {
    pub m: usize,
    pub ef_construction: usize,
    pub threads: usize,
    pub seed: u64,
    pub linking: Linking,
}

/// Highest level a node can draw.
const MAX_LEVEL: u8 = 16;

/// Level of node `i`: `floor(-ln(u) / ln(M))`, `u` uniform in (0, 1] from a hash of the
/// seed and the node, so levels do not depend on thread timing.
pub(crate) fn level_of(seed: u64, node: u64, m: usize) -> u8 {
    let mut z = seed ^ node.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = ((z >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let level = (-u.ln() / (m.max(2) as f64).ln()).floor();
    level.min(MAX_LEVEL as f64) as u8
}

struct Builder<'a, S: Space> {
    space: &'a S,
    n: usize,
    m: usize,
    m0: usize,
    ef: usize,
    linking: Linking,
    levels: Vec<u8>,
    upper_start: Vec<u32>,
    links0: Vec<AtomicU32>,
    upper: Vec<AtomicU32>,
    locks: Vec<Mutex<()>>,
    /// Entry node and its level; level -1 while the graph is empty.
    entry: Mutex<(u32, i32)>,
}

struct BuildScratch<Q> {
    search: Scratch,
    q: Q,
    q2: Q,
    sel_q: Vec<Q>,
    cands: Vec<Cand>,
    selected: Vec<Cand>,
    ids: Vec<u32>,
    buf: Vec<u32>,
}

impl<Q: Default> Default for BuildScratch<Q> {
    fn default() -> Self {
        BuildScratch {
            search: Scratch::default(),
            q: Q::default(),
            q2: Q::default(),
            sel_q: Vec::new(),
            cands: Vec::new(),
            selected: Vec::new(),
            ids: Vec::new(),
            buf: Vec::new(),
        }
    }
}

impl<S: Space> Links for Builder<'_, S> {
    #[inline]
    fn neighbours<'s>(&'s self, node: u32, level: usize, buf: &'s mut Vec<u32>) -> &'s [u32] {
        let (block, width) = self.block(node, level);
        let count = (block[0].load(Relaxed) as usize).min(width);
        buf.clear();
        buf.extend(block[1..=count].iter().map(|a| a.load(Relaxed)));
        buf
    }
}

impl<'a, S: Space> Builder<'a, S> {
    fn block(&self, node: u32, level: usize) -> (&[AtomicU32], usize) {
        if level == 0 {
            let start = node as usize * (self.m0 + 1);
            (&self.links0[start..start + self.m0 + 1], self.m0)
        } else {
            let start = (self.upper_start[node as usize] as usize + level - 1) * (self.m + 1);
            (&self.upper[start..start + self.m + 1], self.m)
        }
    }

    /// Replace a node's list. The caller holds the node's lock.
    fn set_links(&self, node: u32, level: usize, ids: impl ExactSizeIterator<Item = u32>) {
        let (block, width) = self.block(node, level);
        let count = ids.len().min(width);
        for (slot, id) in block[1..].iter().zip(ids) {
            slot.store(id, Relaxed);
        }
        block[0].store(count as u32, Relaxed);
    }

    /// The neighbour heuristic (paper algorithm 4, hnswlib `getNeighborsByHeuristic2`):
    /// walking candidates nearest first, keep one unless an already kept node is nearer
    /// to it than the base is. `cands` must be sorted nearest first.
    fn select(&self, cands: &[Cand], m: usize, out: &mut Vec<Cand>, sel_q: &mut Vec<S::Query>) {
        out.clear();
        if cands.len() <= m {
            out.extend_from_slice(cands);
            return;
        }
        for &e in cands {
            if out.len() >= m {
                break;
            }
            let good = sel_q[..out.len()].iter().all(|rq| self.space.dist(rq, e.id) >= e.dist);
            if good {
                if sel_q.len() <= out.len() {
                    sel_q.push(S::Query::default());
                }
                self.space.prepare_node(e.id, &mut sel_q[out.len()]);
                out.push(e);
            }
        }
    }

    fn insert(&self, node: u32, s: &mut BuildScratch<S::Query>) {
        let level = self.levels[node as usize] as usize;
        let mut guard = self.entry.lock().expect("entry lock");
        let (ep, top) = *guard;
        if top < 0 {
            *guard = (node, level as i32);
            return;
        }
        // A node that raises the top level keeps the entry locked until it is linked in.
        let hold = if level as i32 > top {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let top = top as usize;
        self.space.prepare_node(node, &mut s.q);
        let mut cur = Cand { dist: self.space.dist(&s.q, ep), id: ep };
        if top > level {
            cur = greedy(self.space, self, &s.q, cur, top, level + 1, &mut s.buf);
        }
        for l in (0..=level.min(top)).rev() {
            search_layer(self.space, self, self.n, &s.q, cur, self.ef, l, &mut s.search, |_| true);
            s.cands.clear();
            s.cands.extend(s.search.out.iter().filter(|c| c.id != node));
            if s.cands.is_empty() {
                continue;
            }
            let nearest = s.cands[0];
            let own = if l == 0 && self.linking.wide_own() { self.m0 } else { self.m };
            self.select(&s.cands, own, &mut s.selected, &mut s.sel_q);
            s.ids.clear();
            s.ids.extend(s.selected.iter().map(|c| c.id));
            {
                let _g = self.locks[node as usize].lock().expect("node lock");
                self.set_links(node, l, s.ids.iter().copied());
            }
            for i in 0..s.ids.len() {
                self.connect(s.ids[i], node, l, s);
            }
            // `connect` reuses the candidate buffers: continue from the saved nearest.
            cur = nearest;
        }
        if let Some(mut g) = hold {
            *g = (node, level as i32);
        }
    }

    /// Add the reverse link `to -> new` on `level`, shrinking `to`'s list if full.
    fn connect(&self, to: u32, new: u32, level: usize, s: &mut BuildScratch<S::Query>) {
        let width = if level == 0 { self.m0 } else { self.m };
        let _g = self.locks[to as usize].lock().expect("node lock");
        let (block, _) = self.block(to, level);
        let count = (block[0].load(Relaxed) as usize).min(width);
        if block[1..=count].iter().any(|a| a.load(Relaxed) == new) {
            return;
        }
        if count < width {
            block[count + 1].store(new, Relaxed);
            block[0].store(count as u32 + 1, Relaxed);
            return;
        }
        self.space.prepare_node(to, &mut s.q2);
        s.cands.clear();
        for a in &block[1..=count] {
            let id = a.load(Relaxed);
            s.cands.push(Cand { dist: self.space.dist(&s.q2, id), id });
        }
        s.cands.push(Cand { dist: self.space.dist(&s.q2, new), id: new });
        s.cands.sort_unstable();
        if self.linking.keep_closest() {
            s.cands.truncate(width);
            s.selected.clear();
            s.selected.extend_from_slice(&s.cands);
        } else {
            self.select(&s.cands, width, &mut s.selected, &mut s.sel_q);
        }
        self.set_links(to, level, s.selected.iter().map(|c| c.id));
    }

    fn finish(self) -> Graph {
        let (entry, top) = self.entry.into_inner().expect("entry lock");
        Graph {
            m: self.m,
            m0: self.m0,
            entry,
            max_level: top.max(0) as u8,
            levels: self.levels,
            links0: self.links0.into_iter().map(AtomicU32::into_inner).collect(),
            upper_start: self.upper_start,
            upper: self.upper.into_iter().map(AtomicU32::into_inner).collect(),
        }
    }
}

/// Build a graph over nodes `0..n` of `space`. `progress(done, total)` is called on the
/// calling thread, with `done` offset by `progress_base` (shards report one count).
pub(crate) fn build_graph<S: Space>(
    space: &S,
    n: usize,
    p: &GraphParams,
    progress: &dyn Fn(usize, usize),
    progress_base: usize,
    progress_total: usize,
) -> Graph {
    let m = p.m.max(2);
    let m0 = 2 * m;
    let levels: Vec<u8> = (0..n as u64).map(|i| level_of(p.seed, i, m)).collect();
    let upper_start = crate::graph::upper_offsets(&levels);
    let total = *upper_start.last().expect("n + 1 offsets");
    let builder = Builder {
        space,
        n,
        m,
        m0,
        ef: p.ef_construction.max(m),
        linking: p.linking,
        levels,
        upper_start,
        links0: (0..n * (m0 + 1)).map(|_| AtomicU32::new(0)).collect(),
        upper: (0..total as usize * (m + 1)).map(|_| AtomicU32::new(0)).collect(),
        locks: (0..n).map(|_| Mutex::new(())).collect(),
        entry: Mutex::new((0, -1)),
    };
    let threads = if p.threads == 0 { std::thread::available_parallelism().map_or(1, |t| t.get()) } else { p.threads };
    if threads <= 1 || n < 1000 {
        let mut s = BuildScratch::default();
        for node in 0..n {
            builder.insert(node as u32, &mut s);
            if node % 1024 == 1023 {
                progress(progress_base + node + 1, progress_total);
            }
        }
    } else {
        // Workers take nodes in order from a shared counter, so insertion order stays
        // close to serial (as hnswlib's ParallelFor does).
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut s = BuildScratch::default();
                    loop {
                        let node = next.fetch_add(1, Relaxed);
                        if node >= n {
                            break;
                        }
                        builder.insert(node as u32, &mut s);
                        done.fetch_add(1, Relaxed);
                    }
                });
            }
            loop {
                let d = done.load(Relaxed);
                progress(progress_base + d, progress_total);
                if d >= n {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    progress(progress_base + n, progress_total);
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_exponential_law() {
        let n = 200_000u64;
        let m = 16;
        let mut counts = [0usize; 17];
        for i in 0..n {
            counts[level_of(7, i, m) as usize] += 1;
        }
        // P(level >= 1) = 1/M.
        let above = (n as usize - counts[0]) as f64 / n as f64;
        assert!((above - 1.0 / 16.0).abs() < 0.003, "{above}");
        assert!(counts[1] > counts[2] && counts[2] > counts[3]);
    }
}
