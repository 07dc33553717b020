//! AVX-512 kernels: `f32` rows (the half-row kernels are AVX2's) and int8 with VNNI.
//!
//! Only reachable through [`super::available`], which checks avx512f, avx512bw and
//! avx512vnni first. The `f32` kernels sum in this order: accumulator `l` (of four, 16
//! lanes each) takes elements `64 c + 16 l ..` of each full block `c`, remaining whole
//! 16-lane chunks go to accumulator 0, the masked tail to accumulator 1, and the four are
//! reduced as `reduce((a0 + a1) + (a2 + a3))`; the four-query kernel keeps that order per
//! query (16 accumulators and a row register fit the 32 vector registers).

use std::arch::x86_64::*;

use super::{avx2, Kernels};

/// The AVX-512 table: its own `f32` and int8 kernels, AVX2's for half rows.
pub(super) const KERNELS: Kernels =
    Kernels { dot_f32, dot_f16: avx2::dot_f16, dot4_f32, dot4_f16: avx2::dot4_f16, dot_i8, name: "avx512+vnni" };

// SAFETY (the wrappers): only handed out in `KERNELS`, after avx512f, avx512bw and
// avx512vnni have been detected.
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    unsafe { dot_f32_impl(a, b) }
}
fn dot4_f32(q: &[&[f32]; 4], r: &[f32]) -> [f32; 4] {
    unsafe { dot4_f32_impl(q, r) }
}
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    unsafe { dot_i8_impl(a, b) }
}

/// Lanes `0..len` set (`len < 16`).
#[inline(always)]
fn tail_mask(len: usize) -> __mmask16 {
    ((1u32 << len) - 1) as __mmask16
}

#[allow(clippy::needless_range_loop)] // `l` picks both the accumulator and the 16-lane block
#[target_feature(enable = "avx512f")]
unsafe fn dot4_f32_impl(q: &[&[f32]; 4], r: &[f32]) -> [f32; 4] {
    let n = q.iter().fold(r.len(), |m, x| m.min(x.len()));
    let pr = r.as_ptr();
    let p = q.map(<[f32]>::as_ptr);
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let mut i = 0;
    // SAFETY: every load reads 16 values at an offset <= n - 16 of each slice.
    while i + 64 <= n {
        for l in 0..4 {
            let y = _mm512_loadu_ps(pr.add(i + 16 * l));
            for k in 0..4 {
                acc[k][l] = _mm512_fmadd_ps(_mm512_loadu_ps(p[k].add(i + 16 * l)), y, acc[k][l]);
            }
        }
        i += 64;
    }
    while i + 16 <= n {
        let y = _mm512_loadu_ps(pr.add(i));
        for k in 0..4 {
            acc[k][0] = _mm512_fmadd_ps(_mm512_loadu_ps(p[k].add(i)), y, acc[k][0]);
        }
        i += 16;
    }
    if i < n {
        let mask = tail_mask(n - i);
        let y = _mm512_maskz_loadu_ps(mask, pr.add(i));
        for k in 0..4 {
            acc[k][1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, p[k].add(i)), y, acc[k][1]);
        }
    }
    acc.map(|a| _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]))))
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
        let mask = tail_mask(n - i);
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
