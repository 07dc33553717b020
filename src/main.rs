//! `swan`: the command line. Glue only: parse, validate, call a library crate, print.
//!
//! Exit status: 0 success (or stdout closed early by its reader), 1 ran fine but found
//! nothing (always said on stderr), 2 error (clap's usage errors included).

mod cli;
mod commands;
mod output;

use clap::Parser;
use commands::Outcome;

fn main() {
    // Before any tensor exists: make CUDA visible if this libtorch has it.
    swan_embedder::runtime::init();
    let args = cli::Args::parse();
    let result = commands::run(args).and_then(|outcome| {
        output::flush()?;
        Ok(outcome)
    });
    let code = match result {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::NothingFound(why)) => {
            output::message(&why);
            1
        }
        Err(err) => match output::report(&err) {
            None => 0,
            Some(text) => {
                output::message(&text);
                2
            }
        },
    };
    std::process::exit(code);
}
