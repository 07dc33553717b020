//! What a top-k list answers and what it searches (`swan search --queries ... --out`):
//! the query source named by a spec ([`QuerySpec`]: a table of an embedding set, a bare
//! `.npy`, or a captions file encoded by the caller's model) resolved into query vectors
//! and their provenance ([`Queries`]), and the table of the set they search ([`Target`]),
//! checked against each other before anything is searched.
//!
//! Encoding captions needs a model, which this crate does not link (libtorch lives in
//! `swan-embedder`): the caller passes the encoder as a closure.

use std::ops::Range;
use std::path::{Path, PathBuf};

use swan_indexer::{IndexSet, SearchParams, SetTable};
use swan_store::fsutil::{same_file, sha256_file};
use swan_store::{EmbeddingSet, NpyFile, RowSlice, Table};

use super::{Database, Method, QuerySource};
use crate::error::{Error, Result};
use crate::exact::Rows;

/// `images` or `captions`, as recorded in `topk.json`.
pub fn table_name(table: SetTable) -> &'static str {
    match table {
        SetTable::Images => "images",
        SetTable::Captions => "captions",
    }
}

/// The file and table of `set` named by `table`; an error naming the set if it has none.
pub fn set_table(set: &EmbeddingSet, table: SetTable) -> Result<&(NpyFile, Table)> {
    let t = match table {
        SetTable::Images => &set.images,
        SetTable::Captions => &set.captions,
    };
    t.as_ref().ok_or_else(|| Error::Invalid(format!("{}: this set has no {} table", set.dir.display(), table_name(table))))
}

/// Where the queries come from, as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuerySpec {
    /// Every row of this table of the set.
    Table(SetTable),
    /// A bare `.npy` of query vectors (`queries x dim`).
    Npy(PathBuf),
    /// A text file of captions, one query a line, encoded with a model.
    Text(PathBuf),
}

impl QuerySpec {
    /// `images` or `captions`: that table of the set; a path ending in `.npy`: query
    /// vectors; any other path: a captions file.
    pub fn parse(spec: &str) -> QuerySpec {
        match spec {
            "images" => QuerySpec::Table(SetTable::Images),
            "captions" => QuerySpec::Table(SetTable::Captions),
            path if path.ends_with(".npy") => QuerySpec::Npy(path.into()),
            path => QuerySpec::Text(path.into()),
        }
    }
}

/// Captions encoded by the caller's model: `vectors` holds one row of `dim` values per
/// caption, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedCaptions {
    /// `captions x dim` values, row-major.
    pub vectors: Vec<f32>,
    /// Values per caption.
    pub dim: usize,
    /// SHA-256 of the checkpoint that encoded them (recorded as the list's provenance).
    pub model_sha256: String,
}

/// The error of a caption encoder, carried through [`Error::Encoder`] with its causes.
pub type EncoderError = Box<dyn std::error::Error + Send + Sync>;

/// The query vectors of a list and where they came from.
#[derive(Debug)]
pub struct Queries<'a> {
    /// Provenance recorded in `topk.json` (its `count` is the number of queries).
    pub source: QuerySource,
    /// The table searched when none is named: the other table for a table of the set,
    /// the images for a `.npy` or captions file.
    pub default_target: SetTable,
    vectors: Vectors<'a>,
}

#[derive(Debug)]
enum Vectors<'a> {
    /// Rows of a `.npy` (a table of the set, or a bare file).
    Table(&'a NpyFile),
    Npy(NpyFile),
    /// Encoded captions, `count x dim`.
    Encoded {
        values: Vec<f32>,
        dim: usize,
    },
}

