//! `swan corpus`: read a corpus, print its summary.

use anyhow::Context;
use swan_store::{Corpus, CorpusOptions};

use crate::cli::CorpusArgs;

pub fn run(args: CorpusArgs) -> anyhow::Result<()> {
    let layout = args.layout.map(Into::into);
    let options = CorpusOptions { layout, split: Some(args.split.clone()), images: args.images.clone() };
    let corpus = Corpus::open(&args.path, &options).with_context(|| format!("reading corpus {}", args.path.display()))?;
    let summary = corpus.summary();
    if args.json {
        crate::output::json_line(&serde_json::json!({ "corpus": args.path, "summary": summary }))?;
        if args.warnings {
            for w in &corpus.warnings {
                crate::output::json_line(&serde_json::json!({ "warning": w }))?;
            }
        }
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(
        out,
        "corpus    {} ({}{})",
        args.path.display(),
        summary.layout.name(),
        summary.split.as_deref().map(|s| format!(", split {s}")).unwrap_or_default()
    )?;
    writeln!(out, "images    {}", summary.images)?;
    writeln!(out, "captions  {}", summary.captions)?;
    if summary.images_without_captions > 0 {
        writeln!(out, "uncaptioned images {}", summary.images_without_captions)?;
    }
    writeln!(out, "scenes    {}: {}", summary.scenes.len(), summary.scenes.join(", "))?;
    for (kind, count) in &summary.warnings {
        writeln!(out, "warnings  {count} {kind}")?;
    }
    drop(out);
    if args.warnings {
        for w in &corpus.warnings {
            crate::output::message(&format!("warning: {w}"));
        }
    } else if !corpus.warnings.is_empty() {
        crate::output::message(&format!("{} warning(s); --warnings lists them", corpus.warnings.len()));
    }
    Ok(())
}
