//! swan-hashinit v1: deterministic weights and inputs, defined by
//! `shared/reference/hashinit.py`, for parity tests against the reference outputs and
//! for demo checkpoints that exercise the pipeline without trained weights.
//!
//! Element `i` of an entry is the `(i+1)`-th output of splitmix64 seeded with
//! `fnv1a64(name) ^ (seed * 0x9E3779B97F4A7C15)`, mapped to `[-1, 1)` through its top
//! 24 bits (exact in `f32`), then scaled by a rule that depends on the entry's kind.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// FNV-1a, 64-bit, over the UTF-8 bytes of `s`.
pub fn fnv1a64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `n` values in `[-1, 1)` for entry `name` under `seed`.
pub fn uniform(name: &str, seed: u64, n: usize) -> Vec<f32> {
    let state = fnv1a64(name) ^ seed.wrapping_mul(GOLDEN);
    (1..=n as u64)
        .map(|i| {
            let mut z = state.wrapping_add(i.wrapping_mul(GOLDEN));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// The value of state-dict entry `name` of `shape` (row-major), as `f32`. Integer
/// entries (`num_batches_tracked`) are zero and handled by the caller.
pub fn param_value(name: &str, shape: &[i64], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product::<i64>().max(1) as usize;
    let last = name.rsplit('.').next().unwrap_or(name);
    let x = uniform(name, seed, n);
    // f32 arithmetic throughout, as numpy does it in the reference (the scale factors
    // are rounded to f32 first).
    let scaled = |s: f32| x.iter().map(|&u| u * s).collect::<Vec<f32>>();
    match last {
        "fmp_weight" => scaled((3.0f64 / 128.0).sqrt() as f32),
        "running_mean" => scaled(0.05),
        "running_var" => x.iter().map(|&u| 1.0 + 0.125 * (u + 1.0)).collect(),
        _ if shape.len() >= 2 => {
            let fan_in = n as i64 / shape[0];
            scaled((3.0f64 / fan_in as f64).sqrt() as f32)
        }
        _ if last.starts_with("weight") => x.iter().map(|&u| 1.0 + 0.1 * u).collect(),
        _ => scaled(0.05),
    }
}

/// The reference test images: `2 * uniform("input.image")`, shape `count x 3 x 256 x 256`.
pub fn input_images(count: usize, seed: u64) -> Vec<f32> {
    images_named("input.image", count, seed)
}

/// The reference test token ids: `min(1 + floor((u + 1) * 0.5 * 8589), 8589)` in f64,
/// `rows x cols`, zeroed past each row's length.
pub fn input_token_ids(lengths: &[usize], cols: usize, seed: u64) -> Vec<i64> {
    token_ids_named("input.tokens", lengths, cols, seed)
}

/// Images `2 * uniform(name)`, `count x 3 x 256 x 256` (`train.image` for train-seed1).
pub fn images_named(name: &str, count: usize, seed: u64) -> Vec<f32> {
    uniform(name, seed, count * 3 * 256 * 256).into_iter().map(|u| 2.0 * u).collect()
}

/// Token ids by the rule of [`input_token_ids`] from the stream `name` (`train.tokens`
/// for train-seed1).
pub fn token_ids_named(name: &str, lengths: &[usize], cols: usize, seed: u64) -> Vec<i64> {
    let u = uniform(name, seed, lengths.len() * cols);
    let mut ids: Vec<i64> = u.iter().map(|&u| ((1.0 + ((u as f64 + 1.0) * 0.5 * 8589.0).floor()) as i64).min(8589)).collect();
    for (row, &len) in lengths.iter().enumerate() {
        ids[row * cols + len..(row + 1) * cols].iter_mut().for_each(|v| *v = 0);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_stream_is_the_reference_one() {
        // fnv1a64("") is the FNV offset basis; "a" is a published test vector.
        assert_eq!(fnv1a64(""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64("a"), 0xaf63dc4c8601ec8c);
        let u = uniform("x", 1, 1000);
        assert!(u.iter().all(|&v| (-1.0..1.0).contains(&v)));
        // Values are multiples of 2^-23: exact in f32.
        assert!(u.iter().all(|&v| ((v + 1.0) * (1u32 << 23) as f32).fract() == 0.0));
    }
}
