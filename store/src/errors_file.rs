//! `errors.jsonl`: the items of an embedding set that could not be embedded, one JSON
//! object per line, sorted by table and row.
//!
//! # Format, version 1
//!
//! The first line is a header, then one entry per line:
//!
//! ```text
//! {"format":"swan-errors","version":1,"entries":2,"crc32":"5e1f2a3b"}
//! {"kind":"image","row":1,...}
//! {"kind":"image","row":4,...}
//! ```
//!
//! `entries` is the number of entry lines and `crc32` the CRC-32 (IEEE, as zlib, gzip
//! and `crc32fast` compute it) of every byte after the header line, as 8 hex digits, so a
//! truncated or edited file is refused. To check a file by hand:
//! `tail -n +2 errors.jsonl | python3 -c 'import sys,zlib; print("%08x" % zlib.crc32(sys.stdin.buffer.read()))'`.
//!
//! Files written before the header existed (every line an entry, no header) are still
//! read; they carry no checksum. The entries' fields belong to the writer (the embedding
//! pipeline); this module only frames them, so it is generic over the entry type.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

/// File name of the error list inside an embedding folder.
pub const ERRORS_FILE: &str = "errors.jsonl";
/// The `format` value of the header line.
pub const FORMAT: &str = "swan-errors";
/// The version this build writes.
pub const CURRENT_VERSION: u32 = 1;
/// The oldest version with a header this build reads (headerless files are read too).
pub const OLDEST_READABLE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: serde_json::Value,
    entries: usize,
    crc32: String,
}

/// Write `entries` to `path` atomically, with the header.
pub fn write<T: Serialize>(path: &Path, entries: &[T]) -> Result<()> {
    let mut body = String::new();
    for e in entries {
        body += &serde_json::to_string(e).map_err(|source| Error::Json { path: path.to_owned(), source })?;
        body.push('\n');
    }
    let header = Header {
        format: FORMAT.into(),
        version: CURRENT_VERSION.into(),
        entries: entries.len(),
        crc32: format!("{:08x}", crc32fast::hash(body.as_bytes())),
    };
    let mut text = serde_json::to_string(&header).expect("header serialises");
    text.push('\n');
    text += &body;
    fsutil::write_atomic(path, text.as_bytes())
}

/// Read the entries of `path`, checking the header's version, count and checksum. A
/// missing file is an empty list (a set without failures may have none).
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if path.exists() {
        fsutil::check_input(path)?;
    }
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let text =
        String::from_utf8(text).map_err(|e| Error::format(path, None, format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))?;
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let first_value: Option<serde_json::Value> = serde_json::from_str(first).ok();
    let (body, first_line) = match first_value.as_ref().and_then(|v| v.get("format")) {
        Some(_) => {
            let header: Header = serde_json::from_str(first).map_err(|e| Error::format(path, Some(1), format!("bad header: {e}")))?;
            check_header(path, &header, rest)?;
            (rest, 2)
        }
        None => (&text[..], 1),
    };
    body.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::format(path, Some(i + first_line), format!("not an error entry: {e}")))
        })
        .collect()
}

fn check_header(path: &Path, header: &Header, body: &str) -> Result<()> {
    if header.format != FORMAT {
        return Err(Error::format(path, Some(1), format!("format is {:?}, not {FORMAT:?}", header.format)));
    }
    let version = header
        .version
        .as_u64()
        .ok_or_else(|| Error::format(path, Some(1), format!("\"version\" must be a whole number, not {}", header.version)))?;
    if !(OLDEST_READABLE_VERSION as u64..=CURRENT_VERSION as u64).contains(&version) {
        return Err(Error::Version { path: path.to_owned(), found: version, oldest: OLDEST_READABLE_VERSION, current: CURRENT_VERSION });
    }
    let crc = format!("{:08x}", crc32fast::hash(body.as_bytes()));
    if crc != header.crc32 {
        return Err(Error::format(
            path,
            None,
            format!("checksum mismatch: the header says crc32 {} but the entries hash to {crc}", header.crc32),
        ));
    }
    let lines = body.lines().count();
    if lines != header.entries {
        return Err(Error::format(path, None, format!("the header says {} entries but the file has {lines}", header.entries)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct E {
        kind: String,
        row: usize,
    }

    #[test]
    fn round_trips_and_checks_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(ERRORS_FILE);
        let entries = vec![E { kind: "image".into(), row: 1 }, E { kind: "image".into(), row: 4 }];
        write(&p, &entries).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let body = "{\"kind\":\"image\",\"row\":1}\n{\"kind\":\"image\",\"row\":4}\n";
        assert_eq!(
            text,
            format!(
                "{{\"format\":\"swan-errors\",\"version\":1,\"entries\":2,\"crc32\":\"{:08x}\"}}\n{body}",
                crc32fast::hash(body.as_bytes())
            )
        );
        assert_eq!(read::<E>(&p).unwrap(), entries);

        // An edited entry, a lost line and an unknown version are refused.
        std::fs::write(&p, text.replace("\"row\":4", "\"row\":5")).unwrap();
        assert!(read::<E>(&p).unwrap_err().to_string().contains("checksum mismatch"));
        let header = text.lines().next().unwrap();
        let one = "{\"kind\":\"image\",\"row\":1}\n";
        std::fs::write(
            &p,
            format!(
                "{}\n{one}",
                header.replace(&format!("{:08x}", crc32fast::hash(body.as_bytes())), &format!("{:08x}", crc32fast::hash(one.as_bytes())))
            ),
        )
        .unwrap();
        assert!(read::<E>(&p).unwrap_err().to_string().contains("the header says 2 entries but the file has 1"));
        std::fs::write(&p, text.replace("\"version\":1", "\"version\":\"1\"")).unwrap();
        assert!(read::<E>(&p).unwrap_err().to_string().contains("\"version\" must be a whole number"));
        std::fs::write(&p, text.replace("\"version\":1", "\"version\":7")).unwrap();
        assert!(read::<E>(&p).unwrap_err().to_string().contains("version 7 is not supported"));
    }

    #[test]
    fn reads_the_headerless_form_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(ERRORS_FILE);
        assert!(read::<E>(&p).unwrap().is_empty());
        std::fs::write(&p, "{\"kind\":\"caption\",\"row\":0}\n{\"kind\":\"image\",\"row\":2}\n").unwrap();
        assert_eq!(read::<E>(&p).unwrap(), [E { kind: "caption".into(), row: 0 }, E { kind: "image".into(), row: 2 }]);
        std::fs::write(&p, "").unwrap();
        assert!(read::<E>(&p).unwrap().is_empty());
        std::fs::write(&p, "{\"kind\":\"caption\",\"row\":0}\nnot json\n").unwrap();
        assert!(read::<E>(&p).unwrap_err().to_string().contains("errors.jsonl:2: not an error entry"));
    }
}
