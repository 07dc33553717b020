//! The training-time image transform of the reference: resize to 278 x 278 (Pillow's
//! antialiased bilinear), random rotation by an angle uniform in [0, 90] degrees (nearest
//! neighbour, fill 0, same canvas, as `PIL.Image.rotate`), random 256 x 256 crop, then the
//! eval normalisation. Every random draw comes from the caller's RNG, so a sample's
//! transform depends only on its seed.

use rand::Rng;

use crate::image::{normalize_into, resize_bilinear, Rgb8, INPUT_LEN, INPUT_SIZE};

/// Side after the resize, before the rotation and crop.
pub const RESIZE: usize = 278;

/// Draws of one sample's transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// Counter-clockwise rotation in degrees, in [0, 90].
    pub angle: f64,
    /// Crop origin, each in `0..=RESIZE - 256`.
    pub top: usize,
    /// Crop origin (column).
    pub left: usize,
}

impl Draw {
    /// Draw as torchvision does, in its order: angle, then crop row, then crop column.
    pub fn sample(rng: &mut impl Rng) -> Draw {
        let angle = rng.gen_range(0.0..=90.0);
        let span = RESIZE - INPUT_SIZE;
        Draw { angle, top: rng.gen_range(0..=span), left: rng.gen_range(0..=span) }
    }
}

/// `PIL.Image.rotate(angle, NEAREST, expand=False, fillcolor=0)` on an RGB image: the
/// inverse affine map about the centre `(w/2, h/2)`, sampled at pixel centres, with
/// Pillow's coordinate rounding (`floor`, and -1 for negative coordinates, i.e. outside).
pub fn rotate_nearest(src: &Rgb8, angle_deg: f64) -> Rgb8 {
    let (w, h) = (src.width, src.height);
    let a = -angle_deg.to_radians();
    // Pillow rounds the matrix entries to 15 decimals.
    let r15 = |v: f64| (v * 1e15).round() / 1e15;
    let (ca, sa) = (r15(a.cos()), r15(a.sin()));
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    // matrix = [ca, sa, c; -sa, ca, f] with (c, f) chosen so the centre stays in place.
    let c = ca * -cx + sa * -cy + cx;
    let f = -sa * -cx + ca * -cy + cy;
    let mut out = Rgb8::new(w, h);
    for y in 0..h {
        let yo = y as f64 + 0.5;
        for x in 0..w {
            let xo = x as f64 + 0.5;
            let (xs, ys) = (ca * xo + sa * yo + c, -sa * xo + ca * yo + f);
            if xs < 0.0 || ys < 0.0 {
                continue;
            }
            let (xi, yi) = (xs as usize, ys as usize);
            if xi < w && yi < h {
                let (s, d) = (3 * (yi * w + xi), 3 * (y * w + x));
                out.data[d..d + 3].copy_from_slice(&src.data[s..s + 3]);
            }
        }
    }
    out
}

/// The whole training transform of `img` (any size) into `out` (`3 x 256 x 256`, planar).
pub fn train_transform(img: &Rgb8, draw: Draw, out: &mut [f32]) {
    assert_eq!(out.len(), INPUT_LEN, "train_transform: output must hold 3 x 256 x 256 floats");
    let resized = resize_bilinear(img, RESIZE, RESIZE);
    let rotated = rotate_nearest(&resized, draw.angle);
    let mut crop = Rgb8::new(INPUT_SIZE, INPUT_SIZE);
    for y in 0..INPUT_SIZE {
        let s = 3 * ((draw.top + y) * RESIZE + draw.left);
        crop.data[3 * y * INPUT_SIZE..3 * (y + 1) * INPUT_SIZE].copy_from_slice(&rotated.data[s..s + 3 * INPUT_SIZE]);
    }
    normalize_into(&crop, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgb8 {
        let mut img = Rgb8::new(w, h);
        for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[(i % w) as u8, (i / w) as u8, 7]);
        }
        img
    }

    #[test]
    fn zero_rotation_is_the_identity_and_ninety_degrees_turns_counter_clockwise() {
        let img = gradient(6, 6);
        assert_eq!(rotate_nearest(&img, 0.0), img);
        let r = rotate_nearest(&img, 90.0);
        // Counter-clockwise: the top row comes from the source's last column, top to bottom.
        for x in 0..6 {
            assert_eq!(r.pixel(x, 0), img.pixel(5, x), "x {x}");
        }
    }

    #[test]
    fn rotation_fills_corners_with_zero_and_keeps_the_canvas() {
        let img = gradient(40, 40);
        let r = rotate_nearest(&img, 45.0);
        assert_eq!((r.width, r.height), (40, 40));
        assert_eq!(r.pixel(0, 0), [0, 0, 0]);
        assert_eq!(r.pixel(20, 20), img.pixel(20, 20));
    }

    #[test]
    #[rustfmt::skip]
    fn pillow_rotation_agrees_at_odd_angles() {
        // PIL.Image.rotate(30, NEAREST) of this 5x4 gradient (R = x, G = y), from the
        // .venv's Pillow 13: rows of (R, G) pairs; the last is fill.
        let img = gradient(5, 4);
        let r = rotate_nearest(&img, 30.0);
        let got: Vec<[u8; 2]> = r.data.chunks_exact(3).map(|p| [p[0], p[1]]).collect();
        let want: [[u8; 2]; 20] = [
            [0, 0], [2, 0], [3, 0], [4, 1], [4, 1],
            [1, 0], [1, 1], [2, 1], [3, 2], [4, 2],
            [0, 1], [1, 1], [2, 2], [3, 2], [3, 3],
            [0, 2], [0, 2], [1, 3], [2, 3], [0, 0],
        ];
        assert_eq!(got, want);
    }
}
