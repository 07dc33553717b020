//! An exclusive lock on an output folder, so that two jobs never write one set.
//!
//! `flock(2)` on `DIR/swan.lock`: the kernel drops the lock when the process dies, so a
//! killed job never leaves a stale lock behind, and the file's content (pid and start
//! time of the holder) is only read to say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{EmbedError, Result};

/// File name of the lock inside an output folder.
pub const LOCK_FILE: &str = "swan.lock";

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Lock `dir` (which must exist) or fail at once, naming the holder.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let io = |source| EmbedError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(err));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(EmbedError::Locked { dir: dir.to_owned(), holder: describe(&holder) });
        }
        let since = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now());
        file.set_len(0).map_err(io)?;
        file.write_all(format!("{} {since}\n", std::process::id()).as_bytes()).map_err(io)?;
        Ok(DirLock { _file: file })
    }
}

/// `PID TIME` -> `pid PID (since TIME)`.
fn describe(content: &str) -> String {
    match content.split_whitespace().collect::<Vec<_>>()[..] {
        [pid, since, ..] => format!("pid {pid} (since {since})"),
        [pid] => format!("pid {pid}"),
        _ => "another process".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_at_once_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        let want = format!("{} is being written by pid {} (since ", dir.path().display(), std::process::id());
        assert!(err.starts_with(&want), "{err}");
        drop(held);
        DirLock::acquire(dir.path()).unwrap();
    }
}
