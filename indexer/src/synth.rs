//! The synthetic benchmark archive: `centres` centres drawn from a standard normal in
//! `dim` dimensions; each row is a random centre plus `noise` x standard normal noise, then
//! L2-normalised. Queries are drawn the same way from the same centres.
//!
//! Deterministic: every row has its own random stream derived from the seed and its index,
//! so the bytes do not depend on thread count or chunking.

use std::ops::Range;
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

    fn rows_with(&self, centres: &[f32], range: Range<usize>, queries: bool) -> Vec<f32> {
        let mut out = vec![0f32; range.len() * self.dim];
        let base = if queries { QUERY_STREAM } else { 0 };
        out.par_chunks_mut(self.dim).enumerate().for_each(|(i, row)| self.row(centres, base + (range.start + i) as u64, row));
        out
    }

    /// Write `base.npy`, `queries.npy` and `manifest.json` into `out_dir`, in f32.
    pub fn write(&self, out_dir: &Path) -> Result<SynthFiles> {
        self.write_as(out_dir, DType::F32)
    }

    /// [`SynthSpec::write`] with the rows stored as `dtype` (`F32` or `F16`; f16 halves
    /// the disk of a large archive, and swan reads either).
    pub fn write_as(&self, out_dir: &Path, dtype: DType) -> Result<SynthFiles> {
        if self.dim == 0 || self.centres == 0 || self.rows == 0 || self.noise.is_nan() || self.noise < 0.0 {
            return Err(Error::Invalid(format!("synthetic archive needs rows, dim, centres > 0 and noise >= 0: {self:?}")));
        }
        let centres = self.centres();
        let archive = Archive {
            rows: self.rows,
            queries: self.queries,
            dim: self.dim,
            dtype,
            key: format!("synth seed={} centres={} noise={}", self.seed, self.centres, self.noise),
            model: format!("synth:centres={},noise={},seed={}", self.centres, self.noise, self.seed),
        };
        archive.write(out_dir, &|range, queries| self.rows_with(&centres, range, queries))
    }
}

/// What [`Archive::write`] writes, whatever the generator.
struct Archive {
    rows: usize,
    queries: usize,
    dim: usize,
    dtype: DType,
    /// Resume key of the base file's writer.
    key: String,
    /// The manifest's producer model string.
    model: String,
}

impl Archive {
    /// Write `base.npy` (chunked, resumable), `queries.npy` and `manifest.json`;
    /// `gen(range, queries)` makes rows `range` of the base set or of the queries.
    fn write(&self, out_dir: &Path, gen: &(dyn Fn(Range<usize>, bool) -> Vec<f32> + Sync)) -> Result<SynthFiles> {
        if !matches!(self.dtype, DType::F32 | DType::F16) {
            return Err(Error::Invalid(format!("synthetic rows are f32 or f16, not {}", self.dtype)));
        }
        std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let base = out_dir.join("base.npy");
        let chunk_rows = (1 << 22) / self.dim.max(1);
        let spec = WriteSpec { dtype: self.dtype, rows: self.rows, dim: self.dim, chunk_rows, key: self.key.clone() };
        let mut writer = NpyWriter::create(&base, spec.clone())?;
        for chunk in writer.pending() {
            writer.write_chunk(chunk, &gen(spec.chunk_rows_range(chunk), false))?;
        }
        writer.finish()?;
        let queries = out_dir.join("queries.npy");
        let q = gen(0..self.queries, true);
        let qspec =
            WriteSpec { dtype: self.dtype, rows: self.queries, dim: self.dim, chunk_rows: self.queries.max(1), key: self.key.clone() };
        let mut writer = NpyWriter::create(&queries, qspec)?;
        if self.queries > 0 {
            writer.write_chunk(0, &q)?;
        }
        writer.finish()?;

        let producer = Producer {
            model: self.model.clone(),
            checkpoint_sha256: None,
            precision: match self.dtype {
                DType::F16 => "fp16".into(),
                _ => "fp32".into(),
            },
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
        manifest.images = Some(Table::identity("base.npy", self.dtype, self.rows, self.dim));
        manifest.captions = Some(Table::identity("queries.npy", self.dtype, self.queries, self.dim));
        let manifest = manifest.save(out_dir)?;
        Ok(SynthFiles { base, queries, manifest })
    }
}

/// Cross-modal-like data, as image rows and text queries of a contrastive model look to
/// an index: low intrinsic dimension, and queries that are not drawn from the rows'
/// distribution.
///
/// - A latent point `z` in `intrinsic_dim` dimensions: one of `centres` standard-normal
///   latent centres plus `spread` x standard normal (scenes and their variety).
/// - Mapped onto a curved manifold in `dim` dimensions, `v = A z + B tanh(C z)` with
///   fixed random `A`, `B` (`dim x intrinsic_dim`) and `C` (square), normalised.
/// - A row is `v + noise x N(0, I) / sqrt(dim)`, normalised: noise of norm ~`noise` off
///   the manifold.
/// - A query is drawn the same way from its own stream, then shifted by the modality gap:
///   `v + gap x g + noise x N(0, I) / sqrt(dim)`, normalised, with `g` one fixed random
///   unit vector (the constant offset between the two modalities' embeddings).
///
/// Deterministic per seed, independent of chunking and threads, like [`SynthSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct CrossModalSpec {
    /// Base rows.
    pub rows: usize,
    /// Query rows.
    pub queries: usize,
    /// Values per row.
    pub dim: usize,
    /// Dimension of the latent manifold.
    pub intrinsic_dim: usize,
    /// Latent cluster centres.
    pub centres: usize,
    /// Latent spread around a centre (centres are standard normal).
    pub spread: f32,
    /// Norm of the off-manifold noise (rows and queries).
    pub noise: f32,
    /// Norm of the constant offset added to every query before normalising.
    pub gap: f32,
    /// Seed of every random stream.
    pub seed: u64,
}

