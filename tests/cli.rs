//! The `swan` binary end to end, each test in a fresh temporary folder.

mod common;

use common::{json, ok, repo, swan};

use std::path::{Path, PathBuf};

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p.strip_prefix(root).unwrap().to_owned())
            }
        }
    }
    out.sort();
    out
}

#[test]
fn info_reports_libtorch_2_11() {
    let dir = tempfile::tempdir().unwrap();
    let v = json(&["info", "--json", "--probe", "cpu"], dir.path());
    let rt = &v["runtime"];
    assert!(rt["libtorch_version"].as_str().unwrap().starts_with("2.11."), "{v}");
    assert!(rt["cpu_threads"].as_i64().unwrap() >= 1);
    // The CUDA library must load (or be absent), never fail, whatever the machine.
    assert_ne!(rt["cuda_library"]["state"], "failed", "{v}");
    assert_eq!(rt["cuda_available"].as_bool().unwrap(), rt["cuda_device_count"].as_i64().unwrap() > 0);
    assert_eq!(v["probe"]["max_abs_diff"], 0.0);
}

#[test]
fn committed_fixture_corpus_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    ok(&["fixtures", "--out", "regenerated"], dir.path());
    let fresh = dir.path().join("regenerated");
    let committed = repo().join("fixtures/corpus");
    assert_eq!(files_under(&fresh), files_under(&committed));
    for rel in files_under(&fresh) {
        assert!(std::fs::read(fresh.join(&rel)).unwrap() == std::fs::read(committed.join(&rel)).unwrap(), "{} differs", rel.display());
    }
}

#[test]
fn corpus_summary_of_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = repo().join("fixtures/corpus");
    for (split, images) in [("train", 48), ("test", 16)] {
        let v = json(&["corpus", corpus.to_str().unwrap(), "--split", split, "--json"], dir.path());
        let s = &v["summary"];
        assert_eq!(s["images"], images, "{v}");
        assert_eq!(s["captions"], 5 * images, "{v}");
        assert_eq!(s["scenes"].as_array().unwrap().len(), 8, "{v}");
        assert_eq!(s["warnings"], serde_json::json!({}), "{v}");
    }
    let text = ok(&["corpus", corpus.to_str().unwrap()], dir.path());
    assert!(text.contains("images    16\ncaptions  80\n"), "{text}");
}

#[test]
fn npy_convert_writes_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("fixtures/reference/model-seed1/image_embedding_raw.npy");
    ok(&["npy", "convert", src.to_str().unwrap(), "e16.npy", "--dtype", "f16", "--normalize"], dir.path());
    let v = json(&["npy", "info", "e16.npy", "--json"], dir.path());
    assert_eq!(v["dtype"], "f16");
    assert_eq!(v["shape"], serde_json::json!([4, 512]));
    let norms = &v["norms"];
    for k in ["min", "max"] {
        assert!((norms[k].as_f64().unwrap() - 1.0).abs() < 1e-3, "{v}");
    }
    assert!(!dir.path().join("e16.npy.progress").exists());
}

#[test]
fn outputs_that_are_not_regular_files_are_refused_before_any_work() {
    // Campaign items 9 and 21: the atomic rename used to replace a device node or FIFO with a
    // regular file, and a folder as output failed only after converting everything.
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("fixtures/reference/model-seed1/image_embedding_raw.npy");
    let fifo = dir.path().join("fifo.npy");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::create_dir(dir.path().join("folder.npy")).unwrap();
    for (out, kind) in [("fifo.npy", "a FIFO"), ("folder.npy", "a folder")] {
        let res = swan(&["npy", "convert", src.to_str().unwrap(), out, "--dtype", "f16"], dir.path());
        assert_eq!(res.status.code(), Some(2), "{out}");
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(err.contains(&format!("{out}: is {kind}, not a regular file; refusing to replace it")), "{err}");
    }
    let res = swan(&["checkpoint", "hashinit", "--out", "folder.npy"], dir.path());
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("is a folder"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    assert!(dir.path().join("folder.npy").is_dir());
    // Nothing was converted: no partial or progress file.
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["fifo.npy", "folder.npy"]);
}

#[test]
fn an_input_truncated_while_mapped_is_reported_not_a_silent_sigbus() {
    // Campaign item 5: the input shrinks after it is mapped (a test hook truncates it at
    // a fixed point), so reading its rows faults; swan must name the file and exit 2.
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..5000 * 16).map(|i| i as f32).collect();
    let mut bytes = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (5000, 16), }";
    bytes.extend_from_slice(format!("{dict:<117}\n").as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.path().join("in.npy"), &bytes).unwrap();
    let res = std::process::Command::new(env!("CARGO_BIN_EXE_swan"))
        .args(["npy", "convert", "in.npy", "out.npy"])
        .env(swan_store::npy::TRUNCATE_INPUT_HOOK, "4096")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("swan: error: in.npy: the file changed under swan while it was being read"), "{err}");
    assert!(!dir.path().join("out.npy").exists());
}

#[test]
fn folders_fifos_and_devices_as_npy_inputs_are_refused() {
    // Campaign items 4 and 22: a folder said "No such device"; a FIFO hung.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder.npy")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(dir.path().join("fifo.npy")).status().unwrap().success());
    for (input, kind) in [("folder.npy", "a folder"), ("fifo.npy", "a FIFO"), ("/dev/zero", "a device")] {
        let res = swan(&["npy", "info", input], dir.path());
        assert_eq!(res.status.code(), Some(2), "{input}");
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(err.contains(&format!("{input}: is {kind}, not a regular file")), "{err}");
    }
}

