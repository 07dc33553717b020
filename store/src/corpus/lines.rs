//! Line reading with the reference's conventions and per-line diagnostics.

use std::path::Path;

use super::{Warning, WarningKind};
use crate::error::{IoContext, Result};

/// The lines of a text file as Python's `readlines()` sees them: split on `\n`, no
/// extra empty line after a final newline. A `\r` before the `\n` is dropped. Lines
/// that are not UTF-8 are decoded lossily and reported. A UTF-8 byte order mark at the
/// start of the file (as Windows editors write) is skipped: it is not part of the text.
pub fn read_lines(path: &Path, warnings: &mut Vec<Warning>) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).at(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut body = bytes;
    if body.last() == Some(&b'\n') {
        body = &body[..body.len() - 1];
    }
    if body.is_empty() && bytes.len() <= 1 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match std::str::from_utf8(raw) {
            Ok(s) => out.push(s.to_owned()),
            Err(e) => {
                warnings.push(Warning {
                    kind: WarningKind::NotUtf8,
                    path: path.to_owned(),
                    line: Some(i + 1),
                    message: format!("line is not valid UTF-8 (byte {}); invalid bytes replaced by U+FFFD", e.valid_up_to() + 1),
                });
                out.push(String::from_utf8_lossy(raw).into_owned());
            }
        }
    }
    Ok(out)
}

/// Report a caption that has no text after stripping ASCII white space.
pub fn warn_if_empty(text: &str, path: &Path, line: usize, warnings: &mut Vec<Warning>) {
    if text.trim_matches(|c: char| c.is_ascii_whitespace()).is_empty() {
        warnings.push(Warning {
            kind: WarningKind::EmptyCaption,
            path: path.to_owned(),
            line: Some(line),
            message: "empty caption (kept; it encodes as the empty caption)".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utf8_byte_order_mark_is_skipped() {
        // Campaign item 22: a BOM used to become an invisible first character of line 1.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("caps.txt");
        std::fs::write(&p, b"\xEF\xBB\xBFfirst line\r\nsecond \xEF\xBB\xBF kept\n").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(read_lines(&p, &mut warnings).unwrap(), ["first line", "second \u{feff} kept"]);
        assert!(warnings.is_empty());
        std::fs::write(&p, b"\xEF\xBB\xBF").unwrap();
        assert!(read_lines(&p, &mut warnings).unwrap().is_empty());
    }
}
