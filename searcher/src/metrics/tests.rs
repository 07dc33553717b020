use super::*;
use crate::exact::Rows;
use crate::testutil::{pool, values};

/// The definitions, literally: sort each whole row / column (score descending, index
/// ascending, stable) and look the targets up.
fn oracle(s: &SimMatrix, caption_image: &[usize], scenes: Option<&[Option<&str>]>, rs: &[usize]) -> Metrics {
    let (ni, nc) = (s.n_images(), s.n_captions());
    let order = |scores: Vec<f64>| {
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        idx.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap().then(a.cmp(&b)));
        idx
    };
    let summary = |ranks: &[usize]| {
        let n = ranks.len() as f64;
        let pct = |k| 100.0 * ranks.iter().filter(|&&r| r < k).count() as f64 / n;
        let mut sorted: Vec<f64> = ranks.iter().map(|&r| r as f64).collect();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = sorted.len();
        let median = if m % 2 == 1 { sorted[m / 2] } else { (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0 };
        Recall { r1: pct(1), r5: pct(5), r10: pct(10), medr: median.floor() + 1.0, meanr: sorted.iter().sum::<f64>() / n + 1.0 }
    };
    let label = |i: usize| scenes.and_then(|s| s[i]);
    let (mut i2t, mut t2i) = (Vec::new(), Vec::new());
    let (mut sr_i2t, mut sr_t2i) = (vec![Vec::new(); rs.len()], vec![Vec::new(); rs.len()]);
    for i in 0..ni {
        let mine: Vec<usize> = (0..nc).filter(|&j| caption_image[j] == i).collect();
        if mine.is_empty() {
            continue;
        }
        let ord = order(s.row(i).to_vec());
        i2t.push(mine.iter().map(|&c| ord.iter().position(|&j| j == c).unwrap()).min().unwrap());
        if let Some(l) = label(i) {
            for (x, &r) in rs.iter().enumerate() {
                let top = &ord[..r.min(nc)];
                sr_i2t[x].push(top.iter().filter(|&&j| label(caption_image[j]) == Some(l)).count() as f64 / top.len() as f64);
            }
        }
    }
    for (j, &g) in caption_image.iter().enumerate() {
        let ord = order((0..ni).map(|i| s.get(i, j).unwrap()).collect());
        t2i.push(ord.iter().position(|&i| i == g).unwrap());
        if let Some(l) = label(g) {
            for (x, &r) in rs.iter().enumerate() {
                let top = &ord[..r.min(ni)];
                sr_t2i[x].push(top.iter().filter(|&&i| label(i) == Some(l)).count() as f64 / top.len() as f64);
            }
        }
    }
    let sr = |per: Vec<Vec<f64>>| {
        (scenes.is_some() && !per[0].is_empty())
            .then(|| SceneRecall(rs.iter().zip(&per).map(|(&r, v)| (r, v.iter().sum::<f64>() / v.len() as f64)).collect()))
    };
    let (a, b) = (summary(&i2t), summary(&t2i));
    Metrics {
        n_images: ni,
        n_captions: nc,
        mr: (a.r1 + a.r5 + a.r10 + b.r1 + b.r5 + b.r10) / 6.0,
        i2t: a,
        t2i: b,
        scene_recall_i2t: sr(sr_i2t),
        scene_recall_t2i: sr(sr_t2i),
    }
}

fn assert_close(got: &Metrics, want: &Metrics, what: &str) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    let rec = |a: &Recall, b: &Recall| {
        close(a.r1, b.r1) && close(a.r5, b.r5) && close(a.r10, b.r10) && close(a.medr, b.medr) && close(a.meanr, b.meanr)
    };
    let sr = |a: &Option<SceneRecall>, b: &Option<SceneRecall>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.0.len() == b.0.len() && a.0.iter().zip(&b.0).all(|(x, y)| x.0 == y.0 && close(x.1, y.1)),
        _ => false,
    };
    let ok = got.n_images == want.n_images
        && got.n_captions == want.n_captions
        && rec(&got.i2t, &want.i2t)
        && rec(&got.t2i, &want.t2i)
        && close(got.mr, want.mr)
        && sr(&got.scene_recall_i2t, &want.scene_recall_i2t)
        && sr(&got.scene_recall_t2i, &want.scene_recall_t2i);
    assert!(ok, "{what}:\n got {got:?}\nwant {want:?}");
}

