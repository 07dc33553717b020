//! Thumbnails of corpus rows: decoded and resized once, then served from a bounded
//! least-recently-used cache. Only rows of the set can be asked for; the file is the one
//! the corpus lists for the row, never a path from the request.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

use axum::body::Bytes;
use lru::LruCache;
use swan_embedder::image::{decode_file, resize_bilinear, Rgb8};

/// Cached JPEG thumbnails by row.
pub(crate) struct Thumbs {
    side: usize,
    cache: Mutex<LruCache<usize, Bytes>>,
}

impl Thumbs {
    /// Thumbnails `side` pixels on the long side, at most `capacity` kept.
    pub fn new(side: usize, capacity: usize) -> Thumbs {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("at least 1");
        Thumbs { side: side.max(1), cache: Mutex::new(LruCache::new(capacity)) }
    }

    /// The cached thumbnail of `row`, if any.
    pub fn cached(&self, row: usize) -> Option<Bytes> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&row).cloned()
    }

    /// Make the thumbnail of `row` from `path` and cache it. Blocking: decodes and resizes.
    pub fn make(&self, row: usize, path: &Path) -> Result<Bytes, String> {
        let img = decode_file(path).map_err(|e| e.to_string())?;
        let jpeg = Bytes::from(to_jpeg(&shrink(&img, self.side))?);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).put(row, jpeg.clone());
        Ok(jpeg)
    }
}

/// `img` scaled so its long side is at most `side` (never enlarged), aspect kept, with
/// the antialiased bilinear filter the model input uses.
fn shrink(img: &Rgb8, side: usize) -> Rgb8 {
    let long = img.width.max(img.height);
    if long <= side {
        return img.clone();
    }
    let scale = |n: usize| ((n * side + long / 2) / long).max(1);
    resize_bilinear(img, scale(img.width), scale(img.height))
}

fn to_jpeg(img: &Rgb8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    enc.encode(&img.data, img.width as u32, img.height as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_the_aspect_and_never_grow() {
        let wide = Rgb8 { width: 400, height: 100, data: vec![128; 400 * 100 * 3] };
        let t = shrink(&wide, 192);
        assert_eq!((t.width, t.height), (192, 48));
        let small = Rgb8 { width: 50, height: 60, data: vec![1; 50 * 60 * 3] };
        assert_eq!(shrink(&small, 192).width, 50);
        let jpeg = to_jpeg(&t).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    }

    #[test]
    fn the_cache_is_bounded_and_a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let thumbs = Thumbs::new(16, 2);
        let img = image::RgbImage::from_pixel(40, 20, image::Rgb([10, 200, 30]));
        let path = dir.path().join("a.png");
        img.save(&path).unwrap();
        for row in 0..3 {
            thumbs.make(row, &path).unwrap();
        }
        assert!(thumbs.cached(0).is_none(), "the least recently used entry is dropped");
        assert!(thumbs.cached(1).is_some() && thumbs.cached(2).is_some());
        let err = thumbs.make(5, &dir.path().join("missing.jpg")).unwrap_err();
        assert!(err.contains("missing.jpg"), "{err}");
    }
}
