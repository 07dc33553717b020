//! The manifest of a set of embeddings: what produced it and which corpus rows it holds.
//!
//! Stored as `manifest.json` beside the `.npy` files it describes, written last (by
//! atomic rename), so a folder whose manifest lists a file is a complete set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::{fsutil, DType, NpyFile};

/// File name of a manifest inside an embedding folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest version this build writes.
pub const CURRENT_VERSION: u32 = 1;
/// The oldest manifest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
const FORMAT: &str = "swan-embeddings";

/// A set of image and/or caption embeddings and their provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"swan-embeddings"`.
    pub format: String,
    /// Manifest format version.
    pub version: u32,
    /// What computed the vectors.
    pub producer: Producer,
    /// The corpus the rows come from.
    pub corpus: CorpusRef,
    /// Whether every valid row has unit L2 norm.
    pub normalized: bool,
    /// Image embeddings, if the set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Table>,
    /// Caption embeddings, if the set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<Table>,
}

/// Provenance of the vectors: equal producers give comparable vectors. Fields added after
/// version 1 are optional, so older manifests still read (they compare as "not recorded").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producer {
    /// Model name and version, e.g. `"swan"`.
    pub model: String,
    /// SHA-256 of the checkpoint file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_sha256: Option<String>,
    /// Numeric precision of the forward pass (`fp32`, `tf32`, `bf16`, `fp16`).
    pub precision: String,
    /// How captions were padded (`alone` or `shard:N`); absent for image-only sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_padding: Option<String>,
    /// Version of swan that wrote the set.
    pub swan_version: String,
    /// SHA-256 of the vocabulary's JSON (as `swan vocab build` writes it); absent for image-only sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_sha256: Option<String>,
    /// Whether convolutions ran channels-last (changes the rounding on some devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels_last: Option<bool>,
    /// The JPEG decoder (`libjpeg-turbo` or `zune-jpeg`: their pixels differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_decoder: Option<String>,
    /// Items per forward pass (a matrix product's rounding depends on its row count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// libtorch's intra-op CPU threads, for a forward pass on the CPU: the CPU kernels
    /// split sums differently for different thread counts, which changes the last bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<usize>,
}

impl Producer {
    /// The fields in which `other` differs from `self`, as `name: ours vs theirs` lines
    /// (for messages that refuse to mix vectors of different producers).
    pub fn differences(&self, other: &Producer) -> Vec<String> {
        field_differences(self, other)
    }
}

/// Field-by-field differences of two records that serialise to JSON objects, as
/// `name: ours vs theirs` lines, nested fields named `outer.inner`; a field one side
/// lacks shows as `(not recorded)`.
pub fn field_differences<T: Serialize>(a: &T, b: &T) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).expect("serialises"), serde_json::to_value(b).expect("serialises"));
    let mut out = Vec::new();
    diff_values("", Some(&a), Some(&b), &mut out);
    out
}

fn diff_values(name: &str, a: Option<&serde_json::Value>, b: Option<&serde_json::Value>, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    if let (Some(serde_json::Value::Object(a)), Some(serde_json::Value::Object(b))) = (a, b) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let full = if name.is_empty() { k.clone() } else { format!("{name}.{k}") };
            diff_values(&full, a.get(k), b.get(k), out);
        }
        return;
    }
    let show = |v: Option<&serde_json::Value>| v.map_or("(not recorded)".to_owned(), |v| v.to_string());
    out.push(format!("{name}: {} vs {}", show(a), show(b)));
}

