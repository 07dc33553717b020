//! `swan serve`: every route of the JSON API and its errors, against the binary listening
//! on a free port. The set is 16 random 512-d rows over the fixture corpus's test split
//! (row 5 marked invalid) plus an index over it, with a swan-hashinit checkpoint: the
//! model embeds queries for real, and text and image results must equal `swan search`'s.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use swan_store::{CorpusRef, DType, Manifest, Producer, Table};

const ROWS: usize = 16;
const DIM: usize = 512;
const INVALID: usize = 5;

/// The shared set, index, checkpoint and vocabulary (made once per test binary).
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("set")).unwrap();
        write_set(&dir.join("set"));
        common::ok(&["checkpoint", "hashinit", "--out", "ckpt.safetensors"], &dir);
        let corpus = common::repo().join("fixtures/corpus");
        common::ok(&["vocab", "build", corpus.to_str().unwrap(), "--min-count", "1", "--out", "vocab.json"], &dir);
        common::ok(&["index", "build", "--embeddings", "set", "--out", "index", "--m", "4", "--ef-construction", "16"], &dir);
        dir
    })
}

/// 16 deterministic pseudo-random unit rows; row [`INVALID`] listed as invalid.
fn write_set(set: &Path) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut data = Vec::with_capacity(ROWS * DIM);
    for _ in 0..ROWS {
        let row: Vec<f32> = (0..DIM)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        data.extend(row.iter().map(|x| x / n));
    }
    swan_store::npy::write_f32(&set.join("images.npy"), &[ROWS, DIM], &data).unwrap();
    let producer = Producer { model: "test-rows".into(), precision: "fp32".into(), swan_version: "0".into(), ..Producer::default() };
    let corpus = CorpusRef {
        path: CorpusRef::path_for(&common::repo().join("fixtures/corpus"), set),
        layout: "precomp".into(),
        split: Some("test".into()),
        images: ROWS,
        captions: 5 * ROWS,
        sha256: None,
    };
    let mut m = Manifest::new(producer, corpus, true);
    m.images = Some(Table { invalid: vec![INVALID], ..Table::identity("images.npy", DType::F32, ROWS, DIM) });
    m.save(set).unwrap();
}

/// A running `swan serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let dir = fixture();
        let mut child = Command::new(env!("CARGO_BIN_EXE_swan"))
            .args(["serve", "--embeddings", "set", "--addr", "127.0.0.1:0", "--device", "cpu"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run swan serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split(" on ").nth(1).filter(|_| line.starts_with("swan: serving ")) {
                    let _ = tx.send(url.to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("swan serve {args:?} did not start:\n{}", log.lock().unwrap());
            }
        };
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { child, base, log, agent }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.call().unwrap();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (r.status().as_u16(), ct, r.body_mut().read_to_vec().unwrap())
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, ct, body) = self.get(path, None);
        assert!(ct.starts_with("application/json"), "GET {path}: {status} {ct}");
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut r = self.agent.post(format!("{}{path}", self.base)).header("Content-Type", content_type).send(body).unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {status} not JSON ({e}): {text}")))
    }

    /// Send `head` (which should say `Connection: close`) and `body` as they are on a fresh
    /// connection; the whole answer as text. (Not half-closed: hyper drops a connection
    /// whose client has stopped sending, answer and all.)
    fn raw(&self, head: &[u8], body: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(self.base.trim_start_matches("http://")).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        conn.write_all(head).unwrap();
        conn.write_all(body).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    fn search(&self, body: Value) -> (u16, Value) {
        self.post("/api/search", "application/json", body.to_string().as_bytes())
    }

    fn upload(&self, query: &str, field: &str, bytes: &[u8]) -> (u16, Value) {
        let boundary = "swan-test-boundary-7f3a";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"q.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post(&format!("/api/search/image{query}"), &format!("multipart/form-data; boundary={boundary}"), &body)
    }
}