impl<'a> Queries<'a> {
    /// Resolve `spec` against `set`. For [`QuerySpec::Text`] the file is read and checked
    /// (not empty, no empty line) before `encode` is called with its lines; each caption
    /// should be encoded alone, so that a query's vector never depends on its batch.
    pub fn resolve<E: Into<EncoderError>>(
        set: &'a EmbeddingSet,
        spec: &QuerySpec,
        encode: impl FnOnce(&[&str]) -> std::result::Result<EncodedCaptions, E>,
    ) -> Result<Queries<'a>> {
        match spec {
            QuerySpec::Table(table) => {
                let (file, _) = set_table(set, *table)?;
                let source = QuerySource {
                    kind: "table".into(),
                    path: set.dir.display().to_string(),
                    table: Some(table_name(*table).into()),
                    sha256: sha256_file(file.path())?,
                    count: file.rows(),
                    model_sha256: None,
                };
                let other = match table {
                    SetTable::Images => SetTable::Captions,
                    SetTable::Captions => SetTable::Images,
                };
                Ok(Queries { source, default_target: other, vectors: Vectors::Table(file) })
            }
            QuerySpec::Npy(path) => {
                let file = NpyFile::open(path)?;
                if file.shape().len() != 2 {
                    return Err(Error::shape(
                        Some(path),
                        format!("query vectors must be a 2-d array (queries x dim), found shape {:?}", file.shape()),
                    ));
                }
                let source = QuerySource {
                    kind: "npy".into(),
                    path: path.display().to_string(),
                    table: None,
                    sha256: sha256_file(file.path())?,
                    count: file.rows(),
                    model_sha256: None,
                };
                Ok(Queries { source, default_target: SetTable::Images, vectors: Vectors::Npy(file) })
            }
            QuerySpec::Text(path) => {
                let text = read_captions(path)?;
                let lines: Vec<&str> = text.lines().collect();
                let encoded = encode(&lines).map_err(|e| Error::Encoder(e.into()))?;
                if encoded.dim == 0 || encoded.vectors.len() != lines.len() * encoded.dim {
                    return Err(Error::Invalid(format!(
                        "{}: the encoder returned {} values for {} captions of {} values each",
                        path.display(),
                        encoded.vectors.len(),
                        lines.len(),
                        encoded.dim
                    )));
                }
                let source = QuerySource {
                    kind: "text".into(),
                    path: path.display().to_string(),
                    table: None,
                    sha256: sha256_file(path)?,
                    count: lines.len(),
                    model_sha256: Some(encoded.model_sha256),
                };
                let vectors = Vectors::Encoded { values: encoded.vectors, dim: encoded.dim };
                Ok(Queries { source, default_target: SetTable::Images, vectors })
            }
        }
    }

    /// Number of queries.
    pub fn count(&self) -> usize {
        self.source.count
    }

    /// Values per query.
    pub fn dim(&self) -> usize {
        match &self.vectors {
            Vectors::Table(f) => f.dim(),
            Vectors::Npy(f) => f.dim(),
            Vectors::Encoded { dim, .. } => *dim,
        }
    }

    /// Read queries `range` into `out` (`range.len() x dim` values, `f16` widened): the
    /// [`QueryReader`](super::QueryReader) of [`exact_topk`](super::exact_topk) and
    /// [`ann_topk`](super::ann_topk).
    pub fn read(&self, range: Range<usize>, out: &mut [f32]) -> Result<()> {
        let dim = self.dim();
        match &self.vectors {
            Vectors::Table(f) => read_rows(f, range, out),
            Vectors::Npy(f) => read_rows(f, range, out),
            Vectors::Encoded { values, .. } => {
                out.copy_from_slice(&values[range.start * dim..range.end * dim]);
                Ok(())
            }
        }
    }
}

fn read_rows(file: &NpyFile, range: Range<usize>, out: &mut [f32]) -> Result<()> {
    let dim = file.dim();
    for (i, q) in range.enumerate() {
        file.row_into_f32(q, &mut out[i * dim..(i + 1) * dim])?;
    }
    Ok(())
}

/// A captions file's text: a regular file, not empty, no empty line (each line is one query).
fn read_captions(path: &Path) -> Result<String> {
    swan_store::fsutil::check_input(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Captions { path: path.to_owned(), source })?;
    if let Some(n) = text.lines().position(|l| l.trim().is_empty()) {
        return Err(Error::Invalid(format!("{}:{}: empty line: each line is one caption query", path.display(), n + 1)));
    }
    if text.lines().next().is_none() {
        return Err(Error::Invalid(format!("{}: no captions (one query a line)", path.display())));
    }
    Ok(text)
}

/// The table a list searches: its file, its invalid rows and the [`Database`] recorded
/// in `topk.json`.
#[derive(Debug)]
pub struct Target<'a> {
    /// Which table of the set.
    pub table: SetTable,
    /// Its `.npy` file.
    pub file: &'a NpyFile,
    /// Its manifest entry (the rows it marks invalid never answer).
    pub entry: &'a Table,
    /// What `topk.json` records: the whole table, or the row slice searched.
    pub database: Database,
}

