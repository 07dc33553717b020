//! SWAN in Rust computes what the reference implementation computes, under
//! swan-hashinit v1 weights and inputs (seed 1), on the CPU in fp32.
//!
//! Expected arrays come from `shared/reference/model-seed1` when this checkout has it
//! (full arrays), else from `fixtures/reference/model-seed1` (the small arrays in full,
//! the large intermediates as fixed strided samples; see `scripts/make_reference_fixtures.py`).

use std::path::PathBuf;

use swan_embedder::hashinit;
use swan_embedder::model::{reference_keys, Swan};
use swan_store::NpyFile;
use tch::{Device, Tensor};

const LENGTHS: [usize; 8] = [12, 7, 20, 3, 1, 15, 9, 47];

/// The device under test: the CPU, or `SWAN_TEST_DEVICE` (e.g. `cuda`, run by
/// scripts/gpu-bench.sh with `NVIDIA_TF32_OVERRIDE=0` for true fp32).
fn device() -> Device {
    swan_embedder::runtime::init();
    match std::env::var("SWAN_TEST_DEVICE") {
        Ok(d) => swan_embedder::runtime::parse_device(&d).unwrap(),
        Err(_) => Device::Cpu,
    }
}

/// Tolerances stated in shared/reference/README.md: libtorch 2.11 on the CPU gives the
/// reference's numbers to ~1e-6; a GPU (TF32 off) to 1e-3 / 2e-4.
fn tolerances() -> (f64, f64) {
    if device().is_cuda() {
        (1e-3, 2e-4)
    } else {
        (1e-4, 2e-5)
    }
}

struct Expected {
    dir: PathBuf,
    full: bool,
}

impl Expected {
    fn find() -> Expected {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let shared = std::env::var_os("SWAN_SHARED").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../shared"));
        let full = shared.join("reference/model-seed1");
        if full.join("image_layer4.npy").exists() {
            return Expected { dir: full, full: true };
        }
        eprintln!("note: {} not found; checking against the sampled fixtures", full.display());
        let mut dir = manifest.join("../fixtures/reference/model-seed1");
        if !dir.exists() {
            // A test binary carried to another machine (scripts/gpu-bench.sh) runs from the repository root.
            dir = PathBuf::from("fixtures/reference/model-seed1");
        }
        Expected { dir, full: false }
    }

    /// Expected values of `name` and, for sampled arrays, the flat indices they sit at.
    fn load(&self, name: &str) -> (Vec<f32>, Option<Vec<i64>>) {
        let read = |file: &str| NpyFile::open(self.dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
        if let Ok(f) = NpyFile::open(self.dir.join(format!("{name}.npy"))) {
            return (f.as_f32().unwrap().to_vec(), None);
        }
        assert!(!self.full, "{name}.npy missing from {}", self.dir.display());
        let values = read(&format!("{name}.sample.npy")).as_f32().unwrap().to_vec();
        let index = read(&format!("{name}.index.npy")).as_i64().unwrap().to_vec();
        (values, Some(index))
    }

    /// Max |got - expected| over what the expectation holds.
    fn max_diff(&self, name: &str, got: &Tensor) -> f64 {
        let got = got.to_device(Device::Cpu).contiguous().view([-1]);
        let (want, index) = self.load(name);
        let got: Vec<f32> = match index {
            None => Vec::<f32>::try_from(&got).unwrap(),
            Some(idx) => Vec::<f32>::try_from(&got.index_select(0, &Tensor::from_slice(&idx))).unwrap(),
        };
        assert_eq!(got.len(), want.len(), "{name}: element count");
        got.iter().zip(&want).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max)
    }
}

fn images() -> Tensor {
    Tensor::from_slice(&hashinit::input_images(4, 1)).view([4, 3, 256, 256]).to_device(device())
}

fn batch_ids() -> Tensor {
    Tensor::from_slice(&hashinit::input_token_ids(&LENGTHS, 47, 1)).view([8, 47]).to_device(device())
}

fn lengths() -> Vec<i64> {
    LENGTHS.iter().map(|&l| l as i64).collect()
}

