//! The short, bounded fuzzing pass of `cargo test`: every target runs its committed seeds
//! (`fuzz/seeds/TARGET/`), every minimised crash found so far (`fuzz/regressions/TARGET/`),
//! and [`MUTATIONS`] mutations of them drawn from a generator seeded by the target's name,
//! so each run tries the same inputs. A panic fails the test naming the input (mutated
//! inputs are written to `target/fuzz-replay/` to be replayed or added to the regressions);
//! a single allocation above [`ALLOC_LIMIT`] aborts the test binary, as libFuzzer's
//! `-malloc_limit_mb` stops the fuzzer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use swan_fuzz_targets::{Target, TARGETS};

/// Mutated inputs per target (on top of the seeds and regressions).
const MUTATIONS: usize = 3000;
/// The largest single allocation an input may cause (libFuzzer's `-malloc_limit_mb=1024`).
const ALLOC_LIMIT: usize = 1 << 30;

/// The system allocator, refusing any single allocation above [`ALLOC_LIMIT`]: the
/// refusal ends the process with "memory allocation of N bytes failed".
struct Limited;

// SAFETY: forwards to the system allocator, or returns null (a refusal callers handle).
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `fuzz/{kind}/{target}/`, sorted by name.
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (format!("{kind}/{target}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(&p).unwrap()))
        .collect()
}

/// Run one input; on a panic, keep the input and fail naming it.
fn run(target: Target, name: &str, data: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.run)(data))) {
        let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay").join(target.name).join(name.replace('/', "_"));
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(&kept, data).unwrap();
        panic!("target {} panicked on {name} (kept as {}): {}", target.name, kept.display(), message.unwrap_or_default());
    }
}

/// Numbers that sit on the edges of the integer types, as text.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "65535",
    "65536",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "1e309",
    "0.5",
    "99999999999999999999999",
];
/// The same edges as little-endian words.
const WORDS: &[u64] = &[0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, i64::MAX as u64, u64::MAX];
/// Bytes that delimit the text formats.
const BYTES: &[u8] = b"\x00\x01\x7f\x80\xff\n\r\t ,:{}[]()\"'\\.-0123456789eETF";

/// One mutation of `data`, in place; `other` is another input to splice from.
fn mutate_once(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, other: &[u8]) {
    let at = |rng: &mut ChaCha8Rng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..9) {
        0 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] = BYTES[rng.gen_range(0..BYTES.len())];
        }
        2 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            let n = rng.gen_range(1..=16).min(data.len() - i);
            data.drain(i..i + n);
        }
        3 => {
            let i = at(rng, data.len());
            let n = rng.gen_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| if rng.gen_bool(0.5) { rng.gen() } else { BYTES[rng.gen_range(0..BYTES.len())] }).collect();
            data.splice(i..i, bytes);
        }
        4 if !data.is_empty() => {
            // Repeat a slice of the input where it stands (lists, nested brackets).
            let i = rng.gen_range(0..data.len());
            let n = rng.gen_range(1..=64).min(data.len() - i);
            let piece = data[i..i + n].to_vec();
            let reps = rng.gen_range(1..=8);
            data.splice(i..i, piece.iter().copied().cycle().take(n * reps));
        }
        5 => {
            let len = at(rng, data.len());
            data.truncate(len);
        }
        6 => {
            // Replace a run of digits with an edge value.
            let starts: Vec<usize> =
                (0..data.len()).filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit())).collect();
            if let Some(&i) = starts.get(rng.gen_range(0..starts.len().max(1))) {
                let end = (i..data.len()).find(|&j| !data[j].is_ascii_digit()).unwrap_or(data.len());
                data.splice(i..end, NUMBERS[rng.gen_range(0..NUMBERS.len())].bytes());
            }
        }
        7 if data.len() >= 4 => {
            // Overwrite a 4- or 8-byte little-endian field with an edge value.
            let width = if rng.gen_bool(0.5) || data.len() < 8 { 4 } else { 8 };
            let i = rng.gen_range(0..=data.len() - width);
            let i = if rng.gen_bool(0.5) { i - i % width } else { i };
            data[i..i + width].copy_from_slice(&WORDS[rng.gen_range(0..WORDS.len())].to_le_bytes()[..width]);
        }
        _ => {
            // Splice: our head with the other input's tail.
            let cut = at(rng, data.len());
            let from = at(rng, other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
    }
}

fn replay(name: &str) {
    let target = swan_fuzz_targets::target(name).expect("a target of that name");
    let seeds = inputs("seeds", name);
    assert!(seeds.len() >= 8, "fuzz/seeds/{name}/ holds {} seeds; every target needs a corpus", seeds.len());
    let regressions = inputs("regressions", name);
    for (input, data) in seeds.iter().chain(&regressions) {
        run(target, input, data);
    }
    let pool: Vec<&Vec<u8>> = seeds.iter().chain(&regressions).map(|(_, d)| d).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)));
    for i in 0..MUTATIONS {
        let base = rng.gen_range(0..pool.len());
        let mut data = pool[base].clone();
        for _ in 0..rng.gen_range(1..=4) {
            let other = pool[rng.gen_range(0..pool.len())];
            mutate_once(&mut rng, &mut data, other);
        }
        run(target, &format!("mutation-{i}-of-input-{base}"), &data);
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { replay(stringify!($name)); })*

        #[test]
        fn every_target_is_replayed() {
            let replayed = [$(stringify!($name)),*];
            let targets: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            assert_eq!(replayed.as_slice(), targets.as_slice());
        }
    };
}

replay_tests!(npy, manifest, lines, precomp, jsonl, folder, vocab, tokenizer, checkpoint, index_json, index_graph, index_vectors);

#[test]
fn every_corpus_folder_names_a_target() {
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else { continue };
        for entry in entries.flatten().filter(|e| e.path().is_dir()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(swan_fuzz_targets::target(&name).is_some(), "fuzz/{kind}/{name}/ names no target");
        }
    }
}
