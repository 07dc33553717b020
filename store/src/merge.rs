//! Joining the outputs of `swan embed --shard I/N` runs into one embedding set: their
//! tables concatenated in corpus order, `errors.jsonl` entries renumbered, one manifest.
//!
//! The shards must share producer and corpus, follow each other without gap or overlap,
//! and together cover the whole corpus: a missing or repeated shard is refused, naming
//! the items that are missing or covered twice.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::{errors_file, CorpusRef, Manifest, Table};

/// Which table of a set something concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// `images.npy`.
    Images,
    /// `captions.npy`.
    Captions,
}

impl TableKind {
    fn name(self) -> &'static str {
        match self {
            TableKind::Images => "images",
            TableKind::Captions => "captions",
        }
    }

    fn of(self, m: &Manifest) -> Option<&Table> {
        match self {
            TableKind::Images => m.images.as_ref(),
            TableKind::Captions => m.captions.as_ref(),
        }
    }
}

/// What [`merge_sets`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The merged manifest (saved in the output folder).
    pub manifest: Manifest,
    /// Shards joined.
    pub shards: usize,
    /// `errors.jsonl` entries.
    pub errors: usize,
}

/// Merge the sets in `shards` into `out`. `locate` gives an `errors.jsonl` entry's table
/// and its row, which is renumbered (entry types belong to the pipeline that wrote them).
pub fn merge_sets<E>(out: &Path, shards: &[PathBuf], locate: impl Fn(&mut E) -> (TableKind, &mut usize)) -> Result<Merged>
where
    E: Serialize + DeserializeOwned,
{
    let mut parts: Vec<(PathBuf, Manifest)> = shards.iter().map(|d| Ok((d.clone(), Manifest::load(d)?))).collect::<Result<_>>()?;
    let Some((first_dir, first)) = parts.first().cloned() else {
        return Err(Error::mismatch(out, "no shards to merge"));
    };
    for (dir, m) in &parts[1..] {
        let differ = first.producer.differences(&m.producer);
        if !differ.is_empty() {
            return Err(Error::mismatch(
                dir,
                format!(
                    "was made differently from {} (shards must share checkpoint, vocabulary, precision, padding, ...):\n  {}",
                    first_dir.display(),
                    differ.join("\n  ")
                ),
            ));
        }
        if !same_corpus(dir, m, &first_dir, &first) {
            // Paths are recorded relative to each shard's folder, so they are compared resolved.
            let strip = |m: &Manifest| CorpusRef { path: String::new(), ..m.corpus.clone() };
            let mut differ = strip(&first).differences(&strip(m));
            if differ.is_empty() {
                differ.push(format!("path: {} vs {}", first.corpus_path(&first_dir).display(), m.corpus_path(dir).display()));
            }
            return Err(Error::mismatch(
                dir,
                format!(
                    "embeds another corpus than {} (shards must come from the same one):\n  {}",
                    first_dir.display(),
                    differ.join("\n  ")
                ),
            ));
        }
    }
    // Order by where each shard starts in the corpus.
    parts.sort_by_key(|(_, m)| m.images.as_ref().or(m.captions.as_ref()).and_then(|t| t.items.first().map(|r| r[0])).unwrap_or(0));
    std::fs::create_dir_all(out).at(out)?;
    let mut corpus = first.corpus.clone();
    corpus.path = CorpusRef::path_for(&first.corpus_path(&first_dir), out);
    let mut merged = Manifest::new(first.producer.clone(), corpus, first.normalized);
    merged.images = merge_table(out, &parts, TableKind::Images, first.corpus.images)?;
    merged.captions = merge_table(out, &parts, TableKind::Captions, first.corpus.captions)?;

    // errors.jsonl: every shard's entries, rows shifted to the merged numbering.
    let mut errors: Vec<(TableKind, usize, E)> = Vec::new();
    for (dir, m) in &parts {
        let path = dir.join(errors_file::ERRORS_FILE);
        for mut e in errors_file::read::<E>(&path)? {
            let (kind, row) = locate(&mut e);
            let rows = kind.of(m).map_or(0, |t| t.rows);
            if *row >= rows {
                return Err(Error::format(&path, None, format!("lists {} row {row}, but the table has {rows} rows", kind.name())));
            }
            // Rows and corpus items correspond one to one within a table, and the merged
            // table starts at item 0.
            *row += first_item(m, kind);
            let row = *row;
            errors.push((kind, row, e));
        }
    }
    // Captions first, then images (the order the pipeline writes), each by row.
    errors.sort_by_key(|(kind, row, _)| (*kind == TableKind::Images, *row));
    let entries: Vec<E> = errors.into_iter().map(|(_, _, e)| e).collect();
    errors_file::write(&out.join(errors_file::ERRORS_FILE), &entries)?;
    merged.save(out)?;
    Ok(Merged { manifest: merged, shards: parts.len(), errors: entries.len() })
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

fn first_item(m: &Manifest, kind: TableKind) -> usize {
    kind.of(m).and_then(|t| t.items.first()).map_or(0, |r| r[0])
}

fn merge_table(out: &Path, parts: &[(PathBuf, Manifest)], kind: TableKind, corpus_items: usize) -> Result<Option<Table>> {
    let name = kind.name();
    let tables: Vec<(&PathBuf, &Table)> = parts.iter().filter_map(|(d, m)| kind.of(m).map(|t| (d, t))).collect();
    if tables.is_empty() {
        return Ok(None);
    }
    if tables.len() != parts.len() {
        return Err(Error::mismatch(out, format!("some shards have {name} and some do not")));
    }
    let mut items: Vec<[usize; 2]> = Vec::new();
    let mut invalid = Vec::new();
    let mut files = Vec::new();
    let mut rows = 0;
    for (dir, t) in &tables {
        for &[a, b] in &t.items {
            match items.last_mut() {
                Some(last) if last[1] == a => last[1] = b,
                Some(last) if a < last[1] => {
                    return Err(Error::mismatch(
                        dir,
                        format!("{name} items {a}..{b} overlap items {}..{} of another shard (a shard is given twice?)", last[0], last[1]),
                    ))
                }
                Some(last) => {
                    return Err(Error::mismatch(
                        dir,
                        format!("{name} items {}..{a} are missing: no shard covers them (a shard is missing)", last[1]),
                    ))
                }
                None if a != 0 => {
                    return Err(Error::mismatch(dir, format!("{name} items 0..{a} are missing: no shard covers them (a shard is missing)")))
                }
                None => items.push([a, b]),
            }
        }
        invalid.extend(t.invalid.iter().map(|r| r + rows));
        rows += t.rows;
        files.push(Manifest::open_table(dir, t)?);
    }
    let end = items.last().map_or(0, |r| r[1]);
    if end != corpus_items {
        return Err(Error::mismatch(
            out,
            format!("{name} items {end}..{corpus_items} of the corpus are missing: no shard covers them (a shard is missing)"),
        ));
    }
    let (dtype, dim) = (tables[0].1.dtype, tables[0].1.dim);
    let file = format!("{name}.npy");
    crate::npy::concat_rows(&out.join(&file), &files)?;
    Ok(Some(Table { file, dtype, rows, dim, items, invalid }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Producer};

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct E {
        kind: String,
        row: usize,
    }

    fn locate(e: &mut E) -> (TableKind, &mut usize) {
        (if e.kind == "image" { TableKind::Images } else { TableKind::Captions }, &mut e.row)
    }

    /// Shard `i` of a 3-way split of a 9-image corpus (no captions), in `root/s{i}`.
    fn shard(root: &Path, i: usize) -> PathBuf {
        let dir = root.join(format!("s{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let values: Vec<f32> = (0..3 * 2).map(|v| (i * 10 + v) as f32).collect();
        crate::npy::write_f32(&dir.join("images.npy"), &[3, 2], &values).unwrap();
        let producer = Producer { model: "swan".into(), precision: "fp32".into(), swan_version: "0".into(), ..Producer::default() };
        let corpus =
            CorpusRef { path: "/nowhere/corpus.jsonl".into(), layout: "jsonl".into(), split: None, images: 9, captions: 0, sha256: None };
        let mut m = Manifest::new(producer, corpus, false);
        m.images = Some(Table { items: vec![[3 * i, 3 * i + 3]], invalid: vec![], ..Table::identity("images.npy", DType::F32, 3, 2) });
        m.save(&dir).unwrap();
        errors_file::write(&dir.join(errors_file::ERRORS_FILE), &[E { kind: "image".into(), row: 1 }]).unwrap();
        dir
    }

    #[test]
    fn merges_complete_splits_in_corpus_order() {
        let root = tempfile::tempdir().unwrap();
        let shards: Vec<PathBuf> = [2, 0, 1].iter().map(|&i| shard(root.path(), i)).collect();
        let out = root.path().join("merged");
        let merged = merge_sets(&out, &shards, locate).unwrap();
        assert_eq!(merged.manifest.images.as_ref().unwrap().items, vec![[0, 9]]);
        let rows = crate::NpyFile::open(out.join("images.npy")).unwrap().as_f32().unwrap().to_vec();
        assert_eq!(rows[..2], [0.0, 1.0]);
        assert_eq!(rows[6..8], [10.0, 11.0]);
        let errors: Vec<E> = errors_file::read(&out.join(errors_file::ERRORS_FILE)).unwrap();
        assert_eq!(errors.iter().map(|e| e.row).collect::<Vec<_>>(), [1, 4, 7]);
        assert!(Manifest::load(&out).is_ok());
    }

    #[test]
    fn a_missing_or_repeated_shard_is_refused_by_name() {
        // Campaign item 20: one shard of a 3-way split was accepted as a complete set.
        let root = tempfile::tempdir().unwrap();
        let s: Vec<PathBuf> = (0..3).map(|i| shard(root.path(), i)).collect();
        let out = root.path().join("merged");
        let err = |shards: &[PathBuf]| merge_sets(&out, shards, locate).unwrap_err().to_string();
        assert!(err(&s[..1]).contains("images items 3..9 of the corpus are missing"), "{}", err(&s[..1]));
        assert!(err(&[s[0].clone(), s[2].clone()]).contains("s2: images items 3..6 are missing"));
        assert!(err(&s[1..]).contains("images items 0..3 are missing"));
        assert!(err(&[s[0].clone(), s[1].clone(), s[1].clone(), s[2].clone()]).contains("images items 3..6 overlap items 0..6"));
        assert!(!out.join("manifest.json").exists(), "nothing published");
    }
}
