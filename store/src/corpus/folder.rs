//! A bare folder of images, without captions (an archive to index and search by text).
//!
//! Images are found recursively and ordered by relative path, so row order is stable
//! across runs and machines. An image in a sub-folder takes the sub-folder's name as
//! its scene (the layout of AID-style class folders); images at the top have none.

use std::path::{Path, PathBuf};

use super::{Corpus, Image, Layout};
use crate::error::{IoContext, Result};

/// File extensions taken as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff"];

pub fn read(root: &Path) -> Result<Corpus> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    files.sort();
    let images = files
        .into_iter()
        .map(|rel| {
            let name = rel.to_string_lossy().into_owned();
            let scene = rel.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned());
            Image { path: root.join(&rel), name, scene }
        })
        .collect();
    Ok(Corpus { source: root.to_owned(), layout: Layout::Folder, split: None, images, captions: Vec::new(), warnings: Vec::new() })
}

fn walk(root: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let file_type = entry.file_type().at(&entry.path())?;
            let child = rel.join(entry.file_name());
            if file_type.is_dir() {
                stack.push(child);
            } else if is_image(&child) {
                out.push(child);
            }
        }
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}
