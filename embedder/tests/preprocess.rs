//! Image preprocessing against Pillow: fixtures/pillow/manifest.tsv holds, per case, FNV-1a 64
//! hashes of Pillow's `Image.open(p).convert("RGB")` bytes and of its
//! `.resize((256, 256), Image.BILINEAR)`; scripts/make_pillow_fixtures.py writes them (see there).
//! Runs without Python. When the project's .venv exists, `cross_check_with_live_pillow` also
//! compares random sizes and fresh JPEGs against the installed Pillow.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use swan_embedder::image::{
    decode_bytes, decode_file, normalize_into, preprocess_file, resize_bilinear, ImageError, Rgb8, INPUT_LEN, INPUT_SIZE, JPEG_DECODER,
    MEAN, STD,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");

/// Bounds for zune-jpeg (the `image` crate's decoder) against libjpeg-turbo, measured on
/// Pillow-saved JPEGs (q75/q95, 4:2:0/4:4:4, progressive, grey, CMYK): largest seen 7 decoded
/// (1000 x 1000, q95, 4:2:0) and 6 after the 256 x 256 resize (progressive). With the
/// `libjpeg-turbo` feature both must be 0.
const ZUNE_MAX_DECODE_DIFF: u8 = 8;
const ZUNE_MAX_RESIZED_DIFF: u8 = 8;

fn fixtures() -> PathBuf {
    PathBuf::from(FIXTURES)
}

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// 32-bit integer hash; mirrors `mix` in scripts/make_pillow_fixtures.py.
fn mix(x: u64, y: u64, c: u64, seed: u64) -> u64 {
    const M: u64 = 0xFFFF_FFFF;
    let mut h = (x * 0x9E37_79B1 + y * 0x85EB_CA77 + c * 0xC2B2_AE3D + seed * 0x27D4_EB2F) & M;
    h ^= h >> 15;
    h = (h * 0x2C1B_3C6D) & M;
    h ^= h >> 12;
    h = (h * 0x297A_2D39) & M;
    h ^= h >> 15;
    h
}

/// Mirrors `gen` in scripts/make_pillow_fixtures.py.
fn generate(kind: &str, w: usize, h: usize, seed: u64) -> Rgb8 {
    let mut data = Vec::with_capacity(3 * w * h);
    let (cx, cy, r) = ((w / 3) as i64, (h / 2) as i64, (w.min(h) / 4) as i64);
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (x as i64, y as i64);
            let disc = (xi - cx).pow(2) + (yi - cy).pow(2) < r * r;
            for c in 0..3 {
                let hv = mix(x as u64, y as u64, c as u64, seed);
                let v = match kind {
                    "noise" => (hv >> 24) as i64,
                    "scene" => {
                        let base = if disc {
                            [40, 140, 60][c]
                        } else {
                            match c {
                                0 => xi * 255 / (w as i64 - 1).max(1),
                                1 => yi * 255 / (h as i64 - 1).max(1),
                                _ => (((xi >> 3) ^ (yi >> 3)) & 1) * 150 + (xi * 7 + yi * 13) % 101,
                            }
                        };
                        (base + (hv >> 28) as i64 - 8).clamp(0, 255)
                    }
                    _ => panic!("unknown generator {kind}"),
                };
                data.push(v as u8);
            }
        }
    }
    Rgb8 { width: w, height: h, data }
}

struct Case {
    name: String,
    source: String,
    jpeg: bool,
    width: usize,
    height: usize,
    decoded: u64,
    resized: u64,
    decoded_png: Option<String>,
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("pillow/manifest.tsv")).expect("fixtures/pillow/manifest.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 8, "bad manifest line {l:?}");
            Case {
                name: f[0].into(),
                source: f[1].into(),
                jpeg: f[2] == "jpeg",
                width: f[3].parse().unwrap(),
                height: f[4].parse().unwrap(),
                decoded: u64::from_str_radix(f[5], 16).unwrap(),
                resized: u64::from_str_radix(f[6], 16).unwrap(),
                decoded_png: (f[7] != "-").then(|| f[7].to_string()),
            }
        })
        .collect()
}

fn source_path(c: &Case) -> PathBuf {
    match c.source.strip_prefix("corpus:") {
        Some(rel) => fixtures().join("corpus").join(rel),
        None => fixtures().join("pillow").join(&c.source),
    }
}

