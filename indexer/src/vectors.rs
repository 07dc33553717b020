//! The vectors a graph walk reads: the source rows themselves, or a reduced-precision
//! copy (f16, int8 with a per-vector or per-dimension scale). Results are always
//! re-ranked against the source rows, so a copy trades only walk accuracy for speed.
//!
//! A [`Space`] is a borrowed view that scores a prepared query against a graph node;
//! distances are `-(inner product)`, smaller is nearer.

use std::sync::Arc;

use half::f16;
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::distance::{prefetch, Kernels};
use crate::rows::RowData;

/// Precision of the vectors the graph walk reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// The source rows, through the memory map (no copy).
    Full,
    /// A half-precision copy (2 bytes a value).
    F16,
    /// An int8 copy with one scale per vector (1 byte a value); the default.
    #[default]
    Int8,
    /// An int8 copy with one scale per dimension.
    Int8PerDim,
}

impl Precision {
    /// Parse `full`, `f16`, `int8`, `int8-per-dim`.
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "full" | "f32" => Precision::Full,
            "f16" => Precision::F16,
            "int8" | "i8" => Precision::Int8,
            "int8-per-dim" | "i8-per-dim" => Precision::Int8PerDim,
            _ => return None,
        })
    }

    /// The name [`Precision::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Full => "full",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
            Precision::Int8PerDim => "int8-per-dim",
        }
    }
}

/// A read-only map of an index file, registered with the store's SIGBUS watch for as long
/// as it lives: a file truncated under swan is then reported by name, not a silent death.
pub(crate) struct WatchedMap {
    /// Declared first, so it unregisters before the map is unmapped.
    _watch: swan_store::sigbus::Watch,
    map: Mmap,
}

impl WatchedMap {
    /// Watch `map`, mapped from `path`.
    pub(crate) fn new(map: Mmap, path: &std::path::Path) -> WatchedMap {
        WatchedMap { _watch: swan_store::sigbus::watch(&map, path), map }
    }
}

impl std::ops::Deref for WatchedMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// A typed slice that is either owned (just built) or inside a shared memory map (loaded).
#[derive(Clone)]
pub(crate) enum Slab<T: bytemuck::Pod> {
    Owned(Vec<T>),
    Mapped { map: Arc<WatchedMap>, offset: usize, len: usize },
}

impl<T: bytemuck::Pod> Slab<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Slab::Owned(v) => v,
            Slab::Mapped { map, offset, len } => bytemuck::cast_slice(&map[*offset..*offset + len * std::mem::size_of::<T>()]),
        }
    }
}

/// A reduced-precision copy of a shard's vectors, in node order.
#[derive(Clone)]
pub(crate) enum WalkCopy {
    /// The walk reads the source rows.
    None,
    F16(Slab<f16>),
    /// Codes, per-node scales, and (per-dimension mode) per-dimension scales.
    I8 {
        codes: Slab<i8>,
        scales: Slab<f32>,
        dim_scales: Option<Slab<f32>>,
    },
}

impl WalkCopy {
    pub(crate) fn precision(&self) -> Precision {
        match self {
            WalkCopy::None => Precision::Full,
            WalkCopy::F16(_) => Precision::F16,
            WalkCopy::I8 { dim_scales: None, .. } => Precision::Int8,
            WalkCopy::I8 { dim_scales: Some(_), .. } => Precision::Int8PerDim,
        }
    }

