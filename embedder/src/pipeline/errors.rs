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

/// One item that could not be embedded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// `image` or `caption`.
    pub kind: String,
    /// Row in the output file.
    pub row: usize,
    /// Index of the item in the corpus.
    pub item: usize,
    /// The file (image) or `caps-file:line` (caption).
    pub path: String,
    /// What went wrong.
    pub reason: String,
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
    pub fn forget(&mut self, kind: &str) -> Result<()> {
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
        self.entries.sort_by(|a, b| (&a.kind, a.row).cmp(&(&b.kind, b.row)));
        self.entries.dedup();
        let final_path = self.partial.with_file_name("errors.jsonl");
        swan_store::errors_file::write(&final_path, &self.entries)?;
        std::fs::remove_file(&self.partial).map_err(io(&self.partial))?;
        Ok(self.entries)
    }
}

fn to_lines(entries: &[ItemError]) -> String {
    entries.iter().map(|e| serde_json::to_string(e).expect("serialises") + "\n").collect()
}