#[test]
fn ties_rank_by_index_ascending() {
    // Every score equal: rankings are index order.
    let s = SimMatrix::new(2, 4, vec![0.5; 8]).unwrap();
    let m = evaluate(&s, &[0, 0, 1, 1], None, &EvalOptions::default()).unwrap();
    // i2t: image 0's captions 0,1 -> rank 0; image 1's captions 2,3 -> rank 2.
    assert_eq!(m.i2t, Recall { r1: 50.0, r5: 100.0, r10: 100.0, medr: 2.0, meanr: 2.0 });
    // t2i: captions of image 0 -> rank 0, of image 1 -> rank 1; median 0.5 -> floor 0.
    assert_eq!(m.t2i, Recall { r1: 50.0, r5: 100.0, r10: 100.0, medr: 1.0, meanr: 1.5 });
    assert_eq!(m.mr, (50.0 + 100.0 + 100.0) * 2.0 / 6.0);
    assert!(m.scene_recall_i2t.is_none() && m.scene_recall_t2i.is_none());
    // A partial tie: caption 2 ties with caption 0 for image 1 and comes after it.
    let s = SimMatrix::new(2, 3, vec![0.9, 0.1, 0.2, 0.7, 0.3, 0.7]).unwrap();
    let m = evaluate(&s, &[0, 0, 1], None, &EvalOptions::default()).unwrap();
    assert_eq!((m.i2t.r1, m.i2t.meanr), (50.0, 1.5));
}

#[test]
fn images_without_captions_are_not_image_queries() {
    // Image 1 has no caption; it still competes as a text -> image result.
    let s = SimMatrix::new(3, 3, vec![0.9, 0.8, 0.1, 1.0, 1.0, 1.0, 0.2, 0.3, 1.5]).unwrap();
    let caption_image = [0, 0, 2];
    let scenes = [Some("a"), Some("a"), None];
    let opts = EvalOptions { scene_recall_at: vec![1, 2, 7] };
    let m = evaluate(&s, &caption_image, Some(&scenes), &opts).unwrap();
    // i2t queries: image 0 (rank 0) and image 2 (caption 2 is first in its row).
    assert_eq!(m.i2t.r1, 100.0);
    // t2i: captions 0 and 1 find image 1 first (1.0 beats 0.9 / 0.8); caption 2 ranks image 2 first.
    assert_eq!(m.t2i.r1, 100.0 / 3.0);
    assert_eq!(m.t2i.meanr, (1.0 + 1.0 + 0.0) / 3.0 + 1.0);
    // Scene recall: only image 0 is a labelled i2t query; its top-1 caption is its own.
    let sr = m.scene_recall_i2t.as_ref().unwrap();
    assert_eq!(sr.0, vec![(1, 1.0), (2, 1.0), (7, 2.0 / 3.0)]);
    assert_close(&m, &oracle(&s, &caption_image, Some(&scenes), &opts.scene_recall_at), "no captions");
}

