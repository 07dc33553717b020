//! 8-bit RGB to the model's normalised `f32` CHW tensor (torchvision `ToTensor` + `Normalize`).

use super::Rgb8;

/// Per-channel mean subtracted after scaling to `[0, 1]` (ImageNet statistics, R, G, B).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// Per-channel standard deviation divided by after subtracting [`MEAN`] (R, G, B).
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Write `img` as planar `f32` (all R, then all G, then all B) into `out`, each value
/// `(v / 255 - MEAN[c]) / STD[c]` computed in `f32` exactly as torchvision does
/// (`ToTensor` divides the byte by 255, `Normalize` does `sub_(mean).div_(std)`).
///
/// # Panics
/// When `out.len() != 3 * img.width * img.height` or `img.data` has the wrong length.
pub fn normalize_into(img: &Rgb8, out: &mut [f32]) {
    let n = img.width * img.height;
    assert_eq!(img.data.len(), 3 * n, "normalize_into: image data length does not match its size");
    assert_eq!(out.len(), 3 * n, "normalize_into: output must hold 3 x width x height floats");
    // One table per channel: 3 x 256 entries, the exact f32 ops of the reference per byte value.
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, t) in table.iter_mut().enumerate() {
            *t = (v as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    let (r, gb) = out.split_at_mut(n);
    let (g, b) = gb.split_at_mut(n);
    for (((px, r), g), b) in img.data.chunks_exact(3).zip(r).zip(g).zip(b) {
        *r = lut[0][px[0] as usize];
        *g = lut[1][px[1] as usize];
        *b = lut[2][px[2] as usize];
    }
}
