//! Pillow-exact bilinear resize: a port of `libImaging/Resample.c` (Pillow >= 7, 8-bit path).
//!
//! Pillow's `Image.resize(size, BILINEAR)` is a separable convolution with the triangle filter
//! `max(0, 1 - |x|)`, whose support is stretched by the scale factor when downscaling
//! (antialiasing). For each output column (then row) `precompute_coeffs` finds the window of source
//! samples and their `f64` weights, normalised to sum 1; `normalize_coeffs_8bpc` turns them into
//! fixed point with [`PRECISION_BITS`] = 22 fractional bits (round half away from zero). Each pass
//! sums `sample * weight` in 32-bit integers starting from half a unit, and `clip8` takes
//! `sum >> 22` clamped to `0..=255`. The first pass runs over only the source rows (columns) the
//! second pass will read, and its 8-bit result feeds the second. The horizontal pass goes first
//! unless the height shrinks by more than twice as many pixels as the width (Pillow >= 13, see
//! [`vertical_first`]). A pass whose size does not change is skipped; a resize to the same size
//! returns a copy.
//!
//! Everything above is reproduced bit for bit. The speed comes from the layout, not from changing
//! the arithmetic: every output's window is padded with zero weights to the same tap count `K`
//! (shifted inside the image at the borders), so the kernels run fixed-length loops without bounds
//! logic; the horizontal kernel is monomorphised for the small `K` of common scale factors, and
//! the vertical kernel accumulates blocks of 64 bytes across the taps (auto-vectorised). On x86-64
//! with AVX2 (detected once) the horizontal pass takes two taps of an RGB pixel per 8 x i32
//! multiply (intrinsics) and the vertical pass is the same code compiled for AVX2. Integer sums
//! are exact, so the extra zero taps and the reordering change nothing; the portable kernels and
//! a plain transcription of Pillow's loops are the oracles in the tests.

use std::cell::RefCell;
use std::sync::OnceLock;

use super::Rgb8;

/// Fractional bits of Pillow's fixed-point coefficients: `32 - 8 - 2`.
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// Rounding offset every sum starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Pillow's `bilinear_filter`.
#[inline]
fn bilinear_filter(x: f64) -> f64 {
    let x = if x < 0.0 { -x } else { x };
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Pillow's `clip8`: `in >> PRECISION_BITS` clamped to a byte (Pillow's lookup table covers
/// -640..=639 and clamps; bilinear sums never leave that range).
#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Fixed-point filter windows for one axis, padded to `taps` per output sample.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Windows {
    /// Per output sample: index of the first source sample of its (padded) window.
    start: Vec<usize>,
    /// `taps` weights per output sample, zero where padded.
    weight: Vec<i32>,
    /// Weights per output sample.
    taps: usize,
    /// Pillow's `bounds[0]`: first source sample used by output 0.
    first: usize,
    /// Pillow's `bounds[2n-2] + bounds[2n-1]`: one past the last source sample used.
    last: usize,
}

/// Pillow's `precompute_coeffs` (box `(0, in_size)`, bilinear) followed by
/// `normalize_coeffs_8bpc`. Returns per output `(xmin, weights)`, exactly Pillow's integers.
fn pillow_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    const SUPPORT: f64 = 1.0; // BILINEAR.support
                              // Pillow passes the box as C floats; `in_size as f32` is exact below 2^24.
    let (in0, in1) = (0f32 as f64, in_size as f32 as f64);
    let scale = (in1 - in0) / out_size as f64;
    let filterscale = if scale < 1.0 { 1.0 } else { scale };
    let support = SUPPORT * filterscale;
    let ss = 1.0 / filterscale;
    let mut out = Vec::with_capacity(out_size);
    let mut w = Vec::new();
    for xx in 0..out_size {
        let center = in0 + (xx as f64 + 0.5) * scale;
        // C `(int)` truncates toward zero, as does `as i64` here.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
        w.clear();
        let mut ww = 0.0;
        for x in 0..xmax.max(0) {
            let v = bilinear_filter(((x + xmin) as f64 - center + 0.5) * ss);
            w.push(v);
            ww += v;
        }
        let fixed = w
            .iter()
            .map(|&k| {
                let k = if ww != 0.0 { k / ww } else { k };
                let scaled = k * (1u32 << PRECISION_BITS) as f64;
                if k < 0.0 {
                    (-0.5 + scaled) as i32
                } else {
                    (0.5 + scaled) as i32
                }
            })
            .collect();
        out.push((xmin as usize, fixed));
    }
    out
}

