//! JSON Lines manifests for users' own archives.
//!
//! One image per line: `{"image": "tiles/a.tif", "captions": ["...", "..."], "scene": "port"}`.
//! `captions` and `scene` are optional; image paths are relative to the manifest's folder
//! unless absolute. Blank lines are skipped.

use std::path::Path;

use serde::Deserialize;

use super::lines::{read_lines, warn_if_empty};
use super::{Caption, Corpus, Image, Layout};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    image: String,
    #[serde(default)]
    captions: Vec<String>,
    #[serde(default)]
    scene: Option<String>,
}

pub fn read(path: &Path) -> Result<Corpus> {
    let mut warnings = Vec::new();
    let lines = read_lines(path, &mut warnings)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut images = Vec::new();
    let mut captions = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line).map_err(|e| {
            Error::corpus(
                path,
                Some(line_no),
                format!("not a corpus entry ({e}); expected {{\"image\": PATH, \"captions\": [TEXT, ...], \"scene\": LABEL}}"),
            )
        })?;
        if entry.image.trim().is_empty() {
            return Err(Error::corpus(path, Some(line_no), "empty \"image\" path"));
        }
        for text in entry.captions {
            // Captions of one image share their manifest line for messages.
            warn_if_empty(&text, path, line_no, &mut warnings);
            captions.push(Caption { text, image: images.len(), line: line_no });
        }
        images.push(Image { path: base.join(&entry.image), name: entry.image, scene: entry.scene });
    }
    // Lines that held entries, in image order, for missing-image messages.
    let entry_lines: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).collect();
    let mut corpus = Corpus { source: path.to_owned(), layout: Layout::Jsonl, split: None, images, captions, warnings };
    corpus.check_images_exist(path, |i| entry_lines.get(i).copied());
    Ok(corpus)
}
