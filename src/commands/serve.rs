//! `swan serve`: the search service over an embedding set (swan_server).

use std::time::Duration;

use swan_server::{Access, Batching, LogFormat, ModelConfig, ServeConfig, Server};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.max_batch >= 1, "--max-batch must be at least 1");
    anyhow::ensure!(args.batch_window_ms <= 1000, "--batch-window-ms must be at most 1000");
    anyhow::ensure!((1..=1024).contains(&args.max_upload_mib), "--max-upload-mib must be between 1 and 1024");
    let access = match (&args.token, args.no_auth) {
        (Some(t), _) => Access::Token(t.clone()),
        (None, true) => Access::Open,
        (None, false) => Access::LoopbackOnly,
    };
    // Refuse a bad address before loading anything.
    if !args.addr.ip().is_loopback() && access == Access::LoopbackOnly {
        anyhow::bail!(
            "--addr {}: not a loopback address; anyone who can reach it could use the server: pass --token TOKEN (or --no-auth)",
            args.addr
        );
    }
    let model = match &args.model.checkpoint {
        Some(checkpoint) => {
            Some(ModelConfig { checkpoint: checkpoint.clone(), vocab: args.vocab.clone(), encoder: super::model::config(&args.model)? })
        }
        None => None,
    };
    let config = ServeConfig {
        corpus: args.corpus.clone(),
        index: args.index.clone(),
        walk: args.walk.params(1),
        model,
        batching: Batching { max_batch: args.max_batch, window: Duration::from_millis(args.batch_window_ms) },
        access,
        log: if args.json { LogFormat::Json } else { LogFormat::Text },
        max_upload: args.max_upload_mib << 20,
        ..ServeConfig::new(args.embeddings.clone())
    };
    let server = Server::open(config)?;
    let s = server.summary().clone();
    let bound = server.bind(args.addr)?;
    let queries = match (s.text_queries, s.image_queries) {
        (true, _) => "text, image and row queries",
        (false, true) => "image and row queries (no --vocab: no text)",
        _ => "row queries only (no --checkpoint)",
    };
    let url = format!("http://{}", bound.local_addr());
    // The first line is what scripts wait for (the address, with the port chosen for port 0).
    crate::output::message(&format!("serving {} on {url}", args.embeddings.display()));
    crate::output::message(&format!(
        "{} image rows, {}, {}; Ctrl-C stops",
        s.rows,
        if s.index { "searched through the index" } else { "searched exactly" },
        queries
    ));
    if args.json {
        let line = serde_json::json!({ "serving": args.embeddings, "url": url, "rows": s.rows, "index": s.index,
            "text_queries": s.text_queries, "image_queries": s.image_queries });
        crate::output::json_line(&line)?;
        crate::output::flush()?;
    }
    bound.run()?;
    Ok(())
}
