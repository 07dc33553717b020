//! Portable kernels: the fallback, and the oracle the SIMD kernels are tested against.
//! Four partial sums (element `i` goes to `i % 4`) and a scalar tail, like the SIMD
//! kernels, so their results agree to rounding.

use half::f16;

use super::Kernels;

pub(super) const KERNELS: Kernels = Kernels { dot_f32, dot_f16, dot4_f32, dot4_f16, dot_i8, name: "scalar" };

/// `a . b`, every element converted to `f32` by `to_f32` first.
#[inline(always)]
fn dot<T: Copy>(a: &[f32], b: &[T], to_f32: impl Fn(T) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            acc[l] += x[l] * to_f32(y[l]);
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * to_f32(y);
    }
    s
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b, |x| x)
}

fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    dot(a, b, f16::to_f32)
}

fn dot4_f32(q: &[&[f32]; 4], r: &[f32]) -> [f32; 4] {
    q.map(|q| dot_f32(q, r))
}

fn dot4_f16(q: &[&[f32]; 4], r: &[f16]) -> [f32; 4] {
    q.map(|q| dot_f16(q, r))
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}