impl<'a> Target<'a> {
    /// Table `table` of `set` (default: `queries.default_target`), row slice `slice`,
    /// for `k` (at least 1) results per query: refused when the queries' width differs from its rows'
    /// or `k` exceeds its rows (which would only pad every list with `-1`), before anything
    /// is allocated.
    pub fn resolve(set: &'a EmbeddingSet, queries: &Queries<'_>, table: Option<SetTable>, k: usize, slice: RowSlice) -> Result<Target<'a>> {
        if k == 0 {
            return Err(Error::Invalid("-k must be at least 1".into()));
        }
        let table = table.unwrap_or(queries.default_target);
        let (file, entry) = set_table(set, table)?;
        let (dim, query_dim) = (file.dim(), queries.dim());
        if query_dim != dim {
            return Err(Error::Invalid(format!("the queries have {query_dim} values each but {} rows have {dim}", file.path().display())));
        }
        if k > file.rows() {
            return Err(Error::Invalid(format!("-k {k} is more than the {} rows of {}", file.rows(), file.path().display())));
        }
        let range = slice.range(file.rows());
        let database = Database {
            set: Some(set.dir.display().to_string()),
            table: Some(table_name(table).into()),
            file: file.path().display().to_string(),
            sha256: sha256_file(file.path())?,
            rows: file.rows(),
            slice,
            start: range.start,
            end: range.end,
        };
        Ok(Target { table, file, entry, database })
    }

    /// The rows searched exactly, invalid rows left out.
    pub fn rows(&self) -> Result<Rows<'a>> {
        Rows::from_npy(self.file)?.with_invalid(&self.entry.invalid)
    }

    /// Search through `index` (opened from `dir`) instead: it must be built over this
    /// table; the database becomes the rows it answers for (its row slice, or every row
    /// for a shard set). Returns the [`Method`] to record, with the `ef` the walk uses
    /// (`params.ef` 0: the index's recorded beam, at least `k`).
    pub fn answer_with(&mut self, dir: &Path, index: &IndexSet, params: &SearchParams, k: usize) -> Result<Method> {
        let source = index.first().source_path();
        if !same_file(source, self.file.path()) {
            return Err(Error::Invalid(format!(
                "{} indexes {}, not {} (pass --table to pick the table it was built over)",
                dir.display(),
                source.display(),
                self.file.path().display()
            )));
        }
        let (slice, range) = index.row_slice();
        self.database.slice = slice;
        (self.database.start, self.database.end) = (range.start, range.end);
        let p = index.first().params();
        Ok(Method::Ann {
            indexes: index.indexes().map(|(d, _)| d.display().to_string()).collect(),
            m: p.m,
            ef_construction: p.ef_construction,
            precision: p.precision.name().into(),
            ef: if params.ef == 0 { index.default_ef().max(k) } else { params.ef },
            rerank: params.rerank,
        })
    }
}

#[cfg(test)]
mod tests {
    use swan_indexer::SynthSpec;

    use super::*;

    const DIM: usize = 8;

    /// A set of 30 image rows and 6 caption rows, `DIM` values each.
    fn set(dir: &Path) -> EmbeddingSet {
        SynthSpec { rows: 30, queries: 6, dim: DIM, centres: 3, noise: 0.2, seed: 7 }.write(dir).unwrap();
        EmbeddingSet::open(dir, None, None).unwrap()
    }

    fn no_encoder(_: &[&str]) -> std::result::Result<EncodedCaptions, EncoderError> {
        panic!("the encoder must not be called")
    }

    fn read_all(q: &Queries<'_>) -> Vec<f32> {
        let mut out = vec![0f32; q.count() * q.dim()];
        q.read(0..q.count(), &mut out).unwrap();
        out
    }

    #[test]
    fn specs_name_a_table_a_npy_or_a_captions_file() {
        assert_eq!(QuerySpec::parse("images"), QuerySpec::Table(SetTable::Images));
        assert_eq!(QuerySpec::parse("captions"), QuerySpec::Table(SetTable::Captions));
        assert_eq!(QuerySpec::parse("a/q.npy"), QuerySpec::Npy("a/q.npy".into()));
        assert_eq!(QuerySpec::parse("queries.txt"), QuerySpec::Text("queries.txt".into()));
    }

    #[test]
    fn a_table_of_the_set_searches_the_other_table_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(dir.path());
        let q = Queries::resolve(&set, &QuerySpec::Table(SetTable::Captions), no_encoder).unwrap();
        assert_eq!((q.count(), q.dim(), q.default_target), (6, DIM, SetTable::Images));
        assert_eq!((q.source.kind.as_str(), q.source.table.as_deref()), ("table", Some("captions")));
        let captions = &set.captions.as_ref().unwrap().0;
        assert_eq!(q.source.sha256, sha256_file(captions.path()).unwrap());
        assert_eq!(read_all(&q), captions.as_f32().unwrap());

