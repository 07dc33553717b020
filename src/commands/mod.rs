//! One module per subcommand. Errors are returned and printed by `main` (exit status 2);
//! only a search can end with [`Outcome::NothingFound`] (exit status 1).

mod batch;
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
mod serve;
mod topk;
mod train;
mod vocab;

use crate::cli::{Args, Command};

/// How a command that ran without error ended.
pub enum Outcome {
    /// Exit status 0.
    Done,
    /// Exit status 1: the command ran fine but found nothing; the text says what (stderr).
    NothingFound(String),
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let done = match args.command {
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
        Command::Search(a) => return search::run(a),
        Command::Index(cmd) => index::run(cmd),
        Command::Topk(cmd) => topk::run(cmd),
        Command::Serve(a) => serve::run(a),
        Command::Synth(args) => index::synth(args),
        Command::Train(a) => train::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Merge { out, shards, json } => merge::run(&out, &shards, json),
    };
    done.map(|()| Outcome::Done)
}
