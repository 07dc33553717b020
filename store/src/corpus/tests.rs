use std::path::{Path, PathBuf};

use super::*;

/// `../shared/data` beside the workspace; a failure under `CI=true` when it is missing.
fn shared_data() -> Option<PathBuf> {
    swan_fixtures::shared_dir_or_skip("data").map(|dir| dir.join("data"))
}

fn open(root: &Path, split: &str) -> Result<Corpus> {
    Corpus::open(root, &CorpusOptions { split: Some(split.into()), ..Default::default() })
}

fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn rsicd_test_split() {
    let Some(data) = shared_data() else { return };
    let c = open(&data.join("rsicd_precomp"), "test").unwrap();
    let s = c.summary();
    assert_eq!((s.images, s.captions, s.scenes.len()), (1093, 5465, 31));
    assert!(s.scenes.contains(&"noneclass".to_string()));
    assert_eq!(c.images[0].name, "airport_348.jpg");
    assert!(c.captions_by_image().iter().all(|caps| caps.len() == 5));
    assert_eq!(c.captions[5].image, 1);
    // No image folder here: one warning saying so, not 1,093 missing files.
    assert_eq!(c.warnings.iter().filter(|w| w.kind == WarningKind::NoImageFolder).count(), 1);
    assert_eq!(c.warnings.iter().filter(|w| w.kind == WarningKind::MissingImage).count(), 0);
}

#[test]
fn rsitmd_test_split_and_both_filename_forms() {
    let Some(data) = shared_data() else { return };
    let root = data.join("rsitmd_precomp");
    let c = open(&root, "test").unwrap();
    assert_eq!((c.images.len(), c.captions.len(), c.scenes().len()), (452, 2260, 32));
    // Train lists one name per image, verify splits one per caption.
    let train = open(&root, "train").unwrap();
    assert_eq!((train.images.len(), train.captions.len()), (4291, 21455));
    let val = open(&root, "val_verify").unwrap();
    assert_eq!((val.images.len(), val.captions.len()), (856, 4280));
    let train_v = open(&root, "train_verify").unwrap();
    assert_eq!(train_v.images.len() + val.images.len(), 4291);
}

#[test]
fn every_real_split_reads() {
    let Some(data) = shared_data() else { return };
    for corpus in ["rsicd_precomp", "rsitmd_precomp"] {
        for split in ["train", "test", "train_verify", "val_verify"] {
            let c = open(&data.join(corpus), split).unwrap();
            assert_eq!(c.captions.len(), 5 * c.images.len(), "{corpus} {split}");
            assert!(c.warnings.iter().all(|w| w.kind != WarningKind::NotUtf8), "{corpus} {split}");
        }
    }
}

#[test]
fn count_mismatches_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test_caps.txt", b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n");
    write(dir.path(), "test_filename.txt", b"x_1.jpg\nx_2.jpg\nx_3.jpg\n");
    let err = open(dir.path(), "test").unwrap_err().to_string();
    assert!(err.contains("test_filename.txt: 3 file names for 10 captions"), "{err}");

    write(dir.path(), "test_caps.txt", b"a\nb\nc\nd\n");
    let err = open(dir.path(), "test").unwrap_err().to_string();
    assert!(err.contains("test_caps.txt: 4 caption lines is not a multiple of 5"), "{err}");

    let err = open(dir.path(), "val").unwrap_err().to_string();
    assert!(err.contains("no split 'val'"), "{err}");
}

#[test]
fn per_caption_names_must_repeat() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test_caps.txt", b"a\nb\nc\nd\ne\n");
    write(dir.path(), "test_filename.txt", b"x_1.jpg\nx_1.jpg\nx_1.jpg\nx_2.jpg\nx_1.jpg\n");
    let err = open(dir.path(), "test").unwrap_err().to_string();
    assert!(err.contains("test_filename.txt:4: 'x_2.jpg' where 'x_1.jpg'"), "{err}");
}

#[test]
fn odd_lines_become_warnings_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    write(dir.path(), "images/farm_1.jpg", b"");
    write(dir.path(), "test_caps.txt", b"one\n  \nthree \xff\r\nfour\nfive\n");
    write(dir.path(), "test_filename.txt", b"farm_1.jpg\n");
    let c = open(dir.path(), "test").unwrap();
    assert_eq!(c.captions[2].text, "three \u{fffd}");
    let found: Vec<_> = c.warnings.iter().map(|w| (w.kind, w.line)).collect();
    assert_eq!(found, vec![(WarningKind::NotUtf8, Some(3)), (WarningKind::EmptyCaption, Some(2))]);

    write(dir.path(), "test_filename.txt", b"2nd_1.jpg\n");
    let c = open(dir.path(), "test").unwrap();
    let missing: Vec<_> = c.warnings.iter().filter(|w| w.kind == WarningKind::MissingImage).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].line, Some(1));
    assert_eq!(c.images[0].scene.as_deref(), Some("noneclass"));
}

#[test]
fn jsonl_manifest() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.tif", b"");
    let manifest = write(
        dir.path(),
        "corpus.jsonl",
        b"{\"image\": \"a.tif\", \"captions\": [\"a port\", \"ships\", \"cranes\"], \"scene\": \"port\"}\n\n{\"image\": \"b.tif\"}\n",
    );
    let c = Corpus::open(&manifest, &CorpusOptions::default()).unwrap();
    assert_eq!(c.layout, Layout::Jsonl);
    assert_eq!(c.images.len(), 2);
    assert_eq!(c.captions_by_image(), vec![vec![0, 1, 2], vec![]]);
    assert_eq!(c.summary().images_without_captions, 1);
    assert_eq!(c.images[0].scene.as_deref(), Some("port"));
    let missing: Vec<_> = c.warnings.iter().filter(|w| w.kind == WarningKind::MissingImage).map(|w| w.line).collect();
    assert_eq!(missing, vec![Some(3)]);

    write(dir.path(), "corpus.jsonl", b"{\"image\": \"a.tif\"}\n{\"img\": \"b.tif\"}\n");
    let err = Corpus::open(&manifest, &CorpusOptions::default()).unwrap_err().to_string();
    assert!(err.contains("corpus.jsonl:2: not a corpus entry"), "{err}");
}

#[test]
fn bare_folder_is_sorted_and_recursive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("forest")).unwrap();
    write(dir.path(), "forest/b.JPG", b"");
    write(dir.path(), "a.png", b"");
    write(dir.path(), "notes.txt", b"");
    let c = Corpus::open(dir.path(), &CorpusOptions::default()).unwrap();
    assert_eq!(c.layout, Layout::Folder);
    let names: Vec<_> = c.images.iter().map(|i| (i.name.as_str(), i.scene.as_deref())).collect();
    assert_eq!(names, vec![("a.png", None), ("forest/b.JPG", Some("forest"))]);
    assert!(c.captions.is_empty());
}