impl Windows {
    /// The windows for resampling `in_size` samples to `out_size`; padded windows are placed
    /// inside `[lo, hi)` (the source samples actually available to the pass).
    /// `taps_multiple`: round the tap count up to a multiple of this when the windows still fit
    /// (the AVX2 horizontal kernel takes taps in pairs).
    fn new(in_size: usize, out_size: usize, taps_multiple: usize) -> Windows {
        let coeffs = pillow_coeffs(in_size, out_size);
        let first = coeffs.first().map_or(0, |c| c.0);
        let last = coeffs.last().map_or(0, |c| c.0 + c.1.len());
        let mut taps = coeffs.iter().map(|(_, w)| w.len()).max().unwrap_or(0).max(1);
        if taps.next_multiple_of(taps_multiple) <= last - first {
            taps = taps.next_multiple_of(taps_multiple);
        }
        let mut start = Vec::with_capacity(out_size);
        let mut weight = vec![0i32; out_size * taps];
        for ((xmin, w), row) in coeffs.iter().zip(weight.chunks_exact_mut(taps)) {
            // Keep the padded window inside [first, last): the pass only has those samples.
            let s = (*xmin).min(last.saturating_sub(taps)).max(first);
            let off = xmin - s;
            row[off..off + w.len()].copy_from_slice(w);
            start.push(s);
        }
        Windows { start, weight, taps, first, last }
    }

    /// Shift the windows so that source sample `first` becomes index 0.
    fn rebase(&mut self) {
        for s in &mut self.start {
            *s -= self.first;
        }
    }
}

/// The kernel set chosen once for this CPU.
struct Kernels {
    /// What the horizontal kernel wants the tap count to be a multiple of.
    horizontal_taps_multiple: usize,
    horizontal: fn(&[u8], usize, &Windows, &mut [u8], usize),
    vertical: fn(&[u8], usize, usize, &Windows, &mut [u8]),
}

const PORTABLE: Kernels = Kernels { horizontal_taps_multiple: 1, horizontal: horizontal_portable, vertical: vertical_portable };

fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernels { horizontal_taps_multiple: 2, horizontal: avx2::horizontal, vertical: avx2::vertical };
        }
        PORTABLE
    })
}

/// Resize `src` to `width` x `height` exactly like Pillow's
/// `Image.resize((width, height), Image.BILINEAR)` on an RGB image.
///
/// A same-size resize returns a copy, as Pillow does. A zero-sized source or target gives a
/// zero-filled (or empty) image.
///
/// # Panics
/// When `src.data.len() != 3 * src.width * src.height`.
pub fn resize_bilinear(src: &Rgb8, width: usize, height: usize) -> Rgb8 {
    let mut dst = Rgb8::default();
    resize_bilinear_into(src, width, height, &mut dst);
    dst
}

thread_local! {
    /// The intermediate image between the two passes, reused per thread.
    static INTERMEDIATE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// [`resize_bilinear`] into `dst`, reusing its allocation (and a per-thread intermediate
/// buffer): no allocation once the buffers have grown.
///
/// # Panics
/// When `src.data.len() != 3 * src.width * src.height`.
pub fn resize_bilinear_into(src: &Rgb8, width: usize, height: usize, dst: &mut Rgb8) {
    INTERMEDIATE.with(|tmp| match tmp.try_borrow_mut() {
        Ok(mut tmp) => resize_with(kernels(), src, width, height, &mut tmp, dst),
        Err(_) => resize_with(kernels(), src, width, height, &mut Vec::new(), dst),
    })
}

/// Pillow >= 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
/// by more than twice as many pixels as the width does; older Pillow always starts horizontally.
/// The order changes the rounding of the 8-bit intermediate, so it is part of the result.
fn vertical_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    out_h < in_h && (in_h - out_h) as i64 > 2 * (in_w as i64 - out_w as i64)
}

