//! Parity with the reference evaluation code on `metrics-rsitmd-sample`: 90 RSITMD test
//! images x 450 captions, caption `j` describing image `j / 5`, scene labels from file
//! names. Every figure of the reference `metrics.json` must match to 1e-9.

use std::path::{Path, PathBuf};

use swan_searcher::{evaluate, EvalOptions, Metrics, Recall, SceneRecall, SimMatrix};
use swan_store::corpus::scene_from_name;

/// The copy committed with the project.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/metrics-rsitmd-sample");
/// The shared reference outputs (a failure under `CI=true` when they are missing).
const SHARED: &str = "reference/metrics-rsitmd-sample";

fn shared() -> Option<PathBuf> {
    swan_fixtures::shared_dir_or_skip(&format!("{SHARED}/metrics.json")).map(|root| root.join(SHARED))
}

fn check(dir: &Path) {
    let sims = SimMatrix::open(dir.join("sims.npy")).unwrap();
    let names: Vec<String> = std::fs::read_to_string(dir.join("filenames.txt")).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(names.len(), sims.n_captions(), "one file name per caption");
    assert_eq!(sims.n_captions(), 5 * sims.n_images());

    let caption_image: Vec<usize> = (0..names.len()).map(|j| j / 5).collect();
    for (j, name) in names.iter().enumerate() {
        assert_eq!(name, &names[j / 5 * 5], "the five captions of an image share its file name");
    }
    let labels: Vec<String> = (0..sims.n_images()).map(|i| scene_from_name(&names[5 * i])).collect();
    let scenes: Vec<Option<&str>> = labels.iter().map(|l| Some(l.as_str())).collect();

    let options = EvalOptions { scene_recall_at: vec![1, 5, 10, 20] };
    let got = evaluate(&sims, &caption_image, Some(&scenes), &options).unwrap();
    let want: Metrics = serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();

    assert_eq!((got.n_images, got.n_captions), (want.n_images, want.n_captions));
    let (worst, count) = (std::cell::Cell::new(0.0f64), std::cell::Cell::new(0));
    let close = |what: &str, a: f64, b: f64| {
        assert!((a - b).abs() <= 1e-9, "{}: {what}: got {a}, reference {b}", dir.display());
        worst.set(worst.get().max((a - b).abs()));
        count.set(count.get() + 1);
    };
    let recall = |dir: &str, a: &Recall, b: &Recall| {
        close(&format!("{dir} r1"), a.r1, b.r1);
        close(&format!("{dir} r5"), a.r5, b.r5);
        close(&format!("{dir} r10"), a.r10, b.r10);
        close(&format!("{dir} medr"), a.medr, b.medr);
        close(&format!("{dir} meanr"), a.meanr, b.meanr);
    };
    recall("i2t", &got.i2t, &want.i2t);
    recall("t2i", &got.t2i, &want.t2i);
    close("mR", got.mr, want.mr);
    let scene = |dir: &str, a: &Option<SceneRecall>, b: &Option<SceneRecall>| {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!(a.0.iter().map(|x| x.0).collect::<Vec<_>>(), b.0.iter().map(|x| x.0).collect::<Vec<_>>(), "{dir} cut-offs");
        for (x, y) in a.0.iter().zip(&b.0) {
            close(&format!("scene recall {dir} @{}", x.0), x.1, y.1);
        }
    };
    scene("i2t", &got.scene_recall_i2t, &want.scene_recall_i2t);
    scene("t2i", &got.scene_recall_t2i, &want.scene_recall_t2i);
    eprintln!("{}: all {} figures match, largest difference {:e}", dir.display(), count.get(), worst.get());
}

#[test]
fn reproduces_the_reference_figures_from_the_fixture_copy() {
    check(Path::new(FIXTURE));
}

#[test]
fn reproduces_the_reference_figures_from_shared_reference_outputs() {
    let Some(dir) = shared() else { return };
    check(&dir);
}

#[test]
fn the_fixture_copy_equals_the_shared_original() {
    let Some(shared) = shared() else { return };
    for file in ["sims.npy", "filenames.txt", "metrics.json"] {
        let a = std::fs::read(Path::new(FIXTURE).join(file)).unwrap();
        let b = std::fs::read(shared.join(file)).unwrap();
        assert!(a == b, "fixtures/metrics-rsitmd-sample/{file} differs from {}", shared.join(file).display());
    }
}
