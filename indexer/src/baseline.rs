//! hnsw_rs 0.3.5 over the same rows and the same SIMD distance, kept for comparison
//! (benchmarks and `FINDINGS.md`), not used by [`crate::Index`].
//!
//! [`HnswRs::search`] is hnsw_rs's own search; [`HnswRs::extract`] copies the graph it
//! built into swan's layout so that swan's search can run on it, which separates the
//! effect of hnsw_rs's search from that of its graph.

use hnsw_rs::hnsw::Hnsw;

use crate::distance::{kernels, DotF32};
use crate::graph::{self, Cand, Graph, Links, Scratch};
use crate::rows::RowData;
use crate::vectors::{FullSpace, Space};

/// Inner-product distance for hnsw_rs: `max(0, 1 - a.b)`, through the SIMD kernel.
///
/// hnsw_rs's own `DistDot` is a sequential scalar fold unless a nightly feature is on, and
/// its search asserts distances are `>= 0` (`hnsw.rs` `search_layer`), so the rounding of
/// `1 - a.b` for a row against itself (`a.b` a hair above 1) must be clamped. Rows must be
/// L2-normalised for the value to be a cosine distance.
#[derive(Clone, Copy, Debug)]
pub struct DotDistance {
    dot: DotF32,
}

impl DotDistance {
    /// With the kernels detected for this CPU.
    pub fn new() -> DotDistance {
        DotDistance { dot: kernels().dot_f32 }
    }
}

impl Default for DotDistance {
    fn default() -> Self {
        DotDistance::new()
    }
}

impl hnsw_rs::anndists::dist::Distance<f32> for DotDistance {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - (self.dot)(va, vb)).max(0.0)
    }
}

/// hnsw_rs's options that bear on graph quality.
#[derive(Clone, Copy, Debug, Default)]
pub struct HnswRsOptions {
    /// `set_extend_candidates(true)`: on layer 0, add the candidates' neighbours before selecting.
    pub extend_candidates: bool,
    /// `set_keeping_pruned(true)`: fill lists up to the limit with pruned candidates.
    pub keep_pruned: bool,
    /// Insert with `parallel_insert_slice` (rayon) instead of one by one.
    pub parallel: bool,
}

/// An hnsw_rs index over `rows` (row-major, `dim` wide; row `i` has id `i`).
pub struct HnswRs<'a> {
    hnsw: Hnsw<'a, f32, DotDistance>,
    rows: &'a [f32],
    dim: usize,
}

impl<'a> HnswRs<'a> {
    /// Build with `max_nb_connection = m` (hnsw_rs allows `2m` on layer 0) and 16 layers.
    pub fn build(rows: &'a [f32], dim: usize, m: usize, ef_construction: usize, options: HnswRsOptions) -> HnswRs<'a> {
        let n = rows.len() / dim;
        let mut hnsw = Hnsw::new(m, n, 16, ef_construction, DotDistance::new());
        hnsw.set_extend_candidates(options.extend_candidates);
        hnsw.set_keeping_pruned(options.keep_pruned);
        if options.parallel {
            let data: Vec<(&[f32], usize)> = rows.chunks_exact(dim).enumerate().map(|(i, r)| (r, i)).collect();
            hnsw.parallel_insert_slice(&data);
        } else {
            for (i, r) in rows.chunks_exact(dim).enumerate() {
                hnsw.insert_slice((r, i));
            }
        }
        hnsw.set_searching_mode(true);
        HnswRs { hnsw, rows, dim }
    }

    /// hnsw_rs's search: `(row, inner product)`, best first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        self.hnsw.search(query, k, ef).iter().map(|n| (n.d_id as u32, 1.0 - n.distance)).collect()
    }

    /// Copy the graph hnsw_rs built into swan's flat layout.
    pub fn extract(&self) -> ExtractedGraph<'a> {
        let pi = self.hnsw.get_point_indexation();
        let n = pi.get_nb_point();
        let m = self.hnsw.get_max_nb_connection() as usize;
        let m0 = 2 * m;
        let mut levels = vec![0u8; n];
        let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
        for p in pi {
            let id = p.get_origin_id();
            let level = p.get_point_id().0;
            levels[id] = level;
            let hood = p.get_neighborhood_id();
            // hnsw_rs also records greedy-descent points on layers above a node's own
            // level (`insert_slice`); those lists are never searched, so drop them.
            lists[id] = hood.iter().take(level as usize + 1).map(|l| l.iter().map(|nb| nb.d_id as u32).collect()).collect();
        }
        let max_level = self.hnsw.get_max_level_observed();
        let entry = pi.get_layer_iterator(max_level as usize).next().map_or(0, |p| p.get_origin_id() as u32);
        let upper_start = crate::graph::upper_offsets(&levels);
        // hnsw_rs can link a node on layer l to one below l: when a node raises the top
        // level, `insert_slice` searches the new layers from the old entry point, which is
        // not on them, and keeps it as a neighbour. Such links lead nowhere; drop them.
        let mut dropped = 0;
        for layers in lists.iter_mut() {
            for (l, list) in layers.iter_mut().enumerate().skip(1) {
                let before = list.len();
                list.retain(|&id| levels[id as usize] as usize >= l);
                dropped += before - list.len();
            }
        }
        let mut links0 = vec![0u32; n * (m0 + 1)];
        let total = *upper_start.last().expect("n + 1 offsets");
        let mut upper = vec![0u32; total as usize * (m + 1)];
        for (id, layers) in lists.iter().enumerate() {
            for (l, list) in layers.iter().enumerate() {
                let (block, width) = if l == 0 {
                    (&mut links0[id * (m0 + 1)..(id + 1) * (m0 + 1)], m0)
                } else {
                    let start = (upper_start[id] as usize + l - 1) * (m + 1);
                    (&mut upper[start..start + m + 1], m)
                };
                let c = list.len().min(width);
                block[0] = c as u32;
                block[1..=c].copy_from_slice(&list[..c]);
            }
        }
        let graph = Graph { m, m0, entry, max_level, levels, links0, upper_start, upper };
        debug_assert_eq!(graph.validate(), Ok(()));
        ExtractedGraph { graph, row_ids: (0..n as u32).collect(), rows: self.rows, dim: self.dim, dropped_links: dropped }
    }
}