    /// Encode the rows `row_ids` of `source` at `precision`, in parallel.
    pub(crate) fn encode(precision: Precision, source: RowData<'_>, dim: usize, row_ids: &[u32]) -> WalkCopy {
        const CHUNK: usize = 1024;
        let row = |r: u32, buf: &mut Vec<f32>| source.row_f32(dim, r as usize, buf);
        match precision {
            Precision::Full => WalkCopy::None,
            Precision::F16 => {
                let mut out = vec![f16::ZERO; row_ids.len() * dim];
                out.par_chunks_mut(CHUNK * dim).zip(row_ids.par_chunks(CHUNK)).for_each(|(out, ids)| {
                    let mut buf = Vec::with_capacity(dim);
                    for (o, &r) in out.chunks_exact_mut(dim).zip(ids) {
                        row(r, &mut buf);
                        o.iter_mut().zip(&buf).for_each(|(o, &v)| *o = f16::from_f32(v));
                    }
                });
                WalkCopy::F16(Slab::Owned(out))
            }
            Precision::Int8 | Precision::Int8PerDim => {
                let dim_scales = (precision == Precision::Int8PerDim).then(|| {
                    let max_abs = row_ids
                        .par_chunks(CHUNK)
                        .map(|ids| {
                            let (mut m, mut buf) = (vec![0f32; dim], Vec::with_capacity(dim));
                            for &r in ids {
                                row(r, &mut buf);
                                m.iter_mut().zip(&buf).for_each(|(m, v)| *m = m.max(v.abs()));
                            }
                            m
                        })
                        .reduce(|| vec![0f32; dim], |a, b| a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect());
                    max_abs.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect::<Vec<f32>>()
                });
                let mut codes = vec![0i8; row_ids.len() * dim];
                let mut scales = vec![1f32; row_ids.len()];
                codes.par_chunks_mut(CHUNK * dim).zip(scales.par_chunks_mut(CHUNK)).zip(row_ids.par_chunks(CHUNK)).for_each(
                    |((codes, scales), ids)| {
                        let mut buf = Vec::with_capacity(dim);
                        for ((c, s), &r) in codes.chunks_exact_mut(dim).zip(scales.iter_mut()).zip(ids) {
                            row(r, &mut buf);
                            match &dim_scales {
                                Some(ds) => quantize_per_dim(&buf, ds, c),
                                None => *s = quantize(&buf, c),
                            }
                        }
                    },
                );
                WalkCopy::I8 { codes: Slab::Owned(codes), scales: Slab::Owned(scales), dim_scales: dim_scales.map(Slab::Owned) }
            }
        }
    }
}

/// Symmetric int8 quantisation of `v` into `out`; returns the scale (`v ~ scale * out`).
pub(crate) fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return 1.0;
    }
    let scale = max / 127.0;
    let inv = 1.0 / scale;
    out.iter_mut().zip(v).for_each(|(o, &x)| *o = (x * inv).round().clamp(-127.0, 127.0) as i8);
    scale
}

fn quantize_per_dim(v: &[f32], dim_scales: &[f32], out: &mut [i8]) {
    out.iter_mut().zip(v.iter().zip(dim_scales)).for_each(|(o, (&x, &s))| *o = (x / s).round().clamp(-127.0, 127.0) as i8);
}

/// Scores a prepared query against graph nodes. Implementations are cheap borrowed views.
pub(crate) trait Space: Sync {
    /// A prepared query (reused between queries: no allocation in steady state).
    type Query: Default + Send;
    fn prepare(&self, q: &[f32], out: &mut Self::Query);
    /// Prepare node `node`'s own vector as a query (graph construction).
    fn prepare_node(&self, node: u32, out: &mut Self::Query);
    /// `-(q . node)`: smaller is nearer.
    fn dist(&self, q: &Self::Query, node: u32) -> f32;
    fn prefetch(&self, node: u32);
}

/// Walks the full-precision source rows, `node -> row_ids[node]`.
pub(crate) struct FullSpace<'a> {
    pub rows: RowData<'a>,
    pub row_ids: &'a [u32],
    pub dim: usize,
    pub k: &'a Kernels,
}

impl Space for FullSpace<'_> {
    type Query = Vec<f32>;
    fn prepare(&self, q: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(q);
    }
    fn prepare_node(&self, node: u32, out: &mut Vec<f32>) {
        self.rows.row_f32(self.dim, self.row_ids[node as usize] as usize, out);
    }
    #[inline]
    fn dist(&self, q: &Vec<f32>, node: u32) -> f32 {
        -self.rows.dot(self.k, self.dim, q, self.row_ids[node as usize] as usize)
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        self.rows.prefetch(self.dim, self.row_ids[node as usize] as usize);
    }
}

/// Walks a node-ordered f16 copy.
pub(crate) struct F16Space<'a> {
    pub rows: &'a [f16],
    pub dim: usize,
    pub k: &'a Kernels,
}

impl Space for F16Space<'_> {
    type Query = Vec<f32>;
    fn prepare(&self, q: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(q);
    }
    fn prepare_node(&self, node: u32, out: &mut Vec<f32>) {
        let n = node as usize * self.dim;
        out.clear();
        out.extend(self.rows[n..n + self.dim].iter().map(|v| v.to_f32()));
    }
    #[inline]
    fn dist(&self, q: &Vec<f32>, node: u32) -> f32 {
        let n = node as usize * self.dim;
        -(self.k.dot_f16)(q, &self.rows[n..n + self.dim])
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        prefetch(self.rows.as_ptr().wrapping_add(node as usize * self.dim), self.dim * 2);
    }
}

