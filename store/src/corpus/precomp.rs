//! The "precomp" layout of RSICD and RSITMD.
//!
//! `{split}_caps.txt` holds one caption per line, five consecutive lines per image.
//! `{split}_filename.txt` comes in two forms: one line per caption (the image name
//! repeated five times; test and val files) or one line per image (train files). Image
//! `i` owns caption lines `5i..5i+4` either way. Splits whose names end in `_verify`
//! (`train_verify`, `val_verify`) live in `{base}_caps_verify.txt`.

use std::path::{Path, PathBuf};

use super::lines::{read_lines, warn_if_empty};
use super::{scene_from_name, Caption, Corpus, Image, Layout, Warning, WarningKind};
use crate::error::{Error, Result};

/// Captions per image in this layout.
pub const CAPTIONS_PER_IMAGE: usize = 5;

fn split_file(root: &Path, split: &str, kind: &str) -> PathBuf {
    match split.strip_suffix("_verify") {
        Some(base) => root.join(format!("{base}_{kind}_verify.txt")),
        None => root.join(format!("{split}_{kind}.txt")),
    }
}

/// The caption file of `split`.
pub fn caps_path(root: &Path, split: &str) -> PathBuf {
    split_file(root, split, "caps")
}

/// Whether `root` holds any `*_caps*.txt` (it is a precomp corpus, whatever the split).
pub fn has_any_caps(root: &Path) -> bool {
    std::fs::read_dir(root).map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().contains("_caps"))).unwrap_or(false)
}

pub fn read(root: &Path, split: &str, images_dir: Option<&Path>) -> Result<Corpus> {
    let caps_file = caps_path(root, split);
    let names_file = split_file(root, split, "filename");
    let mut warnings = Vec::new();
    let caps = read_lines(&caps_file, &mut warnings)?;
    let names = read_lines(&names_file, &mut warnings)?;

    if caps.len() % CAPTIONS_PER_IMAGE != 0 {
        return Err(Error::corpus(&caps_file, None, format!("{} caption lines is not a multiple of {CAPTIONS_PER_IMAGE}", caps.len())));
    }
    let n_images = caps.len() / CAPTIONS_PER_IMAGE;
    // Which line of the file-name list names image i (1-based), in either form.
    let per_caption = names.len() == caps.len() && n_images > 0;
    if !per_caption && names.len() != n_images {
        return Err(Error::corpus(
            &names_file,
            None,
            format!(
                "{} file names for {} captions: expected {n_images} (one per image) or {} (one per caption)",
                names.len(),
                caps.len(),
                caps.len()
            ),
        ));
    }
    let stride = if per_caption { CAPTIONS_PER_IMAGE } else { 1 };
    let image_dir = images_dir.map(Path::to_owned).unwrap_or_else(|| root.join("images"));

    let mut images = Vec::with_capacity(n_images);
    for i in 0..n_images {
        let line = i * stride;
        let name = names[line].trim().to_owned();
        if name.is_empty() {
            return Err(Error::corpus(&names_file, Some(line + 1), "empty file name"));
        }
        if per_caption {
            if let Some(k) = (1..CAPTIONS_PER_IMAGE).find(|&k| names[line + k].trim() != name) {
                return Err(Error::corpus(
                    &names_file,
                    Some(line + k + 1),
                    format!(
                        "'{}' where '{name}' (line {}) should repeat: image {i} owns caption lines {}..{}",
                        names[line + k].trim(),
                        line + 1,
                        line + 1,
                        line + CAPTIONS_PER_IMAGE
                    ),
                ));
            }
        }
        images.push(Image { path: image_dir.join(&name), scene: Some(scene_from_name(&name)), name });
    }

    let mut captions = Vec::with_capacity(caps.len());
    for (j, text) in caps.into_iter().enumerate() {
        warn_if_empty(&text, &caps_file, j + 1, &mut warnings);
        captions.push(Caption { text, image: j / CAPTIONS_PER_IMAGE, line: j + 1 });
    }

    let mut corpus = Corpus { source: root.to_owned(), layout: Layout::Precomp, split: Some(split.to_owned()), images, captions, warnings };
    if image_dir.is_dir() {
        corpus.check_images_exist(&names_file, |i| Some(i * stride + 1));
    } else {
        corpus.warnings.push(Warning {
            kind: WarningKind::NoImageFolder,
            path: image_dir.clone(),
            line: None,
            message: "image folder not found; image files were not checked (pass --images DIR)".into(),
        });
    }
    Ok(corpus)
}
