//! Inner-product kernels chosen once at start-up: AVX-512 (VNNI for int8) where the CPU
//! has it, else AVX2+FMA (F16C for half rows), else scalar; the scalar twins are also
//! the oracle the SIMD kernels are tested against.
//!
//! `SWAN_KERNELS=avx2` (or `scalar`) in the environment pins a lower tier, to measure or
//! test it on a machine that has a better one.
//!
//! The kernels are plain `fn` pointers in a [`Kernels`] table detected on first use, so
//! the hot loop pays one indirect call and no feature check per distance (hnswlib picks
//! its `InnerProductSIMD16ExtAVX` the same way in `space_ip.h`).

use std::sync::OnceLock;

use half::f16;

/// Dot product of two `f32` rows.
pub type DotF32 = fn(&[f32], &[f32]) -> f32;
/// Dot product of an `f32` query with an `f16` row.
pub type DotF16 = fn(&[f32], &[f16]) -> f32;
/// Dot product of two `i8` rows, exact in `i32` for rows up to ~130,000 values. Codes
/// must lie in `-127..=127` (the quantiser's range; `-128` may saturate in the SIMD kernel).
pub type DotI8 = fn(&[i8], &[i8]) -> i32;

/// The kernel table. Every kernel reads `min(a.len(), b.len())` values; callers pass
/// rows of equal length.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// `f32 . f32`.
    pub dot_f32: DotF32,
    /// `f32 . f16`.
    pub dot_f16: DotF16,
    /// `i8 . i8`.
    pub dot_i8: DotI8,
    /// Which implementation was chosen (`"avx512+vnni"`, `"avx2+fma"` or `"scalar"`).
    pub name: &'static str,
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The best kernels this CPU supports, detected once per process.
pub fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(detect)
}

/// The scalar kernels (the oracle the SIMD ones are tested against).
pub fn scalar_kernels() -> Kernels {
    Kernels { dot_f32: scalar::dot_f32, dot_f16: scalar::dot_f16, dot_i8: scalar::dot_i8, name: "scalar" }
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
                out.push(Kernels { dot_f32: avx512::dot_f32, dot_f16: avx2::dot_f16, dot_i8: avx512::dot_i8, name: "avx512+vnni" });
            }
            out.push(Kernels { dot_f32: avx2::dot_f32, dot_f16: avx2::dot_f16, dot_i8: avx2::dot_i8, name: "avx2+fma" });
        }
    }
    out.push(scalar_kernels());
    out
}

