//! Checkpoints load by reference key names, strictly; `scripts/convert_checkpoint.py`
//! turns a reference `.pth.tar` into the same tensors.

use std::path::{Path, PathBuf};
use std::process::Command;

use swan_embedder::model::{write_hashinit_checkpoint, Swan};
use tch::{Device, Tensor};

fn venv_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup.sh (the README's test command does)", p.display());
    p
}

fn python(code: &str, args: &[&Path]) {
    let out = Command::new(venv_python()).arg("-c").arg(code).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn probe_embeddings(swan: &Swan) -> (Tensor, Tensor) {
    let img = Tensor::from_slice(&swan_embedder::hashinit::input_images(1, 7)).view([1, 3, 256, 256]);
    let ids = Tensor::from_slice(&[3i64, 1, 4, 1, 5]).view([1, 5]);
    (swan.encode_images(&img).unwrap(), swan.encode_texts(&ids, &[5]).unwrap())
}

#[test]
fn hashinit_checkpoint_round_trips_and_converted_pth_loads() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("hash.safetensors");
    write_hashinit_checkpoint(&st, 3).unwrap();
    let (loaded, info) = Swan::load(&st, Device::Cpu).unwrap();
    assert_eq!(info.skipped, 429 - info.loaded);
    assert_eq!(info.sha256.len(), 64);
    let direct = Swan::hashinit(3, Device::Cpu);
    let (a, b) = (probe_embeddings(&loaded), probe_embeddings(&direct));
    assert!(a.0.equal(&b.0) && a.1.equal(&b.1));

    // A reference-style .pth.tar: the state dict under `model` plus bookkeeping entries.
    let pth = dir.path().join("model_best.pth.tar");
    python(
        "import sys, torch; from safetensors.torch import load_file\n\
         sd = load_file(sys.argv[1]); torch.save({'model': sd, 'epoch': 12, 'best_rsum': 101.5}, sys.argv[2])",
        &[&st, &pth],
    );
    let converted = dir.path().join("converted.safetensors");
    let out = Command::new(venv_python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/convert_checkpoint.py"))
        .args([&pth, &converted])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"dropped_entries\": [\"best_rsum\", \"epoch\"]"));
    let (from_pth, _) = Swan::load(&converted, Device::Cpu).unwrap();
    let c = probe_embeddings(&from_pth);
    assert!(c.0.equal(&a.0) && c.1.equal(&a.1));
}

#[test]
fn ill_fitting_checkpoints_are_refused_with_every_problem_listed() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    write_hashinit_checkpoint(&good, 1).unwrap();
    let bad = dir.path().join("bad.safetensors");
    python(
        "import sys, torch; from safetensors.torch import load_file, save_file\n\
         sd = load_file(sys.argv[1])\n\
         del sd['agg.fc_1.bias']\n\
         sd['agg.fc_2.weight'] = torch.zeros(3, 3)\n\
         sd['extra.weight'] = torch.zeros(2)\n\
         save_file(sd, sys.argv[2])",
        &[&good, &bad],
    );
    let err = Swan::load(&bad, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors: checkpoint does not fit SWAN"), "{err}");
    assert!(err.contains("missing key agg.fc_1.bias [512]"), "{err}");
    assert!(err.contains("key agg.fc_2.weight has shape [3, 3], the model needs [512, 512]"), "{err}");
    assert!(err.contains("unexpected key extra.weight [2]"), "{err}");

    std::fs::write(dir.path().join("junk.safetensors"), b"not a checkpoint").unwrap();
    let err = Swan::load(&dir.path().join("junk.safetensors"), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("not a readable safetensors file"), "{err}");
    let err = Swan::load(&dir.path().join("absent.safetensors"), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
}

#[test]
fn converter_handles_bare_resnet_state_dicts_and_refuses_pickles() {
    let dir = tempfile::tempdir().unwrap();
    let resnet = dir.path().join("aid_resnet50.pth");
    python(
        "import sys, torch\n\
         from torch import nn\n\
         sd = {'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(30, 2048), 'fc.bias': torch.zeros(30)}\n\
         torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, sys.argv[1])",
        &[&resnet],
    );
    let out_path = dir.path().join("resnet.safetensors");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/convert_checkpoint.py");
    let out = Command::new(venv_python()).arg(&script).args([&resnet, &out_path]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> = Tensor::read_safetensors(&out_path).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"image_encoder.resnet.conv1.weight".to_string()), "{names:?}");

    let pickled = dir.path().join("opts.pth.tar");
    python("import sys, torch, argparse\ntorch.save({'model': {}, 'opt': argparse.Namespace(a=1)}, sys.argv[1])", &[&pickled]);
    let out = Command::new(venv_python()).arg(&script).args([&pickled, &out_path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--unsafe-pickle"), "{}", String::from_utf8_lossy(&out.stderr));
}