#[test]
fn matches_the_sorting_oracle_on_random_uneven_corpora() {
    for seed in 0..12u64 {
        let ni = 5 + (seed as usize * 7) % 40;
        let nc = 3 + (seed as usize * 13) % 150;
        let v = values(seed, ni * nc + nc + ni);
        // Quantised scores on odd seeds, so many entries tie.
        let data: Vec<f64> = v[..ni * nc].iter().map(|&x| if seed % 2 == 1 { (x * 4.0).round() as f64 } else { x as f64 }).collect();
        let s = SimMatrix::new(ni, nc, data).unwrap();
        // Uneven captions per image, in scrambled order; some images get none.
        let caption_image: Vec<usize> = v[ni * nc..ni * nc + nc].iter().map(|&x| ((x + 1.0) * 0.5 * ni as f32) as usize % ni).collect();
        let names = ["farm", "forest", "port"];
        let scenes: Vec<Option<&str>> =
            v[ni * nc + nc..].iter().map(|&x| if x < -0.8 { None } else { Some(names[((x + 1.0) * 1.5) as usize % 3]) }).collect();
        let rs = [1, 3, 10, 500];
        let opts = EvalOptions { scene_recall_at: rs.to_vec() };
        let got = evaluate(&s, &caption_image, Some(&scenes), &opts).unwrap();
        assert_close(&got, &oracle(&s, &caption_image, Some(&scenes), &rs), &format!("seed {seed}"));
        let got = evaluate(&s, &caption_image, None, &opts).unwrap();
        assert_close(&got, &oracle(&s, &caption_image, None, &rs), &format!("seed {seed}, no labels"));
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (ni, nc) = (70, 333);
    let s = SimMatrix::new(ni, nc, values(3, ni * nc).iter().map(|&x| x as f64).collect()).unwrap();
    let caption_image: Vec<usize> = (0..nc).map(|j| j * ni / nc).collect();
    let scenes: Vec<Option<&str>> = (0..ni).map(|i| Some(["a", "b", "c"][i % 3])).collect();
    let run = |t| pool(t).install(|| evaluate(&s, &caption_image, Some(&scenes), &EvalOptions::default()).unwrap());
    assert_eq!(run(1), run(3));
}

#[test]
fn similarities_from_embeddings_use_the_search_scores() {
    let dim = 19;
    let (ni, nc) = (67, 45);
    let img = values(1, ni * dim);
    let cap = values(2, nc * dim);
    let (ir, cr) = (Rows::f32(&img, dim).unwrap(), Rows::f32(&cap, dim).unwrap());
    let s = SimMatrix::from_embeddings(&ir, &cr).unwrap();
    for i in 0..ni {
        for j in 0..nc {
            assert_eq!(s.get(i, j).unwrap(), cr.score(&img[i * dim..(i + 1) * dim], j) as f64, "({i}, {j})");
        }
    }
    let other = values(3, 4 * 7);
    let err = SimMatrix::from_embeddings(&ir, &Rows::f32(&other, 7).unwrap()).unwrap_err();
    assert!(err.to_string().contains("image rows have 19 values but caption rows have 7"), "{err}");
}

#[test]
fn bad_inputs_are_errors() {
    let err = SimMatrix::new(2, 2, vec![0.0, 1.0, f64::NAN, 0.0]).unwrap_err();
    assert_eq!(err.to_string(), "similarity of image 1 and caption 0 is NaN; check the embeddings");
    assert!(SimMatrix::new(2, 2, vec![0.0; 3]).is_err());
    let s = SimMatrix::new(2, 2, vec![0.0, 1.0, 2.0, 0.0]).unwrap();
    let opts = EvalOptions::default();
    let err = evaluate(&s, &[0, 2], None, &opts).unwrap_err();
    assert_eq!(err.to_string(), "caption 1 belongs to image 2, but there are only 2 images");
    assert!(evaluate(&s, &[0], None, &opts).unwrap_err().to_string().contains("1 caption-to-image entries for 2 captions"));
    assert!(evaluate(&s, &[0, 1], Some(&[None]), &opts).unwrap_err().to_string().contains("1 scene labels for 2 images"));
    for bad in [vec![0], vec![1, 5, 1]] {
        let err = evaluate(&s, &[0, 1], None, &EvalOptions { scene_recall_at: bad }).unwrap_err();
        assert!(err.to_string().contains("distinct and at least 1"), "{err}");
    }
    let empty = SimMatrix::new(0, 0, Vec::new()).unwrap();
    assert!(evaluate(&empty, &[], None, &opts).unwrap_err().to_string().contains("nothing to evaluate"));
}

#[test]
fn json_has_the_reference_field_names_in_order() {
    let s = SimMatrix::new(1, 2, vec![0.3, 0.1]).unwrap();
    let m = evaluate(&s, &[0, 0], Some(&[Some("x")]), &EvalOptions { scene_recall_at: vec![1, 5, 10, 20] }).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"n_images":1,"n_captions":2,"i2t":{"r1":100.0,"r5":100.0,"r10":100.0,"medr":1.0,"meanr":1.0},"#,
            r#""t2i":{"r1":100.0,"r5":100.0,"r10":100.0,"medr":1.0,"meanr":1.0},"mR":100.0,"#,
            r#""scene_recall_i2t":{"1":1.0,"5":1.0,"10":1.0,"20":1.0},"scene_recall_t2i":{"1":1.0,"5":1.0,"10":1.0,"20":1.0}}"#
        )
    );
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.scene_recall_t2i.unwrap().get(20), Some(1.0));
}

