//! `swan eval`: retrieval metrics with the reference definitions.

use anyhow::{bail, Context};
use swan_indexer::{IndexSet, LoadOptions};
use swan_searcher::toplist::TopkFile;
use swan_searcher::{
    ann_report, evaluate_named, evaluate_set_with, evaluate_topk, recall_against, EvalOptions, Metrics, Selection, SimMatrix, TopkMetrics,
};
use swan_store::EmbeddingSet;

use crate::cli::EvalArgs;

/// Results per query of the ANN report.
const K: usize = 10;

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let options = EvalOptions { scene_recall_at: args.scene_recall.clone() };
    if !args.topk.is_empty() {
        return from_lists(&args, &options);
    }
    let (metrics, note, ann) = match (&args.sims, &args.embeddings) {
        (Some(sims), _) => {
            let filenames = args.filenames.as_deref().expect("clap requires it");
            let sims_matrix = SimMatrix::open(sims)?;
            let text = std::fs::read_to_string(filenames).with_context(|| filenames.display().to_string())?;
            let names: Vec<&str> = text.lines().map(str::trim).collect();
            let m = evaluate_named(&sims_matrix, &names, filenames, &options)?;
            (Some(m), format!("{} ({} x {})", sims.display(), sims_matrix.n_images(), sims_matrix.n_captions()), None)
        }
        (None, Some(dir)) => {
            let set = EmbeddingSet::open(dir, args.corpus.as_deref(), args.images.as_deref())?;
            // A set made without a corpus (swan synth, swan encode --out) pairs no caption with
            // an image: only its index can be measured (against exact search).
            let (m, sel) = match (&set.corpus, &args.index) {
                (None, Some(_)) => (None, Selection::new(&set)?),
                (None, None) => {
                    bail!("{}; or give --index IDX to measure an index over it against exact search", set.corpus().unwrap_err())
                }
                _ => evaluate_set_with(&set, &options, args.exact_path.into()).map(|(m, sel)| (Some(m), sel))?,
            };
            let mut note = format!("{} ({} images x {} captions)", dir.display(), sel.image_rows.len(), sel.caption_rows.len());
            if m.is_none() {
                note += "; no corpus, so no retrieval metrics (pass --corpus for them)";
            }
            if sel.excluded_images + sel.excluded_captions > 0 {
                note += &format!(
                    "; {} invalid images and {} captions (invalid or of those images) excluded",
                    sel.excluded_images, sel.excluded_captions
                );
            }
            let ann = match &args.index {
                Some(index_dir) => {
                    // If the set moved with its index, the index's source is one of its tables
                    // (which one, the digest check tells).
                    let load = |table: &Option<(swan_store::NpyFile, swan_store::Table)>| {
                        let source_if_moved = table.as_ref().map(|(f, _)| f.path().to_owned());
                        IndexSet::open(index_dir, &LoadOptions { source_if_moved, ..LoadOptions::default() })
                    };
                    let index = match load(&set.images) {
                        Err(swan_indexer::Error::SourceMismatch { .. }) => load(&set.captions)?,
                        other => other?,
                    };
                    Some((index_dir.clone(), ann_report(&set, &sel, &index, K, &args.walk.params(K))?))
                }
                None => None,
            };
            (m, note, ann)
        }
        (None, None) => bail!("give --embeddings DIR or --sims FILE --filenames FILE"),
    };
    if args.json {
        match &ann {
            None => crate::output::json_line(&metrics.expect("without --index the set was evaluated"))?,
            Some((dir, ann)) => {
                let mut ann = serde_json::to_value(ann)?;
                ann["index"] = dir.display().to_string().into();
                crate::output::json_line(&serde_json::json!({ "exact": metrics, "ann": ann }))?
            }
        }
    } else {
        match &metrics {
            Some(m) => print_table(m, &note)?,
            None => writeln!(crate::output::stdout(), "{note}")?,
        }
        if let Some((dir, a)) = &ann {
            let recall = match (a.r1, a.r5, a.r10) {
                (Some(r1), Some(r5), Some(r10)) => format!("; {} R@1/5/10 {r1:.2} / {r5:.2} / {r10:.2}", a.direction),
                _ => String::new(),
            };
            writeln!(
                crate::output::stdout(),
                "index {} over {}: {} queries, recall@{} {:.4} vs exact, {:.0} queries/s (1 thread), latency p50 {:.3} ms, p99 {:.3} ms{recall}",
                dir.display(), a.table, a.queries, a.k, a.recall_at_k, a.qps, a.latency_ms_p50, a.latency_ms_p99
            )?;
        }
    }
    Ok(())
}

fn print_table(m: &Metrics, note: &str) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    writeln!(out, "{note}")?;
    writeln!(out, "{:<12} {:>7} {:>7} {:>7} {:>6} {:>8}", "", "R@1", "R@5", "R@10", "medR", "meanR")?;
    for (name, r) in [("image->text", &m.i2t), ("text->image", &m.t2i)] {
        writeln!(out, "{name:<12} {:>7.2} {:>7.2} {:>7.2} {:>6} {:>8.2}", r.r1, r.r5, r.r10, r.medr, r.meanr)?;
    }
    writeln!(out, "mR {:.2}", m.mr)?;
    for (name, sr) in [("scene recall image->text", &m.scene_recall_i2t), ("scene recall text->image", &m.scene_recall_t2i)] {
        if let Some(sr) = sr {
            let cells: Vec<String> = sr.0.iter().map(|(r, v)| format!("SR@{r} {v:.4}")).collect();
            writeln!(out, "{name}: {}", cells.join(", "))?;
        }
    }
    Ok(())
}

