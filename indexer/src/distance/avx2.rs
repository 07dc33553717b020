//! AVX2 + FMA (+ F16C for half-precision rows) kernels.
//!
//! Only reachable through [`super::available`], which checks avx2, fma and f16c first.
//!
//! Every kernel sums in the same order: accumulator `k` (of four, eight lanes each) takes
//! elements `32 c + 8 k .. 32 c + 8 k + 8` for each full block `c` in turn, then the
//! remaining whole 8-lane chunks go to accumulator 0, the four are added as
//! `(a0 + a1) + (a2 + a3)`, reduced horizontally in a fixed order, and the last `n % 8`
//! elements are added one by one. The four-query kernels keep that order per query,
//! which is what makes them bit-identical to the one-query kernels.

use std::arch::x86_64::*;

use half::f16;

use super::Kernels;

/// The AVX2 table; [`super::available`] hands it out only where the CPU has AVX2, FMA and F16C.
pub(super) const KERNELS: Kernels = Kernels { dot_f32, dot_f16, dot4_f32, dot4_f16, dot_i8, name: "avx2+fma" };

// SAFETY (the wrappers): they are private and only handed out in `KERNELS`, after the CPU
// features the `unsafe` kernels need have been detected. The AVX-512 table reuses
// `dot_f16` and `dot4_f16` (AVX-512 CPUs have AVX2, FMA and F16C).
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    unsafe { dot_f32_avx2(a, b) }
}
pub(super) fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    unsafe { dot_f16_avx2(a, b) }
}
fn dot4_f32(q: &[&[f32]; 4], r: &[f32]) -> [f32; 4] {
    unsafe { dot4_f32_avx2(q, r) }
}
pub(super) fn dot4_f16(q: &[&[f32]; 4], r: &[f16]) -> [f32; 4] {
    unsafe { dot4_f16_avx2(q, r) }
}
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    unsafe { dot_i8_impl(a, b) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_f32(p: *const f32) -> __m256 {
    _mm256_loadu_ps(p)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_f16(p: *const f16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
}

/// Horizontal sum in a fixed order: high half onto low half, then pairs, then the last two.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2));
    _mm_cvtss_f32(s1)
}

macro_rules! dot_kernels {
    ($dot:ident, $dot4:ident, $t:ty, $load:ident, $to_f32:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $dot(a: &[f32], b: &[$t]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut c0 = _mm256_setzero_ps();
            let mut c1 = _mm256_setzero_ps();
            let mut c2 = _mm256_setzero_ps();
            let mut c3 = _mm256_setzero_ps();
            let mut i = 0;
            // SAFETY: every load reads 8 elements at an offset < n - 7 of both slices.
            while i + 32 <= n {
                c0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), $load(pb.add(i)), c0);
                c1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), $load(pb.add(i + 8)), c1);
                c2 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 16)), $load(pb.add(i + 16)), c2);
                c3 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 24)), $load(pb.add(i + 24)), c3);
                i += 32;
            }
            while i + 8 <= n {
                c0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), $load(pb.add(i)), c0);
                i += 8;
            }
            let mut s = hsum(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));
            let to_f32 = $to_f32;
            for j in i..n {
                s += a[j] * to_f32(b[j]);
            }
            s
        }

        /// Four queries against one row. Sixteen live accumulators would spill, so the
        /// row is walked twice: accumulators 0 and 1 of every query, then 2 and 3 (eight
        /// accumulators, two row registers). Each accumulator still sees its elements
        /// in the same order as in the one-query kernel.
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $dot4(q: &[&[f32]; 4], r: &[$t]) -> [f32; 4] {
            let n = q.iter().fold(r.len(), |m, x| m.min(x.len()));
            let pr = r.as_ptr();
            let p = [q[0].as_ptr(), q[1].as_ptr(), q[2].as_ptr(), q[3].as_ptr()];
            let full = n / 32 * 32;
            let mut acc = [[_mm256_setzero_ps(); 4]; 4];
            for half in 0..2 {
                let (o0, o1) = (16 * half, 16 * half + 8);
                let mut a = [[_mm256_setzero_ps(); 2]; 4];
                let mut i = 0;
                // SAFETY: i + o1 + 8 <= i + 32 <= full <= n for every query and the row.
                while i < full {
                    let r0 = $load(pr.add(i + o0));
                    let r1 = $load(pr.add(i + o1));
                    for k in 0..4 {
                        a[k][0] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(i + o0)), r0, a[k][0]);
                        a[k][1] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(i + o1)), r1, a[k][1]);
                    }
                    i += 32;
                }
                for k in 0..4 {
                    acc[k][2 * half] = a[k][0];
                    acc[k][2 * half + 1] = a[k][1];
                }
            }
            let mut i = full;
            while i + 8 <= n {
                let rv = $load(pr.add(i));
                for k in 0..4 {
                    acc[k][0] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(i)), rv, acc[k][0]);
                }
                i += 8;
            }
            let to_f32 = $to_f32;
            let mut out = [0.0f32; 4];
            for k in 0..4 {
                let a = &acc[k];
                let mut s = hsum(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
                for j in i..n {
                    s += q[k][j] * to_f32(r[j]);
                }
                out[k] = s;
            }
            out
        }
    };
}

dot_kernels!(dot_f32_avx2, dot4_f32_avx2, f32, load_f32, |x: f32| x);
dot_kernels!(dot_f16_avx2, dot4_f16_avx2, f16, load_f16, |x: f16| x.to_f32());

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
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
