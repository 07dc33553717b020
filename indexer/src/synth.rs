//! The synthetic benchmark archive: `centres` centres drawn from a standard normal in
//! `dim` dimensions; each row is a random centre plus `noise` x standard normal noise, then
//! L2-normalised. Queries are drawn the same way from the same centres.
//!
//! Deterministic: every row has its own random stream derived from the seed and its index,
//! so the bytes do not depend on thread count or chunking.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use swan_store::{CorpusRef, DType, Manifest, NpyWriter, Producer, Table, WriteSpec};

use crate::error::{Error, Result};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSpec {
    /// Base rows.
    pub rows: usize,
    /// Query rows.
    pub queries: usize,
    /// Values per row.
    pub dim: usize,
    /// Cluster centres.
    pub centres: usize,
    /// Noise scale relative to the (standard normal) centres.
    pub noise: f32,
    /// Seed of every random stream.
    pub seed: u64,
}

/// The files [`generate`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthFiles {
    /// `base.npy`: rows x dim f32.
    pub base: PathBuf,
    /// `queries.npy`: queries x dim f32.
    pub queries: PathBuf,
    /// `manifest.json` listing `base.npy` as images and `queries.npy` as captions.
    pub manifest: PathBuf,
}

/// Generate the benchmark archive with 512-d rows into `out_dir` (see [`SynthSpec`]).
pub fn generate(n: usize, queries: usize, centres: usize, noise: f32, seed: u64, out_dir: &Path) -> Result<SynthFiles> {
    SynthSpec { rows: n, queries, dim: swan_store::EMBED_DIM, centres, noise, seed }.write(out_dir)
}

/// xoshiro256++ seeded through splitmix64; normals by Box-Muller.
struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut z = seed ^ stream.wrapping_mul(0xD134_2543_DE82_EF95);
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng { s: [next(), next(), next(), next()], spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }

    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

const CENTRE_STREAM: u64 = 1 << 62;
const QUERY_STREAM: u64 = 1 << 61;

impl SynthSpec {
    fn centres(&self) -> Vec<f32> {
        let mut rng = Rng::new(self.seed, CENTRE_STREAM);
        (0..self.centres * self.dim).map(|_| rng.normal() as f32).collect()
    }

    fn row(&self, centres: &[f32], stream: u64, out: &mut [f32]) {
        let mut rng = Rng::new(self.seed, stream);
        let c = rng.below(self.centres);
        let centre = &centres[c * self.dim..(c + 1) * self.dim];
        let mut norm = 0f64;
        for (o, &x) in out.iter_mut().zip(centre) {
            *o = x + self.noise * rng.normal() as f32;
            norm += (*o as f64) * (*o as f64);
        }
        let inv = if norm > 0.0 { (1.0 / norm.sqrt()) as f32 } else { 0.0 };
        out.iter_mut().for_each(|o| *o *= inv);
    }

    /// Rows `range` of the base set (or of the queries), row-major.
    pub fn rows_f32(&self, range: std::ops::Range<usize>, queries: bool) -> Vec<f32> {
        let centres = self.centres();
        self.rows_with(&centres, range, queries)
    }

    fn rows_with(&self, centres: &[f32], range: std::ops::Range<usize>, queries: bool) -> Vec<f32> {
        let mut out = vec![0f32; range.len() * self.dim];
        let base = if queries { QUERY_STREAM } else { 0 };
        out.par_chunks_mut(self.dim).enumerate().for_each(|(i, row)| self.row(centres, base + (range.start + i) as u64, row));
        out
    }

    /// Write `base.npy`, `queries.npy` and `manifest.json` into `out_dir`.
    pub fn write(&self, out_dir: &Path) -> Result<SynthFiles> {
        if self.dim == 0 || self.centres == 0 || self.rows == 0 || self.noise.is_nan() || self.noise < 0.0 {
            return Err(Error::Invalid(format!("synthetic archive needs rows, dim, centres > 0 and noise >= 0: {self:?}")));
        }
        std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let centres = self.centres();
        let base = out_dir.join("base.npy");
        let key = format!("synth seed={} centres={} noise={}", self.seed, self.centres, self.noise);
        let chunk_rows = (1 << 22) / self.dim.max(1);
        let spec = WriteSpec { dtype: DType::F32, rows: self.rows, dim: self.dim, chunk_rows, key };
        let mut writer = NpyWriter::create(&base, spec.clone())?;
        for chunk in writer.pending() {
            let rows = self.rows_with(&centres, spec.chunk_rows_range(chunk), false);
            writer.write_chunk(chunk, &rows)?;
        }
        writer.finish()?;
        let queries = out_dir.join("queries.npy");
        let q = self.rows_with(&centres, 0..self.queries, true);
        swan_store::npy::write_f32(&queries, &[self.queries, self.dim], &q)?;

        let producer = Producer {
            model: format!("synth:centres={},noise={},seed={}", self.centres, self.noise, self.seed),
            checkpoint_sha256: None,
            precision: "fp32".into(),
            text_padding: None,
            swan_version: env!("CARGO_PKG_VERSION").into(),
            ..Producer::default()
        };
        let corpus = CorpusRef {
            path: "synthetic".into(),
            layout: "folder".into(),
            split: None,
            images: self.rows,
            captions: self.queries,
            sha256: None,
        };
        let mut manifest = Manifest::new(producer, corpus, true);
        manifest.images = Some(Table::identity("base.npy", DType::F32, self.rows, self.dim));
        manifest.captions = Some(Table::identity("queries.npy", DType::F32, self.queries, self.dim));
        let manifest = manifest.save(out_dir)?;
        Ok(SynthFiles { base, queries, manifest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unit_deterministic_and_clustered() {
        let spec = SynthSpec { rows: 300, queries: 10, dim: 32, centres: 4, noise: 0.9, seed: 3 };
        let a = spec.rows_f32(0..300, false);
        assert_eq!(a, spec.rows_f32(0..300, false));
        assert_eq!(&a[32 * 100..32 * 200], &spec.rows_f32(100..200, false)[..], "rows do not depend on chunking");
        for row in a.chunks(32) {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        // Same-centre rows have cosine ~ 1/(1+0.81) ~ 0.55; different centres ~ 0.
        let centres = spec.centres();
        let mut sims = [Vec::new(), Vec::new()];
        for i in 0..40 {
            for j in i + 1..40 {
                let ci = Rng::new(3, i as u64).below(4);
                let cj = Rng::new(3, j as u64).below(4);
                let s: f32 = a[i * 32..][..32].iter().zip(&a[j * 32..][..32]).map(|(x, y)| x * y).sum();
                sims[usize::from(ci == cj)].push(s);
            }
        }
        let mean = |v: &Vec<f32>| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&sims[1]) > 0.4 && mean(&sims[0]).abs() < 0.2, "{} {}", mean(&sims[1]), mean(&sims[0]));
        assert_eq!(centres.len(), 4 * 32);
    }

    #[test]
    fn writes_files_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SynthSpec { rows: 1000, queries: 5, dim: 16, centres: 3, noise: 0.9, seed: 1 };
        let files = spec.write(dir.path()).unwrap();
        let base = swan_store::NpyFile::open(&files.base).unwrap();
        assert_eq!(base.shape(), &[1000, 16]);
        assert_eq!(base.as_f32().unwrap(), &spec.rows_f32(0..1000, false)[..]);
        let m = Manifest::load(dir.path()).unwrap();
        assert!(m.normalized);
        assert_eq!(m.captions.unwrap().rows, 5);
    }
}
