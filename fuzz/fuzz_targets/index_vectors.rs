#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| swan_fuzz_targets::index_vectors(data));