impl Server {
    /// Wait (5 s at most) until the server's stderr satisfies `ok`: lines are read by
    /// another thread, after the response may already have arrived.
    fn wait_for_log(&self, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log.lock().unwrap().clone();
            if ok(&log) {
                return;
            }
            assert!(Instant::now() < deadline, "the expected log lines did not come:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 4xx answer with an `error` message containing `needle`.
fn assert_error(answer: (u16, Value), status: u16, needle: &str) {
    let (got, body) = answer;
    let msg = body["error"].as_str().unwrap_or_else(|| panic!("no error message: {body}"));
    assert_eq!(got, status, "{msg}");
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

fn rows_of(results: &Value) -> Vec<u64> {
    results["results"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect()
}

/// `swan search --json` rows and scores for a query, over the same set (exact).
fn cli_search(query: &[&str], k: usize) -> Vec<(u64, f64)> {
    let k = k.to_string();
    let base =
        ["search", "--embeddings", "set", "--target", "images", "--checkpoint", "ckpt.safetensors", "--device", "cpu", "--json", "-k", &k];
    let out = common::ok(&[&base[..], query].concat(), fixture());
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["row"].as_u64().unwrap(), v["score"].as_f64().unwrap())
        })
        .collect()
}

fn same_hits(server: &Value, cli: &[(u64, f64)]) {
    let got: Vec<(u64, f64)> =
        server["results"].as_array().unwrap().iter().map(|r| (r["row"].as_u64().unwrap(), r["score"].as_f64().unwrap())).collect();
    assert_eq!(got.len(), cli.len());
    for (g, c) in got.iter().zip(cli) {
        assert_eq!(g.0, c.0, "server {got:?} vs swan search {cli:?}");
        assert!((g.1 - c.1).abs() < 1e-5, "server {got:?} vs swan search {cli:?}");
    }
}

#[test]
fn searches_by_text_image_and_row_match_swan_search_and_respect_k_and_scene() {
    let s = Server::start(&["--index", "index", "--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--max-upload-mib", "1"]);
    let (status, health) = s.get_json("/healthz");
    assert_eq!((status, health), (200, serde_json::json!({ "status": "ok" })));

    let (status, info) = s.get_json("/api/info");
    assert_eq!(status, 200);
    assert_eq!(info["rows"], ROWS);
    assert_eq!(info["captions"], 5 * ROWS);
    assert_eq!(info["model"], "test-rows");
    assert_eq!(info["checkpoint_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(info["corpus"]["layout"], "precomp");
    assert_eq!(info["corpus"]["split"], "test");
    assert_eq!(info["index"]["m"], 4);
    assert_eq!(info["index"]["ef_construction"], 16);
    // The beam the build measured for recall 0.95 (every index build records one).
    let built: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture().join("index/index.json")).unwrap()).unwrap();
    assert!(built["search"]["ef"].as_u64().is_some_and(|ef| ef >= 10), "{built}");
    assert_eq!(info["index"]["ef_search"], built["search"]["ef"]);
    assert_eq!(info["index"]["precision"], "int8");
    assert_eq!(
        (info["text_queries"].as_bool(), info["image_queries"].as_bool(), info["max_k"].as_u64()),
        (Some(true), Some(true), Some(100))
    );
    let scenes = info["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), 8);
    // Two test images per scene; one of them is the invalid row, not searchable.
    assert_eq!(scenes.iter().map(|s| s["count"].as_u64().unwrap()).sum::<u64>(), ROWS as u64 - 1);

    // Text: the same rows and scores as `swan search --text`, exact or through the index.
    let text = "many green trees in a dense forest";
    let cli = cli_search(&["--text", text, "--vocab", "vocab.json"], 5);
    for exact in [true, false] {
        let (status, r) = s.search(serde_json::json!({ "text": text, "k": 5, "exact": exact }));
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["exact"], exact);
        assert_eq!(r["query"]["kind"], "text");
        assert_eq!(r["k"], 5);
        assert!(r["batch"].as_u64().unwrap() >= 1);
        same_hits(&r, &cli);
        let first = &r["results"][0];
        let row = first["row"].as_u64().unwrap();
        assert_eq!(first["thumbnail"], format!("/api/thumb/{row}"));
        assert_eq!(first["captions"].as_array().unwrap().len(), 5);
        assert!(first["file"].as_str().unwrap().ends_with(".jpg") || first["file"].as_str().unwrap().ends_with(".tif"));
    }
    // Default k is 12; the invalid row never comes back.
    let (_, r) = s.search(serde_json::json!({ "text": text }));
    assert_eq!(rows_of(&r).len(), 12);
    let (_, r) = s.search(serde_json::json!({ "text": text, "k": 100 }));
    assert_eq!(rows_of(&r).len(), ROWS - 1);
    assert!(!rows_of(&r).contains(&(INVALID as u64)));

    // Scene filter: k results whenever k rows of the scene exist, all of that scene.
    let scene = scenes.iter().find(|s| s["count"] == 2).unwrap()["name"].as_str().unwrap().to_string();
    for exact in [true, false] {
        let (_, r) = s.search(serde_json::json!({ "text": text, "k": 2, "scene": scene, "exact": exact }));
        let results = r["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{r}");
        assert!(results.iter().all(|h| h["scene"] == scene.as_str()));
    }

    // Row ("more like this"): the row itself first, with score 1.
    let (status, r) = s.search(serde_json::json!({ "row": 3, "k": 4 }));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["query"], serde_json::json!({ "kind": "row", "row": 3 }));
    assert_eq!(rows_of(&r)[0], 3);
    assert!((r["results"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    assert_eq!(r["encode_ms"], 0.0);

    // Image upload: the same rows and scores as `swan search --image`.
    let image = common::repo().join("fixtures/corpus/images/beach_0.jpg");
    let cli = cli_search(&["--image", image.to_str().unwrap()], 3);
    let (status, r) = s.upload("?k=3&exact=true", "image", &std::fs::read(&image).unwrap());
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["query"]["kind"], "image");
    same_hits(&r, &cli);

    // The request log: one line per request.
    s.wait_for_log(|log| log.contains("swan: GET /healthz 200 ") && log.contains("swan: POST /api/search/image 200 "));
}

#[test]
fn every_malformed_request_is_a_4xx_with_a_message() {
    let s = Server::start(&["--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--max-upload-mib", "1"]);
    let json = "application/json";
    for (k, needle) in [
        (serde_json::json!(0), "k must be between 1 and 100, got 0"),
        (serde_json::json!(101), "got 101"),
        (serde_json::json!(-3), "got -3"),
    ] {
        assert_error(s.search(serde_json::json!({ "row": 0, "k": k })), 400, needle);
    }
    assert_error(s.search(serde_json::json!({ "row": 0, "k": "ten" })), 400, "malformed JSON body");
    assert_error(s.search(serde_json::json!({ "row": 0, "k": 1.5 })), 400, "malformed JSON body");
    assert_error(s.search(serde_json::json!({ "text": "a road", "scene": "moon" })), 400, "unknown scene \"moon\" (scenes: beach, desert,");
    assert_error(s.search(serde_json::json!({ "row": ROWS })), 400, "row 16 is out of range");
    assert_error(s.search(serde_json::json!({ "row": -1 })), 400, "row must be 0 or more");
    assert_error(s.search(serde_json::json!({ "row": INVALID })), 400, "marked invalid");
    assert_error(s.search(serde_json::json!({ "row": 1, "text": "x" })), 400, "not both");
    assert_error(s.search(serde_json::json!({ "k": 3 })), 400, "give a query");
    assert_error(s.search(serde_json::json!({ "txt": "road" })), 400, "unknown field `txt`");
    assert_error(s.search(serde_json::json!({ "text": "   " })), 400, "the text query is empty");
    let long = "road ".repeat(300);
    assert_error(s.search(serde_json::json!({ "text": long })), 400, "300 tokens; at most 256");
    assert_error(s.post("/api/search", json, b"{\"text\": \"unterminated"), 400, "malformed JSON body");
    assert_error(s.post("/api/search", json, b""), 400, "malformed JSON body");
    // Over the 64 KiB limit: the client must get the 413, not a connection reset (the
    // server reads the rest before answering; several times, as a reset came now and then).
    for _ in 0..20 {
        assert_error(s.post("/api/search", json, &vec![b' '; 70 * 1024]), 413, "larger than the limit of 65536 bytes");
    }
    // The same sent in chunks, with no Content-Length to refuse it by: counted as it comes.
    let answer = s.raw(b"POST /api/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", &{
        let chunk = [format!("{:x}\r\n", 8192).into_bytes(), vec![b' '; 8192], b"\r\n".to_vec()].concat();
        [chunk.repeat(9), b"0\r\n\r\n".to_vec()].concat()
    });
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("larger than the limit of 65536 bytes"), "{answer}");

    // Path-like, fractional, negative and huge row ids; rows past the end.
    for raw in ["..%2F..%2Fetc%2Fpasswd", "1.5", "-1", "abc", "99999999999999999999", "%00"] {
        for route in ["item", "thumb"] {
            let (status, v) = s.get_json(&format!("/api/{route}/{raw}"));
            assert_eq!(status, 400, "{route}/{raw}: {v}");
            assert!(v["error"].as_str().unwrap().contains("is not a row number"), "{v}");
        }
    }
    assert_error(s.get_json("/api/item/16"), 404, "row 16 is out of range");
    assert_error(s.get_json("/api/thumb/16"), 404, "row 16 is out of range");
    assert_error(s.get_json("/api/nothing"), 404, "no such API route");
    assert_error(s.get_json("/nothing.html"), 404, "no such page");
    assert_error(s.get_json("/api/search"), 405, "method not allowed");

    // Uploads: too large, not an image, wrong field, bad query string, not multipart.
    assert_error(s.upload("", "image", &vec![0xFF; (1 << 20) + 10]), 413, "larger than the limit of 1048576 bytes");
    // Past the form's room too: refused by the route's body limit, same words, still a 413 and not a reset.
    assert_error(
        s.upload("", "image", &vec![0xFF; 2 << 20]),
        413,
        "POST /api/search/image: the upload is larger than the limit of 1048576 bytes",
    );
    assert_error(s.upload("", "image", b"GIF89a this is not an image"), 415, "not a readable JPEG, PNG or TIFF image");
    let jpeg = std::fs::read(common::repo().join("fixtures/corpus/images/beach_0.jpg")).unwrap();
    assert_error(s.upload("", "photo", &jpeg), 400, "unexpected form field \"photo\"");
    assert_error(s.upload("?k=0", "image", &jpeg), 400, "k must be between 1 and 100");
    assert_error(s.upload("?k=x", "image", &jpeg), 400, "k must be a whole number");
    assert_error(s.upload("?scene=moon", "image", &jpeg), 400, "unknown scene");
    assert_error(s.upload("?exact=maybe", "image", &jpeg), 400, "exact must be true or false");
    assert_error(s.upload("?kk=3", "image", &jpeg), 400, "unknown query parameter \"kk\"");
    assert_error(s.post("/api/search/image", json, b"{}"), 400, "expected a multipart/form-data upload");
    s.wait_for_log(|log| log.contains("POST /api/search/image 400 "));
    let log = s.log.lock().unwrap().clone();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn items_thumbnails_and_the_page() {
    let s = Server::start(&[]);
    let (status, item) = s.get_json("/api/item/0");
    assert_eq!(status, 200);
    assert_eq!(item["row"], 0);
    assert_eq!(item["item"], 0);
    // The first image of the test split and its five captions.
    let names = std::fs::read_to_string(common::repo().join("fixtures/corpus/test_filename.txt")).unwrap();
    let caps = std::fs::read_to_string(common::repo().join("fixtures/corpus/test_caps.txt")).unwrap();
    assert_eq!(item["file"], names.lines().next().unwrap());
    assert_eq!(item["scene"], names.lines().next().unwrap().split('_').next().unwrap());
    let want: Vec<&str> = caps.lines().take(5).collect();
    assert_eq!(item["captions"], serde_json::json!(want));

    let (status, ct, jpeg) = s.get("/api/thumb/0", None);
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    let thumb = image::load_from_memory(&jpeg).unwrap();
    let original = image::open(common::repo().join("fixtures/corpus/images").join(names.lines().next().unwrap())).unwrap();
    let long = original.width().max(original.height()).min(192);
    assert_eq!(thumb.width().max(thumb.height()), long);
    // Cached: the same bytes again.
    assert_eq!(s.get("/api/thumb/0", None).2, jpeg);

    let (status, ct, page) = s.get("/", None);
    assert_eq!((status, ct.starts_with("text/html")), (200, true), "{ct}");
    assert!(String::from_utf8_lossy(&page).contains("<html"));

    // No model: row queries work, text and image queries say what is missing.
    let (_, info) = s.get_json("/api/info");
    assert_eq!((info["text_queries"].as_bool(), info["image_queries"].as_bool(), &info["index"]), (Some(false), Some(false), &Value::Null));
    assert_eq!(info["checkpoint_sha256"], Value::Null);
    assert_error(s.search(serde_json::json!({ "text": "a road" })), 400, "started without --checkpoint and --vocab");
    let jpeg = std::fs::read(common::repo().join("fixtures/corpus/images/beach_0.jpg")).unwrap();
    assert_error(s.upload("", "image", &jpeg), 400, "started without --checkpoint");
    assert_eq!(s.search(serde_json::json!({ "row": 0, "k": 3 })).0, 200);
}

#[test]
fn a_token_is_required_on_the_api_when_set_and_other_addresses_need_one() {
    let s = Server::start(&["--token", "s3cret", "--json"]);
    assert_eq!(s.get("/healthz", None).0, 200);
    for token in [None, Some("wrong")] {
        let (status, _, body) = s.get("/api/info", token);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 401, "{v}");
        assert!(v["error"].as_str().unwrap().contains("bearer token") || v["error"].as_str().unwrap().contains("Bearer"), "{v}");
    }
    let (status, _, body) = s.get("/api/item/1", Some("s3cret"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r = s.agent.post(format!("{}/api/search", s.base)).send(b"{\"row\": 1}".as_slice()).unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // --json: request log lines are JSON.
    s.wait_for_log(|log| {
        let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        lines.iter().any(|l| l["path"] == "/api/item/1" && l["status"] == 200 && l["method"] == "GET" && l["ms"].is_number())
    });

    // A non-loopback address without --token or --no-auth is refused before anything loads.
    let out = common::swan(&["serve", "--embeddings", "set", "--addr", "0.0.0.0:0"], fixture());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address") && err.contains("--token"), "{err}");
}
