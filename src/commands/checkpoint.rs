//! `swan checkpoint hashinit`.

use crate::cli::CheckpointCommand;

pub fn run(cmd: CheckpointCommand) -> anyhow::Result<()> {
    match cmd {
        CheckpointCommand::Hashinit { out, seed, json } => {
            swan_embedder::model::write_hashinit_checkpoint(&out, seed)?;
            let sha = swan_store::fsutil::sha256_file(&out)?;
            if json {
                crate::output::json_line(&serde_json::json!({ "out": out, "kind": "swan-hashinit v1", "seed": seed, "sha256": sha }))?;
                return Ok(());
            }
            crate::output::message(&format!(
                "wrote {} (swan-hashinit v1, seed {seed}; sha256 {sha}); deterministic test weights, not a trained model",
                out.display()
            ));
            Ok(())
        }
    }
}
