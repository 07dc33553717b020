//! Write the compatibility fixture of the current index format version, for
//! `tests/compat.rs` (one fixture per version, committed; see tantivy's compat tests):
//!
//!     cargo run -p swan-indexer --example write_compat_fixture [-- DIR]
//!
//! DIR defaults to `indexer/tests/fixtures/v<CURRENT_VERSION>`. It refuses a folder that
//! already exists: committed fixtures are never rewritten (remove one by hand, knowingly,
//! only while its version has not been released). An example rather than an ignored test,
//! so that no test run (`--include-ignored` included) can rewrite committed data.

use std::path::PathBuf;

use swan_indexer::{BuildParams, Index, Source, SynthSpec, CURRENT_VERSION};

/// The fixture's data: `tests/compat.rs` regenerates the same rows to query it.
const SPEC: SynthSpec = SynthSpec { rows: 400, queries: 8, dim: 16, centres: 4, noise: 0.9, seed: 21 };

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{CURRENT_VERSION}")),
    };
    if dir.exists() {
        return Err(format!("{} exists: fixtures are never overwritten", dir.display()).into());
    }
    let files = SPEC.write(&dir)?;
    // Row 5 invalid, two shards, int8 walk: the test checks all three.
    let params = BuildParams { m: 4, ef_construction: 32, shards: 2, threads: 1, ..BuildParams::default() };
    let index = Index::build(&Source::npy(&files.base).skip_rows([5]), &params, &|_, _| {})?;
    index.save(&dir.join("index"))?;
    println!("wrote the format v{CURRENT_VERSION} fixture to {}", dir.display());
    Ok(())
}
