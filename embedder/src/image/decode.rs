//! Decoding JPEG / PNG / TIFF into [`Rgb8`], converting colour types like Pillow's `convert("RGB")`.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader};

use super::{ImageError, Rgb8};

/// Read and decode the image file at `path`; see [`decode_bytes`] for the conversion rules.
///
/// Errors (never panics) with the path and the reason when the file is missing or unreadable,
/// empty, of an unknown format, truncated or corrupt.
pub fn decode_file(path: &Path) -> Result<Rgb8, ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
    decode_bytes(&bytes, path)
}

/// Decode an in-memory JPEG, PNG or TIFF into 8-bit RGB; `origin` only names the image in errors.
///
/// The format is guessed from the leading bytes, never from `origin`'s extension. The conversion
/// to RGB follows what Pillow's `Image.open(..).convert("RGB")` produces (the reference):
///
/// | source samples              | RGB value                                                  |
/// |-----------------------------|------------------------------------------------------------|
/// | RGB 8-bit                   | as decoded                                                 |
/// | RGBA 8-bit                  | alpha dropped (not composited)                             |
/// | grey 8-bit (and 1/2/4-bit)  | grey replicated (1/2/4-bit scaled to 0..255 by the decoder) |
/// | grey + alpha 8-bit          | alpha dropped, grey replicated                             |
/// | palette (PNG, 8-bit TIFF)   | expanded through the palette, transparency ignored; TIFF colour-map entries `v >> 8` |
/// | CMYK (JPEG, 8-bit TIFF)     | Pillow's `cmyk2rgb`: `(255 - k) - (ink * (255 - k) / 255)`, rounded as Pillow; JPEG inks inverted first (Adobe) |
/// | RGB / RGBA 16-bit           | `v >> 8` per channel (Pillow's `RGB;16` unpackers keep the high byte) |
/// | grey + alpha 16-bit         | `v >> 8` (Pillow's `LA;16B` unpacker)                      |
/// | grey 16-bit                 | `min(v, 255)`: Pillow opens it as mode `I;16` and `convert("RGB")` *clips*, it does not scale |
///
/// 32-bit float and integer images are rejected as [`ImageError::Unsupported`]. EXIF orientation is not
/// applied (Pillow's `open` does not apply it either).
///
/// JPEG: see [`JPEG_DECODER`](super::JPEG_DECODER). With the `libjpeg-turbo` feature the pixels
/// are Pillow's exactly (same C decoder) and CMYK follows Pillow's `cmyk2rgb`; without it the
/// `image` crate's zune-jpeg decodes, up to a few levels off per sample (4:2:0 chroma upsampling
/// and IDCT rounding differ). Either way, data that ends before the last scan is complete is an
/// error ("truncated"), as in Pillow.
pub fn decode_bytes(bytes: &[u8], origin: &Path) -> Result<Rgb8, ImageError> {
    let path = || origin.to_path_buf();
    if bytes.is_empty() {
        return Err(ImageError::Empty { path: path() });
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Tiff)) => f,
        _ => {
            let magic: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(ImageError::UnknownFormat { path: path(), magic: magic.join(" ") });
        }
    };
    let name = match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        _ => "TIFF",
    };
    let corrupt = |reason: String| ImageError::Corrupt { path: path(), format: name, reason };
    #[cfg(feature = "libjpeg-turbo")]
    if format == ImageFormat::Jpeg {
        return super::turbo::decode(bytes).map_err(|e| corrupt(e.0));
    }
    if format == ImageFormat::Jpeg && !jpeg_has_eoi(bytes) {
        // zune-jpeg (lenient mode, as the `image` crate configures it) pads missing scan data
        // with grey; Pillow raises "image file is truncated". Refuse like Pillow.
        return Err(corrupt("truncated: no end-of-image marker after the last scan".into()));
    }

    if format == ImageFormat::Tiff {
        if let Some(ifd) = TiffIfd0::parse(bytes) {
            match (ifd.photometric, ifd.samples, ifd.bits) {
                (PALETTE, 1, 8) => return decode_palette_tiff(bytes, &ifd).map_err(corrupt),
                (SEPARATED, 4, 8) => return decode_cmyk_tiff(bytes, &ifd).map_err(corrupt),
                (PALETTE, _, bits) => {
                    let reason = format!("{bits}-bit palette (only 8-bit palettes are supported)");
                    return Err(ImageError::Unsupported { path: path(), format: name, reason });
                }
                _ => {}
            }
        }
    }

    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    // The decoders are not supposed to panic on bad input; make sure a bug there is an error here.
    let decoded = catch_unwind(AssertUnwindSafe(|| reader.decode())).map_err(|_| corrupt("the decoder panicked on this input".into()))?;
    let img = match decoded {
        Ok(img) => img,
        Err(image::ImageError::Unsupported(e)) => {
            return Err(ImageError::Unsupported { path: path(), format: name, reason: e.to_string() });
        }
        Err(image::ImageError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(corrupt(format!("truncated: {e}")))
        }
        // Campaign item 22: a 20000 x 20000 PNG is not corrupt, it is over the limit; say so with its size.
        Err(image::ImageError::Limits(e)) => {
            let mut header = ImageReader::new(Cursor::new(bytes));
            header.set_format(format);
            let (width, height) = header.into_dimensions().unwrap_or((0, 0));
            return Err(ImageError::TooLarge { path: path(), format: name, width, height, reason: e.to_string() });
        }
        Err(e) => return Err(corrupt(e.to_string())),
    };
    if img.width() == 0 || img.height() == 0 {
        return Err(corrupt(format!("zero-sized image {}x{}", img.width(), img.height())));
    }
    to_rgb8(img).map_err(|reason| ImageError::Unsupported { path: path(), format: name, reason })
}

