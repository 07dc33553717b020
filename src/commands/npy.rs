//! `swan npy info` and `swan npy convert`.

use std::path::Path;

use serde::Serialize;
use swan_store::npy::{ConvertOptions, Converter, NormStats};
use swan_store::{DType, NpyFile, Start};

use crate::cli::NpyCommand;

pub fn run(cmd: NpyCommand) -> anyhow::Result<()> {
    match cmd {
        NpyCommand::Info { file, json } => info(&file, json),
        NpyCommand::Convert { input, output, dtype, normalize, json } => {
            let dtype: DType = dtype.into();
            convert(&input, &output, dtype, normalize, json)
        }
    }
}

#[derive(Serialize)]
struct Info {
    file: String,
    dtype: DType,
    shape: Vec<usize>,
    rows: usize,
    dim: usize,
    /// Row L2 norms, for floating-point files.
    norms: Option<NormStats>,
}

fn info(path: &Path, json: bool) -> anyhow::Result<()> {
    let file = NpyFile::open(path)?;
    let info = Info {
        file: path.display().to_string(),
        dtype: file.dtype(),
        shape: file.shape().to_vec(),
        rows: file.rows(),
        dim: file.dim(),
        norms: file.norm_stats()?,
    };
    if json {
        crate::output::json_line(&info)?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(out, "{}: {} {:?} ({} rows of {})", info.file, info.dtype, info.shape, info.rows, info.dim)?;
    if let Some(n) = &info.norms {
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.6}"));
        writeln!(
            out,
            "row norms: min {} mean {} max {}; {} zero rows, {} non-finite rows",
            f(n.min),
            f(n.mean),
            f(n.max),
            n.zero_rows,
            n.non_finite_rows
        )?;
    }
    Ok(())
}

fn convert(input: &Path, output: &Path, dtype: DType, normalize: bool, json: bool) -> anyhow::Result<()> {
    let converter = Converter::open(input, output, ConvertOptions { dtype, normalize })?;
    let spec = converter.spec().clone();
    match converter.start() {
        Start::Resumed(n) => {
            crate::output::message(&format!("resuming {}: {n} of {} chunks already written", output.display(), spec.chunk_count()))
        }
        Start::Restarted(why) => crate::output::message(&format!("discarding earlier progress on {}: {why}", output.display())),
        Start::Fresh => {}
    }
    let path = converter.run()?;
    if json {
        crate::output::json_line(
            &serde_json::json!({ "output": path, "rows": spec.rows, "dim": spec.dim, "dtype": dtype, "normalized": normalize }),
        )?;
    } else {
        let normalised = if normalize { ", normalised" } else { "" };
        crate::output::message(&format!("wrote {} ({} rows of {}, {dtype}{normalised})", path.display(), spec.rows, spec.dim));
    }
    Ok(())
}