#[test]
fn errors_name_the_file_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.npy"), b"\x93NUMPY\x01\x00").unwrap();
    let out = swan(&["npy", "info", "bad.npy"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("swan: bad.npy: not a valid .npy"), "{err}");

    let out = swan(&["corpus", "missing"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing: no such file or folder"));

    let out = swan(&["info", "--probe", "tpu"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'tpu' for '--probe <PROBE>': expected cpu, cuda or cuda:N"));
}

#[test]
fn fixed_value_flags_are_checked_by_clap_and_listed_in_help() {
    let dir = tempfile::tempdir().unwrap();
    // (command, flag, a bad value, the values --help must list)
    let cases: &[(&[&str], &str, &str, &[&str])] = &[
        (&["npy", "convert", "a.npy", "b.npy"], "--dtype", "f64", &["f32", "f16"]),
        (&["embed", "--corpus", "c", "--out", "o"], "--dtype", "i8", &["f32", "f16"]),
        (&["encode"], "--dtype", "bf16", &["f32", "f16"]),
        (&["encode"], "--precision", "fp64", &["fp32", "tf32", "bf16", "fp16"]),
        (&["bench"], "--precision", "int8", &["fp32", "tf32", "bf16", "fp16"]),
        (&["index", "build", "--out", "o"], "--precision", "int4", &["int8", "int8-per-dim", "f16", "f32"]),
        (&["index", "build", "--out", "o"], "--table", "image", &["images", "captions"]),
        (&["search", "--embeddings", "s"], "--target", "rows", &["images", "captions"]),
        (&["corpus", "c"], "--layout", "csv", &["precomp", "jsonl", "folder"]),
    ];
    for (cmd, flag, bad, values) in cases {
        let out = swan(&[cmd, &[*flag, *bad][..]].concat(), dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?} {flag} {bad}: {err}");
        assert!(err.contains(&format!("invalid value '{bad}' for '{flag} ")), "{cmd:?} {flag} {bad}: {err}");
        let help = ok(&[cmd, &["--help"][..]].concat(), dir.path());
        let section = &help[help.find(&format!("{flag} <")).unwrap()..];
        let section = &section[..section.find("\n\n      --").unwrap_or(section.len())];
        for v in *values {
            assert!(section.contains(&format!("- {v}:")), "{cmd:?} --help does not list {flag} {v}:\n{section}");
        }
    }
    // Values with a number are parsed by clap too, with the expected form in the message.
    for (args, want) in [
        (&["search", "--embeddings", "s", "--row", "images"][..], "expected images:N or captions:N, not 'images'"),
        (&["encode", "--device", "gpu"][..], "expected cpu, cuda or cuda:N, not 'gpu'"),
        (&["embed", "--corpus", "c", "--out", "o", "--text-padding", "shard:0"][..], "expected alone or shard:N with N >= 1"),
    ] {
        let out = swan(args, dir.path());
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn vocab_tokenize_prints_each_lines_tokens_and_vocabulary_ids() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = repo().join("fixtures/corpus");
    ok(&["vocab", "build", corpus.to_str().unwrap(), "--splits", "test", "--min-count", "1", "--out", "v.json"], dir.path());
    let vocab: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("v.json")).unwrap()).unwrap();
    let word2idx = vocab["word2idx"].as_object().unwrap();
    let unk = word2idx["<unk>"].as_i64().unwrap();
    std::fs::write(dir.path().join("caps.txt"), b"A road, by the river.\r\n\nzebra fields\n\xff farmland\n").unwrap();
    for input in ["caps.txt", "-"] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_swan"));
        cmd.args(["vocab", "tokenize", "--vocab", "v.json", input]).current_dir(dir.path());
        cmd.stdin(std::fs::File::open(dir.path().join("caps.txt")).unwrap());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        let tokens: Vec<Vec<&str>> =
            lines.iter().map(|l| l["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect()).collect();
        assert_eq!(tokens[0], ["a", "road", "by", "the", "river"]);
        assert!(tokens[1].is_empty());
        assert_eq!(tokens[2], ["zebra", "fields"]);
        assert_eq!(tokens[3][1], "farmland");
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["line"], i + 1);
            let want: Vec<i64> = tokens[i].iter().map(|t| word2idx.get(*t).map_or(unk, |v| v.as_i64().unwrap())).collect();
            assert_eq!(l["ids"], serde_json::json!(want), "line {}", i + 1);
        }
        assert_ne!(lines[0]["ids"][1], unk, "'road' is in the fixture captions");
        assert_eq!(lines[2]["ids"][0], unk, "'zebra' is not");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(":4: not valid UTF-8"), "{err}");
    }
}

#[test]
fn synth_writes_unit_rows_deterministically_from_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let synth = |seed: &str, out: &str| {
        json(&["synth", "--rows", "50", "--queries", "3", "--centres", "4", "--seed", seed, "--out", out, "--json"], dir.path())
    };
    let summary = synth("7", "a");
    assert_eq!(summary["rows"], 50, "{summary}");
    for (file, rows) in [("a/base.npy", 50), ("a/queries.npy", 3)] {
        let v = json(&["npy", "info", file, "--json"], dir.path());
        assert_eq!(v["shape"], serde_json::json!([rows, 512]), "{v}");
        for k in ["min", "max"] {
            assert!((v["norms"][k].as_f64().unwrap() - 1.0).abs() < 1e-5, "{file}: {v}");
        }
    }
    assert!(dir.path().join("a/manifest.json").is_file());
    synth("7", "b");
    synth("8", "c");
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert!(read("a/base.npy") == read("b/base.npy"), "same seed, same bytes");
    assert!(read("a/base.npy") != read("c/base.npy"), "another seed, other rows");
    let out = swan(&["synth", "--rows", "0", "--out", "d"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rows"), "{}", String::from_utf8_lossy(&out.stderr));
}