/// `swan eval --topk LIST [--topk LIST] [--exact-topk LIST ...]`: metrics from top-k lists.
fn from_lists(args: &EvalArgs, options: &EvalOptions) -> anyhow::Result<()> {
    let dir = args.embeddings.as_deref().expect("clap requires --embeddings with --topk");
    let set = EmbeddingSet::open(dir, args.corpus.as_deref(), args.images.as_deref())?;
    let lists: Vec<TopkFile> = args.topk.iter().map(|p| TopkFile::open(p)).collect::<Result<_, _>>()?;
    let exact: Vec<TopkFile> = args.exact_topk.iter().map(|p| TopkFile::open(p)).collect::<Result<_, _>>()?;
    if set.corpus.is_none() {
        return recall_only(&set, &lists, &exact, args.json);
    }
    let sel = Selection::new(&set)?;
    let mut results: Vec<(TopkMetrics, Option<f64>)> = Vec::new();
    for list in &lists {
        let m = evaluate_topk(&set, &sel, list, options)?;
        if results.iter().any(|(r, _)| r.direction == m.direction) {
            bail!("{}: a second {} list; give at most one list per direction", list.dir.display(), m.direction);
        }
        // The exact list of the same queries, if one was given.
        let same = |e: &&TopkFile| e.manifest.queries.sha256 == list.manifest.queries.sha256;
        let recall = exact.iter().find(same).map(|e| recall_against(list, e)).transpose()?;
        results.push((m, recall));
    }
    if let Some(e) = exact.iter().find(|e| !lists.iter().any(|l| l.manifest.queries.sha256 == e.manifest.queries.sha256)) {
        bail!("{}: answers none of the --topk lists' queries", e.dir.display());
    }
    // mR needs R@1, R@5 and R@10 of both directions.
    let r = |d: &str, cut: usize| results.iter().find(|(m, _)| m.direction == d).and_then(|(m, _)| m.recall.get(cut));
    let all: Option<Vec<f64>> =
        ["image->text", "text->image"].iter().flat_map(|d| [1, 5, 10].map(|c| r(d, c))).collect::<Option<Vec<f64>>>();
    let mr = all.map(|v| v.iter().sum::<f64>() / 6.0);
    if args.json {
        let lists: Vec<serde_json::Value> = results
            .iter()
            .map(|(m, rec)| {
                let mut v = serde_json::to_value(m).expect("serialisable");
                v["recall_at_k_vs_exact"] = (*rec).into();
                v
            })
            .collect();
        crate::output::json_line(&serde_json::json!({ "lists": lists, "mR": mr }))?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(out, "{} ({} images x {} captions), from top-k lists", dir.display(), sel.image_rows.len(), sel.caption_rows.len())?;
    for (m, rec) in &results {
        let cells: Vec<String> = m.recall.0.iter().map(|(k, v)| format!("R@{k} {v:.2}")).collect();
        let ranks = match (m.medr, m.meanr) {
            (Some(md), Some(mn)) => format!("medR {md}, meanR {mn:.2}"),
            _ => format!("medR and meanR unknown: rank > k={} for {} of {} queries (censored)", m.k, m.censored, m.queries),
        };
        writeln!(out, "{:<12} {} queries, k {}: {}; {ranks}", m.direction, m.queries, m.k, cells.join(", "))?;
        if let Some(sr) = &m.scene_recall {
            let cells: Vec<String> = sr.0.iter().map(|(r, v)| format!("SR@{r} {v:.4}")).collect();
            writeln!(out, "scene recall {}: {}", m.direction, cells.join(", "))?;
        }
        if let Some(rec) = rec {
            writeln!(out, "{} recall@{} vs exact: {rec:.4}", m.direction, m.k)?;
        }
    }
    match mr {
        Some(mr) => writeln!(out, "mR {mr:.2}")?,
        None => writeln!(out, "mR needs R@1/5/10 of both directions (give a --topk list for each, k >= 10)")?,
    }
    Ok(())
}

/// `swan eval --topk` of a set made without a corpus (`swan synth`, `swan encode --out`): no
/// query has a right answer, so the lists are measured against exact lists of the same
/// queries only (recall@k), which is what an archive's ANN path needs.
fn recall_only(set: &EmbeddingSet, lists: &[TopkFile], exact: &[TopkFile], json: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for list in lists {
        let same = |e: &&TopkFile| e.manifest.queries.sha256 == list.manifest.queries.sha256;
        let Some(e) = exact.iter().find(same) else {
            bail!(
                "{}; without one, --topk lists are measured only against exact lists of the same queries: give --exact-topk for {}",
                set.corpus().unwrap_err(),
                list.dir.display()
            );
        };
        rows.push((list, recall_against(list, e)?));
    }
    if let Some(e) = exact.iter().find(|e| !lists.iter().any(|l| l.manifest.queries.sha256 == e.manifest.queries.sha256)) {
        bail!("{}: answers none of the --topk lists' queries", e.dir.display());
    }
    if json {
        let lists: Vec<serde_json::Value> = rows
            .iter()
            .map(|(l, r)| {
                serde_json::json!({ "list": l.dir.display().to_string(), "k": l.manifest.k, "queries": l.manifest.queries.count,
                    "recall_at_k_vs_exact": r })
            })
            .collect();
        crate::output::json_line(&serde_json::json!({ "lists": lists, "mR": null }))?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(out, "{}: no corpus, so no retrieval metrics (pass --corpus for them); recall against exact search only", set.dir.display())?;
    for (l, r) in &rows {
        writeln!(out, "{}: {} queries, recall@{} vs exact: {r:.4}", l.dir.display(), l.manifest.queries.count, l.manifest.k)?;
    }
    Ok(())
}