impl Default for CrossModalSpec {
    fn default() -> Self {
        CrossModalSpec {
            rows: 200_000,
            queries: 1_000,
            dim: swan_store::EMBED_DIM,
            intrinsic_dim: 24,
            centres: 64,
            spread: 1.0,
            noise: 0.2,
            gap: 0.8,
            seed: 1,
        }
    }
}

/// The fixed random maps of a [`CrossModalSpec`].
struct Manifold {
    centres: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    gap: Vec<f32>,
}

impl CrossModalSpec {
    fn manifold(&self) -> Manifold {
        let (d, k) = (self.dim, self.intrinsic_dim);
        let mut rng = Rng::new(self.seed, CENTRE_STREAM);
        let mut draw = |n: usize, scale: f64| -> Vec<f32> { (0..n).map(|_| (rng.normal() * scale) as f32).collect() };
        let centres = draw(self.centres * k, 1.0);
        let unit = 1.0 / (k as f64).sqrt();
        let a = draw(d * k, unit);
        let b = draw(d * k, unit);
        // C scaled so that tanh works in its curved range (|C z| ~ 2).
        let c = draw(k * k, 2.0 * unit / (1.0 + self.spread as f64 * self.spread as f64).sqrt());
        let mut gap = draw(d, 1.0);
        let norm = gap.iter().map(|x| x * x).sum::<f32>().sqrt();
        gap.iter_mut().for_each(|x| *x *= self.gap / norm.max(f32::MIN_POSITIVE));
        Manifold { centres, a, b, c, gap }
    }

    fn row(&self, m: &Manifold, stream: u64, query: bool, out: &mut [f32], z: &mut Vec<f32>, h: &mut Vec<f32>) {
        let (d, k) = (self.dim, self.intrinsic_dim);
        let mut rng = Rng::new(self.seed, stream);
        let centre = &m.centres[rng.below(self.centres) * k..][..k];
        z.clear();
        z.extend(centre.iter().map(|&c| c + self.spread * rng.normal() as f32));
        h.clear();
        h.extend(m.c.chunks_exact(k).map(|row| row.iter().zip(z.iter()).map(|(a, b)| a * b).sum::<f32>().tanh()));
        for (i, o) in out.iter_mut().enumerate() {
            let (a, b) = (&m.a[i * k..][..k], &m.b[i * k..][..k]);
            *o = a.iter().zip(z.iter()).map(|(x, y)| x * y).sum::<f32>() + b.iter().zip(h.iter()).map(|(x, y)| x * y).sum::<f32>();
        }
        normalise(out);
        let sigma = self.noise / (d as f32).sqrt();
        for (i, o) in out.iter_mut().enumerate() {
            *o += sigma * rng.normal() as f32 + if query { m.gap[i] } else { 0.0 };
        }
        normalise(out);
    }

