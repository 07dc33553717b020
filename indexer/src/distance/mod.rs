//! The inner-product kernel table of swan, used by the index (graph walk, re-ranking) and
//! by exact search (`swan-searcher`), so both score a row with the same instructions in
//! the same order on every host: AVX-512 (VNNI for int8) where the CPU has it, else
//! AVX2+FMA (F16C for half rows), else scalar. The scalar kernels are the fallback and
//! the oracle the SIMD ones are tested against.
//!
//! `SWAN_KERNELS=avx2` (or `scalar`) in the environment pins a lower tier, to measure or
//! test it on a machine that has a better one.
//!
//! The kernels are plain `fn` pointers in a [`Kernels`] table detected on first use, so
//! the hot loop pays one indirect call and no feature check per distance (hnswlib picks
//! its `InnerProductSIMD16ExtAVX` the same way in `space_ip.h`).
//!
//! Besides one query against one row, each tier has a four-query kernel (one row against
//! four queries, so the row is loaded once per four) that accumulates every query in
//! exactly the order of the one-query kernel of the same tier: `dot4(q, r)[i] ==
//! dot(q[i], r)` bit for bit. Exact search relies on that: a row's score does not depend
//! on which queries it was batched with. Different tiers agree to rounding only.

use std::sync::OnceLock;

use half::f16;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;

/// Dot product of two `f32` rows.
pub type DotF32 = fn(&[f32], &[f32]) -> f32;
/// Dot product of an `f32` query with an `f16` row.
pub type DotF16 = fn(&[f32], &[f16]) -> f32;
/// Four `f32` queries against one `f32` row.
pub type Dot4F32 = fn(&[&[f32]; 4], &[f32]) -> [f32; 4];
/// Four `f32` queries against one `f16` row.
pub type Dot4F16 = fn(&[&[f32]; 4], &[f16]) -> [f32; 4];
/// Dot product of two `i8` rows, exact in `i32` for rows up to ~130,000 values. Codes
/// must lie in `-127..=127` (the quantiser's range; `-128` may saturate in the SIMD kernel).
pub type DotI8 = fn(&[i8], &[i8]) -> i32;

/// The kernel table. Every kernel reads the common length of its slices; callers pass
/// rows of equal length.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// `f32 . f32`.
    pub dot_f32: DotF32,
    /// `f32 . f16`.
    pub dot_f16: DotF16,
    /// Four `f32` queries `. f32`, each bit-identical to `dot_f32`.
    pub dot4_f32: Dot4F32,
    /// Four `f32` queries `. f16`, each bit-identical to `dot_f16`.
    pub dot4_f16: Dot4F16,
    /// `i8 . i8`.
    pub dot_i8: DotI8,
    /// Which implementation was chosen (`"avx512+vnni"`, `"avx2+fma"` or `"scalar"`).
    pub name: &'static str,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The best kernels this CPU supports, detected once per process.
pub fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(detect)
}

/// The scalar kernels (the oracle the SIMD ones are tested against).
pub fn scalar_kernels() -> Kernels {
    scalar::KERNELS
}

fn detect() -> Kernels {
    let all = available();
    // `SWAN_KERNELS=avx2` (or `scalar`) pins a lower tier, for benchmarks and tests.
    if let Ok(want) = std::env::var("SWAN_KERNELS") {
        if let Some(k) = all.iter().find(|k| k.name.starts_with(want.as_str())) {
            return *k;
        }
    }
    all[0]
}

/// Every kernel table this CPU can run, best first, ending with the scalar one (tests
/// check each against the scalar oracle).
pub fn available() -> Vec<Kernels> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") && has!("f16c") {
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                out.push(avx512::KERNELS);
            }
            out.push(avx2::KERNELS);
        }
    }
    out.push(scalar::KERNELS);
    out
}

/// Hint the CPU to start loading `bytes` bytes at `ptr` (at most the first 8 cache lines).
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T, bytes: usize) {
    prefetch_lines(ptr, bytes.min(8 * 64));
}

