//! An embedding set on disk with its corpus: the manifest, its tables and the corpus
//! they index into, checked against each other. What `swan eval` and `swan search` read.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{Corpus, CorpusOptions, Manifest, NpyFile, Table};

/// A loaded embedding folder: its manifest, its corpus and its open tables.
pub struct EmbeddingSet {
    /// The folder holding `manifest.json`.
    pub dir: PathBuf,
    /// The manifest as read.
    pub manifest: Manifest,
    /// The corpus the rows index into.
    pub corpus: Corpus,
    /// Image embeddings and their table, if the set has them.
    pub images: Option<(NpyFile, Table)>,
    /// Caption embeddings and their table, if the set has them.
    pub captions: Option<(NpyFile, Table)>,
}

impl EmbeddingSet {
    /// Open the set in `dir`. `corpus` overrides the corpus location the manifest records
    /// (for a corpus that moved); `images_dir` overrides a precomp corpus's image folder.
    /// The corpus must have the item counts the manifest was made from.
    pub fn open(dir: &Path, corpus: Option<&Path>, images_dir: Option<&Path>) -> Result<EmbeddingSet> {
        let manifest = Manifest::load(dir)?;
        // `swan synth` records the corpus `synthetic` and `swan encode --out` the layout
        // `files`: neither names a corpus on disk.
        let made_without_corpus = manifest.corpus.layout == "files" || manifest.corpus.path == "synthetic";
        if corpus.is_none() && made_without_corpus && !manifest.corpus_path(dir).exists() {
            return Err(Error::mismatch(
                dir,
                format!(
                    "this set has no corpus on disk (its manifest says {:?}, layout {:?}: made by `swan synth` or `swan encode --out`); \
                     pass --corpus with a corpus of {} images and {} captions",
                    manifest.corpus.path, manifest.corpus.layout, manifest.corpus.images, manifest.corpus.captions
                ),
            ));
        }
        let corpus_path = corpus.map(Path::to_owned).unwrap_or_else(|| manifest.corpus_path(dir));
        let options = CorpusOptions { layout: None, split: manifest.corpus.split.clone(), images: images_dir.map(Path::to_owned) };
        let corpus =
            Corpus::open(&corpus_path, &options).map_err(|source| Error::SetCorpus { dir: dir.to_owned(), source: Box::new(source) })?;
        if (corpus.images.len(), corpus.captions.len()) != (manifest.corpus.images, manifest.corpus.captions) {
            return Err(Error::mismatch(
                &corpus_path,
                format!(
                    "has {} images and {} captions, but {} was embedded from {} and {}",
                    corpus.images.len(),
                    corpus.captions.len(),
                    dir.display(),
                    manifest.corpus.images,
                    manifest.corpus.captions
                ),
            ));
        }
        let open = |t: &Option<Table>| -> Result<Option<(NpyFile, Table)>> {
            Ok(match t {
                Some(t) => Some((Manifest::open_table(dir, t)?, t.clone())),
                None => None,
            })
        };
        let images = open(&manifest.images)?;
        let captions = open(&manifest.captions)?;
        Ok(EmbeddingSet { dir: dir.to_owned(), manifest, corpus, images, captions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample_set;

    #[test]
    fn opens_a_set_and_checks_its_corpus_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (set_dir, _) = sample_set(dir.path(), 2, 3);
        let set = EmbeddingSet::open(&set_dir, None, None).unwrap();
        assert_eq!((set.corpus.images.len(), set.corpus.captions.len()), (2, 3));
        assert_eq!(set.images.as_ref().unwrap().0.shape(), [2, 4]);

        // A corpus with another item count is refused, naming both counts.
        let other = dir.path().join("other.jsonl");
        std::fs::write(&other, "{\"image\": \"a.png\", \"captions\": [\"x\"]}\n").unwrap();
        let err = EmbeddingSet::open(&set_dir, Some(&other), None).err().unwrap().to_string();
        assert!(err.contains("has 1 images and 1 captions, but") && err.contains("was embedded from 2 and 3"), "{err}");

        // A set made without a corpus (swan synth, swan encode --out) says so.
        let mut m = Manifest::load(&set_dir).unwrap();
        m.corpus.path = "synthetic".into();
        m.corpus.layout = "folder".into();
        m.save(&set_dir).unwrap();
        let err = EmbeddingSet::open(&set_dir, None, None).err().unwrap().to_string();
        assert!(
            err.contains("this set has no corpus on disk") && err.contains("pass --corpus with a corpus of 2 images and 3 captions"),
            "{err}"
        );
    }
}
