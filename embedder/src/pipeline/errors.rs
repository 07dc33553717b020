//! The list of items that could not be embedded, kept durable across crashes.
//!
//! While a job runs, each chunk's failures are appended to `errors.jsonl.partial`
//! (and synced) before the chunk is recorded as written, so a resumed job still knows
//! the failures of the chunks it skips. `finish` writes `errors.jsonl` sorted by row, in the store's framed format
//! (`swan_store::errors_file`: a header with a count and a CRC-32).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EmbedError, Result};

/// Which table an [`ItemError`] concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A caption (row of `captions.npy`). Sorts first, as the log is ordered by kind.
    Caption,
    /// An image (row of `images.npy`).
    Image,
}

/// One item that could not be embedded, or was embedded from repaired input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// The table.
    pub kind: ItemKind,
    /// Row in the output file.
    pub row: usize,
    /// Index of the item in the corpus.
    pub item: usize,
    /// The file (image) or `caps-file:line` (caption).
    pub path: String,
    /// What went wrong.
    pub reason: String,
    /// Whether the row's vector is unusable (zeroed and listed as invalid in the
    /// manifest); false for an item embedded from repaired input. Older logs lack the
    /// field; their image entries were all invalid.
    #[serde(default)]
    pub invalid: bool,
}

/// Append-only, crash-safe error log.
pub struct ErrorLog {
    partial: PathBuf,
    file: std::fs::File,
    entries: Vec<ItemError>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EmbedError + '_ {
    move |source| EmbedError::Io { path: path.to_owned(), source }
}

impl ErrorLog {
    /// Open the log in `dir` with the entries an interrupted run left. Entries of a
    /// chunk that is computed again recur and are deduplicated at the end.
    pub fn open(dir: &Path) -> Result<ErrorLog> {
        let partial = dir.join("errors.jsonl.partial");
        let entries: Vec<ItemError> = match std::fs::read_to_string(&partial) {
            // A torn last line (crash mid-append) does not parse and is dropped.
            Ok(text) => text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&partial)(e)),
        };
        let mut log = ErrorLog { file: Self::rewrite(&partial, &entries)?, partial, entries };
        log.entries.dedup();
        Ok(log)
    }

    /// Drop the entries of `kind` (its table starts over), on disk too.
    pub fn forget(&mut self, kind: ItemKind) -> Result<()> {
        self.entries.retain(|e| e.kind != kind);
        self.file = Self::rewrite(&self.partial, &self.entries)?;
        Ok(())
    }

    fn rewrite(partial: &Path, entries: &[ItemError]) -> Result<std::fs::File> {
        swan_store::fsutil::write_atomic(partial, to_lines(entries).as_bytes())?;
        std::fs::OpenOptions::new().append(true).open(partial).map_err(io(partial))
    }

    /// Record failures durably (call before marking their chunk written).
    pub fn append(&mut self, errors: &[ItemError]) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        self.file.write_all(to_lines(errors).as_bytes()).map_err(io(&self.partial))?;
        self.file.sync_data().map_err(io(&self.partial))?;
        self.entries.extend_from_slice(errors);
        Ok(())
    }

    /// All failures so far.
    pub fn entries(&self) -> &[ItemError] {
        &self.entries
    }

    /// Write `errors.jsonl` (sorted by kind, then row) and drop the partial log.
    pub fn finish(mut self) -> Result<Vec<ItemError>> {
        self.entries.sort_by_key(|e| (e.kind, e.row));
        self.entries.dedup();
        let final_path = self.partial.with_file_name("errors.jsonl");
        swan_store::errors_file::write(&final_path, &self.entries)?;
        std::fs::remove_file(&self.partial).map_err(io(&self.partial))?;
        Ok(self.entries)
    }
}

/// Zero the rows of `rows` (`dim` values each, row `r` being output row `first + r`) that
/// are not all finite, and describe each as an invalid item; `item_of` and `path_of` map
/// an output row to its corpus item and its source. Rows already listed in `known` are
/// left alone (they are zero already).
pub(super) fn non_finite_rows(
    rows: &mut [f32],
    dim: usize,
    first: usize,
    kind: ItemKind,
    known: &[ItemError],
    item_of: impl Fn(usize) -> usize,
    path_of: impl Fn(usize) -> String,
) -> Vec<ItemError> {
    let mut found = Vec::new();
    for (r, row) in rows.chunks_mut(dim).enumerate() {
        let out_row = first + r;
        if row.iter().all(|v| v.is_finite()) || known.iter().any(|e| e.row == out_row) {
            continue;
        }
        row.fill(0.0);
        let item = item_of(out_row);
        found.push(ItemError { kind, row: out_row, item, path: path_of(item), reason: NON_FINITE.into(), invalid: true });
    }
    found
}

/// The reason given for a row whose vector has NaN or infinite values.
pub const NON_FINITE: &str = "non-finite embedding (NaN or infinity: check the checkpoint's weights)";

fn to_lines(entries: &[ItemError]) -> String {
    entries.iter().map(|e| serde_json::to_string(e).expect("serialises") + "\n").collect()
}
