//! `swan merge`: join shard outputs of `swan embed --shard I/N`.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use swan_embedder::pipeline::ItemError;
use swan_store::{CorpusRef, Manifest, Table};

pub fn run(out: &Path, shards: &[PathBuf], json: bool) -> anyhow::Result<i32> {
    let mut parts: Vec<(PathBuf, Manifest)> = shards
        .iter()
        .map(|d| Ok((d.clone(), Manifest::load(d).with_context(|| format!("shard {}", d.display()))?)))
        .collect::<anyhow::Result<_>>()?;
    let (first_dir, first) = parts[0].clone();
    for (dir, m) in &parts[1..] {
        ensure!(
            m.producer == first.producer,
            "{} was made by {:?}, {} by {:?}: shards must share checkpoint, precision and padding",
            dir.display(),
            m.producer,
            first_dir.display(),
            first.producer
        );
        ensure!(
            same_corpus(dir, m, &first_dir, &first),
            "{} embeds {:?}, {} embeds {:?}: shards must come from the same corpus",
            dir.display(),
            m.corpus,
            first_dir.display(),
            first.corpus
        );
    }
    // Order by where each shard starts in the corpus.
    parts.sort_by_key(|(_, m)| m.images.as_ref().or(m.captions.as_ref()).and_then(|t| t.items.first().map(|r| r[0])).unwrap_or(0));
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let mut corpus = first.corpus.clone();
    corpus.path = CorpusRef::path_for(&first.corpus_path(&first_dir), out);
    let mut merged = Manifest::new(first.producer.clone(), corpus, first.normalized);
    merged.images = merge_table(out, &parts, |m| m.images.as_ref(), "images")?;
    merged.captions = merge_table(out, &parts, |m| m.captions.as_ref(), "captions")?;

    // errors.jsonl: every shard's entries, rows shifted to the merged numbering.
    let mut errors = Vec::new();
    for (dir, m) in &parts {
        let path = dir.join("errors.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let mut e: ItemError = serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
            // Rows and corpus items correspond one to one within a table.
            e.row += first_item(m, &e.kind) - first_item(&merged, &e.kind);
            errors.push(e);
        }
    }
    errors.sort_by(|a, b| (&a.kind, a.row).cmp(&(&b.kind, b.row)));
    let lines: String = errors.iter().map(|e| serde_json::to_string(e).expect("serialises") + "\n").collect();
    swan_store::fsutil::write_atomic(&out.join("errors.jsonl"), lines.as_bytes())?;
    merged.save(out)?;
    let rows = |t: &Option<Table>| t.as_ref().map(|t| t.rows).unwrap_or(0);
    if json {
        crate::output::json_line(
            &serde_json::json!({ "out": out, "shards": parts.len(), "images": rows(&merged.images), "captions": rows(&merged.captions), "errors": errors.len() }),
        )?;
    } else {
        println!(
            "merged {} shards into {}: {} images, {} captions, {} errors",
            parts.len(),
            out.display(),
            rows(&merged.images),
            rows(&merged.captions),
            errors.len()
        );
    }
    Ok(0)
}

/// Two shards index the same corpus: same counts and split, and paths that resolve to the
/// same place (each is recorded relative to its own shard's folder).
fn same_corpus(a_dir: &Path, a: &Manifest, b_dir: &Path, b: &Manifest) -> bool {
    let resolve = |dir: &Path, m: &Manifest| {
        let p = m.corpus_path(dir);
        p.canonicalize().unwrap_or(p)
    };
    let strip = |m: &Manifest| CorpusRef { path: String::new(), ..m.corpus.clone() };
    strip(a) == strip(b) && resolve(a_dir, a) == resolve(b_dir, b)
}

fn first_item(m: &Manifest, kind: &str) -> usize {
    let t = if kind == "image" { m.images.as_ref() } else { m.captions.as_ref() };
    t.map(|t| t.items[0][0]).unwrap_or(0)
}

fn merge_table(
    out: &Path,
    parts: &[(PathBuf, Manifest)],
    pick: impl Fn(&Manifest) -> Option<&Table>,
    name: &str,
) -> anyhow::Result<Option<Table>> {
    let tables: Vec<(&PathBuf, &Table)> = parts.iter().filter_map(|(d, m)| pick(m).map(|t| (d, t))).collect();
    if tables.is_empty() {
        return Ok(None);
    }
    ensure!(tables.len() == parts.len(), "some shards have {name} and some do not");
    let mut items: Vec<[usize; 2]> = Vec::new();
    let mut invalid = Vec::new();
    let mut files = Vec::new();
    let mut rows = 0;
    for (dir, t) in &tables {
        for &[a, b] in &t.items {
            match items.last_mut() {
                Some(last) if last[1] == a => last[1] = b,
                Some(last) if last[1] != a => {
                    bail!("{}: {name} rows {a}..{b} do not follow {}..{} (a shard is missing or repeated)", dir.display(), last[0], last[1])
                }
                _ => items.push([a, b]),
            }
        }
        invalid.extend(t.invalid.iter().map(|r| r + rows));
        rows += t.rows;
        files.push(Manifest::open_table(dir, t)?);
    }
    let (dtype, dim) = (tables[0].1.dtype, tables[0].1.dim);
    let file = format!("{name}.npy");
    swan_store::npy::concat_rows(&out.join(&file), &files)?;
    Ok(Some(Table { file, dtype, rows, dim, items, invalid }))
}
