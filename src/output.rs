//! Where output goes: results on stdout, messages on stderr prefixed `swan:`.
//!
//! Every result is written through [`stdout`], never `println!` (which panics when stdout
//! cannot be written). A failed write comes back as a [`StdoutError`]; `main` turns a
//! broken pipe (`swan ... | head`) into a quiet exit 0, as ripgrep does, and any other
//! write error (a full disk, `>/dev/full`) into exit status 2 with a message.

use std::fmt;
use std::io::{self, Write};

/// A write to stdout failed.
#[derive(Debug)]
pub struct StdoutError(io::Error);

impl fmt::Display for StdoutError {
    // The OS error is the source, not part of this text, so a chain prints it once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot write to stdout")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// stdout, locked, whose writes fail with a [`StdoutError`].
///
/// `writeln!(out, ...)` works on it (it has an inherent `write_fmt`). std's stdout is
/// line-buffered, so a failed write shows at the line that failed; [`flush`] in `main`
/// catches what is left.
pub struct Stdout(io::StdoutLock<'static>);

/// The results stream.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Stdout {
    /// Write formatted text (what `write!` and `writeln!` call).
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
        self.0.write_fmt(args).map_err(StdoutError)
    }

    /// Write one JSON value as a line.
    pub fn json_line(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.0.write_all(&line).map_err(StdoutError)?;
        Ok(())
    }
}

/// Write one JSON value as a line on stdout.
pub fn json_line(value: &impl serde::Serialize) -> anyhow::Result<()> {
    stdout().json_line(value)
}

/// Flush stdout (at the end of every command).
pub fn flush() -> Result<(), StdoutError> {
    io::stdout().flush().map_err(StdoutError)
}

/// Print a message for the user on stderr.
pub fn message(text: &str) {
    // stderr is where problems are reported; if it cannot be written there is no one to tell.
    let _ = writeln!(io::stderr(), "swan: {text}");
}

/// How `main` ends on an error: the message and the exit status (`None`: exit 0 quietly).
pub fn report(err: &anyhow::Error) -> Option<String> {
    let stdout = err.chain().find_map(|cause| cause.downcast_ref::<StdoutError>());
    if stdout.is_some_and(|e| e.0.kind() == io::ErrorKind::BrokenPipe) {
        // The reader has what it wanted (`swan ... | head`): not a failure.
        return None;
    }
    Some(error_text(err))
}

/// An error and its causes on one line, each cause printed once: library errors that
/// embed their source's text (`"{path}: {source}"`) would otherwise repeat it.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Embeds(io::Error);
    impl fmt::Display for Embeds {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "data.npy: {}", self.0)
        }
    }
    impl std::error::Error for Embeds {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_os_error_is_printed_once() {
        let err = anyhow::Error::new(Embeds(io::Error::from_raw_os_error(2))).context("reading the set");
        assert_eq!(report(&err).unwrap(), "reading the set: data.npy: No such file or directory (os error 2)");
    }

    #[test]
    fn a_broken_stdout_is_quiet_and_other_write_errors_are_reported() {
        let pipe = anyhow::Error::new(StdoutError(io::Error::from(io::ErrorKind::BrokenPipe))).context("writing results");
        assert_eq!(report(&pipe), None);
        let full = anyhow::Error::new(StdoutError(io::Error::from_raw_os_error(28)));
        assert_eq!(report(&full).unwrap(), "cannot write to stdout: No space left on device (os error 28)");
        // A broken pipe that is not stdout (a FIFO given as output) is an error.
        let other = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(report(&other).is_some());
    }
}