/// [`prefetch`] of every cache line of `bytes` bytes (re-ranking reads whole source rows:
/// 1 KB in f16, 2 KB in f32).
#[inline(always)]
pub(crate) fn prefetch_lines<T>(ptr: *const T, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = ptr as *const i8;
        let lines = bytes.div_ceil(64);
        for l in 0..lines {
            // SAFETY: prefetch never faults, whatever the address.
            unsafe { _mm_prefetch(p.wrapping_add(64 * l), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths on and off every lane width (8, 16, 32, 64 and 128 values).
    const LENGTHS: [usize; 19] = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 511, 512, 513];

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The oracle: the sum in f64, and the bound on any f32 summation order's error.
    fn oracle(a: &[f32], b: &[f32]) -> (f64, f64) {
        let exact: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let magnitude: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 * y as f64).abs()).sum();
        (exact, magnitude * 1e-6 + 1e-30)
    }

    #[test]
    fn f32_and_f16_kernels_match_the_oracle_off_the_lane_width() {
        for k in &available() {
            for (t, n) in LENGTHS.into_iter().enumerate() {
                let (a, b) = (values(n, 2 * t as u64 + 1), values(n, 2 * t as u64 + 2));
                let (want, tol) = oracle(&a, &b);
                let got = (k.dot_f32)(&a, &b) as f64;
                assert!((got - want).abs() <= tol, "{} f32 n={n}: {got} vs {want}", k.name);
                let h: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
                let (want, tol) = oracle(&a, &h.iter().map(|v| v.to_f32()).collect::<Vec<_>>());
                let got = (k.dot_f16)(&a, &h) as f64;
                assert!((got - want).abs() <= tol, "{} f16 n={n}: {got} vs {want}", k.name);
            }
        }
    }

    #[test]
    fn four_query_kernels_equal_the_one_query_kernel_bit_for_bit() {
        for k in &available() {
            for n in LENGTHS {
                let qs: Vec<Vec<f32>> = (0..4).map(|i| values(n, 100 + i)).collect();
                let q = [&qs[0][..], &qs[1][..], &qs[2][..], &qs[3][..]];
                let r = values(n, 7);
                let r16: Vec<f16> = r.iter().map(|&x| f16::from_f32(x)).collect();
                let (four, four16) = ((k.dot4_f32)(&q, &r), (k.dot4_f16)(&q, &r16));
                for i in 0..4 {
                    assert_eq!(four[i].to_bits(), (k.dot_f32)(q[i], &r).to_bits(), "{} f32 n={n} q={i}", k.name);
                    assert_eq!(four16[i].to_bits(), (k.dot_f16)(q[i], &r16).to_bits(), "{} f16 n={n} q={i}", k.name);
                }
            }
        }
    }

    #[test]
    fn i8_kernel_matches_scalar_exactly() {
        let s = scalar_kernels();
        for k in &available() {
            for n in LENGTHS {
                let (a, b) = (values(n, 99 + n as u64), values(n, 199 + n as u64));
                let mut qa: Vec<i8> = a.iter().map(|&v| (v * 127.0) as i8).collect();
                let mut qb: Vec<i8> = b.iter().map(|&v| (v * 127.0) as i8).collect();
                // Extreme codes must not saturate the i16 pair sums.
                for i in 0..n.min(4) {
                    qa[i] = if i % 2 == 0 { 127 } else { -127 };
                    qb[i] = if i < 2 { -127 } else { 127 };
                }
                assert_eq!((k.dot_i8)(&qa, &qb), (s.dot_i8)(&qa, &qb), "n={n} {}", k.name);
            }
        }
    }

    #[test]
    fn mismatched_lengths_use_the_common_prefix() {
        for k in &available() {
            let (a, b) = (values(40, 1), values(33, 2));
            assert_eq!((k.dot_f32)(&a, &b).to_bits(), (k.dot_f32)(&a[..33], &b).to_bits(), "{}", k.name);
        }
    }

    #[test]
    fn the_best_tier_is_chosen_unless_pinned() {
        let names: Vec<&str> = available().iter().map(|k| k.name).collect();
        assert_eq!(names.last(), Some(&"scalar"));
        match std::env::var("SWAN_KERNELS") {
            Err(_) => assert_eq!(kernels().name, names[0]),
            Ok(want) => assert!(kernels().name.starts_with(want.as_str()) || kernels().name == names[0], "{want}"),
        }
    }
}
