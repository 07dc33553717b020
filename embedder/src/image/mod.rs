//! Image decoding and eval preprocessing, bit-compatible with the reference Python pipeline
//! (Pillow + torchvision).
//!
//! The reference does, per image:
//!
//! ```text
//! im = Image.open(path).convert("RGB")            # decode, drop alpha, expand palette, replicate grey
//! im = im.resize((256, 256), Image.BILINEAR)      # Pillow's antialiased triangle filter, 8-bit fixed point
//! x  = (ToTensor()(im) - mean) / std              # f32, CHW
//! ```
//!
//! This module reproduces each step:
//!
//! * [`decode_file`] / [`decode_bytes`]: JPEG, PNG and TIFF, the format guessed from the bytes (never
//!   from the extension), converted to interleaved 8-bit RGB the way Pillow's `convert("RGB")` does.
//!   See [`decode_bytes`] for the exact per-colour-type rules, including 16-bit samples.
//! * [`resize_bilinear`]: a port of Pillow's `libImaging/Resample.c` (coefficients in `f64`,
//!   normalised to 22-bit fixed point, two separable passes in Pillow's order, same rounding), so
//!   the 8-bit output equals Pillow's byte for byte (checked against Pillow 13).
//! * [`normalize_into`]: `(x / 255 - mean) / std` in `f32`, CHW, like torchvision's
//!   `ToTensor` followed by `Normalize`.
//!
//! [`preprocess_file`] chains the three into the model's input tensor.
//!
//! ```
//! use swan_embedder::image::{normalize_into, resize_bilinear, Rgb8, INPUT_SIZE};
//!
//! let grey = Rgb8 { width: 2, height: 1, data: vec![0, 0, 0, 255, 255, 255] };
//! let big = resize_bilinear(&grey, INPUT_SIZE, INPUT_SIZE);
//! assert_eq!((big.width, big.height, big.data.len()), (256, 256, 256 * 256 * 3));
//! let mut x = vec![0.0f32; 3 * INPUT_SIZE * INPUT_SIZE];
//! normalize_into(&big, &mut x);
//! assert!((x[0] - (0.0 - 0.485) / 0.229).abs() < 1e-6); // top-left pixel is black
//! ```

// The `libjpeg-turbo` feature (exact JPEG) exists only once embedder/Cargo.toml declares it;
// until then `cfg(feature = "libjpeg-turbo")` is simply false. Remove this allow when it does.

mod decode;
mod normalize;
mod resize;
#[cfg(feature = "libjpeg-turbo")]
mod turbo;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub use decode::{decode_bytes, decode_file};
pub use normalize::{normalize_into, MEAN, STD};
pub use resize::{resize_bilinear, resize_bilinear_into};

/// Which JPEG decoder this build uses: `"libjpeg-turbo"` (feature `libjpeg-turbo`: the C decoder
/// Pillow links, pixels identical to Pillow's) or `"zune-jpeg"` (the `image` crate's pure-Rust
/// decoder: not bit-identical, see [`decode_bytes`]).
pub const JPEG_DECODER: &str = if cfg!(feature = "libjpeg-turbo") { "libjpeg-turbo" } else { "zune-jpeg" };

/// Side of the square model input: every image is resized to `INPUT_SIZE` x `INPUT_SIZE`.
pub const INPUT_SIZE: usize = 256;