/// Which corpus the rows index into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusRef {
    /// Corpus location: relative to the manifest's folder where swan could express it so
    /// (a set moved together with its corpus keeps working), else absolute. Manifests from
    /// before this rule hold the path as given on the command line; see
    /// [`Manifest::corpus_path`] for how both are resolved.
    pub path: String,
    /// `precomp`, `jsonl` or `folder`.
    pub layout: String,
    /// Split name for the precomp layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Images in the whole corpus (split).
    pub images: usize,
    /// Captions in the whole corpus (split).
    pub captions: usize,
    /// SHA-256 of the corpus's contents as read (image paths, captions and which image each
    /// describes, in order): a corpus edited in place, even with the same counts, differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl CorpusRef {
    /// The fields in which `other` differs from `self`, as `name: ours vs theirs` lines.
    pub fn differences(&self, other: &CorpusRef) -> Vec<String> {
        field_differences(self, other)
    }
}

impl CorpusRef {
    /// The path to record for a corpus at `corpus` in a manifest written to `manifest_dir`:
    /// relative to that folder when both resolve (so the two can move together), else
    /// absolute, else as given.
    pub fn path_for(corpus: &Path, manifest_dir: &Path) -> String {
        let corpus_abs = corpus.canonicalize().ok();
        // The manifest's folder may not exist yet (a run about to create it).
        let dir_abs = manifest_dir.canonicalize().ok().or_else(|| {
            let parent = manifest_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(parent.canonicalize().ok()?.join(manifest_dir.file_name()?))
        });
        let chosen = match (&corpus_abs, &dir_abs) {
            (Some(c), Some(d)) => relative_path(c, d),
            (Some(c), None) => c.clone(),
            _ => corpus.to_owned(),
        };
        chosen.display().to_string()
    }
}

/// `target` as seen from the folder `base` (both absolute and canonical).
fn relative_path(target: &Path, base: &Path) -> PathBuf {
    let (t, b): (Vec<_>, Vec<_>) = (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: PathBuf = b[common..].iter().map(|_| std::path::Component::ParentDir).collect();
    out.extend(&t[common..]);
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Check the `"version"` field before anything else is read, so an unknown version is
/// reported as such and not as whatever field it renamed. No truncating casts: a version
/// past `u32` is reported as it is written.
fn check_version(path: &Path, version: Option<&serde_json::Value>) -> Result<()> {
    let version = match version {
        None => return Err(Error::mismatch(path, "has no \"version\" field")),
        Some(v) => v.as_u64().ok_or_else(|| Error::mismatch(path, format!("\"version\" must be a whole number, not {v}")))?,
    };
    if !(OLDEST_READABLE_VERSION as u64..=CURRENT_VERSION as u64).contains(&version) {
        return Err(Error::Version { path: path.to_owned(), found: version, oldest: OLDEST_READABLE_VERSION, current: CURRENT_VERSION });
    }
    Ok(())
}

/// One embedding file and the mapping from its rows to corpus items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// File name, relative to the manifest's folder.
    pub file: String,
    /// Element type on disk.
    pub dtype: DType,
    /// Row count.
    pub rows: usize,
    /// Values per row.
    pub dim: usize,
    /// Corpus item indices of the rows, as half-open `[start, end)` ranges in row order:
    /// row 0 is the first index of the first range, and so on.
    pub items: Vec<[usize; 2]>,
    /// Rows whose input could not be read; their vectors are zero and must be skipped.
    #[serde(default)]
    pub invalid: Vec<usize>,
}

impl Table {
    /// A table whose row `r` is corpus item `r`, for `rows` items.
    pub fn identity(file: impl Into<String>, dtype: DType, rows: usize, dim: usize) -> Table {
        Table { file: file.into(), dtype, rows, dim, items: vec![[0, rows]], invalid: Vec::new() }
    }

    /// Corpus item indices of every row, in row order.
    pub fn item_indices(&self) -> Vec<usize> {
        self.items.iter().flat_map(|&[a, b]| a..b).collect()
    }

    /// Row of each of the corpus's `items` items in this table (`None` where the item is
    /// not in it). Items past `items` are ignored ([`Manifest::load`] refuses them).
    pub fn rows_by_item(&self, items: usize) -> Vec<Option<usize>> {
        let mut out = vec![None; items];
        for (row, item) in self.item_indices().into_iter().enumerate() {
            if let Some(slot) = out.get_mut(item) {
                *slot = Some(row);
            }
        }
        out
    }

    /// Check the table against itself and against the corpus it indexes, which has
    /// `corpus_items` items of this table's kind (`what`: "images" or "captions").
    fn check(&self, manifest: &Path, corpus_items: usize, what: &str) -> Result<()> {
        let bad = |reason: String| Error::mismatch(manifest, format!("table '{}': {reason}", self.file));
        // The file lives beside the manifest: a bare file name, never a path out of the folder.
        let name = Path::new(&self.file);
        if self.file.is_empty()
            || name.components().count() != 1
            || !matches!(name.components().next(), Some(std::path::Component::Normal(_)))
        {
            return Err(bad("the file must be a bare file name in the manifest's folder".into()));
        }
        if let Some([a, b]) = self.items.iter().find(|[a, b]| a > b) {
            return Err(bad(format!("item range [{a}, {b}) is reversed")));
        }
        if let Some([a, b]) = self.items.iter().find(|&&[_, b]| b > corpus_items) {
            return Err(bad(format!("item range [{a}, {b}) goes past the corpus's {corpus_items} {what}")));
        }
        // Each corpus item is in the table at most once.
        let mut sorted = self.items.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[1][0] < w[0][1]) {
            return Err(bad(format!("item ranges [{}, {}) and [{}, {}) overlap", w[0][0], w[0][1], w[1][0], w[1][1])));
        }
        // Ranges are disjoint and inside the corpus, so this sum cannot overflow.
        let mapped: usize = self.items.iter().map(|&[a, b]| b - a).sum();
        if mapped != self.rows {
            return Err(bad(format!("item ranges cover {mapped} items but the table has {} rows", self.rows)));
        }
        if let Some(r) = self.invalid.iter().find(|&&r| r >= self.rows) {
            return Err(bad(format!("invalid row {r} is out of range")));
        }
        Ok(())
    }
}

