//! `swan`: the command line. Glue only: parse, validate, call a library crate, print.

mod cli;
mod commands;
mod output;

use clap::Parser;

fn main() {
    // Before any tensor exists: make CUDA visible if this libtorch has it.
    swan_embedder::runtime::init();
    let args = cli::Args::parse();
    let code = match commands::run(args) {
        Ok(code) => code,
        Err(err) if output::is_broken_pipe(&err) => 0,
        Err(err) => {
            output::error(&format!("{err:#}"));
            2
        }
    };
    std::process::exit(code);
}
