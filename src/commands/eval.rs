//! `swan eval`: retrieval metrics with the reference definitions.

use std::io::Write;

use anyhow::{bail, Context};
use swan_searcher::{evaluate, EvalOptions, Metrics, Rows, SimMatrix};
use swan_store::corpus::scene_from_name;

use crate::cli::EvalArgs;
use swan_store::EmbeddingSet;

pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let options = EvalOptions { scene_recall_at: args.scene_recall.clone() };
    let (metrics, note) = match (&args.sims, &args.embeddings) {
        (Some(sims), _) => from_sims(sims, args.filenames.as_deref().expect("clap requires it"), &options)?,
        (None, Some(dir)) => from_embeddings(dir, &args, &options)?,
        (None, None) => bail!("give --embeddings DIR or --sims FILE --filenames FILE"),
    };
    let ann = match (&args.index, &args.embeddings) {
        (Some(index), Some(dir)) => Some(super::ann_eval::run(dir, index, &args)?),
        _ => None,
    };
    if args.json {
        match &ann {
            None => crate::output::json_line(&metrics)?,
            Some(ann) => crate::output::json_line(&serde_json::json!({ "exact": metrics, "ann": ann }))?,
        }
    } else {
        print_table(&metrics, &note)?;
        if let Some(a) = &ann {
            println!(
                "index {} over {}: {} queries, recall@{} {:.4} vs exact, {:.0} queries/s (1 thread), latency p50 {:.3} ms, p99 {:.3} ms; {} R@1/5/10 {:.2} / {:.2} / {:.2}",
                a.index, a.table, a.queries, a.k, a.recall_at_k, a.qps, a.latency_ms_p50, a.latency_ms_p99, a.direction, a.r1, a.r5, a.r10
            );
        }
    }
    Ok(0)
}

/// A similarity matrix plus one file name per caption: consecutive captions with the
/// same name belong to one image (row), as in the precomp test files.
fn from_sims(path: &std::path::Path, filenames: &std::path::Path, options: &EvalOptions) -> anyhow::Result<(Metrics, String)> {
    let sims = SimMatrix::open(path)?;
    let text = std::fs::read_to_string(filenames).with_context(|| filenames.display().to_string())?;
    let names: Vec<&str> = text.lines().map(str::trim).collect();
    if names.len() != sims.n_captions() {
        bail!("{}: {} file names for the {} captions (columns) of {}", filenames.display(), names.len(), sims.n_captions(), path.display());
    }
    let mut caption_image = Vec::with_capacity(names.len());
    let mut scenes: Vec<String> = Vec::new();
    for (j, name) in names.iter().enumerate() {
        if j == 0 || names[j - 1] != *name {
            scenes.push(scene_from_name(name));
        }
        caption_image.push(scenes.len() - 1);
    }
    if scenes.len() != sims.n_images() {
        bail!(
            "{}: the file names form {} runs (images) but {} has {} rows",
            filenames.display(),
            scenes.len(),
            path.display(),
            sims.n_images()
        );
    }
    let labels: Vec<Option<&str>> = scenes.iter().map(|s| Some(s.as_str())).collect();
    let m = evaluate(&sims, &caption_image, Some(&labels), options)?;
    Ok((m, format!("{} ({} x {})", path.display(), sims.n_images(), sims.n_captions())))
}

fn from_embeddings(dir: &std::path::Path, args: &EvalArgs, options: &EvalOptions) -> anyhow::Result<(Metrics, String)> {
    let set = EmbeddingSet::open(dir, args.corpus.as_deref(), args.images.as_deref())?;
    let (Some((img_file, img_table)), Some((cap_file, cap_table))) = (&set.images, &set.captions) else {
        bail!("{}: evaluation needs both image and caption embeddings", dir.display());
    };
    let image_row = img_table.rows_by_item(set.corpus.images.len());
    let invalid: std::collections::HashSet<usize> = img_table.invalid.iter().copied().collect();
    // Invalid images (unreadable files) and their captions take no part.
    let kept_images: Vec<usize> = (0..img_table.rows).filter(|r| !invalid.contains(r)).collect();
    let mut new_index = vec![usize::MAX; img_table.rows];
    for (i, &r) in kept_images.iter().enumerate() {
        new_index[r] = i;
    }
    let mut kept_captions = Vec::new();
    let mut caption_image = Vec::new();
    for (row, item) in cap_table.item_indices().into_iter().enumerate() {
        let image_item = set.corpus.captions[item].image;
        let Some(img_row) = image_row[image_item] else {
            bail!(
                "{}: caption row {row} describes image {image_item}, which this set does not hold (merge the shards first)",
                dir.display()
            );
        };
        if new_index[img_row] != usize::MAX {
            kept_captions.push(row);
            caption_image.push(new_index[img_row]);
        }
    }
    let images = Rows::from_npy(img_file)?;
    let captions = Rows::from_npy(cap_file)?;
    let full = SimMatrix::from_embeddings(&images, &captions)?;
    let sims = if kept_images.len() == img_table.rows && kept_captions.len() == cap_table.rows {
        full
    } else {
        let mut data = Vec::with_capacity(kept_images.len() * kept_captions.len());
        for &r in &kept_images {
            let row = full.row(r);
            data.extend(kept_captions.iter().map(|&c| row[c]));
        }
        SimMatrix::new(kept_images.len(), kept_captions.len(), data)?
    };
    let item_of_row = img_table.item_indices();
    let labels: Vec<Option<&str>> = kept_images.iter().map(|&r| set.corpus.images[item_of_row[r]].scene.as_deref()).collect();
    let has_labels = labels.iter().any(Option::is_some);
    let m = evaluate(&sims, &caption_image, has_labels.then_some(&labels[..]), options)?;
    let excluded = img_table.rows - kept_images.len();
    let mut note = format!("{} ({} images x {} captions)", dir.display(), kept_images.len(), kept_captions.len());
    if excluded > 0 {
        note += &format!("; {excluded} invalid images and their captions excluded");
    }
    Ok((m, note))
}

fn print_table(m: &Metrics, note: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
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
