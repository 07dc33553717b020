//! One SWAN training step computes what the reference's does: `shared/reference/train-seed1`
//! (made by `shared/reference/make_train_reference.py`), swan-hashinit v1 weights and inputs
//! with seed 1, Dropout off, BatchNorm in training mode, ResNet frozen, VSE hinge summed over
//! negatives, one Adam step. Tolerances are those of `shared/reference/README.md`.
//!
//! The expected figures come from `shared/reference/train-seed1` when this checkout has it,
//! else from their copy in `fixtures/reference/train-seed1` (everything but the inputs,
//! which are regenerated from the hash; `scripts/make_reference_fixtures.py` copies them).

use std::path::PathBuf;

use serde::Deserialize;
use swan_embedder::hashinit;
use swan_embedder::model::{is_dead_parameter, Swan};
use swan_embedder::train::{StepConfig, StepLoss, Trainer};
use swan_store::NpyFile;
use tch::{Device, Kind, Tensor};

const LENGTHS: [usize; 6] = [12, 7, 20, 3, 5, 9];
const B: usize = 6;
const T: usize = 20;

#[derive(Deserialize)]
struct Step {
    batch: usize,
    lengths: Vec<usize>,
    margin: f64,
    loss_sum: f64,
    loss_max_violation: f64,
    frozen: Vec<String>,
    trainable_parameters: i64,
    params: indexmap_free::Params,
}

/// `params` is a JSON object in the reference's parameter order; serde_json without its
/// `preserve_order` feature sorts keys, so read it as a list of pairs by hand.
mod indexmap_free {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Param {
        pub shape: Vec<i64>,
        pub grad_norm: f64,
        pub grad_sum: f64,
        pub sample_index: Vec<i64>,
        pub grad_sample: Vec<f64>,
        pub before_sample: Vec<f64>,
        pub after_sample: Vec<f64>,
    }

    pub struct Params(pub Vec<(String, Param)>);