/// Number of `f32` values [`preprocess_file`] writes: 3 x [`INPUT_SIZE`] x [`INPUT_SIZE`].
pub const INPUT_LEN: usize = 3 * INPUT_SIZE * INPUT_SIZE;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R, G, B`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rgb8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `3 * width * height` bytes, row-major, no padding between rows.
    pub data: Vec<u8>,
}

impl Rgb8 {
    /// A black image of the given size.
    pub fn new(width: usize, height: usize) -> Rgb8 {
        Rgb8 { width, height, data: vec![0; 3 * width * height] }
    }

    /// The `[r, g, b]` value at column `x`, row `y`. Panics when out of bounds.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel ({x}, {y}) outside {}x{}", self.width, self.height);
        let i = 3 * (y * self.width + x);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Why an image could not be decoded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read (missing, permission denied, ...).
    #[error("cannot read image {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but holds no bytes.
    #[error("image {} is empty (0 bytes)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not JPEG, PNG or TIFF (the format is guessed from the content, not the name).
    #[error("image {}: unknown or unsupported format (not JPEG, PNG or TIFF by content; starts with {magic})", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The first bytes in hex, to tell what the file really is.
        magic: String,
    },
    /// A known format, but a variant this module does not decode (e.g. float samples).
    #[error("image {}: unsupported {format} variant: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// `JPEG`, `PNG` or `TIFF`.
        format: &'static str,
        /// What is unsupported.
        reason: String,
    },
    /// The header is readable but decoding it would need more memory than the decoder's limit
    /// (the `image` crate's default of 512 MiB): a decompression bomb or a huge scan.
    #[error("image {}: {width} x {height} {format} is over the decode limit ({reason}); swan decodes images of up to 512 MiB", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// `JPEG`, `PNG` or `TIFF`.
        format: &'static str,
        /// Width the header declares.
        width: u32,
        /// Height the header declares.
        height: u32,
        /// The decoder's words.
        reason: String,
    },
    /// The file is truncated or corrupt.
    #[error("image {}: corrupt or truncated {format} data: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// `JPEG`, `PNG` or `TIFF`.
        format: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

impl ImageError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ImageError::Io { path, .. }
            | ImageError::Empty { path }
            | ImageError::UnknownFormat { path, .. }
            | ImageError::Unsupported { path, .. }
            | ImageError::TooLarge { path, .. }
            | ImageError::Corrupt { path, .. } => path,
        }
    }
}

thread_local! {
    /// The 256 x 256 image [`preprocess_rgb`] normalises, reused per thread.
    static RESIZED: RefCell<Rgb8> = const { RefCell::new(Rgb8 { width: 0, height: 0, data: Vec::new() }) };
}

/// Decode `path`, convert to RGB, resize to [`INPUT_SIZE`] x [`INPUT_SIZE`] with Pillow's bilinear
/// filter and write the normalised CHW tensor into `out` (length [`INPUT_LEN`]).
///
/// Equivalent to `normalize_into(&resize_bilinear(&decode_file(path)?, 256, 256), out)`, but the
/// resize buffers are reused per thread (the decoded image is the only allocation).
///
/// # Panics
/// When `out.len() != INPUT_LEN`.
pub fn preprocess_file(path: &Path, out: &mut [f32]) -> Result<(), ImageError> {
    assert_eq!(out.len(), INPUT_LEN, "preprocess_file: output must hold 3 x {INPUT_SIZE} x {INPUT_SIZE} floats");
    let img = decode_file(path)?;
    preprocess_rgb(&img, out);
    Ok(())
}

/// [`preprocess_file`] for an already decoded image: resize to [`INPUT_SIZE`] squared, normalise
/// into `out` (length [`INPUT_LEN`]).
///
/// # Panics
/// When `out.len() != INPUT_LEN`.
pub fn preprocess_rgb(img: &Rgb8, out: &mut [f32]) {
    assert_eq!(out.len(), INPUT_LEN, "preprocess_rgb: output must hold 3 x {INPUT_SIZE} x {INPUT_SIZE} floats");
    if img.width == INPUT_SIZE && img.height == INPUT_SIZE {
        // Pillow returns an unchanged copy when the size already matches.
        normalize_into(img, out);
        return;
    }
    RESIZED.with(|r| match r.try_borrow_mut() {
        Ok(mut dst) => {
            resize_bilinear_into(img, INPUT_SIZE, INPUT_SIZE, &mut dst);
            normalize_into(&dst, out);
        }
        Err(_) => normalize_into(&resize_bilinear(img, INPUT_SIZE, INPUT_SIZE), out),
    });
}