        let t = Target::resolve(&set, &q, None, 5, RowSlice { index: 1, count: 3 }).unwrap();
        assert_eq!((t.table, t.database.table.as_deref(), t.database.rows), (SetTable::Images, Some("images"), 30));
        assert_eq!((t.database.start, t.database.end), (10, 20));

        let q = Queries::resolve(&set, &QuerySpec::Table(SetTable::Images), no_encoder).unwrap();
        assert_eq!((q.count(), q.default_target), (30, SetTable::Captions));
        let e = Target::resolve(&set, &q, None, 7, RowSlice::ALL).unwrap_err().to_string();
        assert!(e.contains("-k 7 is more than the 6 rows of"), "{e}");
    }

    #[test]
    fn a_bare_npy_must_be_2d_and_as_wide_as_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(&dir.path().join("set"));
        let flat = dir.path().join("flat.npy");
        swan_store::npy::write_f32(&flat, &[4], &[0.0; 4]).unwrap();
        let e = Queries::resolve(&set, &QuerySpec::Npy(flat), no_encoder).unwrap_err().to_string();
        assert!(e.contains("flat.npy: query vectors must be a 2-d array (queries x dim), found shape [4]"), "{e}");

        let narrow = dir.path().join("narrow.npy");
        swan_store::npy::write_f32(&narrow, &[2, 4], &[1.0; 8]).unwrap();
        let q = Queries::resolve(&set, &QuerySpec::Npy(narrow), no_encoder).unwrap();
        assert_eq!((q.source.kind.as_str(), q.count(), q.default_target), ("npy", 2, SetTable::Images));
        let e = Target::resolve(&set, &q, None, 1, RowSlice::ALL).unwrap_err().to_string();
        assert!(e.contains("the queries have 4 values each but") && e.contains("base.npy rows have 8"), "{e}");
    }

    #[test]
    fn a_captions_file_is_checked_then_encoded_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(&dir.path().join("set"));
        let gap = dir.path().join("gap.txt");
        std::fs::write(&gap, "a red barn\n\nfog\n").unwrap();
        let e = Queries::resolve(&set, &QuerySpec::Text(gap.clone()), no_encoder).unwrap_err().to_string();
        assert!(e.ends_with("gap.txt:2: empty line: each line is one caption query"), "{e}");

        let text = dir.path().join("q.txt");
        std::fs::write(&text, "a red barn\nfog over a lake\n").unwrap();
        // A stand-in model: caption i becomes the vector of all (i + 1) / len.
        let encode = |lines: &[&str]| -> std::result::Result<EncodedCaptions, EncoderError> {
            assert_eq!(lines, ["a red barn", "fog over a lake"]);
            let vectors = lines.iter().flat_map(|l| vec![1.0 / l.len() as f32; DIM]).collect();
            Ok(EncodedCaptions { vectors, dim: DIM, model_sha256: "ab".repeat(32) })
        };
        let q = Queries::resolve(&set, &QuerySpec::Text(text.clone()), encode).unwrap();
        assert_eq!((q.source.kind.as_str(), q.count(), q.default_target), ("text", 2, SetTable::Images));
        assert_eq!(q.source.model_sha256.as_deref(), Some("ab".repeat(32).as_str()));
        let mut second = vec![0f32; DIM];
        q.read(1..2, &mut second).unwrap();
        assert_eq!(second, vec![1.0 / 15.0; DIM]);

        // The encoder's own error comes back with its message; a short answer is refused.
        let failing = |_: &[&str]| Err::<EncodedCaptions, _>("no --checkpoint");
        let e = Queries::resolve(&set, &QuerySpec::Text(text.clone()), failing).unwrap_err().to_string();
        assert_eq!(e, "no --checkpoint");
        let short = |_: &[&str]| Ok::<_, EncoderError>(EncodedCaptions { vectors: vec![0.0; DIM], dim: DIM, model_sha256: String::new() });
        let e = Queries::resolve(&set, &QuerySpec::Text(text), short).unwrap_err().to_string();
        assert!(e.contains("the encoder returned 8 values for 2 captions of 8 values each"), "{e}");
    }
}
