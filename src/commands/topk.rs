//! `swan topk merge`: join the top-k lists of row slices.

use swan_searcher::toplist::{self, TopkFile};

use crate::cli::TopkCommand;

pub fn run(cmd: TopkCommand) -> anyhow::Result<()> {
    let TopkCommand::Merge { out, lists, json } = cmd;
    let inputs: Vec<TopkFile> = lists.iter().map(|d| TopkFile::open(d)).collect::<Result<_, _>>()?;
    let (merged, info) = toplist::merge(&inputs)?;
    let manifest = toplist::save(&out, &merged, &info)?;
    if json {
        crate::output::json_line(&serde_json::json!({
            "out": out, "lists": inputs.len(), "queries": manifest.queries.count, "k": manifest.k,
            "rows": manifest.database.rows, "method": manifest.method.kind(),
        }))?;
    } else {
        crate::output::message(&format!(
            "merged {} lists ({} queries, k {}, {} rows, {}) into {}",
            inputs.len(),
            manifest.queries.count,
            manifest.k,
            manifest.database.rows,
            manifest.method.kind(),
            out.display()
        ));
    }
    Ok(())
}
