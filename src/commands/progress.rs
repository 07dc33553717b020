//! The one progress display: bars on stderr when it is a terminal, nothing in pipes or
//! with `--json`. Used by the embedding pipeline (its `Progress` trait) and by callers of
//! libraries that report `(done, total)`.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use swan_embedder::pipeline::Progress;

/// One bar at a time, for stages that follow each other.
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    /// Bars unless `quiet` (`--json`) or stderr is not a terminal.
    pub fn new(quiet: bool) -> Bars {
        Bars { current: Mutex::new(None), enabled: !quiet && std::io::stderr().is_terminal() }
    }
}

impl Bars {
    /// Show `msg` after the rate and ETA (a training loss, say).
    pub fn message(&self, msg: String) {
        if let Some(bar) = &*self.current.lock().expect("not poisoned") {
            bar.set_message(msg);
        }
    }

    /// Print a line above the bar without tearing it (or just print it when there is none).
    pub fn println(&self, line: &str) {
        match &*self.current.lock().expect("not poisoned") {
            Some(bar) => bar.suspend(|| crate::output::message(line)),
            None => crate::output::message(line),
        }
    }

    /// Set the current bar's total and position (for `(done, total)` callbacks).
    pub fn set(&self, done: u64, total: u64) {
        if let Some(bar) = &*self.current.lock().expect("not poisoned") {
            bar.set_length(total);
            bar.set_position(done);
        }
    }
}

impl Progress for Bars {
    fn begin(&self, stage: &'static str, total: u64, done: u64) {
        let bar =
            if self.enabled { ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("swan: {prefix:>8} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(stage);
        bar.set_position(done);
        // The rate and ETA cover this run's work, not what was resumed.
        bar.reset_eta();
        *self.current.lock().expect("not poisoned") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &*self.current.lock().expect("not poisoned") {
            bar.inc(n);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.current.lock().expect("not poisoned").take() {
            bar.finish_and_clear();
        }
    }
}
