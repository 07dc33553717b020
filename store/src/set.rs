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
    /// The corpus the rows index into; `None` for a set made without one (see
    /// [`EmbeddingSet::open`]). [`EmbeddingSet::corpus`] says why when it is needed.
    pub corpus: Option<Corpus>,
    /// Image embeddings and their table, if the set has them.
    pub images: Option<(NpyFile, Table)>,
    /// Caption embeddings and their table, if the set has them.
    pub captions: Option<(NpyFile, Table)>,
}

impl EmbeddingSet {
    /// Open the set in `dir`. `corpus` overrides the corpus location the manifest records
    /// (for a corpus that moved); `images_dir` overrides a precomp corpus's image folder.
    /// The corpus must have the item counts the manifest was made from.
    ///
    /// A set made without a corpus (`swan synth` records the corpus `synthetic`, `swan
    /// encode --out` the layout `files`: neither names anything on disk) opens with no
    /// corpus unless `corpus` is given: its rows can still be searched and indexed, only
    /// what needs names, scenes or caption-image pairs asks for one.
    pub fn open(dir: &Path, corpus: Option<&Path>, images_dir: Option<&Path>) -> Result<EmbeddingSet> {
        let manifest = Manifest::load(dir)?;
        let open = |t: &Option<Table>| -> Result<Option<(NpyFile, Table)>> {
            Ok(match t {
                Some(t) => Some((Manifest::open_table(dir, t)?, t.clone())),
                None => None,
            })
        };
        let images = open(&manifest.images)?;
        let captions = open(&manifest.captions)?;
        let corpus = match corpus {
            None if Self::made_without_corpus(&manifest, dir) => None,
            _ => Some(Self::open_corpus(&manifest, dir, corpus, images_dir)?),
        };
        Ok(EmbeddingSet { dir: dir.to_owned(), manifest, corpus, images, captions })
    }

    /// The corpus, or for a set made without one an error that says so and what `--corpus`
    /// would need: for operations that need names, scenes or caption-image pairs.
    pub fn corpus(&self) -> Result<&Corpus> {
        self.corpus.as_ref().ok_or_else(|| {
            let c = &self.manifest.corpus;
            Error::mismatch(
                &self.dir,
                format!(
                    "this set has no corpus on disk (its manifest says {:?}, layout {:?}: made by `swan synth` or `swan encode --out`); \
                     pass --corpus with a corpus of {} images and {} captions",
                    c.path, c.layout, c.images, c.captions
                ),
            )
        })
    }

    /// Whether the manifest names no corpus on disk (see [`EmbeddingSet::open`]). A folder
    /// that happens to be at the recorded place is still read, as before.
    fn made_without_corpus(manifest: &Manifest, dir: &Path) -> bool {
        (manifest.corpus.layout == "files" || manifest.corpus.path == "synthetic") && !manifest.corpus_path(dir).exists()
    }

    fn open_corpus(manifest: &Manifest, dir: &Path, corpus: Option<&Path>, images_dir: Option<&Path>) -> Result<Corpus> {
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
        Ok(corpus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample_set;

    #[test]
    fn opens_a_set_and_checks_its_corpus_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (set_dir, corpus_file) = sample_set(dir.path(), 2, 3);
        let set = EmbeddingSet::open(&set_dir, None, None).unwrap();
        let corpus = set.corpus().unwrap();
        assert_eq!((corpus.images.len(), corpus.captions.len()), (2, 3));
        assert_eq!(set.images.as_ref().unwrap().0.shape(), [2, 4]);

        // A corpus with another item count is refused, naming both counts.
        let other = dir.path().join("other.jsonl");
        std::fs::write(&other, "{\"image\": \"a.png\", \"captions\": [\"x\"]}\n").unwrap();
        let err = EmbeddingSet::open(&set_dir, Some(&other), None).err().unwrap().to_string();
        assert!(err.contains("has 1 images and 1 captions, but") && err.contains("was embedded from 2 and 3"), "{err}");

        // A set made without a corpus (swan synth, swan encode --out) opens with its tables
        // and no corpus, from any folder; what needs the corpus says so. Before, opening it
        // failed with "synthetic: no such file or folder".
        let mut m = Manifest::load(&set_dir).unwrap();
        for (path, layout) in [("synthetic", "folder"), ("(command line)", "files")] {
            m.corpus.path = path.into();
            m.corpus.layout = layout.into();
            m.save(&set_dir).unwrap();
            let set = EmbeddingSet::open(&set_dir, None, None).unwrap();
            assert!(set.corpus.is_none() && set.images.is_some());
            let err = set.corpus().err().unwrap().to_string();
            assert!(
                err.contains("this set has no corpus on disk") && err.contains("pass --corpus with a corpus of 2 images and 3 captions"),
                "{err}"
            );
            // --corpus still overrides, as before.
            let set = EmbeddingSet::open(&set_dir, Some(&corpus_file), None).unwrap();
            assert_eq!(set.corpus().unwrap().images.len(), 2);
        }
    }
}
