//! Corpora: images, their captions, and scene labels, read from one of three layouts.
//!
//! - **precomp** (RSICD, RSITMD): `{split}_caps.txt` and `{split}_filename.txt` in a
//!   folder, images in a separate folder; see [`precomp`].
//! - **jsonl**: a JSON Lines manifest for users' own archives, one image per line with
//!   its captions and an optional scene; see [`jsonl`].
//! - **folder**: a bare folder of images, no captions; see [`folder`].
//!
//! Readers never stop at the first odd line when the rest is usable: recoverable
//! problems (a missing image, an empty caption, a non-UTF-8 line) become [`Warning`]s
//! that name the file and line; problems that make the corpus ambiguous (count
//! mismatches, malformed lines) are errors.

mod folder;
mod jsonl;
mod lines;
mod precomp;
mod scene;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
pub use lines::read_lines;
pub use scene::scene_from_name;

/// Which on-disk layout a corpus uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `{split}_caps.txt` + `{split}_filename.txt` + an image folder.
    Precomp,
    /// A JSON Lines manifest.
    Jsonl,
    /// A folder of images without captions.
    Folder,
}

impl Layout {
    /// Lowercase name, as in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Precomp => "precomp",
            Layout::Jsonl => "jsonl",
            Layout::Folder => "folder",
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "precomp" => Ok(Layout::Precomp),
            "jsonl" => Ok(Layout::Jsonl),
            "folder" => Ok(Layout::Folder),
            _ => Err(format!("unknown corpus layout '{s}' (expected precomp, jsonl or folder)")),
        }
    }
}

/// How to open a corpus.
#[derive(Clone, Debug, Default)]
pub struct CorpusOptions {
    /// Force a layout instead of detecting it.
    pub layout: Option<Layout>,
    /// Split of a precomp corpus (`train`, `test`, `train_verify`, `val_verify`); default `test`.
    pub split: Option<String>,
    /// Image folder of a precomp corpus; default `images/` inside the corpus folder.
    pub images: Option<PathBuf>,
}

/// One image of a corpus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    /// File name as the corpus lists it (a path relative to the image folder).
    pub name: String,
    /// Where the file is expected to be.
    pub path: PathBuf,
    /// Scene label, where the corpus has one.
    pub scene: Option<String>,
}

/// One caption of a corpus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Caption {
    /// The line as read (without its line break), lossily decoded if it was not UTF-8.
    pub text: String,
    /// Index of the image it describes.
    pub image: usize,
    /// Where it came from: file and 1-based line, for messages.
    pub line: usize,
}

/// A recoverable problem found while reading a corpus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What kind of problem.
    pub kind: WarningKind,
    /// The file it concerns.
    pub path: PathBuf,
    /// 1-based line, where it concerns one line.
    pub line: Option<usize>,
    /// A sentence for the user.
    pub message: String,
}

/// Kinds of [`Warning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// An image file the corpus lists does not exist.
    MissingImage,
    /// The image folder itself does not exist, so images were not checked.
    NoImageFolder,
    /// A caption line is empty (after stripping white space); it is kept, as the
    /// reference implementation keeps it, and encodes as the empty caption.
    EmptyCaption,
    /// A caption line is not valid UTF-8; invalid bytes were replaced.
    NotUtf8,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A corpus in memory: its images, captions and what was odd about it.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The path it was opened from.
    pub source: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Split, for precomp corpora.
    pub split: Option<String>,
    /// Images, in corpus order.
    pub images: Vec<Image>,
    /// Captions, in corpus order.
    pub captions: Vec<Caption>,
    /// Recoverable problems found while reading.
    pub warnings: Vec<Warning>,
}

/// Counts that describe a corpus, for `swan corpus` and logs.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Layout name.
    pub layout: Layout,
    /// Split, if any.
    pub split: Option<String>,
    /// Image count.
    pub images: usize,
    /// Caption count.
    pub captions: usize,
    /// Distinct scene labels, sorted.
    pub scenes: Vec<String>,
    /// Images without any caption.
    pub images_without_captions: usize,
    /// Warning counts by kind.
    pub warnings: std::collections::BTreeMap<String, usize>,
}

impl Corpus {
    /// Open the corpus at `path`, detecting the layout unless `options.layout` is set:
    /// a `.jsonl` file is a manifest, a folder with `{split}_caps.txt` is precomp, any
    /// other folder is a bare image folder.
    pub fn open(path: &Path, options: &CorpusOptions) -> Result<Corpus> {
        let split = options.split.clone().unwrap_or_else(|| "test".to_owned());
        let layout = match options.layout {
            Some(layout) => layout,
            None if path.is_file() => Layout::Jsonl,
            None if path.is_dir() => {
                if precomp::caps_path(path, &split).exists() {
                    Layout::Precomp
                } else if precomp::has_any_caps(path) {
                    return Err(Error::corpus(
                        path,
                        None,
                        format!("precomp corpus has no split '{split}' ({} is missing)", precomp::caps_path(path, &split).display()),
                    ));
                } else {
                    Layout::Folder
                }
            }
            None => return Err(Error::corpus(path, None, "no such file or folder")),
        };
        match layout {
            Layout::Precomp => precomp::read(path, &split, options.images.as_deref()),
            Layout::Jsonl => jsonl::read(path),
            Layout::Folder => folder::read(path),
        }
    }

    /// For every image, the indices of its captions in corpus order (computed in one
    /// pass: outside the precomp layout an image may have any number of captions).
    pub fn captions_by_image(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.images.len()];
        for (j, c) in self.captions.iter().enumerate() {
            out[c.image].push(j);
        }
        out
    }

    /// Scene label of every caption (its image's), `None` where the image has none.
    pub fn caption_scenes(&self) -> Vec<Option<&str>> {
        self.captions.iter().map(|c| self.images[c.image].scene.as_deref()).collect()
    }

    /// Distinct scene labels, sorted.
    pub fn scenes(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> = self.images.iter().filter_map(|i| i.scene.as_deref()).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// Counts for display.
    pub fn summary(&self) -> Summary {
        let mut has_caption = vec![false; self.images.len()];
        for c in &self.captions {
            has_caption[c.image] = true;
        }
        let mut warnings = std::collections::BTreeMap::new();
        for w in &self.warnings {
            let name = serde_json::to_value(w.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            *warnings.entry(name).or_insert(0) += 1;
        }
        Summary {
            layout: self.layout,
            split: self.split.clone(),
            images: self.images.len(),
            captions: self.captions.len(),
            scenes: self.scenes(),
            images_without_captions: has_caption.iter().filter(|&&h| !h).count(),
            warnings,
        }
    }

    /// Warn about every listed image whose file does not exist.
    fn check_images_exist(&mut self, listed_in: &Path, line_of: impl Fn(usize) -> Option<usize>) {
        for (i, image) in self.images.iter().enumerate() {
            if !image.path.is_file() {
                self.warnings.push(Warning {
                    kind: WarningKind::MissingImage,
                    path: listed_in.to_owned(),
                    line: line_of(i),
                    message: format!("image {} not found", image.path.display()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
