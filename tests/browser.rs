//! `swan serve`'s web page in headless Chromium, driven over the DevTools protocol: a text
//! query, an image upload, "more like this", a scene chip, the keyboard path and an API error,
//! each checked in the rendered page (thumbnails decoded, result counts, scenes, focus), with
//! screenshots at desktop and phone widths in `$SWAN_SCREENSHOTS` (default: a new temp folder,
//! printed on stderr).
//!
//! Chromium is Debian's `chromium` package, installed with apt-get when absent. Where that
//! fails the test says so and skips, except under `CI=true`, where it fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::{Emulation, Page, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{json, Value};

use common::ok;

/// How long one step may take to render (an image query encodes on the CPU of a busy machine).
const STEP: Duration = Duration::from_secs(40);
const DESKTOP: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (360, 780);
const QUERY_IMAGE: &str = "beach_6.jpg";
const TOKEN: &str = "s3cret-token";

// -------------------------------------------------------------------------------------------
// Chromium: found on PATH or installed from Debian.

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn find_chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| on_path(name))
}

fn apt_get(args: &[&str]) -> bool {
    Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Chromium's path, installing Debian's package when it is absent; `None` (after saying why)
/// where it cannot be had outside CI.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = find_chromium() {
        return Some(path);
    }
    eprintln!("browser test: chromium is not installed; installing Debian's package with apt-get");
    let installed =
        apt_get(&["update", "-qq"]) && apt_get(&["install", "-y", "-qq", "--no-install-recommends", "chromium", "fonts-liberation"]);
    match find_chromium() {
        Some(path) if installed => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("browser test: `apt-get install chromium` failed; CI must be able to install it")
        }
        _ => {
            eprintln!("browser test: SKIPPED: chromium is absent and `apt-get install chromium` failed (run as root, or install it)");
            None
        }
    }
}

// -------------------------------------------------------------------------------------------
// `swan serve` on a set embedded from the fixture corpus.

/// A running `swan serve`, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("browser test: swan serve's stderr:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `http://127.0.0.1:PORT` address in a line of `swan serve`'s stderr.
fn address_in(line: &str) -> Option<String> {
    let start = line.find("http://127.0.0.1:")?;
    let url: String = line[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    Some(url.trim_end_matches(|c: char| !c.is_ascii_digit()).to_string())
}

fn serve(dir: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_swan"))
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start swan serve");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = address_in(&line) {
                let _ = tx.send(url);
            }
            lines.lock().unwrap().push(line);
        }
    });
    let mut server = Server { child, url: String::new(), log };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => server.url = url,
        Err(_) => panic!("swan serve printed no http://127.0.0.1:PORT address within 60 s; its stderr:\n{}", server.log()),
    }
    server
}

/// A hashinit checkpoint, a vocabulary, the fixture corpus's test split embedded (16 images of
/// 8 scenes, 80 captions) and an HNSW index of its images, in `dir`.
fn make_set(dir: &Path) {
    let corpus = common::repo().join("fixtures/corpus");
    let corpus = corpus.to_str().unwrap();
    ok(&["checkpoint", "hashinit", "--out", "ckpt.safetensors"], dir);
    ok(&["vocab", "build", corpus, "--min-count", "1", "--out", "vocab.json"], dir);
    ok(
        &[
            "embed",
            "--corpus",
            corpus,
            "--split",
            "test",
            "--checkpoint",
            "ckpt.safetensors",
            "--vocab",
            "vocab.json",
            "--device",
            "cpu",
            "--out",
            "set",
        ],
        dir,
    );
    ok(&["index", "build", "--embeddings", "set", "--table", "images", "--out", "idx", "--m", "8", "--ef-construction", "32"], dir);
}

// -------------------------------------------------------------------------------------------
// The page, seen through the DevTools protocol.

/// CDP commands have no `Default`: build them from their JSON form, as the protocol documents them.
fn cdp<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a well-formed CDP command")
}