fn max_diff(a: &Rgb8, b: &Rgb8) -> (u8, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mut max = 0u8;
    let mut sum = 0u64;
    for (&x, &y) in a.data.iter().zip(&b.data) {
        let d = x.abs_diff(y);
        max = max.max(d);
        sum += d as u64;
    }
    (max, sum as f64 / a.data.len().max(1) as f64)
}

#[test]
fn resize_matches_pillow_on_generated_sources() {
    let mut failures = String::new();
    let mut n = 0;
    for c in manifest().iter().filter(|c| c.source.starts_with("gen:")) {
        let f: Vec<&str> = c.source.split(':').collect();
        let src = generate(f[1], f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap());
        assert_eq!((src.width, src.height), (c.width, c.height));
        assert_eq!(fnv64(&src.data), c.decoded, "{}: generator differs from the Python one", c.name);
        let out = resize_bilinear(&src, INPUT_SIZE, INPUT_SIZE);
        if fnv64(&out.data) != c.resized {
            writeln!(failures, "{}: {}x{} -> 256x256 differs from Pillow", c.name, c.width, c.height).unwrap();
        }
        n += 1;
    }
    assert!(n >= 10, "manifest has only {n} generated cases");
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn same_size_resize_is_a_copy() {
    let src = generate("noise", 256, 256, 5);
    assert_eq!(resize_bilinear(&src, 256, 256), src);
}

/// Decode + RGB conversion + resize of the committed files and of fixtures/corpus images.
#[test]
fn decode_and_resize_match_pillow() {
    let mut failures = String::new();
    let mut report = String::new();
    let exact_jpeg = JPEG_DECODER == "libjpeg-turbo";
    let cases = manifest();
    let corpus = cases.iter().filter(|c| c.source.starts_with("corpus:")).count();
    for c in cases.iter().filter(|c| !c.source.starts_with("gen:")) {
        let path = source_path(c);
        let img = match decode_file(&path) {
            Ok(img) => img,
            Err(e) => {
                writeln!(failures, "{}: {e}", c.name).unwrap();
                continue;
            }
        };
        if (img.width, img.height) != (c.width, c.height) {
            writeln!(failures, "{}: {}x{}, Pillow {}x{}", c.name, img.width, img.height, c.width, c.height).unwrap();
            continue;
        }
        let out = resize_bilinear(&img, INPUT_SIZE, INPUT_SIZE);
        let (dec_ok, res_ok) = (fnv64(&img.data) == c.decoded, fnv64(&out.data) == c.resized);
        if !c.jpeg || exact_jpeg {
            if !dec_ok || !res_ok {
                writeln!(failures, "{}: decoded equal: {dec_ok}, resized equal: {res_ok}", c.name).unwrap();
            }
            continue;
        }
        // zune-jpeg: measure against Pillow's pixels where they are stored.
        let Some(png) = &c.decoded_png else {
            writeln!(report, "{:28} decode equal to Pillow: {dec_ok} (no stored pixels to measure)", c.name).unwrap();
            continue;
        };
        let pillow = decode_file(&fixtures().join("pillow").join(png)).unwrap();
        assert_eq!(fnv64(&pillow.data), c.decoded, "{png} does not hold the pixels hashed in the manifest");
        let pillow_resized = resize_bilinear(&pillow, INPUT_SIZE, INPUT_SIZE);
        assert_eq!(fnv64(&pillow_resized.data), c.resized, "{}: resize of Pillow's pixels differs", c.name);
        let (dmax, dmean) = max_diff(&img, &pillow);
        let (rmax, rmean) = max_diff(&out, &pillow_resized);
        writeln!(report, "{:28} decode max {dmax} mean {dmean:.3} | resized max {rmax} mean {rmean:.3}", c.name).unwrap();
        if dmax > ZUNE_MAX_DECODE_DIFF || rmax > ZUNE_MAX_RESIZED_DIFF {
            writeln!(failures, "{}: zune-jpeg off by {dmax} (decode), {rmax} (resized)", c.name).unwrap();
        }
    }
    eprintln!("JPEG decoder: {JPEG_DECODER}; {corpus} corpus cases\n{report}");
    if failures.contains("corpus_") {
        failures.push_str("(corpus cases: if fixtures/corpus was regenerated, rerun .venv/bin/python scripts/make_pillow_fixtures.py)\n");
    }
    assert!(failures.is_empty(), "{failures}");
}

/// The manifest covers the corpus once it exists; regenerate the fixtures when it appears.
#[test]
fn corpus_images_are_covered() {
    let dir = fixtures().join("corpus/images");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("{} missing: no corpus cases", dir.display());
        return;
    };
    let have_jpeg = entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "jpg" || x == "jpeg"));
    let cases = manifest();
    if have_jpeg {
        assert!(
            cases.iter().any(|c| c.source.starts_with("corpus:") && c.jpeg),
            "fixtures/corpus/images exists but fixtures/pillow/manifest.tsv has no corpus case: \
             run .venv/bin/python scripts/make_pillow_fixtures.py"
        );
    }
}