    fn rows_with(&self, m: &Manifold, range: Range<usize>, queries: bool) -> Vec<f32> {
        let mut out = vec![0f32; range.len() * self.dim];
        let base = if queries { QUERY_STREAM } else { 0 };
        out.par_chunks_mut(self.dim).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(z, h), (i, row)| self.row(m, base + (range.start + i) as u64, queries, row, z, h),
        );
        out
    }

    /// Rows `range` of the base set (or of the queries), row-major.
    pub fn rows_f32(&self, range: Range<usize>, queries: bool) -> Vec<f32> {
        self.rows_with(&self.manifold(), range, queries)
    }

    /// Write `base.npy`, `queries.npy` and `manifest.json` into `out_dir`, rows stored as
    /// `dtype` (`F32` or `F16`).
    pub fn write_as(&self, out_dir: &Path, dtype: DType) -> Result<SynthFiles> {
        let finite = [self.spread, self.noise, self.gap].iter().all(|v| v.is_finite() && *v >= 0.0);
        if self.dim == 0 || self.intrinsic_dim == 0 || self.centres == 0 || self.rows == 0 || !finite {
            return Err(Error::Invalid(format!(
                "cross-modal archive needs rows, dim, intrinsic dim, centres > 0 and finite spread, noise, gap >= 0: {self:?}"
            )));
        }
        let m = self.manifold();
        let what = format!(
            "intrinsic_dim={},centres={},spread={},noise={},gap={},seed={}",
            self.intrinsic_dim, self.centres, self.spread, self.noise, self.gap, self.seed
        );
        let archive = Archive {
            rows: self.rows,
            queries: self.queries,
            dim: self.dim,
            dtype,
            key: format!("synth crossmodal {what}"),
            model: format!("synth-crossmodal:{what}"),
        };
        archive.write(out_dir, &|range, queries| self.rows_with(&m, range, queries))
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
    let inv = if norm > 0.0 { (1.0 / norm.sqrt()) as f32 } else { 0.0 };
    v.iter_mut().for_each(|x| *x *= inv);
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

    #[test]
    fn crossmodal_rows_are_unit_deterministic_low_dimensional_and_gapped() {
        let spec =
            CrossModalSpec { rows: 600, queries: 200, dim: 64, intrinsic_dim: 4, noise: 0.05, gap: 0.8, ..CrossModalSpec::default() };
        let a = spec.rows_f32(0..600, false);
        assert_eq!(a.len(), 600 * 64);
        assert_eq!(a, spec.rows_f32(0..600, false));
        assert_eq!(&a[64 * 100..64 * 300], &spec.rows_f32(100..300, false)[..], "rows do not depend on chunking");
        assert_ne!(a, CrossModalSpec { seed: 2, ..spec.clone() }.rows_f32(0..600, false));
        let q = spec.rows_f32(0..200, true);
        for row in a.chunks(64).chain(q.chunks(64)) {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4, "{n}");
        }
        // Low intrinsic dimension: a few directions hold most of the rows' variance. The
        // fraction of the energy of the centred rows outside their top 2 x intrinsic_dim
        // principal directions (power iteration with deflation) is the noise's share.
        let mean: Vec<f64> = (0..64).map(|j| a.chunks(64).map(|r| r[j] as f64).sum::<f64>() / 600.0).collect();
        let mut cov = vec![0f64; 64 * 64];
        for r in a.chunks(64) {
            for i in 0..64 {
                for j in 0..64 {
                    cov[i * 64 + j] += (r[i] as f64 - mean[i]) * (r[j] as f64 - mean[j]);
                }
            }
        }
        let total: f64 = (0..64).map(|i| cov[i * 64 + i]).sum();
        let mut top = 0.0;
        for _ in 0..8 {
            let mut v = vec![1f64; 64];
            let mut lambda = 0.0;
            for _ in 0..200 {
                let w: Vec<f64> = (0..64).map(|i| (0..64).map(|j| cov[i * 64 + j] * v[j]).sum()).collect();
                lambda = w.iter().map(|x| x * x).sum::<f64>().sqrt();
                v = w.iter().map(|x| x / lambda).collect();
            }
            top += lambda;
            for i in 0..64 {
                for j in 0..64 {
                    cov[i * 64 + j] -= lambda * v[i] * v[j];
                }
            }
        }
        assert!(top / total > 0.9, "top 8 of 64 directions hold {:.3} of the variance", top / total);
        // The gap: every query leans the same way (mean of queries far from the rows' mean).
        let qmean: Vec<f64> = (0..64).map(|j| q.chunks(64).map(|r| r[j] as f64).sum::<f64>() / 200.0).collect();
        let shift: f64 = qmean.iter().zip(&mean).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        assert!(shift > 0.3, "query mean is only {shift:.3} from the row mean");
        let no_gap = CrossModalSpec { gap: 0.0, ..spec.clone() }.rows_f32(0..200, true);
        let qmean0: Vec<f64> = (0..64).map(|j| no_gap.chunks(64).map(|r| r[j] as f64).sum::<f64>() / 200.0).collect();
        let shift0: f64 = qmean0.iter().zip(&mean).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        assert!(shift0 < shift / 2.0, "without a gap the shift is {shift0:.3}, with one {shift:.3}");
    }

    #[test]
    fn crossmodal_writes_f16_files_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let spec = CrossModalSpec { rows: 1000, queries: 7, dim: 16, intrinsic_dim: 3, ..CrossModalSpec::default() };
        let files = spec.write_as(dir.path(), DType::F16).unwrap();
        let base = swan_store::NpyFile::open(&files.base).unwrap();
        assert_eq!((base.shape(), base.dtype()), (&[1000usize, 16][..], DType::F16));
        let want = spec.rows_f32(0..1000, false);
        let got: Vec<f32> = base.as_f16().unwrap().iter().map(|h| h.to_f32()).collect();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-3), "f16 rows are the f32 rows rounded");
        let queries = swan_store::NpyFile::open(&files.queries).unwrap();
        assert_eq!((queries.shape(), queries.dtype()), (&[7usize, 16][..], DType::F16));
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!(m.images.unwrap().dtype, DType::F16);
        assert!(m.producer.model.starts_with("synth-crossmodal:intrinsic_dim=3"), "{}", m.producer.model);
        let e = CrossModalSpec { gap: f32::NAN, ..spec }.write_as(dir.path(), DType::F16).unwrap_err().to_string();
        assert!(e.contains("finite spread, noise, gap"), "{e}");
    }
}