#[test]
fn corpus_helper_checks_the_shape() {
    use swan_store::corpus::{Caption, Image};
    use swan_store::Layout;
    let image = |name: &str, scene: Option<&str>| Image { name: name.into(), path: name.into(), scene: scene.map(Into::into) };
    let caption = |image| Caption { text: String::new(), image, line: 1 };
    let corpus = Corpus {
        source: "corpus.jsonl".into(),
        layout: Layout::Jsonl,
        split: None,
        images: vec![image("a.jpg", Some("farm")), image("b.jpg", Some("port"))],
        captions: vec![caption(1), caption(0), caption(1)],
        warnings: Vec::new(),
    };
    let s = SimMatrix::new(2, 3, vec![0.1, 0.9, 0.2, 0.8, 0.3, 0.7]).unwrap();
    let m = evaluate_corpus(&s, &corpus, &EvalOptions::default()).unwrap();
    let direct = evaluate(&s, &[1, 0, 1], Some(&[Some("farm"), Some("port")]), &EvalOptions::default()).unwrap();
    assert_eq!(m, direct);
    let wrong = SimMatrix::new(3, 2, vec![0.0; 6]).unwrap();
    let err = evaluate_corpus(&wrong, &corpus, &EvalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("does not fit corpus corpus.jsonl (2 images, 3 captions)"), "{err}");
}

#[test]
fn blocked_evaluation_equals_the_matrix_bit_for_bit() {
    // Random tables with forced ties (coarse values), a selection of rows in another order
    // than storage, images without captions and without labels, several thread counts and
    // sizes that are not multiples of the image block.
    for case in 0..6u64 {
        let (ni_t, nc_t, dim) = (50 + 37 * case as usize, 120 + 53 * case as usize, 3 + case as usize);
        let coarse = |seed: u64, n: usize| -> Vec<f32> { values(seed, n).into_iter().map(|v| (v * 3.0).round() / 3.0).collect() };
        let (img, cap) = (coarse(case, ni_t * dim), coarse(100 + case, nc_t * dim));
        let (images, captions) = (Rows::f32(&img, dim).unwrap(), Rows::f32(&cap, dim).unwrap());
        // Every third image row left out, the rest reversed; every fifth caption left out.
        let image_rows: Vec<usize> = (0..ni_t).rev().filter(|r| r % 3 != 1).collect();
        let caption_rows: Vec<usize> = (0..nc_t).filter(|r| r % 5 != 2).collect();
        let (ni, nc) = (image_rows.len(), caption_rows.len());
        // Captions spread over images; the last few images get none.
        let caption_image: Vec<usize> = (0..nc).map(|j| (j * 7 + case as usize) % (ni - 3)).collect();
        let names = ["a", "b", "c"];
        let scenes: Vec<Option<&str>> = (0..ni).map(|i| (i % 4 != 0).then(|| names[i % 3])).collect();
        let opts = EvalOptions { scene_recall_at: vec![1, 5, 10, 200] };

        let full = SimMatrix::from_embeddings(&images, &captions).unwrap();
        let data: Vec<f64> =
            image_rows.iter().flat_map(|&r| caption_rows.iter().map(move |&c| (r, c))).map(|(r, c)| full.row(r)[c]).collect();
        let sims = SimMatrix::new(ni, nc, data).unwrap();
        for labels in [Some(&scenes[..]), None] {
            let want = evaluate(&sims, &caption_image, labels, &opts).unwrap();
            for threads in [1, 3] {
                let got = pool(threads)
                    .install(|| evaluate_blocked(&images, &captions, &image_rows, &caption_rows, &caption_image, labels, &opts))
                    .unwrap();
                assert_eq!(got, want, "case {case}, {threads} threads, labels {}", labels.is_some());
            }
        }
    }
}

#[test]
fn blocked_evaluation_refuses_what_the_matrix_path_refuses() {
    let img = values(1, 8);
    let cap = values(2, 12);
    let (images, captions) = (Rows::f32(&img, 4).unwrap(), Rows::f32(&cap, 4).unwrap());
    let opts = EvalOptions::default();
    let e = evaluate_blocked(&images, &captions, &[0, 1], &[0, 5], &[0, 1], None, &opts).unwrap_err().to_string();
    assert!(e.contains("row 5 is out of range (the array has 3 rows)"), "{e}");
    let e = evaluate_blocked(&images, &captions, &[0, 1], &[0, 1], &[0, 2], None, &opts).unwrap_err().to_string();
    assert!(e.contains("caption 1 belongs to image 2, but there are only 2 images"), "{e}");
    let narrow = Rows::f32(&cap, 3).unwrap();
    let e = evaluate_blocked(&images, &narrow, &[0], &[0], &[0], None, &opts).unwrap_err().to_string();
    assert!(e.contains("image rows have 4 values but caption rows have 3"), "{e}");
    let mut bad = cap.clone();
    bad[5] = f32::NAN;
    let e = evaluate_blocked(&images, &Rows::f32(&bad, 4).unwrap(), &[0, 1], &[0, 1], &[0, 1], None, &opts).unwrap_err().to_string();
    assert!(e.contains("row 1"), "{e}");
}
