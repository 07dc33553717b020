//! One module per subcommand. Each returns the process exit code: 0 success, 1 nothing
//! found, 2 error (errors are returned, and printed by `main`).

mod bench;
mod checkpoint;
mod corpus;
mod embed;
mod encode;
mod eval;
mod fixtures;
mod index;
mod info;
mod merge;
mod model;
mod npy;
mod progress;
mod search;
mod vocab;

use crate::cli::{Args, Command};

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.command {
        Command::Info { probe, json } => info::run(probe.as_deref(), json),
        Command::Corpus(a) => corpus::run(a),
        Command::Fixtures { out, train_per_scene, test_per_scene, seed, json } => {
            fixtures::run(&out, swan_fixtures::FixtureSpec { train_per_scene, test_per_scene, seed }, json)
        }
        Command::Npy(cmd) => npy::run(cmd),
        Command::Checkpoint(cmd) => checkpoint::run(cmd),
        Command::Bench(a) => bench::run(a),
        Command::Vocab(cmd) => vocab::run(cmd),
        Command::Encode(a) => encode::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Search(a) => search::run(a),
        Command::Index(cmd) => index::run(cmd),
        Command::Synth { rows, queries, centres, noise, seed, out, json } => index::synth(rows, queries, centres, noise, seed, &out, json),
        Command::Embed(a) => embed::run(a),
        Command::Merge { out, shards, json } => merge::run(&out, &shards, json),
    }
}
