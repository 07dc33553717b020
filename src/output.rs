//! Where output goes: results on stdout, messages on stderr prefixed `swan:`.

use std::io::Write;

/// Print a message for the user on stderr.
pub fn message(text: &str) {
    let _ = writeln!(std::io::stderr(), "swan: {text}");
}

/// Print an error on stderr.
pub fn error(text: &str) {
    let _ = writeln!(std::io::stderr(), "swan: error: {text}");
}

/// Write one JSON value as a line on stdout.
pub fn json_line(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Whether an error is a closed stdout (`swan ... | head`): not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<serde_json::Error>().is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