/// The JSON value of a JavaScript expression (awaited when it is a promise).
fn eval(tab: &Tab, expression: &str) -> Value {
    let reply = tab
        .call_method(cdp::<Runtime::Evaluate>(json!({
            "expression": expression, "returnByValue": true, "awaitPromise": true,
        })))
        .unwrap_or_else(|e| panic!("evaluate {expression}: {e}"));
    if let Some(ex) = reply.exception_details {
        let why = ex.exception.and_then(|e| e.description).unwrap_or(ex.text);
        panic!("{why}\n  while evaluating: {expression}");
    }
    reply.result.value.unwrap_or(Value::Null)
}

/// Wait until a JavaScript condition holds in the page (checked every 25 ms, in the page), and
/// return its value; fails after [`STEP`] naming what was awaited.
fn wait(tab: &Tab, what: &str, condition: &str) -> Value {
    let js = format!(
        r#"new Promise((resolve, reject) => {{
             const deadline = Date.now() + {ms};
             const check = () => {{
               let value;
               try {{ value = ({condition}); }} catch (e) {{ value = undefined; }}
               if (value) return resolve(value);
               if (Date.now() > deadline) return reject(new Error('timed out after {ms} ms waiting for: ' + {what:?}));
               setTimeout(check, 25);
             }};
             check();
           }})"#,
        ms = STEP.as_millis(),
        what = what,
    );
    eval(tab, &js)
}

/// Wait for the next answer the page renders after `seq` answers (results or an error); its state.
fn wait_answer(tab: &Tab, what: &str, seq: u64) -> String {
    let state = wait(
        tab,
        what,
        &format!(
            "(() => {{ const r = document.getElementById('results');
                 return Number(r.dataset.seq || 0) > {seq} && r.dataset.state !== 'loading' && r.dataset.state }})()"
        ),
    );
    state.as_str().unwrap().to_string()
}

/// What the result grid shows: one entry per card.
#[derive(Debug)]
struct Card {
    row: u64,
    scene: String,
    file: String,
}

fn cards(tab: &Tab) -> Vec<Card> {
    let v = eval(
        tab,
        "[...document.querySelectorAll('#grid > li.card')].map(li => ({
            row: Number(li.dataset.row), scene: li.dataset.scene,
            file: li.querySelector('.file').textContent }))",
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| Card {
            row: c["row"].as_u64().unwrap(),
            scene: c["scene"].as_str().unwrap().to_string(),
            file: c["file"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Wait until every thumbnail of the grid has been fetched and decoded.
fn thumbnails_loaded(tab: &Tab, step: &str) {
    wait(
        tab,
        &format!("{step}: every thumbnail decoded"),
        "(() => { const imgs = [...document.querySelectorAll('#grid img')];
                  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) })()",
    );
}

fn set_width(tab: &Tab, (width, height): (u32, u32)) {
    tab.call_method(cdp::<Emulation::SetDeviceMetricsOverride>(json!({
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
    })))
    .unwrap();
}

fn set_media(tab: &Tab, scheme: &str) {
    // Reduced motion: no fade or hover transition is caught half-way in a screenshot.
    tab.call_method(cdp::<Emulation::SetEmulatedMedia>(json!({ "features": [
        { "name": "prefers-color-scheme", "value": scheme },
        { "name": "prefers-reduced-motion", "value": "reduce" },
    ]})))
    .unwrap();
}

/// Screenshots of the whole page (up to 2400 px tall) at desktop and phone widths, named
/// `NN-step-desktop.png` and `NN-step-phone.png`; checks the phone layout does not scroll sideways.
struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    fn take(&mut self, tab: &Tab, step: &str) {
        self.n += 1;
        for (label, size) in [("desktop", DESKTOP), ("phone", PHONE)] {
            set_width(tab, size);
            // Two frames: the new width is laid out and painted.
            eval(tab, "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");
            let (width, height) = {
                let v = eval(tab, "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]");
                (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
            };
            assert!(
                width <= f64::from(size.0),
                "{step}: at {label} width ({} px) the page is {width} px wide: it scrolls sideways",
                size.0
            );
            let png = tab
                .call_method(cdp::<Page::CaptureScreenshot>(json!({
                    "format": "png", "captureBeyondViewport": true, "fromSurface": true,
                    "clip": { "x": 0, "y": 0, "width": size.0, "height": height.min(2400.0), "scale": 1 },
                })))
                .unwrap()
                .data;
            use base64::Engine as _;
            let png = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
            let path = self.dir.join(format!("{:02}-{step}-{label}.png", self.n));
            std::fs::write(&path, png).unwrap();
        }
        set_width(tab, DESKTOP);
    }
}