/// A fresh directory per test (tests run in parallel).
fn scratch_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("swan-preprocess-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_error_names(err: &ImageError, path: &Path, words: &[&str]) {
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg:?} does not name {}", path.display());
    assert_eq!(err.path(), path);
    for w in words {
        assert!(msg.to_lowercase().contains(w), "{msg:?} does not say {w:?}");
    }
}

#[test]
fn bad_files_give_clear_errors() {
    let dir = scratch_dir("bad");
    let src = fixtures().join("pillow/src");

    let missing = dir.join("missing.jpg");
    let e = decode_file(&missing).unwrap_err();
    assert!(matches!(e, ImageError::Io { .. }), "{e:?}");
    assert_error_names(&e, &missing, &["no such file"]);

    let empty = dir.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let e = decode_file(&empty).unwrap_err();
    assert!(matches!(e, ImageError::Empty { .. }), "{e:?}");
    assert_error_names(&e, &empty, &["empty"]);

    for (name, keep) in [
        ("jpg_q95_444.jpg", 0.6),
        ("jpg_q75_420.jpg", 0.95),
        ("jpg_progressive.jpg", 0.5),
        ("png_rgb.png", 0.5),
        ("tif_rgb.tif", 0.5),
        ("tif_rgb_lzw.tif", 0.7),
        ("jpg_q75_444.jpg", 0.05),
    ] {
        let bytes = std::fs::read(src.join(name)).unwrap();
        let cut = dir.join(format!("truncated_{name}"));
        std::fs::write(&cut, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        let e = decode_file(&cut).expect_err(name);
        assert!(matches!(e, ImageError::Corrupt { .. }), "{name}: {e:?}");
        assert_error_names(&e, &cut, &["corrupt"]);
    }

    let garbage = dir.join("garbage.png");
    std::fs::write(&garbage, b"this is not an image at all").unwrap();
    let e = decode_file(&garbage).unwrap_err();
    assert!(matches!(e, ImageError::UnknownFormat { .. }), "{e:?}");
    assert_error_names(&e, &garbage, &["format"]);

    // Flipped bytes inside a JPEG's scan data: never a panic, either an error or some image.
    let mut bytes = std::fs::read(src.join("jpg_q95_420.jpg")).unwrap();
    for i in (bytes.len() / 2..bytes.len() - 2).step_by(37) {
        bytes[i] ^= 0x5A;
    }
    let _ = decode_bytes(&bytes, Path::new("flipped.jpg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn format_comes_from_content_not_extension() {
    let dir = scratch_dir("ext");
    let cases = manifest();
    for (file, wrong) in [("png_rgb.png", "png_as.jpg"), ("jpg_q95_444.jpg", "jpg_as.tif"), ("tif_rgb.tif", "tif_as.png")] {
        let c = cases.iter().find(|c| c.source == format!("src/{file}")).unwrap();
        let bytes = std::fs::read(fixtures().join("pillow/src").join(file)).unwrap();
        let renamed = dir.join(wrong);
        std::fs::write(&renamed, &bytes).unwrap();
        let a = decode_file(&renamed).unwrap_or_else(|e| panic!("{e}"));
        let b = decode_file(&fixtures().join("pillow/src").join(file)).unwrap();
        assert_eq!(a, b, "{wrong}");
        assert_eq!((a.width, a.height), (c.width, c.height));
        assert_eq!(decode_bytes(&bytes, Path::new("no-extension")).unwrap(), a);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn normalize_is_torchvision() {
    let img = Rgb8 { width: 2, height: 1, data: vec![0, 128, 255, 7, 200, 31] };
    let mut out = vec![0f32; 6];
    normalize_into(&img, &mut out);
    // CHW: R of both pixels, then G, then B.
    let want: Vec<f32> =
        [(0, 0u8), (0, 7), (1, 128), (1, 200), (2, 255), (2, 31)].iter().map(|&(c, v)| (v as f32 / 255.0 - MEAN[c]) / STD[c]).collect();
    assert_eq!(out, want);
    assert!((out[0] + 2.117_904_2).abs() < 1e-6); // (0 - 0.485) / 0.229
}

#[test]
fn preprocess_file_chains_the_steps() {
    let mut out = vec![0f32; INPUT_LEN];
    for file in ["jpg_q75_420.jpg", "png_p_trns.png", "tif_rgb16.tif"] {
        let path = fixtures().join("pillow/src").join(file);
        preprocess_file(&path, &mut out).unwrap();
        let mut want = vec![0f32; INPUT_LEN];
        normalize_into(&resize_bilinear(&decode_file(&path).unwrap(), INPUT_SIZE, INPUT_SIZE), &mut want);
        assert_eq!(out, want, "{file}");
    }
    let e = preprocess_file(Path::new("/nonexistent/x.jpg"), &mut out).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x.jpg"));
}

/// Optional: when the project's .venv with Pillow exists, compare random sizes (written as PNG)
/// and freshly encoded JPEGs against the live Pillow.
#[test]
fn cross_check_with_live_pillow() {
    let python = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"));
    if !python.exists() {
        eprintln!("no {}: skipped", python.display());
        return;
    }
    let dir = scratch_dir("live");
    let mut s = 0x1234_5678_9ABC_DEF1u64;
    let mut rand = |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        1 + s % n
    };
    let mut files = Vec::new();
    for i in 0..24 {
        let (w, h) = match i % 3 {
            0 => (rand(2000) as usize, rand(2000) as usize),
            1 => (rand(300) as usize, rand(300) as usize),
            _ => (rand(40) as usize, rand(1500) as usize),
        };
        let img = generate(if i % 2 == 0 { "noise" } else { "scene" }, w, h, i);
        let path = dir.join(format!("r{i}.png"));
        image::save_buffer(&path, &img.data, w as u32, h as u32, image::ExtendedColorType::Rgb8).unwrap();
        files.push((path, img));
    }
    let script = r#"
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
src = Image.open(d + "/r1.png").convert("RGB")
for q in (75, 95):
    for sub, tag in ((2, "420"), (0, "444")):
        src.resize((224, 224), Image.BILINEAR).save(f"{d}/j{q}_{tag}.jpg", quality=q, subsampling=sub)
for p in sys.argv[2:]:
    im = Image.open(p).convert("RGB")
    np.asarray(im).tofile(p + ".dec")
    np.asarray(im.resize((256, 256), Image.BILINEAR)).tofile(p + ".res")
"#;
    let jpegs: Vec<PathBuf> = ["j75_420", "j75_444", "j95_420", "j95_444"].iter().map(|n| dir.join(format!("{n}.jpg"))).collect();
    let mut cmd = Command::new(&python);
    cmd.arg("-c").arg(script).arg(&dir);
    cmd.args(files.iter().map(|(p, _)| p)).args(&jpegs);
    let st = cmd.status().unwrap();
    assert!(st.success(), "python failed");
    for (path, img) in &files {
        let want = std::fs::read(format!("{}.res", path.display())).unwrap();
        let got = resize_bilinear(img, 256, 256);
        let (w, h) = (img.width, img.height);
        assert!(got.data == want, "{w}x{h} -> 256x256 differs from live Pillow");
    }
    for p in &jpegs {
        let img = decode_file(p).unwrap();
        let dec = Rgb8 { width: 224, height: 224, data: std::fs::read(format!("{}.dec", p.display())).unwrap() };
        let res = Rgb8 { width: 256, height: 256, data: std::fs::read(format!("{}.res", p.display())).unwrap() };
        let (dmax, dmean) = max_diff(&img, &dec);
        let (rmax, rmean) = max_diff(&resize_bilinear(&img, 256, 256), &res);
        eprintln!("{JPEG_DECODER} {:?}: decode max {dmax} mean {dmean:.3} | resized max {rmax} mean {rmean:.3}", p.file_name().unwrap());
        if JPEG_DECODER == "libjpeg-turbo" {
            assert_eq!((dmax, rmax), (0, 0), "{}", p.display());
        } else {
            assert!(dmax <= ZUNE_MAX_DECODE_DIFF && rmax <= ZUNE_MAX_RESIZED_DIFF, "{}", p.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