mod scalar {
    use half::f16;

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        // Four partial sums, like the SIMD kernel, so results agree to rounding.
        let n = a.len().min(b.len());
        let mut acc = [0f32; 4];
        let mut i = 0;
        while i + 4 <= n {
            for l in 0..4 {
                acc[l] += a[i + l] * b[i + l];
            }
            i += 4;
        }
        let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        while i < n {
            s += a[i] * b[i];
            i += 1;
        }
        s
    }

    pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
    }

    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Only reachable through [`super::detect`], which checks avx2, fma and f16c first.
    use std::arch::x86_64::*;

    use half::f16;

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only when the CPU reports avx2 and fma.
        unsafe { dot_f32_impl(a, b) }
    }

    pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
        // SAFETY: selected only when the CPU reports avx2, fma and f16c.
        unsafe { dot_f16_impl(a, b) }
    }

    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: selected only when the CPU reports avx2.
        unsafe { dot_i8_impl(a, b) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum_ps(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn hsum_epi32(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_f32_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(pa.add(i + 8 * l));
                let y = _mm256_loadu_ps(pb.add(i + 8 * l));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut s = hsum_ps(sum);
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_f16_impl(a: &[f32], b: &[f16]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr() as *const u16);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(pa.add(i + 8 * l));
                let y = _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i + 8 * l) as *const __m128i));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let y = _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i) as *const __m128i));
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), y, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut s = hsum_ps(sum);
        while i < n {
            s += *pa.add(i) * f16::from_bits(*pb.add(i)).to_f32();
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_i8_impl(a: &[i8], b: &[i8]) -> i32 {
        // |a| (as u8) times b with a's sign, 32 bytes at a time: `maddubs` multiplies u8 by
        // i8 and adds pairs into i16 (at most 2 * 127 * 127, no saturation for codes in
        // -127..=127), `madd` by ones widens the pairs into i32.
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut i = 0;
        while i + 128 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_si256(pa.add(i + 32 * l) as *const __m256i);
                let y = _mm256_loadu_si256(pb.add(i + 32 * l) as *const __m256i);
                let p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(p, ones));
            }
            i += 128;
        }
        while i + 32 <= n {
            let x = _mm256_loadu_si256(pa.add(i) as *const __m256i);
            let y = _mm256_loadu_si256(pb.add(i) as *const __m256i);
            let p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p, ones));
            i += 32;
        }
        let sum = _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
        let mut s = hsum_epi32(sum);
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! Only reachable through [`super::available`], which checks avx512f, avx512bw and
    //! avx512vnni first.
    use std::arch::x86_64::*;

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only when the CPU reports avx512f.
        unsafe { dot_f32_impl(a, b) }
    }

    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: selected only when the CPU reports avx512f, avx512bw and avx512vnni.
        unsafe { dot_i8_impl(a, b) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dot_f32_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16 * l)), _mm512_loadu_ps(pb.add(i + 16 * l)), *acc);
            }
            i += 64;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc[0]);
            i += 16;
        }
        if i < n {
            // Masked tail: lanes past the end load as zero.
            let mask: __mmask16 = (1u32 << (n - i)) as u16 - 1;
            acc[1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i)), acc[1]);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_i8_impl(a: &[i8], b: &[i8]) -> i32 {
        // vpdpbusd multiplies u8 by i8: feed (a + 128) as u8 (a xor 0x80) and subtract
        // 128 * sum(b), itself a vpdpbusd of 128s by b. Exact for every i8 code.
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let bias = _mm512_set1_epi8(-128);
        let mut acc = [_mm512_setzero_si512(); 2];
        let mut corr = [_mm512_setzero_si512(); 2];
        let mut i = 0;
        while i + 128 <= n {
            for l in 0..2 {
                let x = _mm512_loadu_si512(pa.add(i + 64 * l) as *const _);
                let y = _mm512_loadu_si512(pb.add(i + 64 * l) as *const _);
                acc[l] = _mm512_dpbusd_epi32(acc[l], _mm512_xor_si512(x, bias), y);
                corr[l] = _mm512_dpbusd_epi32(corr[l], bias, y);
            }
            i += 128;
        }
        while i < n {
            let rest = (n - i).min(64);
            let mask: __mmask64 = if rest == 64 { u64::MAX } else { (1u64 << rest) - 1 };
            // Masked lanes load as zero in y, so they add nothing to either sum.
            let x = _mm512_maskz_loadu_epi8(mask, pa.add(i));
            let y = _mm512_maskz_loadu_epi8(mask, pb.add(i));
            acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_xor_si512(x, bias), y);
            corr[0] = _mm512_dpbusd_epi32(corr[0], bias, y);
            i += rest;
        }
        let total = _mm512_sub_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(corr[0], corr[1]));
        _mm512_reduce_add_epi32(total)
    }
}

/// Hint the CPU to start loading `bytes` bytes at `ptr` (at most the first 8 cache lines).
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = ptr as *const i8;
        let lines = bytes.div_ceil(64).min(8);
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

    const LENGTHS: [usize; 15] = [0, 1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 129, 511, 512, 513];

    fn rows(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        ((0..n).map(|_| next()).collect(), (0..n).map(|_| next()).collect())
    }

    #[test]
    fn f32_kernel_matches_scalar() {
        let s = scalar_kernels();
        for k in &available() {
            for n in LENGTHS {
                let (a, b) = rows(n, n as u64);
                let (x, y) = ((k.dot_f32)(&a, &b), (s.dot_f32)(&a, &b));
                let exact: f64 = a.iter().zip(&b).map(|(&p, &q)| p as f64 * q as f64).sum();
                assert!((x - y).abs() <= 1e-5 * (1.0 + n as f32), "n={n}: {} {x} vs {y}", k.name);
                assert!((x as f64 - exact).abs() <= 1e-5 * (1.0 + n as f64), "n={n}: {x} vs {exact}");
            }
        }
    }

    #[test]
    fn f16_kernel_matches_scalar() {
        let s = scalar_kernels();
        for k in &available() {
            for n in LENGTHS {
                let (a, b) = rows(n, 7 + n as u64);
                let h: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
                let (x, y) = ((k.dot_f16)(&a, &h), (s.dot_f16)(&a, &h));
                assert!((x - y).abs() <= 1e-5 * (1.0 + n as f32), "n={n}: {} {x} vs {y}", k.name);
            }
        }
    }

    #[test]
    fn i8_kernel_matches_scalar_exactly() {
        let s = scalar_kernels();
        for k in &available() {
            for n in LENGTHS {
                let (a, b) = rows(n, 99 + n as u64);
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
    fn best_kernels_are_chosen_once() {
        if std::env::var_os("SWAN_KERNELS").is_none() {
            assert_eq!(kernels().name, available()[0].name);
        }
        assert!(std::ptr::eq(kernels(), kernels()));
    }
}