/// Walks a node-ordered int8 copy. The query is quantised too, so a distance is one
/// integer dot product times two scales.
pub(crate) struct I8Space<'a> {
    pub codes: &'a [i8],
    pub scales: &'a [f32],
    pub dim_scales: Option<&'a [f32]>,
    pub dim: usize,
    pub k: &'a Kernels,
}

impl<'a> I8Space<'a> {
    /// The space over an int8 copy's slabs.
    pub(crate) fn new(codes: &'a Slab<i8>, scales: &'a Slab<f32>, dim_scales: Option<&'a Slab<f32>>, dim: usize, k: &'a Kernels) -> Self {
        I8Space { codes: codes.as_slice(), scales: scales.as_slice(), dim_scales: dim_scales.map(|d| d.as_slice()), dim, k }
    }
}

/// An int8 query: codes and scale (`q ~ scale * codes`, after folding in per-dimension scales).
#[derive(Default)]
pub(crate) struct I8Query {
    codes: Vec<i8>,
    scale: f32,
    tmp: Vec<f32>,
}

impl Space for I8Space<'_> {
    type Query = I8Query;
    fn prepare(&self, q: &[f32], out: &mut I8Query) {
        out.codes.resize(self.dim, 0);
        match self.dim_scales {
            // q . v ~ sum_d q_d s_d c_d: fold the dimension scales into the query.
            Some(ds) => {
                out.tmp.clear();
                out.tmp.extend(q.iter().zip(ds).map(|(&x, &s)| x * s));
                out.scale = quantize(&out.tmp, &mut out.codes);
            }
            None => out.scale = quantize(q, &mut out.codes),
        }
    }
    fn prepare_node(&self, node: u32, out: &mut I8Query) {
        let n = node as usize * self.dim;
        let codes = &self.codes[n..n + self.dim];
        match self.dim_scales {
            Some(ds) => {
                out.tmp.clear();
                out.tmp.extend(codes.iter().zip(ds).map(|(&c, &s)| c as f32 * s));
                let v = std::mem::take(&mut out.tmp);
                self.prepare(&v, out);
                out.tmp = v;
            }
            None => {
                out.codes.clear();
                out.codes.extend_from_slice(codes);
                out.scale = self.scales[node as usize];
            }
        }
    }
    #[inline]
    fn dist(&self, q: &I8Query, node: u32) -> f32 {
        let n = node as usize * self.dim;
        let dot = (self.k.dot_i8)(&q.codes, &self.codes[n..n + self.dim]);
        -(dot as f32 * q.scale * self.scales[node as usize])
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        prefetch(self.codes.as_ptr().wrapping_add(node as usize * self.dim), self.dim);
        // The scale lives in another array: without this, every distance waits on it.
        prefetch(self.scales.as_ptr().wrapping_add(node as usize), 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_copies_approximate_the_inner_product() {
        let dim = 64;
        let rows: Vec<f32> = (0..dim * 20).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.2).collect();
        let ids: Vec<u32> = (0..20).collect();
        let k = crate::distance::kernels();
        let q: Vec<f32> = (0..dim).map(|i| (i as f32 / dim as f32) - 0.5).collect();
        for precision in [Precision::F16, Precision::Int8, Precision::Int8PerDim] {
            let copy = WalkCopy::encode(precision, RowData::F32(&rows), dim, &ids);
            assert_eq!(copy.precision(), precision);
            for node in 0..20u32 {
                let exact: f32 = q.iter().zip(&rows[node as usize * dim..][..dim]).map(|(a, b)| a * b).sum();
                let approx = match &copy {
                    WalkCopy::F16(s) => {
                        let sp = F16Space { rows: s.as_slice(), dim, k };
                        let mut pq = Vec::new();
                        sp.prepare(&q, &mut pq);
                        -sp.dist(&pq, node)
                    }
                    WalkCopy::I8 { codes, scales, dim_scales } => {
                        let sp = I8Space {
                            codes: codes.as_slice(),
                            scales: scales.as_slice(),
                            dim_scales: dim_scales.as_ref().map(|d| d.as_slice()),
                            dim,
                            k,
                        };
                        let mut pq = I8Query::default();
                        sp.prepare(&q, &mut pq);
                        -sp.dist(&pq, node)
                    }
                    WalkCopy::None => unreachable!(),
                };
                assert!((approx - exact).abs() < 0.02, "{precision:?} node {node}: {approx} vs {exact}");
            }
        }
    }
}