#[test]
fn variable_names_and_shapes_equal_the_reference_state_dict() {
    let swan = Swan::new(Device::Cpu);
    let vars = swan.var_store().variables();
    let keys = reference_keys();
    assert_eq!(keys.len(), 429);
    for (name, t) in &vars {
        let key = keys.iter().find(|k| &k.name == name).unwrap_or_else(|| panic!("{name} is not a reference key"));
        assert_eq!(&t.size(), &key.shape, "{name}");
    }
    let unused: Vec<&str> = keys.iter().map(|k| k.name.as_str()).filter(|n| !vars.contains_key(*n)).collect();
    // The only reference entries the model does not hold: BN counters, the dead conv
    // branch, the unused projection and the classifier head.
    for n in &unused {
        let ok = n.ends_with("num_batches_tracked")
            || n.starts_with("tcge.conv1d_block_")
            || n.starts_with("text_encoder.projection.")
            || n.starts_with("image_encoder.resnet.fc.");
        assert!(ok, "reference key {n} is not in the model");
    }
    assert_eq!(vars.len() + unused.len(), 429);
}

#[test]
fn hashinit_inputs_equal_the_reference_inputs() {
    // The inputs are regenerated from the hash: nothing to compare without shared/.
    if swan_fixtures::shared_dir_or_skip("reference/model-seed1/input_images.npy").is_none() {
        return;
    }
    let e = Expected::find();
    assert!(e.full, "{} holds the inputs but not the full arrays", e.dir.display());
    let imgs = NpyFile::open(e.dir.join("input_images.npy")).unwrap();
    assert_eq!(imgs.as_f32().unwrap(), &hashinit::input_images(4, 1)[..]);
    let ids = NpyFile::open(e.dir.join("input_token_ids.npy")).unwrap();
    assert_eq!(ids.as_i64().unwrap(), &hashinit::input_token_ids(&LENGTHS, 47, 1)[..]);
}

#[test]
fn image_branch_matches_the_reference() {
    let (tol_intermediate, tol_embedding) = tolerances();
    let e = Expected::find();
    let swan = Swan::hashinit(1, device());
    let out = swan.image_intermediates(&images()).unwrap();
    let first_two = |t: &Tensor| t.narrow(0, 0, 2);
    let checks = [
        ("image_stem", first_two(&out.stem)),
        ("image_layer2", first_two(&out.layer2)),
        ("image_layer3", first_two(&out.layer3)),
        ("image_layer4", first_two(&out.layer4)),
        ("image_shallow", first_two(&out.shallow)),
        ("image_vmsf", first_two(&out.vmsf)),
        ("image_sfgs", first_two(&out.sfgs)),
        ("image_embedding_raw", out.raw.shallow_clone()),
    ];
    for (name, got) in checks {
        let d = e.max_diff(name, &got);
        eprintln!("{name}: max abs diff {d:.3e}");
        assert!(d <= tol_intermediate, "{name}: max abs diff {d:e} > {tol_intermediate:e}");
    }
    let emb = swan.encode_images(&images()).unwrap();
    let d = e.max_diff("image_embedding", &emb);
    eprintln!("image_embedding: max abs diff {d:.3e}");
    assert!(d <= tol_embedding, "image_embedding: {d:e}");
}

#[test]
fn text_branch_matches_the_reference_in_both_padding_modes() {
    let (tol_intermediate, tol_embedding) = tolerances();
    let e = Expected::find();
    let swan = Swan::hashinit(1, device());
    let out = swan.text_intermediates(&batch_ids(), &lengths()).unwrap();
    let batch = swan.encode_texts(&batch_ids(), &lengths()).unwrap();
    for (name, got, tol) in
        [("text_gru", &out.gru, tol_intermediate), ("text_ga", &out.ga, tol_intermediate), ("text_embedding_batch", &batch, tol_embedding)]
    {
        let d = e.max_diff(name, got);
        eprintln!("{name}: max abs diff {d:.3e}");
        assert!(d <= tol, "{name}: max abs diff {d:e} > {tol:e}");
    }
    // Alone: each caption padded to its own length.
    let ids = batch_ids();
    let alone: Vec<Tensor> = LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &l)| swan.encode_texts(&ids.narrow(0, i as i64, 1).narrow(1, 0, l as i64), &[l as i64]).unwrap())
        .collect();
    let d = e.max_diff("text_embedding_alone", &Tensor::cat(&alone, 0));
    eprintln!("text_embedding_alone: max abs diff {d:.3e}");
    assert!(d <= tol_embedding, "text_embedding_alone: {d:e}");
}

