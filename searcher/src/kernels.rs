//! Dot-product kernels: `f32 · f32` and `f32 · f16` (query in `f32`, stored row in either
//! type), one pair at a time or one stored row against four queries at once.
//!
//! CPU features are detected once ([`Kernels::detect`], cached) and the caller keeps the
//! chosen [`Kernels`] (plain `fn` pointers) for the life of its index, so the hot loops
//! never re-check. The AVX2 kernels use four 8-lane accumulators and a scalar tail; the
//! four-query kernels accumulate every query in exactly the same order as the one-query
//! kernel, so `dot4(q, r)[i] == dot(q[i], r)` bit for bit. Exact search relies on that:
//! a row's score does not depend on which queries it was batched with.
//!
//! The portable kernels are the fallback and the tests' oracle; results of different
//! kernels agree to rounding, not bit for bit.

use half::f16;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// `f32 · f32` dot product over the common length of the two slices.
pub(crate) type DotF32 = fn(&[f32], &[f32]) -> f32;
/// `f32 · f16` dot product over the common length of the two slices.
pub(crate) type DotF16 = fn(&[f32], &[f16]) -> f32;
/// Four `f32` queries against one `f32` row.
pub(crate) type Dot4F32 = fn(&[&[f32]; 4], &[f32]) -> [f32; 4];
/// Four `f32` queries against one `f16` row.
pub(crate) type Dot4F16 = fn(&[&[f32]; 4], &[f16]) -> [f32; 4];

/// A consistent set of kernels for one instruction set.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    /// Instruction set, for logs and reports (`"avx2+fma"`, `"scalar"`).
    pub name: &'static str,
    pub dot_f32: DotF32,
    pub dot_f16: DotF16,
    pub dot4_f32: Dot4F32,
    pub dot4_f16: Dot4F16,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Kernels {
    /// The fastest kernels this CPU supports; detection runs once per process.
    pub(crate) fn detect() -> Kernels {
        static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            if let Some(k) = avx2::kernels() {
                return k;
            }
            Kernels::scalar()
        })
    }

    /// The portable kernels.
    pub(crate) fn scalar() -> Kernels {
        Kernels { name: "scalar", dot_f32: scalar_dot_f32, dot_f16: scalar_dot_f16, dot4_f32: scalar_dot4_f32, dot4_f16: scalar_dot4_f16 }
    }
}

/// Portable `f32 · f32`: four accumulators (element `i` goes to `i % 4`), scalar tail.
fn scalar_dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Portable `f32 · f16`, the same summation order as [`scalar_dot_f32`].
fn scalar_dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l].to_f32();
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y.to_f32();
    }
    s
}

fn scalar_dot4_f32(q: &[&[f32]; 4], r: &[f32]) -> [f32; 4] {
    [scalar_dot_f32(q[0], r), scalar_dot_f32(q[1], r), scalar_dot_f32(q[2], r), scalar_dot_f32(q[3], r)]
}

fn scalar_dot4_f16(q: &[&[f32]; 4], r: &[f16]) -> [f32; 4] {
    [scalar_dot_f16(q[0], r), scalar_dot_f16(q[1], r), scalar_dot_f16(q[2], r), scalar_dot_f16(q[3], r)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::values;

    /// The oracle: a plain sum in f64, and the bound on any f32 summation order's error.
    fn oracle(a: &[f32], b: &[f32]) -> (f64, f64) {
        let exact: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let magnitude: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 * y as f64).abs()).sum();
        (exact, magnitude * 1e-6 + 1e-30)
    }

    const LENGTHS: [usize; 12] = [0, 1, 7, 8, 15, 16, 17, 31, 33, 511, 512, 513];

    fn all_kernels() -> Vec<Kernels> {
        let mut out = vec![Kernels::scalar()];
        #[cfg(target_arch = "x86_64")]
        match avx2::kernels() {
            Some(k) => out.push(k),
            None => eprintln!("this CPU lacks AVX2+FMA+F16C: only the portable kernels are tested"),
        }
        out
    }

    #[test]
    fn every_kernel_matches_the_oracle_off_the_lane_width() {
        for kern in all_kernels() {
            for (t, &n) in LENGTHS.iter().enumerate() {
                let a = values(2 * t as u64 + 1, n);
                let b = values(2 * t as u64 + 2, n);
                let b16: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
                let b16_as_f32: Vec<f32> = b16.iter().map(|x| x.to_f32()).collect();

                let (want, tol) = oracle(&a, &b);
                let got = (kern.dot_f32)(&a, &b) as f64;
                assert!((got - want).abs() <= tol, "{} f32 n={n}: {got} vs {want}", kern.name);

                let (want, tol) = oracle(&a, &b16_as_f32);
                let got = (kern.dot_f16)(&a, &b16) as f64;
                assert!((got - want).abs() <= tol, "{} f16 n={n}: {got} vs {want}", kern.name);
            }
        }
    }

    #[test]
    fn four_query_kernels_equal_the_one_query_kernel_bit_for_bit() {
        for kern in all_kernels() {
            for &n in &LENGTHS {
                let qs: Vec<Vec<f32>> = (0..4).map(|i| values(100 + i, n)).collect();
                let q = [&qs[0][..], &qs[1][..], &qs[2][..], &qs[3][..]];
                let r = values(7, n);
                let r16: Vec<f16> = r.iter().map(|&x| f16::from_f32(x)).collect();
                let four = (kern.dot4_f32)(&q, &r);
                let four16 = (kern.dot4_f16)(&q, &r16);
                for i in 0..4 {
                    assert_eq!(four[i].to_bits(), (kern.dot_f32)(q[i], &r).to_bits(), "{} f32 n={n} q={i}", kern.name);
                    assert_eq!(four16[i].to_bits(), (kern.dot_f16)(q[i], &r16).to_bits(), "{} f16 n={n} q={i}", kern.name);
                }
            }
        }
    }

    #[test]
    fn mismatched_lengths_use_the_common_prefix() {
        for kern in all_kernels() {
            let a = values(1, 40);
            let b = values(2, 33);
            let want = (kern.dot_f32)(&a[..33], &b);
            assert_eq!((kern.dot_f32)(&a, &b).to_bits(), want.to_bits(), "{}", kern.name);
        }
    }

    #[test]
    fn detection_is_cached_and_reported() {
        let k = Kernels::detect();
        assert_eq!(k.name, Kernels::detect().name);
        assert!(["scalar", "avx2+fma"].contains(&k.name));
    }
}