    impl<'de> Deserialize<'de> for Params {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Params, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Params;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a map of parameters")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, Param>()? {
                        out.push((k, v));
                    }
                    Ok(Params(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

fn shared_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("SWAN_SHARED").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../shared")).join("reference/train-seed1")
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/reference/train-seed1")
}

/// Where the expected figures are: shared/ when present, else the fixture copy.
fn expected_dir() -> PathBuf {
    let shared = shared_dir();
    if shared.join("train_step.json").exists() {
        shared
    } else {
        eprintln!("note: {} not found; checking against fixtures/reference/train-seed1", shared.display());
        fixture_dir()
    }
}

fn load_step(dir: &std::path::Path) -> Step {
    let text = std::fs::read_to_string(dir.join("train_step.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn npy_f32(path: PathBuf) -> Vec<f32> {
    NpyFile::open(&path).unwrap_or_else(|e| panic!("{e}")).as_f32().unwrap().to_vec()
}

fn inputs() -> (Tensor, Tensor, Vec<i64>) {
    let images = Tensor::from_slice(&hashinit::images_named("train.image", B, 1)).view([B as i64, 3, 256, 256]);
    let ids = Tensor::from_slice(&hashinit::token_ids_named("train.tokens", &LENGTHS, T, 1)).view([B as i64, T as i64]);
    (images, ids, LENGTHS.iter().map(|&l| l as i64).collect())
}

fn flat(t: &Tensor) -> Tensor {
    t.detach().to_device(Device::Cpu).contiguous().view([-1])
}

fn at(t: &Tensor, index: &[i64]) -> Vec<f64> {
    Vec::<f64>::try_from(flat(t).index_select(0, &Tensor::from_slice(index)).to_kind(Kind::Double)).unwrap()
}

/// Values that are `f32` in both programs (the JSON's decimal, parsed without
/// serde_json's exact round-trip, may be one f64 ulp away).
fn as_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(f64::MIN_POSITIVE)
}

/// Largest deviation seen per kind of figure, printed at the end (`--nocapture`).
#[derive(Default, Debug)]
struct Worst {
    scores: f64,
    loss: f64,
    grad_norm_rel: f64,
    grad_sum_rel: f64,
    grad_sample_rel: f64,
    after_abs: f64,
    running_stats: f64,
    /// Largest gradient norm among the structurally zero tensors (either program).
    structural_zero_norm: f64,
    /// Sampled elements checked under the cancellation rule.
    cancelled_samples: usize,
}

struct Run {
    trainer: Trainer,
    loss: StepLoss,
    /// Gradients right after backward (before Adam), by name.
    grads: Vec<(String, Tensor)>,
    /// Values before the step, by name.
    before: Vec<(String, Tensor)>,
}

fn run_one_step() -> Run {
    // The reference ran with torch.set_num_threads(2); reductions split by thread count.
    tch::set_num_threads(2);
    let swan = Swan::hashinit(1, Device::Cpu);
    let mut trainer = Trainer::new(swan, StepConfig { dropout: false, ..StepConfig::default() });
    let before = trainer.parameters().map(|(n, p)| (n.to_string(), p.detach().copy())).collect();
    let (images, ids, lengths) = inputs();
    let loss = trainer.forward_backward(&images, &ids, &lengths).unwrap();
    let grads = trainer.parameters().map(|(n, p)| (n.to_string(), p.grad().copy())).collect();
    trainer.apply_gradients();
    Run { trainer, loss, grads, before }
}

/// Gradients that are exactly zero in exact arithmetic, by the model's structure: a bias
/// followed (through linear maps only) by a training-mode BatchNorm, whose batch mean
/// removes any per-channel constant (VMSF's 1x1 convs feed channel_att's conv and BN; GA's
/// value bias passes attention rows that sum to 1 into tcge.bn_1d), or a bias added to every
/// score of a softmax row (SFGS's linear_v: `K (V + b)^T` shifts row `i` by `K_i . b`).
/// Both programs report round-off there (norms 1e-9..2e-5), not comparable figures.
fn structurally_zero(name: &str) -> bool {
    name.starts_with("image_encoder.vmsf.conv_") && name.ends_with(".bias")
        || name == "sfgs.wsa.mhatt.linear_v.bias"
        || name == "tcge.ga.linears.2.bias"
}

/// Layers whose output goes straight into a LayerNorm (plus a residual): the LayerNorm's
/// input gradient sums to zero over the features, so these gradients' sums are zero in
/// exact arithmetic and round-off in both programs.
fn sum_structurally_zero(name: &str) -> bool {
    name.starts_with("sfgs.wsa.mhatt.linear_merge.") || name.starts_with("sfgs.wsa.ffn.net.3.")
}

fn find<'a>(list: &'a [(String, Tensor)], name: &str) -> Option<&'a Tensor> {
    list.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

#[test]
fn one_training_step_matches_the_reference() {
    let dir = expected_dir();
    let step = load_step(&dir);
    assert_eq!((step.batch, step.lengths.as_slice(), step.margin), (B, &LENGTHS[..], 0.2));
    assert_eq!(step.frozen, ["image_encoder.resnet"]);
    let run = run_one_step();
    let mut worst = Worst::default();

    // Scores and both losses: <= 1e-5 abs.
    let want_scores = npy_f32(dir.join("train_scores.npy"));
    let got_scores = Vec::<f32>::try_from(flat(&run.loss.scores)).unwrap();
    assert_eq!(got_scores.len(), B * B);
    worst.scores = got_scores.iter().zip(&want_scores).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
    assert!(worst.scores <= 1e-5, "scores: max abs diff {:e}", worst.scores);
    worst.loss = (run.loss.loss_sum - step.loss_sum).abs().max((run.loss.loss_max_violation - step.loss_max_violation).abs());
    assert!((run.loss.loss_sum - step.loss_sum).abs() <= 1e-5, "loss_sum {} vs {}", run.loss.loss_sum, step.loss_sum);
    assert!(
        (run.loss.loss_max_violation - step.loss_max_violation).abs() <= 1e-5,
        "loss_max_violation {} vs {}",
        run.loss.loss_max_violation,
        step.loss_max_violation
    );

    // The same 85 trainable tensors: ours plus the dead ones the model does not build.
    let ours: Vec<&str> = run.trainer.parameters().map(|(n, _)| n).collect();
    let reference: Vec<&str> = step.params.0.iter().map(|(n, _)| n.as_str()).collect();
    let live: Vec<&str> = reference.iter().copied().filter(|n| !is_dead_parameter(n)).collect();
    assert_eq!(ours, live, "trainable parameters (reference order, dead ones aside)");
    assert_eq!(reference.len(), 85);
    let numel: i64 = step.params.0.iter().map(|(_, p)| p.shape.iter().product::<i64>()).sum();
    assert_eq!(numel, step.trainable_parameters);

    let carried = swan_embedder::model::hashinit_unused(1);
    for (name, want) in &step.params.0 {
        if is_dead_parameter(name) {
            // Never reached by the loss (text_encoder.projection is never called; the TCGE
            // conv blocks' output is never gathered): zero gradient in the reference, and
            // Adam leaves them as loaded. swan does not build them and carries them
            // unchanged into the checkpoints it writes.
            assert_eq!((want.grad_norm, want.grad_sum), (0.0, 0.0), "{name}");
            assert_eq!(want.after_sample, want.before_sample, "{name}");
            let value = find(&carried, name).unwrap_or_else(|| panic!("{name} is not carried"));
            assert_eq!(as_f32(&at(value, &want.sample_index)), as_f32(&want.before_sample), "{name}: carried value");
            continue;
        }
        let grad = find(&run.grads, name).unwrap();
        let before = find(&run.before, name).unwrap();
        let (_, after) = run.trainer.parameters().find(|(n, _)| n == name).unwrap();
        assert_eq!(grad.size(), want.shape, "{name}: shape");
        assert_eq!(as_f32(&at(before, &want.sample_index)), as_f32(&want.before_sample), "{name}: hashinit values");

        let g = flat(grad).to_kind(Kind::Double);
        let (norm, sum) = (g.norm().double_value(&[]), g.sum(Kind::Double).double_value(&[]));
        let rms = want.grad_norm / (g.numel() as f64).sqrt();
        if structurally_zero(name) {
            // Round-off on both sides: both tiny, nothing more to compare; Adam's first step
            // moves such a parameter by about lr * sign(noise), so its new values are noise too.
            assert!(want.grad_norm < 1e-4 && norm < 1e-4, "{name}: gradient norm {norm:e}, reference {:e}", want.grad_norm);
            worst.structural_zero_norm = worst.structural_zero_norm.max(norm).max(want.grad_norm);
            continue;
        }
        // Gradient norm and sum: <= 1e-4 relative, 1e-6 abs where the reference's is zero
        // (below 1e-6). A sum that is zero by structure (see `sum_structurally_zero`) is
        // round-off on both sides: <= 1e-5 of the norm.
        worst.grad_norm_rel = worst.grad_norm_rel.max(rel(norm, want.grad_norm));
        assert!(rel(norm, want.grad_norm) <= 1e-4, "{name}: grad_norm {norm:e} vs {:e}", want.grad_norm);
        if want.grad_sum.abs() < 1e-6 {
            assert!(sum.abs() <= 1e-6, "{name}: grad_sum {sum:e}, reference {:e} (zero)", want.grad_sum);
        } else if sum_structurally_zero(name) {
            assert!((sum - want.grad_sum).abs() <= 1e-5 * want.grad_norm, "{name}: grad_sum {sum:e} vs {:e}", want.grad_sum);
        } else {
            worst.grad_sum_rel = worst.grad_sum_rel.max(rel(sum, want.grad_sum));
            assert!(rel(sum, want.grad_sum) <= 1e-4, "{name}: grad_sum {sum:e} vs {:e}", want.grad_sum);
        }
        // Sampled gradient elements: <= 1e-4 relative or 1e-7 abs. An element a thousand
        // times below the tensor's RMS is what is left of a cancelling sum; round-off of
        // the terms, about 1e-6 of the RMS, dominates it: 1e-5 of the RMS is allowed there.
        for ((got, exp), i) in at(grad, &want.sample_index).into_iter().zip(&want.grad_sample).zip(&want.sample_index) {
            let d = (got - exp).abs();
            if d <= 1e-7 || rel(got, *exp) <= 1e-4 {
                worst.grad_sample_rel = worst.grad_sample_rel.max(if d <= 1e-7 { 0.0 } else { rel(got, *exp) });
                continue;
            }
            let cancelled = exp.abs() < 1e-3 * rms;
            assert!(cancelled && d <= 1e-5 * rms, "{name}[{i}]: gradient {got:e} vs {exp:e} (tensor RMS {rms:e})");
            worst.cancelled_samples += 1;
        }
        // After one Adam step: <= 1e-6 abs where the reference's gradient element is at
        // least 1e-6 in magnitude (Adam's first step is about lr * sign(gradient)).
        for (((got, exp), g), i) in
            at(after, &want.sample_index).into_iter().zip(&want.after_sample).zip(&want.grad_sample).zip(&want.sample_index)
        {
            if g.abs() >= 1e-6 {
                worst.after_abs = worst.after_abs.max((got - exp).abs());
                assert!((got - exp).abs() <= 1e-6, "{name}[{i}]: after the step {got:e} vs {exp:e}");
            }
        }
    }

    // GA's output goes through a floor division, whose gradient is zero: the query/key
    // side of GA (linears 0 and 1, fc_q, fc_k, fc_g) gets an exactly zero gradient here as
    // in the reference, so Adam leaves it as initialised. Reproduced, not fixed.
    for name in ["tcge.ga.linears.0.weight", "tcge.ga.linears.1.bias", "tcge.ga.fc_q.weight", "tcge.ga.fc_k.bias", "tcge.ga.fc_g.weight"] {
        let g = find(&run.grads, name).unwrap();
        assert_eq!(g.abs().max().double_value(&[]), 0.0, "{name}");
        let (_, after) = run.trainer.parameters().find(|(n, _)| *n == name).unwrap();
        assert!(after.equal(find(&run.before, name).unwrap()), "{name} moved");
    }

    // BatchNorm running statistics after the step (momentum 0.1): <= 1e-5 abs. The
    // ResNet's are updated too although its parameters are frozen.
    let vars = run.trainer.swan().var_store().variables();
    for layer in ["image_encoder.resnet.bn1", "image_encoder.conv_filter.1", "tcge.bn_1d", "image_encoder.resnet.layer4.2.bn3"] {
        for stat in ["running_mean", "running_var"] {
            let want = npy_f32(dir.join(format!("train_bn_{layer}.{stat}.npy")));
            let got = Vec::<f32>::try_from(flat(&vars[&format!("{layer}.{stat}")])).unwrap();
            assert_eq!(got.len(), want.len());
            let d = got.iter().zip(&want).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
            worst.running_stats = worst.running_stats.max(d);
            assert!(d <= 1e-5, "{layer}.{stat}: max abs diff {d:e}");
        }
    }
    eprintln!("train-seed1 worst deviations: {worst:?}");
}

#[test]
fn max_violation_step_backpropagates_the_hardest_negative_loss() {
    let swan = Swan::hashinit(1, Device::Cpu);
    let mut trainer = Trainer::new(swan, StepConfig { dropout: false, max_violation: true, ..StepConfig::default() });
    let (images, ids, lengths) = inputs();
    let loss = trainer.forward_backward(&images, &ids, &lengths).unwrap();
    let step = load_step(&expected_dir());
    assert!((loss.loss - step.loss_max_violation).abs() <= 1e-5, "{} vs {}", loss.loss, step.loss_max_violation);
    assert!((loss.loss_sum - step.loss_sum).abs() <= 1e-5);
    // A different loss gives a different gradient than the summed one (train-seed1).
    let (_, p) = trainer.parameters().find(|(n, _)| *n == "agg.fc_2.weight").unwrap();
    let norm = p.grad().norm().double_value(&[]);
    let summed = step.params.0.iter().find(|(n, _)| n == "agg.fc_2.weight").unwrap().1.grad_norm;
    assert!(norm > 0.0 && rel(norm, summed) > 1e-2, "{norm} vs {summed}");
}

/// The inputs regenerated from the hash equal the reference's arrays, and the fixture copy
/// equals shared/. Needs shared/: skipped with a note without it, but under CI (`CI=true`)
/// a missing shared/ fails instead of passing silently.
#[test]
fn inputs_and_fixture_copy_equal_shared() {
    let shared = shared_dir();
    if !shared.join("train_step.json").exists() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {} is missing", shared.display());
        eprintln!("note: {} not found; skipped", shared.display());
        return;
    }
    let images = npy_f32(shared.join("train_input_images.npy"));
    assert_eq!(images, hashinit::images_named("train.image", B, 1));
    let ids = NpyFile::open(shared.join("train_input_token_ids.npy")).unwrap();
    assert_eq!(ids.as_i64().unwrap(), &hashinit::token_ids_named("train.tokens", &LENGTHS, T, 1)[..]);
    let lengths = NpyFile::open(shared.join("train_input_lengths.npy")).unwrap();
    assert_eq!(lengths.as_i64().unwrap(), LENGTHS.map(|l| l as i64));
    for entry in std::fs::read_dir(&shared).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("train_input_") {
            let a = std::fs::read(shared.join(&name)).unwrap();
            let b = std::fs::read(fixture_dir().join(&name)).unwrap_or_else(|e| panic!("fixture copy of {name}: {e}"));
            assert!(a == b, "fixtures/reference/train-seed1/{name} differs from shared; rerun scripts/make_reference_fixtures.py");
        }
    }
}