#[test]
fn similarity_matches_the_reference() {
    let (_, tol_embedding) = tolerances();
    let e = Expected::find();
    let swan = Swan::hashinit(1, device());
    let img = swan.encode_images(&images()).unwrap();
    let txt = swan.encode_texts(&batch_ids(), &lengths()).unwrap().narrow(0, 0, 4);
    let d = e.max_diff("similarity_images_x_texts", &img.matmul(&txt.tr()));
    assert!(d <= tol_embedding, "similarity: {d:e}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let swan = Swan::hashinit(1, device());
    let err = swan.encode_images(&Tensor::zeros([2, 3, 224, 224], (tch::Kind::Float, device()))).unwrap_err().to_string();
    assert!(err.contains("B x 3 x 256 x 256"), "{err}");
    let ids = Tensor::from_slice(&[1i64, 9000]).view([1, 2]).to_device(device());
    let err = swan.encode_texts(&ids, &[2]).unwrap_err().to_string();
    assert!(err.contains("token ids must be in 0..8590"), "{err}");
    let err = swan.encode_texts(&Tensor::from_slice(&[1i64, 2]).view([1, 2]).to_device(device()), &[3]).unwrap_err().to_string();
    assert!(err.contains("T >= max(lengths)"), "{err}");
}

fn token_lists() -> Vec<Vec<i64>> {
    let ids = hashinit::input_token_ids(&LENGTHS, 47, 1);
    LENGTHS.iter().enumerate().map(|(i, &l)| ids[i * 47..i * 47 + l].to_vec()).collect()
}

#[test]
fn encoder_padding_modes_reproduce_batch_and_alone_embeddings() {
    let (_, tol_embedding) = tolerances();
    use swan_embedder::{Encoder, EncoderConfig, TextPadding};
    let e = Expected::find();
    let enc = Encoder::new(Swan::hashinit(1, device()), EncoderConfig { device: device(), ..EncoderConfig::cpu() }).unwrap();
    let as_tensor = |v: Vec<f32>| Tensor::from_slice(&v).view([-1, 512]);
    // One shard of 8 padded to 47 = the reference's batch; even split over batches of 3.
    for max_batch in [128, 3] {
        let shard = enc.encode_captions(&token_lists(), TextPadding::Shard(8), max_batch).unwrap();
        assert!(e.max_diff("text_embedding_batch", &as_tensor(shard)) <= tol_embedding, "max_batch {max_batch}");
    }
    let alone = enc.encode_captions(&token_lists(), TextPadding::Alone, 128).unwrap();
    assert!(e.max_diff("text_embedding_alone", &as_tensor(alone)) <= tol_embedding);
    // Shards of 1 are captions alone.
    let shard1 = enc.encode_captions(&token_lists(), TextPadding::Shard(1), 128).unwrap();
    assert!(e.max_diff("text_embedding_alone", &as_tensor(shard1)) <= tol_embedding);
}

#[test]
fn channels_last_changes_nothing_that_matters() {
    let (tol_intermediate, _) = tolerances();
    use swan_embedder::{Encoder, EncoderConfig};
    let e = Expected::find();
    let cfg = EncoderConfig { channels_last: true, ..EncoderConfig { device: device(), ..EncoderConfig::cpu() } };
    let enc = Encoder::new(Swan::hashinit(1, device()), cfg).unwrap();
    let emb = enc.encode_images(&hashinit::input_images(4, 1)).unwrap();
    let d = e.max_diff("image_embedding", &Tensor::from_slice(&emb).view([4, 512]));
    eprintln!("channels-last image_embedding: max abs diff {d:.3e}");
    assert!(d <= tol_intermediate, "{d:e}");
}

#[test]
fn u8_input_path_equals_the_float_tensor_path() {
    use swan_embedder::{image, pipeline, Encoder, EncoderConfig};
    // `swan encode` and `swan embed` feed 8-bit pixels and normalise on the device; the
    // tensor path feeds floats normalised on the host. Same pixels, same vector.
    let enc = Encoder::new(Swan::hashinit(1, device()), EncoderConfig { device: device(), ..EncoderConfig::cpu() }).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/corpus/images");
    for name in ["forest_6.jpg", "water_7.tif"] {
        let path = dir.join(name);
        let mut floats = vec![0f32; image::INPUT_LEN];
        image::preprocess_file(&path, &mut floats).unwrap();
        let from_floats = enc.encode_images(&floats).unwrap();
        let mut bytes = vec![0u8; pipeline::PIXELS];
        pipeline::load_input(&path, &mut bytes).unwrap();
        let from_bytes = enc.encode_image_u8(&Tensor::from_slice(&bytes).view([1, 256, 256, 3])).unwrap();
        assert_eq!(Vec::<f32>::try_from(from_bytes.view([-1])).unwrap(), from_floats, "{name}");
    }
}