/// A graph built by hnsw_rs, searched by swan's search (full-precision rows).
pub struct ExtractedGraph<'a> {
    /// Upper-layer links to nodes below that layer, found in hnsw_rs's graph and dropped.
    pub dropped_links: usize,
    graph: Graph,
    row_ids: Vec<u32>,
    rows: &'a [f32],
    dim: usize,
}

impl ExtractedGraph<'_> {
    /// Top `k` by swan's search with beam `ef`: `(row, inner product)`.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        let space = FullSpace { rows: RowData::F32(self.rows), row_ids: &self.row_ids, dim: self.dim, k: kernels() };
        let mut q = Vec::new();
        space.prepare(query, &mut q);
        let mut scratch = Scratch::default();
        graph::search(&self.graph, &space, &q, ef.max(k), &mut scratch, |_| true);
        scratch.out.iter().take(k).map(|c| (c.id, -c.dist)).collect()
    }

    /// As [`ExtractedGraph::search`], but descending the upper layers as hnsw_rs's
    /// `search_filter` does: one scan of the current node's list per layer, then straight
    /// down, instead of moving greedily until no neighbour is nearer (paper algorithm 5).
    pub fn search_one_pass_descent(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        let space = FullSpace { rows: RowData::F32(self.rows), row_ids: &self.row_ids, dim: self.dim, k: kernels() };
        let mut q = Vec::new();
        space.prepare(query, &mut q);
        let g = &self.graph;
        let mut cur = Cand { dist: space.dist(&q, g.entry), id: g.entry };
        let mut buf = Vec::new();
        for level in (1..=g.max_level as usize).rev() {
            for &n in g.neighbours(cur.id, level, &mut buf) {
                let d = space.dist(&q, n);
                if d < cur.dist {
                    cur = Cand { dist: d, id: n };
                }
            }
        }
        let mut scratch = Scratch::default();
        graph::search_layer(&space, g, g.len(), &q, cur, ef.max(k), 0, &mut scratch, |_| true);
        scratch.out.iter().take(k).map(|c| (c.id, -c.dist)).collect()
    }

    /// Mean layer-0 out-degree, and the number of nodes no layer-0 link reaches.
    pub fn degree_stats(&self) -> (f64, usize) {
        self.graph.degree_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hnsw_rs_graph_is_extracted_and_searchable() {
        let (n, dim) = (2000usize, 16usize);
        let spec = crate::SynthSpec { rows: n, queries: 20, dim, centres: 4, noise: 0.9, seed: 9 };
        let rows = spec.rows_f32(0..n, false);
        let h = HnswRs::build(&rows, dim, 8, 48, HnswRsOptions::default());
        let g = h.extract();
        assert_eq!(g.graph.validate(), Ok(()));
        assert_eq!(g.graph.len(), n);
        let mut hits = [0usize; 3];
        for q in spec.rows_f32(0..20, true).chunks(dim) {
            let mut exact: Vec<(u32, f32)> =
                rows.chunks(dim).enumerate().map(|(i, r)| (i as u32, r.iter().zip(q).map(|(a, b)| a * b).sum())).collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let truth: Vec<u32> = exact[..10].iter().map(|e| e.0).collect();
            for (i, got) in [h.search(q, 10, 64), g.search(q, 10, 64), g.search_one_pass_descent(q, 10, 64)].iter().enumerate() {
                hits[i] += got.iter().filter(|r| truth.contains(&r.0)).count();
            }
        }
        for (i, h) in hits.iter().enumerate() {
            assert!(*h as f64 / 200.0 >= 0.8, "search {i}: recall {}", *h as f64 / 200.0);
        }
    }

    #[test]
    fn hnsw_rs_distance_is_clamped_one_minus_dot() {
        use hnsw_rs::anndists::dist::Distance;
        let d = DotDistance::new();
        let v = [0.6f32, 0.8];
        assert_eq!(d.eval(&v, &v), 0.0);
        assert!((d.eval(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-6);
    }
}