/// True when the JPEG has an EOI marker (`FF D9`) after its last SOS marker (`FF DA`).
///
/// Inside entropy-coded data `FF` is always followed by `00` (stuffing) or `D0..D7` (restart), so
/// the first `FF D9` after the last `FF DA` is the real end of image; bytes after it are allowed.
fn jpeg_has_eoi(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(i) => bytes[i + 2..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Pillow's `convert("RGB")` on what the `image` crate decoded; `Err(reason)` when unsupported.
fn to_rgb8(img: DynamicImage) -> Result<Rgb8, String> {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let n = width * height;
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => collect_rgb(n, b.as_raw().chunks_exact(4).map(|p| [p[0], p[1], p[2]])),
        DynamicImage::ImageLuma8(b) => collect_rgb(n, b.as_raw().iter().map(|&v| [v, v, v])),
        DynamicImage::ImageLumaA8(b) => collect_rgb(n, b.as_raw().chunks_exact(2).map(|p| [p[0], p[0], p[0]])),
        DynamicImage::ImageRgb16(b) => collect_rgb(n, b.as_raw().chunks_exact(3).map(|p| [hi(p[0]), hi(p[1]), hi(p[2])])),
        DynamicImage::ImageRgba16(b) => collect_rgb(n, b.as_raw().chunks_exact(4).map(|p| [hi(p[0]), hi(p[1]), hi(p[2])])),
        DynamicImage::ImageLumaA16(b) => collect_rgb(n, b.as_raw().chunks_exact(2).map(|p| [hi(p[0]); 3])),
        DynamicImage::ImageLuma16(b) => collect_rgb(n, b.as_raw().iter().map(|&v| [v.min(255) as u8; 3])),
        other => return Err(format!("{:?} samples (only 8- and 16-bit integer images are supported)", other.color())),
    };
    debug_assert_eq!(data.len(), 3 * n);
    Ok(Rgb8 { width, height, data })
}

// TIFF colour types the `image` crate does not convert like Pillow: palette (refused) and CMYK
// (converted with another formula). Both are decoded by the `image` crate from a copy whose
// PhotometricInterpretation tag is patched (palette -> grey gives the indices, CMYK -> RGB gives
// the raw inks as RGBA), so every compression it supports works; the colours are then computed
// as Pillow does.

const RGB: u16 = 2;
const PALETTE: u16 = 3;
const SEPARATED: u16 = 5;
const MIN_IS_BLACK: u16 = 1;

/// The few first-IFD fields needed above (classic TIFF only; BigTIFF goes the normal way).
struct TiffIfd0 {
    little_endian: bool,
    photometric: u16,
    /// Byte offset of the PhotometricInterpretation value, to patch.
    photometric_at: usize,
    samples: u16,
    bits: u16,
    colormap: Vec<u16>,
}

impl TiffIfd0 {
    fn parse(bytes: &[u8]) -> Option<TiffIfd0> {
        let le = match bytes.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        let u16_at = |i: usize| {
            let b: [u8; 2] = bytes.get(i..i + 2)?.try_into().ok()?;
            Some(if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
        };
        let u32_at = |i: usize| {
            let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
        };
        let ifd = u32_at(4)? as usize;
        let mut out = TiffIfd0 { little_endian: le, photometric: 0, photometric_at: 0, samples: 1, bits: 1, colormap: Vec::new() };
        for e in (0..u16_at(ifd)? as usize).map(|i| ifd + 2 + 12 * i) {
            let (tag, typ, count) = (u16_at(e)?, u16_at(e + 2)?, u32_at(e + 4)? as usize);
            if typ != 3 {
                continue; // all the tags read here are SHORTs
            }
            let values_at = if count <= 2 { e + 8 } else { u32_at(e + 8)? as usize };
            match tag {
                262 => (out.photometric, out.photometric_at) = (u16_at(e + 8)?, e + 8),
                258 => out.bits = u16_at(values_at)?, // per sample; the first stands for all
                277 => out.samples = u16_at(e + 8)?,
                320 => out.colormap = (0..count).map(|i| u16_at(values_at + 2 * i)).collect::<Option<_>>()?,
                _ => {}
            }
        }
        (out.photometric_at != 0).then_some(out)
    }

    /// Decode `bytes` as if the photometric interpretation were `photometric`.
    fn decode_as(&self, bytes: &[u8], photometric: u16) -> Result<DynamicImage, String> {
        let mut patched = bytes.to_vec();
        let v = if self.little_endian { photometric.to_le_bytes() } else { photometric.to_be_bytes() };
        patched[self.photometric_at..self.photometric_at + 2].copy_from_slice(&v);
        let mut reader = ImageReader::new(Cursor::new(&patched[..]));
        reader.set_format(ImageFormat::Tiff);
        match catch_unwind(AssertUnwindSafe(|| reader.decode())) {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the decoder panicked on this input".into()),
        }
    }
}

/// 8-bit palette TIFF: indices through the ColorMap, whose 16-bit entries Pillow reduces to
/// their high byte (`b // 256`).
fn decode_palette_tiff(bytes: &[u8], ifd: &TiffIfd0) -> Result<Rgb8, String> {
    let map = &ifd.colormap;
    if map.len() != 3 * 256 {
        return Err(format!("palette TIFF with a ColorMap of {} entries (768 expected)", map.len()));
    }
    let DynamicImage::ImageLuma8(indices) = ifd.decode_as(bytes, MIN_IS_BLACK)? else {
        return Err("palette TIFF indices did not decode as 8-bit samples".into());
    };
    let (width, height) = (indices.width() as usize, indices.height() as usize);
    let lut: Vec<[u8; 3]> = (0..256).map(|i| [hi(map[i]), hi(map[256 + i]), hi(map[512 + i])]).collect();
    Ok(Rgb8 { width, height, data: collect_rgb(width * height, indices.as_raw().iter().map(|&i| lut[i as usize])) })
}

/// 8-bit CMYK TIFF: Pillow opens it as `CMYK` (not inverted) and converts with `cmyk2rgb`.
fn decode_cmyk_tiff(bytes: &[u8], ifd: &TiffIfd0) -> Result<Rgb8, String> {
    let DynamicImage::ImageRgba8(inks) = ifd.decode_as(bytes, RGB)? else {
        return Err("CMYK TIFF did not decode as 4 x 8-bit samples".into());
    };
    let (width, height) = (inks.width() as usize, inks.height() as usize);
    let px = inks.as_raw().chunks_exact(4).map(|p| pillow_cmyk_to_rgb([p[0], p[1], p[2], p[3]]));
    Ok(Rgb8 { width, height, data: collect_rgb(width * height, px) })
}

/// Pillow's `cmyk2rgb` (libImaging/Convert.c): `nk = 255 - k`, `v = nk - MULDIV255(ink, nk)`.
pub(super) fn pillow_cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let nk = 255 - k as i32;
    let f = |ink: u8| {
        let t = ink as i32 * nk + 128;
        (nk - (((t >> 8) + t) >> 8)).clamp(0, 255) as u8
    };
    [f(c), f(m), f(y)]
}

/// High byte of a 16-bit sample: what Pillow's `;16` unpackers keep.
#[inline]
fn hi(v: u16) -> u8 {
    (v >> 8) as u8
}

fn collect_rgb(n: usize, px: impl Iterator<Item = [u8; 3]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 * n);
    for p in px {
        out.extend_from_slice(&p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Campaign item 22: a PNG whose header declares 20000 x 20000 names the decode limit and
    /// its size instead of calling the file corrupt.
    #[test]
    fn an_image_over_the_decode_limit_says_so_with_its_size() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(20000u32.to_be_bytes());
        ihdr.extend(20000u32.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc32fast::hash(&ihdr).to_be_bytes());
        for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
            png.extend(0u32.to_be_bytes());
            png.extend(chunk);
            png.extend(crc32fast::hash(chunk).to_be_bytes());
        }
        let err = decode_bytes(&png, Path::new("big.png")).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { width: 20000, height: 20000, .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("20000 x 20000") && text.contains("decode limit") && !text.contains("corrupt"), "{text}");
    }
}
