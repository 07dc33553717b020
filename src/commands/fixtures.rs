//! `swan fixtures`: write the synthetic fixture corpus.

use std::path::Path;

use anyhow::Context;

pub fn run(out: &Path, spec: swan_fixtures::FixtureSpec, json: bool) -> anyhow::Result<()> {
    let summary = swan_fixtures::generate(out, &spec).with_context(|| format!("writing fixture corpus to {}", out.display()))?;
    if json {
        crate::output::json_line(&serde_json::json!({
            "out": out, "images": summary.images, "captions": summary.captions,
            "scenes": summary.scenes, "bytes": summary.bytes,
        }))?;
    } else {
        crate::output::message(&format!(
            "wrote {} images, {} captions, {} scenes ({} kB) to {}",
            summary.images,
            summary.captions,
            summary.scenes.len(),
            summary.bytes / 1024,
            out.display()
        ));
    }
    Ok(())
}