impl Manifest {
    /// A manifest with no tables yet.
    pub fn new(producer: Producer, corpus: CorpusRef, normalized: bool) -> Manifest {
        Manifest { format: FORMAT.into(), version: CURRENT_VERSION, producer, corpus, normalized, images: None, captions: None }
    }

    /// Write `dir/manifest.json` atomically. Call it after the tables' files are final.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(MANIFEST_FILE);
        let mut text = serde_json::to_string_pretty(self).expect("manifest serialises");
        text.push('\n');
        fsutil::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Read a manifest (a `manifest.json` path or the folder holding one) and check
    /// that it is internally consistent.
    pub fn load(path: &Path) -> Result<Manifest> {
        let path = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_owned() };
        fsutil::check_input(&path)?;
        let text = std::fs::read(&path).at(&path)?;
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::mismatch(&path, format!("not a swan embedding manifest (no \"format\": \"{FORMAT}\")")));
        }
        check_version(&path, value.get("version"))?;
        let manifest: Manifest = serde_json::from_value(value).map_err(|source| Error::Json { path: path.clone(), source })?;
        if let Some(t) = &manifest.images {
            t.check(&path, manifest.corpus.images, "images")?;
        }
        if let Some(t) = &manifest.captions {
            t.check(&path, manifest.corpus.captions, "captions")?;
        }
        Ok(manifest)
    }

    /// Where the corpus of the set in `dir` is. A relative path is tried against `dir`
    /// first (how swan writes it) and then as given, against the current folder (how
    /// manifests written before the corpus path became relative to the manifest hold it).
    pub fn corpus_path(&self, dir: &Path) -> PathBuf {
        let recorded = Path::new(&self.corpus.path);
        let beside = dir.join(recorded);
        if recorded.is_relative() && !beside.exists() && recorded.exists() {
            recorded.to_owned()
        } else {
            beside
        }
    }

    /// Open a table's `.npy` file (relative to `dir`) and check it has the rows, width and
    /// dtype the manifest says.
    pub fn open_table(dir: &Path, table: &Table) -> Result<NpyFile> {
        let file = NpyFile::open(dir.join(&table.file))?;
        if file.shape() != [table.rows, table.dim] || file.dtype() != table.dtype {
            return Err(Error::mismatch(
                file.path(),
                format!("is {:?} {} but {} says {}x{} {}", file.shape(), file.dtype(), MANIFEST_FILE, table.rows, table.dim, table.dtype),
            ));
        }
        Ok(file)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A set in `root/set` over a JSON Lines corpus at `root/corpus/corpus.jsonl` with
    /// `images` images (4-wide image rows) and `captions` captions spread over them.
    /// Returns the set's folder and the corpus file.
    pub(crate) fn sample_set(root: &Path, images: usize, captions: usize) -> (PathBuf, PathBuf) {
        let corpus_dir = root.join("corpus");
        std::fs::create_dir_all(&corpus_dir).unwrap();
        let corpus = corpus_dir.join("corpus.jsonl");
        let mut lines = String::new();
        for i in 0..images {
            let caps: Vec<String> = (0..captions).filter(|c| c % images == i).map(|c| format!("\"caption {c}\"")).collect();
            lines += &format!("{{\"image\": \"{i}.png\", \"captions\": [{}]}}\n", caps.join(", "));
        }
        std::fs::write(&corpus, lines).unwrap();
        let set = root.join("set");
        std::fs::create_dir_all(&set).unwrap();
        crate::npy::write_f32(&set.join("images.npy"), &[images, 4], &vec![0.5; images * 4]).unwrap();
        let mut m = sample();
        m.corpus =
            CorpusRef { path: CorpusRef::path_for(&corpus, &set), layout: "jsonl".into(), split: None, images, captions, sha256: None };
        m.images = Some(Table::identity("images.npy", DType::F32, images, 4));
        m.save(&set).unwrap();
        (set, corpus)
    }

    fn sample() -> Manifest {
        let producer = Producer {
            model: "swan".into(),
            checkpoint_sha256: Some("ab".repeat(32)),
            precision: "fp32".into(),
            text_padding: Some("alone".into()),
            swan_version: "0.1.0".into(),
            ..Producer::default()
        };
        let corpus = CorpusRef {
            path: "fixtures/corpus".into(),
            layout: "precomp".into(),
            split: Some("test".into()),
            images: 4,
            captions: 20,
            sha256: None,
        };
        let mut m = Manifest::new(producer, corpus, true);
        m.images = Some(Table { invalid: vec![1], ..Table::identity("images.npy", DType::F32, 4, 3) });
        m
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    }

    #[test]
    fn producers_name_their_differences_and_old_manifests_read() {
        let a = sample().producer;
        let b = Producer { vocab_sha256: Some("cd".repeat(32)), batch_size: Some(64), ..a.clone() };
        let diff = a.differences(&b);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("batch_size: (not recorded) vs 64"), "{diff:?}");
        assert!(diff[1].starts_with("vocab_sha256: (not recorded) vs \"cdcd"), "{diff:?}");
        assert!(a.differences(&a).is_empty());
        // A version-1 manifest written before these fields existed.
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(!text.contains("vocab_sha256") && !text.contains("\"sha256\""), "{text}");
        assert_eq!(Manifest::load(dir.path()).unwrap().producer.channels_last, None);
    }

    #[test]
    fn rejects_inconsistent_or_newer_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        m.images.as_mut().unwrap().items = vec![[0, 3]];
        m.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("cover 3 items but the table has 4 rows"), "{err}");

        let mut m = sample();
        m.version = 99;
        m.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version 99 is not supported"), "{err}");
    }

    #[test]
    fn table_shape_is_checked_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::npy::write_f32(&dir.path().join("images.npy"), &[4, 2], &[0.0; 8]).unwrap();
        let err = Manifest::open_table(dir.path(), sample().images.as_ref().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is [4, 2] f32 but manifest.json says 4x3 f32"), "{err}");
    }

    fn load_err(m: &Manifest) -> String {
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        Manifest::load(dir.path()).unwrap_err().to_string()
    }

    #[test]
    fn versions_are_read_without_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let text = serde_json::to_string(&sample()).unwrap();
        for (version, expected) in [
            ("\"1\"", "\"version\" must be a whole number, not \"1\""),
            ("1.5", "\"version\" must be a whole number, not 1.5"),
            ("-1", "\"version\" must be a whole number, not -1"),
            // 2^32 + 1 would read as version 1 through an `as u32` cast.
            ("4294967297", "version 4294967297 is not supported"),
        ] {
            std::fs::write(dir.path().join(MANIFEST_FILE), text.replace("\"version\":1", &format!("\"version\":{version}"))).unwrap();
            let err = Manifest::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{version}: {err}");
        }
        std::fs::write(dir.path().join(MANIFEST_FILE), text.replace("\"version\":1,", "")).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has no \"version\" field"), "{err}");
    }

    #[test]
    fn item_ranges_are_checked_against_the_corpus() {
        let mut m = sample();
        m.images.as_mut().unwrap().items = vec![[2, 6]];
        assert!(load_err(&m).contains("item range [2, 6) goes past the corpus's 4 images"));
        m.images.as_mut().unwrap().items = vec![[usize::MAX - 1, usize::MAX]];
        assert!(load_err(&m).contains("goes past the corpus's 4 images"));
        let mut m = sample();
        m.images.as_mut().unwrap().items = vec![[0, 2], [1, 3]];
        assert!(load_err(&m).contains("item ranges [0, 2) and [1, 3) overlap"), "{}", load_err(&m));
        let mut m = sample();
        m.captions = Some(Table::identity("captions.npy", DType::F32, 21, 3));
        assert!(load_err(&m).contains("item range [0, 21) goes past the corpus's 20 captions"));
    }

    #[test]
    fn table_files_must_be_bare_names_beside_the_manifest() {
        for file in ["../images.npy", "/etc/passwd", "", ".", "sub/images.npy"] {
            let mut m = sample();
            m.images.as_mut().unwrap().file = file.into();
            assert!(load_err(&m).contains("must be a bare file name"), "{file}: {}", load_err(&m));
        }
        let dir = tempfile::tempdir().unwrap();
        // A FIFO as manifest is refused, not read (which would block until a writer appears).
        let fifo = std::ffi::CString::new(dir.path().join(MANIFEST_FILE).to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(Manifest::load(dir.path()).unwrap_err().to_string().contains("is a FIFO, not a regular file"));
    }

    #[test]
    fn corpus_path_is_relative_to_the_manifest() {
        let root = tempfile::tempdir().unwrap();
        let (set, corpus) = sample_set(root.path(), 2, 3);
        let m = Manifest::load(&set).unwrap();
        assert_eq!(m.corpus.path, "../corpus/corpus.jsonl");
        assert_eq!(m.corpus_path(&set).canonicalize().unwrap(), corpus.canonicalize().unwrap());

        // Moving the set and its corpus together keeps the link.
        let moved = root.path().join("moved");
        std::fs::create_dir(&moved).unwrap();
        std::fs::rename(&set, moved.join("set")).unwrap();
        std::fs::rename(root.path().join("corpus"), moved.join("corpus")).unwrap();
        let m = Manifest::load(&moved.join("set")).unwrap();
        assert!(m.corpus_path(&moved.join("set")).is_file());

        // An absolute path (older manifests, or a corpus on another tree) is used as is.
        let mut m = sample();
        m.corpus.path = moved.join("corpus/corpus.jsonl").display().to_string();
        assert_eq!(m.corpus_path(Path::new("/nowhere")), moved.join("corpus/corpus.jsonl"));
    }
}