fn screenshot_dir() -> PathBuf {
    match std::env::var_os("SWAN_SCREENSHOTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        }
        None => tempfile::Builder::new().prefix("swan-screenshots-").tempdir().unwrap().keep(),
    }
}

// -------------------------------------------------------------------------------------------

#[test]
fn the_page_searches_by_text_image_row_and_scene_and_shows_what_the_api_answers() {
    let Some(chromium) = chromium() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_set(d);
    let set_ready = started.elapsed();
    let server = serve(
        d,
        &["--embeddings", "set", "--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--index", "idx", "--addr", "127.0.0.1:0"],
    );

    let shots_dir = screenshot_dir();
    eprintln!("browser test: screenshots in {}", shots_dir.display());
    let mut shots = Shots { dir: shots_dir, n: 0 };

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chromium))
            .sandbox(false) // tests and CI run as root, which Chromium's sandbox refuses
            .window_size(Some(DESKTOP))
            .idle_browser_timeout(STEP + Duration::from_secs(20))
            .args(vec!["--disable-dev-shm-usage".as_ref(), "--hide-scrollbars".as_ref(), "--force-color-profile=srgb".as_ref()])
            .build()
            .unwrap(),
    )
    .expect("launch headless chromium");
    let tab = browser.new_tab().unwrap();
    set_media(&tab, "light");
    set_width(&tab, DESKTOP);
    tab.navigate_to(&format!("{}/", server.url)).unwrap().wait_until_navigated().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drive(&tab, &server, &mut shots);
        drop(server);
        // The same set behind a bearer token, without a model: the page takes the token from
        // #token=, sends it with every API call and thumbnail, and offers row queries only.
        let locked = serve(d, &["--embeddings", "set", "--addr", "127.0.0.1:0", "--token", TOKEN]);
        with_token(&tab, &locked, &mut shots);
    }));
    if let Err(panic) = result {
        // What the page looked like explains many failures (a failing server prints its stderr).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shots.take(&tab, "failure")));
        std::panic::resume_unwind(panic);
    }
    eprintln!(
        "browser test: set built in {:.1} s, whole test {:.1} s; screenshots in {}",
        set_ready.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        shots.dir.display()
    );
}

