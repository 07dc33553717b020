//! A test hook: `SWAN_TEST_FAILPOINT=NAME` makes the process abort (as a `kill -9` would
//! end it: no unwinding, no cleanup) when it reaches the point called NAME. Crash tests
//! use it to stop a job at an exact step instead of racing a timer. Unset, it costs one
//! environment lookup per point passed; the points are listed where `hit` is called.

/// The environment variable naming the point at which to abort.
pub const VAR: &str = "SWAN_TEST_FAILPOINT";

/// Abort the process if [`VAR`] names `point`.
pub(super) fn hit(point: &str) {
    if std::env::var_os(VAR).is_some_and(|v| v == point) {
        eprintln!("swan: {VAR}={point}: aborting here (test hook)");
        std::process::abort();
    }
}
