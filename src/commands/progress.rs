//! Progress bars on a terminal (stderr), nothing in pipes.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use swan_embedder::pipeline::Progress;

pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars { current: Mutex::new(None), enabled: !quiet && std::io::stderr().is_terminal() }
    }
}

impl Progress for Bars {
    fn begin(&self, stage: &'static str, total: u64, done: u64) {
        let bar =
            if self.enabled { ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("swan: {prefix:>8} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
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
