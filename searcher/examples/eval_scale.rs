//! Metric timing at archive scale: a random `images x captions` similarity matrix with
//! the captions spread evenly over the images, scene recall at 1, 5, 10, 20.
//!
//! ```text
//! cargo run --release -p swan-searcher --example eval_scale -- [images] [captions]
//! ```
//! Defaults: 2000 x 10000 (a 10k x 50k matrix needs 4 GB as f64). No assertions.

use std::time::Instant;

use swan_searcher::{evaluate, EvalOptions, SimMatrix};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let (ni, nc) = (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(10_000));
    let mut s = 7u64;
    let data: Vec<f64> = (0..ni * nc)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    let sims = SimMatrix::new(ni, nc, data).unwrap();
    let caption_image: Vec<usize> = (0..nc).map(|j| j * ni / nc).collect();
    let names = ["farm", "forest", "port", "river", "school"];
    let scenes: Vec<Option<&str>> = (0..ni).map(|i| Some(names[i % names.len()])).collect();
    let options = EvalOptions { scene_recall_at: vec![1, 5, 10, 20] };
    let start = Instant::now();
    let m = evaluate(&sims, &caption_image, Some(&scenes), &options).unwrap();
    println!("{ni} x {nc}: evaluate {:.3} s on {} threads (mR {:.3})", start.elapsed().as_secs_f64(), rayon::current_num_threads(), m.mr);
}