fn drive(tab: &Tab, server: &Server, shots: &mut Shots) {
    // The server's own description: what the page must show.
    let info = eval(tab, "fetch('/api/info').then(r => r.json())");
    let rows = info["rows"].as_u64().unwrap();
    let scenes = info["scenes"].as_array().unwrap();
    assert_eq!((rows, scenes.len()), (16, 8), "{info}");
    let k = 12.min(rows) as usize;

    // 0. Start: a scene chip per scene (plus "All"), with its count; the model in the footer.
    wait(tab, "scene chips", &format!("document.querySelectorAll('#scenes .chip').length === {}", scenes.len() + 1));
    let chips =
        eval(tab, "[...document.querySelectorAll('#scenes .chip')].map(c => [c.dataset.scene, c.querySelector('.count').textContent])");
    for s in scenes {
        let name = s["name"].as_str().unwrap();
        let count = s["count"].as_u64().unwrap().to_string();
        assert!(chips.as_array().unwrap().contains(&json!([name, count])), "no chip {name} ({count}) in {chips}");
    }
    let footer = eval(tab, "document.getElementById('foot').textContent");
    assert!(footer.as_str().unwrap().contains(info["model"].as_str().unwrap()), "footer {footer} lacks the model of {info}");
    assert_eq!(eval(tab, "document.getElementById('exact-wrap').hidden"), json!(false), "an index is loaded: the exact switch shows");
    // Eight of the archive's images as starting points, decoded.
    wait(
        tab,
        "the start page's sample images decoded",
        "(() => { const imgs = [...document.querySelectorAll('#sample-row img')];
                  return imgs.length === 8 && imgs.every(i => i.complete && i.naturalWidth > 0) })()",
    );
    shots.take(tab, "start");

    // 1. Text: "/" focuses the search box, typing and Enter search.
    tab.press_key("/").unwrap();
    wait(tab, "'/' focuses the search box", "document.activeElement && document.activeElement.id === 'q'");
    tab.type_str("a beach with white waves").unwrap();
    tab.press_key("Enter").unwrap();
    assert_eq!(wait_answer(tab, "text query results", 0), "done");
    thumbnails_loaded(tab, "text query");
    let text_cards = cards(tab);
    assert_eq!(text_cards.len(), k, "{text_cards:?}");
    let status = eval(tab, "document.querySelector('.status').textContent").as_str().unwrap().to_string();
    assert!(status.contains("a beach with white waves") && status.contains(&format!("{k} results")) && status.contains(" ms"), "{status}");
    shots.take(tab, "text-query");

    // 2. Image upload through the file picker: the uploaded corpus image is its own nearest row.
    let image = common::fixture_images().join(QUERY_IMAGE);
    tab.find_element("#file").unwrap().set_input_files(&[image.to_str().unwrap()]).unwrap();
    assert_eq!(wait_answer(tab, "image query results", 1), "done");
    thumbnails_loaded(tab, "image query");
    let image_cards = cards(tab);
    assert_eq!(image_cards.len(), k, "{image_cards:?}");
    assert_eq!(image_cards[0].file, QUERY_IMAGE, "the uploaded image is in the set: it comes first; {image_cards:?}");
    shots.take(tab, "image-upload");

    // 3. "More like this": a click on the third result asks for its row, which comes first.
    let picked = &image_cards[2];
    tab.find_element("#grid > li.card:nth-child(3) .hit").unwrap().click().unwrap();
    assert_eq!(wait_answer(tab, "more-like-this results", 2), "done");
    thumbnails_loaded(tab, "more like this");
    let like_cards = cards(tab);
    assert_eq!(like_cards.len(), k, "{like_cards:?}");
    assert_eq!(like_cards[0].row, picked.row, "row {} is its own nearest image: {like_cards:?}", picked.row);
    let query = eval(tab, "document.getElementById('query').textContent").as_str().unwrap().to_string();
    assert!(query.contains("More like") && query.contains(&picked.file), "{query}");
    shots.take(tab, "more-like-this");

    // 4. Scene chip: the same row query, narrowed to the picked image's scene.
    let scene = picked.scene.clone();
    let in_scene = scenes.iter().find(|s| s["name"] == scene.as_str()).unwrap()["count"].as_u64().unwrap() as usize;
    tab.find_element(&format!("#scenes .chip[data-scene=\"{scene}\"]")).unwrap().click().unwrap();
    assert_eq!(wait_answer(tab, "scene-filtered results", 3), "done");
    thumbnails_loaded(tab, "scene chip");
    let scene_cards = cards(tab);
    assert_eq!(scene_cards.len(), k.min(in_scene), "scene {scene} has {in_scene} images: {scene_cards:?}");
    assert!(scene_cards.iter().all(|c| c.scene == scene), "a result outside scene {scene}: {scene_cards:?}");
    assert_eq!(scene_cards[0].row, picked.row, "{scene_cards:?}");
    let pressed = eval(tab, "[...document.querySelectorAll('#scenes .chip[aria-pressed=true]')].map(c => c.dataset.scene)");
    assert_eq!(pressed, json!([scene]));
    shots.take(tab, "scene-chip");

    // 5. Keyboard: Enter on a focused result asks for more like it; focus then goes to the
    //    query line, and Tab reaches the first result.
    let second = &scene_cards[1];
    eval(tab, "document.querySelector('#grid > li.card:nth-child(2) .hit').focus()");
    tab.press_key("Enter").unwrap();
    assert_eq!(wait_answer(tab, "results of Enter on a result", 4), "done");
    thumbnails_loaded(tab, "keyboard");
    assert_eq!(cards(tab)[0].row, second.row, "Enter on row {} searches like it", second.row);
    wait(tab, "focus on the query line", "document.activeElement && document.activeElement.id === 'query'");
    tab.press_key("Tab").unwrap();
    wait(tab, "Tab reaches the first result", "document.activeElement === document.querySelector('#grid > li.card:first-child .hit')");
    shots.take(tab, "keyboard");
    set_media(tab, "dark");
    shots.take(tab, "dark");
    set_media(tab, "light");

    // 6. An upload the server rejects: the page shows the API's own message.
    let bogus = shots.dir.join("not-an-image.png");
    std::fs::write(&bogus, "this is text, not a PNG\n").unwrap();
    tab.find_element("#file").unwrap().set_input_files(&[bogus.to_str().unwrap()]).unwrap();
    assert_eq!(wait_answer(tab, "the error of a bad upload", 5), "error");
    std::fs::remove_file(&bogus).unwrap();
    let api_error = eval(
        tab,
        "(() => { const f = new FormData();
                  f.append('image', new Blob(['this is text, not a PNG\\n'], {type: 'image/png'}), 'not-an-image.png');
                  return fetch('/api/search/image', {method: 'POST', body: f}).then(r => r.json()).then(j => j.error) })()",
    );
    let api_error = api_error.as_str().expect("the API answers a bad upload with {\"error\": ...}");
    let banner = eval(tab, "document.getElementById('error').hidden ? '' : document.getElementById('error').textContent");
    let banner = banner.as_str().unwrap();
    assert!(banner.contains(api_error) && banner.contains("HTTP 4"), "banner {banner:?}, API {api_error:?}");
    assert_eq!(cards(tab).len(), 0, "results of another query stay hidden under an error");
    shots.take(tab, "error");

    // Nothing came from anywhere but the server.
    let foreign = eval(tab, "performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin + '/'))");
    assert_eq!(foreign, json!([]), "the page fetched from outside {}", server.url);
}