fn resize_with(k: &Kernels, src: &Rgb8, width: usize, height: usize, tmp: &mut Vec<u8>, dst: &mut Rgb8) {
    assert_eq!(src.data.len(), 3 * src.width * src.height, "resize_bilinear: data length does not match the size");
    dst.width = width;
    dst.height = height;
    dst.data.clear();
    if src.width == width && src.height == height {
        dst.data.extend_from_slice(&src.data);
        return;
    }
    dst.data.resize(3 * width * height, 0);
    if src.width == 0 || src.height == 0 || width == 0 || height == 0 {
        return;
    }
    let need_horizontal = width != src.width;
    let need_vertical = height != src.height;
    let in_row = 3 * src.width;
    let horizontal_windows = || Windows::new(src.width, width, k.horizontal_taps_multiple);
    match (need_horizontal, need_vertical) {
        (true, false) => (k.horizontal)(&src.data, src.width, &horizontal_windows(), &mut dst.data, width),
        (false, true) => (k.vertical)(&src.data, in_row, in_row, &Windows::new(src.height, height, 1), &mut dst.data),
        (true, true) if vertical_first(src.width, src.height, width, height) => {
            // Vertical pass over only the source columns the horizontal pass reads.
            let vert = Windows::new(src.height, height, 1);
            let mut horiz = horizontal_windows();
            let (x0, x1) = (horiz.first, horiz.last);
            tmp.clear();
            tmp.resize(3 * (x1 - x0) * height, 0);
            (k.vertical)(&src.data[3 * x0..], in_row, 3 * (x1 - x0), &vert, tmp);
            horiz.rebase();
            (k.horizontal)(tmp, x1 - x0, &horiz, &mut dst.data, width);
        }
        (true, true) => {
            // Horizontal pass over only the source rows the vertical pass reads.
            let mut vert = Windows::new(src.height, height, 1);
            let horiz = horizontal_windows();
            let (y0, y1) = (vert.first, vert.last);
            tmp.clear();
            tmp.resize(3 * width * (y1 - y0), 0);
            (k.horizontal)(&src.data[in_row * y0..in_row * y1], src.width, &horiz, tmp, width);
            vert.rebase();
            (k.vertical)(tmp, 3 * width, 3 * width, &vert, &mut dst.data);
        }
        (false, false) => unreachable!("same size handled above"),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels. The bodies are `#[inline(always)]` generics; the portable and AVX2 entry points only
// differ in the target features the compiler may use for them.

/// Horizontal pass: `src` holds whole RGB rows `in_width` wide, `dst` the same number of rows
/// `out_width` wide.
#[inline(always)]
fn horizontal_body(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
    macro_rules! fixed {
        ($($k:literal)*) => {
            match win.taps {
                $($k => return horizontal_fixed::<$k>(src, in_width, win, dst, out_width),)*
                _ => {}
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9 10 11 12);
    let taps = win.taps;
    for (row, out) in src.chunks_exact(3 * in_width).zip(dst.chunks_exact_mut(3 * out_width)) {
        for ((&s, k), o) in win.start.iter().zip(win.weight.chunks_exact(taps)).zip(out.chunks_exact_mut(3)) {
            let px = &row[3 * s..3 * (s + taps)];
            let (mut r, mut g, mut b) = (HALF, HALF, HALF);
            for (p, &w) in px.chunks_exact(3).zip(k) {
                r += p[0] as i32 * w;
                g += p[1] as i32 * w;
                b += p[2] as i32 * w;
            }
            o[0] = clip8(r);
            o[1] = clip8(g);
            o[2] = clip8(b);
        }
    }
}

#[inline(always)]
fn horizontal_fixed<const K: usize>(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
    for (row, out) in src.chunks_exact(3 * in_width).zip(dst.chunks_exact_mut(3 * out_width)) {
        for ((&s, k), o) in win.start.iter().zip(win.weight.chunks_exact(K)).zip(out.chunks_exact_mut(3)) {
            let k: &[i32; K] = k.try_into().unwrap();
            let px = &row[3 * s..3 * s + 3 * K];
            let (mut r, mut g, mut b) = (HALF, HALF, HALF);
            for t in 0..K {
                r += px[3 * t] as i32 * k[t];
                g += px[3 * t + 1] as i32 * k[t];
                b += px[3 * t + 2] as i32 * k[t];
            }
            o[0] = clip8(r);
            o[1] = clip8(g);
            o[2] = clip8(b);
        }
    }
}

/// Columns per block of the vertical pass: the accumulators stay in registers.
const VBLOCK: usize = 64;

/// Vertical pass: source row `i` is `src[i * stride..][..row_len]`; `dst` holds the output rows,
/// `row_len` bytes each.
#[inline(always)]
fn vertical_body(src: &[u8], stride: usize, row_len: usize, win: &Windows, dst: &mut [u8]) {
    let taps = win.taps;
    for ((&s, k), out) in win.start.iter().zip(win.weight.chunks_exact(taps)).zip(dst.chunks_exact_mut(row_len)) {
        let rows = &src[s * stride..(s + taps - 1) * stride + row_len];
        let mut x0 = 0;
        for out in out.chunks_exact_mut(VBLOCK) {
            let mut acc = [HALF; VBLOCK];
            for (t, &w) in k.iter().enumerate() {
                let px: &[u8; VBLOCK] = rows[t * stride + x0..][..VBLOCK].try_into().unwrap();
                for (a, &p) in acc.iter_mut().zip(px) {
                    *a += p as i32 * w;
                }
            }
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = clip8(a);
            }
            x0 += VBLOCK;
        }
        for (i, o) in out[x0..].iter_mut().enumerate() {
            let mut a = HALF;
            for (t, &w) in k.iter().enumerate() {
                a += rows[t * stride + x0 + i] as i32 * w;
            }
            *o = clip8(a);
        }
    }
}

fn horizontal_portable(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
    horizontal_body(src, in_width, win, dst, out_width)
}

fn vertical_portable(src: &[u8], stride: usize, row_len: usize, win: &Windows, dst: &mut [u8]) {
    vertical_body(src, stride, row_len, win, dst)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{clip8, horizontal_body, vertical_body, Windows, HALF, PRECISION_BITS};

    /// Horizontal pass, two taps per instruction: the 6 bytes of source pixels `t` and `t + 1`
    /// are spread to `[r, g, b, 0, r', g', b', 0]` as 8 x i32, multiplied by
    /// `[k_t x 4, k_t+1 x 4]` and summed; the two halves are added at the end. Exact: the same
    /// integer products and sums as Pillow, in another order.
    #[target_feature(enable = "avx2")]
    fn horizontal_avx2(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
        macro_rules! fixed {
            ($($p:literal)*) => {
                match win.taps {
                    $(t if t == 2 * $p => horizontal_pairs::<$p>(src, in_width, win, dst, out_width),)*
                    t if t % 2 == 0 => horizontal_pairs::<0>(src, in_width, win, dst, out_width),
                    _ => horizontal_body(src, in_width, win, dst, out_width),
                }
            };
        }
        fixed!(1 2 3 4 5 6 7 8)
    }

    /// `P` pairs of taps per output (`P == 0`: `win.taps / 2`, not known at compile time).
    #[target_feature(enable = "avx2")]
    fn horizontal_pairs<const P: usize>(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
        let taps = win.taps;
        let pairs = if P == 0 { taps / 2 } else { P };
        debug_assert_eq!(2 * pairs, taps);
        let mut coef: Vec<i32> = Vec::with_capacity(out_width * taps * 4);
        for pair in win.weight.chunks_exact(2) {
            coef.extend_from_slice(&[pair[0]; 4]);
            coef.extend_from_slice(&[pair[1]; 4]);
        }
        let row_len = 3 * in_width;
        let rows = src.len() / row_len;
        assert!(dst.len() >= rows * 3 * out_width && win.start.len() == out_width);
        assert!(win.start.iter().all(|&s| s + taps <= in_width));
        let spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        let init = _mm256_setr_epi32(HALF, HALF, HALF, 0, 0, 0, 0, 0);
        // Each 8-byte load reads 2 bytes past its pair: past the row is fine (the next row,
        // shuffled away) but not past `src`. Each 4-byte store writes one byte past its pixel:
        // fine except for the last pixel of `dst`. The scalar `edge` handles those few.
        let src_end = src.len();
        let edge = |y: usize, x: usize, o: &mut [u8]| {
            let s = win.start[x];
            let px = &src[y * row_len + 3 * s..y * row_len + 3 * (s + taps)];
            let mut acc = [HALF; 3];
            for (p, &w) in px.chunks_exact(3).zip(&win.weight[x * taps..(x + 1) * taps]) {
                for c in 0..3 {
                    acc[c] += p[c] as i32 * w;
                }
            }
            let at = y * 3 * out_width + 3 * x;
            o[at..at + 3].copy_from_slice(&acc.map(clip8));
        };
        for y in 0..rows {
            let last_row = y + 1 == rows;
            for x in 0..out_width {
                let from = y * row_len + 3 * win.start[x];
                if from + 6 * pairs + 2 > src_end || (last_row && x + 1 == out_width) {
                    edge(y, x, dst);
                    continue;
                }
                let mut acc = init;
                for j in 0..pairs {
                    // SAFETY: `from + 6 * j + 8 <= from + 6 * pairs + 2 <= src.len()` (checked
                    // above); `coef` holds `8 * pairs` values per output.
                    let (b, c) = unsafe {
                        (
                            _mm_loadl_epi64(src.as_ptr().add(from + 6 * j) as *const __m128i),
                            _mm256_loadu_si256(coef.as_ptr().add((x * pairs + j) * 8) as *const __m256i),
                        )
                    };
                    let px = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
                    acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, c));
                }
                let sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
                let v = _mm_srai_epi32::<{ PRECISION_BITS as i32 }>(sum);
                // Saturating packs clamp to 0..=255, i.e. clip8.
                let v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
                // SAFETY: `3 * x + 4 <= dst.len()`: not the last pixel of `dst` (checked above),
                // and the byte after this pixel belongs to the next one, written later.
                unsafe {
                    (dst.as_mut_ptr().add(y * 3 * out_width + 3 * x) as *mut i32).write_unaligned(_mm_cvtsi128_si32(v));
                }
            }
        }
    }

    #[target_feature(enable = "avx2")]
    fn vertical_avx2(src: &[u8], stride: usize, row_len: usize, win: &Windows, dst: &mut [u8]) {
        vertical_body(src, stride, row_len, win, dst)
    }

    /// Only selected after `is_x86_feature_detected!("avx2")`.
    pub(super) fn horizontal(src: &[u8], in_width: usize, win: &Windows, dst: &mut [u8], out_width: usize) {
        // SAFETY: `kernels()` installs this only when the CPU has AVX2.
        unsafe { horizontal_avx2(src, in_width, win, dst, out_width) }
    }

    /// Only selected after `is_x86_feature_detected!("avx2")`.
    pub(super) fn vertical(src: &[u8], stride: usize, row_len: usize, win: &Windows, dst: &mut [u8]) {
        // SAFETY: `kernels()` installs this only when the CPU has AVX2.
        unsafe { vertical_avx2(src, stride, row_len, win, dst) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pillow's loops transcribed plainly (unpadded windows, whole images, no kernels): the oracle.
    fn reference(src: &Rgb8, width: usize, height: usize) -> Rgb8 {
        fn horizontal(src: &Rgb8, width: usize) -> Rgb8 {
            let mut out = Rgb8::new(width, src.height);
            for y in 0..src.height {
                for (xx, (xmin, k)) in pillow_coeffs(src.width, width).iter().enumerate() {
                    for c in 0..3 {
                        let mut ss = HALF;
                        for (x, &kx) in k.iter().enumerate() {
                            ss += src.data[3 * (y * src.width + x + xmin) + c] as i32 * kx;
                        }
                        out.data[3 * (y * width + xx) + c] = clip8(ss);
                    }
                }
            }
            out
        }
        fn vertical(src: &Rgb8, height: usize) -> Rgb8 {
            let mut out = Rgb8::new(src.width, height);
            let row = 3 * src.width;
            for (yy, (ymin, k)) in pillow_coeffs(src.height, height).iter().enumerate() {
                for i in 0..row {
                    let mut ss = HALF;
                    for (y, &ky) in k.iter().enumerate() {
                        ss += src.data[(y + ymin) * row + i] as i32 * ky;
                    }
                    out.data[yy * row + i] = clip8(ss);
                }
            }
            out
        }
        match (width != src.width, height != src.height) {
            (false, false) => src.clone(),
            (true, false) => horizontal(src, width),
            (false, true) => vertical(src, height),
            (true, true) if vertical_first(src.width, src.height, width, height) => horizontal(&vertical(src, height), width),
            (true, true) => vertical(&horizontal(src, width), height),
        }
    }

    fn noise(w: usize, h: usize, seed: u64) -> Rgb8 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let data = (0..3 * w * h)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 56) as u8
            })
            .collect();
        Rgb8 { width: w, height: h, data }
    }

    #[test]
    fn identity_weights_are_exact() {
        let c = pillow_coeffs(5, 5);
        for (i, (xmin, k)) in c.iter().enumerate() {
            assert_eq!(*xmin, i);
            assert_eq!(k[0], 1 << PRECISION_BITS);
        }
    }

    #[test]
    fn kernels_match_reference_loops() {
        let portable = PORTABLE;
        let sizes = [(1, 1), (2, 3), (7, 5), (37, 120), (224, 224), (256, 256), (300, 180), (64, 700), (513, 31), (300, 345)];
        let targets = [(1, 1), (3, 2), (13, 17), (64, 64), (256, 256), (256, 100), (100, 256), (255, 257)];
        for (i, &(w, h)) in sizes.iter().enumerate() {
            let src = noise(w, h, i as u64 + 1);
            for &(tw, th) in &targets {
                let want = reference(&src, tw, th);
                let (mut tmp, mut got) = (Vec::new(), Rgb8::default());
                resize_with(&portable, &src, tw, th, &mut tmp, &mut got);
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    let avx2 = Kernels { horizontal_taps_multiple: 2, horizontal: avx2::horizontal, vertical: avx2::vertical };
                    let mut got2 = Rgb8::default();
                    resize_with(&avx2, &src, tw, th, &mut tmp, &mut got2);
                    assert_eq!(got2, want, "avx2 {w}x{h} -> {tw}x{th}");
                    // Odd tap counts take the generic path inside the AVX2 kernel.
                    let odd = Kernels { horizontal_taps_multiple: 1, ..avx2 };
                    resize_with(&odd, &src, tw, th, &mut tmp, &mut got2);
                    assert_eq!(got2, want, "avx2 odd taps {w}x{h} -> {tw}x{th}");
                }
                assert_eq!(got, want, "portable {w}x{h} -> {tw}x{th}");
                assert_eq!(resize_bilinear(&src, tw, th), want, "dispatched {w}x{h} -> {tw}x{th}");
            }
        }
    }

    #[test]
    fn many_taps_use_the_generic_kernels() {
        // 4000 -> 256 needs ~32 taps per output: beyond the monomorphised tap counts.
        let src = noise(4000, 9, 7);
        assert!(Windows::new(4000, 256, 1).taps > 12);
        assert_eq!(resize_bilinear(&src, 256, 256), reference(&src, 256, 256));
    }
}
