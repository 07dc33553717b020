//! swan's fuzz targets: one function per parser, each feeding arbitrary bytes to the
//! library's real entry point (its public `open`/`load`/`parse`, through a scratch file where
//! the entry point reads a path).
//!
//! Every target must return for any input: an `Err` from the library is the expected answer
//! to bad input, while a panic, a hang or a huge allocation is a bug. Where a parse succeeds
//! the target also walks the result the way callers do (every row, every index), so that
//! an accepted input that cannot be used is caught too.
//!
//! The same functions run in two harnesses: cargo-fuzz (`fuzz/fuzz_targets/*.rs`, driven by
//! `scripts/fuzz.sh`) and the ordinary test `tests/replay.rs`, which replays the committed
//! seeds and regressions in `fuzz/seeds/` and `fuzz/regressions/` plus a fixed set of seeded
//! mutations of them, so `cargo test` checks them without nightly.
//!
//! ```
//! for target in swan_fuzz_targets::TARGETS {
//!     (target.run)(b"\x93NUMPY\x01\x00{'descr': '<f4'");
//! }
//! ```

#![deny(missing_docs)]

mod corpus;
mod index;
mod model;
mod scratch;
mod store;

/// A fuzz target: a name (the folder of its seeds, the cargo-fuzz binary) and its function.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Name of the target.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target { name: "npy", run: store::npy },
    Target { name: "manifest", run: store::manifest },
    Target { name: "lines", run: corpus::lines },
    Target { name: "precomp", run: corpus::precomp },
    Target { name: "jsonl", run: corpus::jsonl },
    Target { name: "folder", run: corpus::folder },
    Target { name: "vocab", run: model::vocab },
    Target { name: "tokenizer", run: model::tokenizer },
    Target { name: "checkpoint", run: model::checkpoint },
    Target { name: "index_json", run: index::index_json },
    Target { name: "index_graph", run: index::index_graph },
    Target { name: "index_vectors", run: index::index_vectors },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

pub use corpus::{folder, jsonl, lines, precomp};
pub use index::{index_graph, index_json, index_vectors, seal};
pub use model::{checkpoint, tokenizer, vocab};
pub use store::{manifest, npy};