fn with_token(tab: &Tab, server: &Server, shots: &mut Shots) {
    // Without the token the API refuses, and the page says how to give it.
    tab.navigate_to(&format!("{}/", server.url)).unwrap().wait_until_navigated().unwrap();
    wait(tab, "the 401 message", "!document.getElementById('error').hidden");
    let banner = eval(tab, "document.getElementById('error').textContent");
    let banner = banner.as_str().unwrap();
    assert!(banner.contains("HTTP 401") && banner.contains("#token="), "{banner}");

    // With it (in the fragment, which never reaches the server), everything loads. (From
    // about:blank: a change of fragment alone would not load the page again.)
    tab.navigate_to("about:blank").unwrap().wait_until_navigated().unwrap();
    tab.navigate_to(&format!("{}/#token={TOKEN}", server.url)).unwrap().wait_until_navigated().unwrap();
    wait(tab, "scene chips with the token", "document.querySelectorAll('#scenes .chip').length === 9");
    let page = eval(
        tab,
        "({ hash: location.hash, kept: sessionStorage.getItem('swan.token'),
            q: document.getElementById('q').disabled, file: document.getElementById('file').disabled })",
    );
    assert_eq!(page, json!({ "hash": "", "kept": TOKEN, "q": true, "file": true }), "no model: text and image search are off");
    tab.find_element("#scenes .chip[data-scene=\"water\"]").unwrap().click().unwrap();
    assert_eq!(wait_answer(tab, "a scene browsed with the token", 0), "done");
    thumbnails_loaded(tab, "thumbnails fetched with the token");
    let water = cards(tab);
    assert!(!water.is_empty() && water.iter().all(|c| c.scene == "water"), "{water:?}");
    shots.take(tab, "token-no-model");
}
