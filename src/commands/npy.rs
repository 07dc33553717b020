//! `swan npy info` and `swan npy convert`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use swan_store::npy::{ConvertOptions, Converter};
use swan_store::{DType, NpyFile, Start};

use crate::cli::NpyCommand;

pub fn run(cmd: NpyCommand) -> anyhow::Result<i32> {
    match cmd {
        NpyCommand::Info { file, json } => info(&file, json),
        NpyCommand::Convert { input, output, dtype, normalize, json } => {
            let dtype: DType = dtype.parse().map_err(anyhow::Error::msg)?;
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

#[derive(Serialize)]
struct NormStats {
    min: f64,
    mean: f64,
    max: f64,
    /// Rows whose norm is zero (invalid rows of an embedding set are zero).
    zero_rows: usize,
    /// Rows holding a NaN or infinity.
    non_finite_rows: usize,
}

fn norm_stats(file: &NpyFile) -> anyhow::Result<Option<NormStats>> {
    if !matches!(file.dtype(), DType::F16 | DType::F32 | DType::F64) || file.rows() == 0 {
        return Ok(None);
    }
    let mut row = vec![0.0f32; file.dim()];
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    let (mut zero_rows, mut non_finite_rows, mut finite_rows) = (0, 0, 0usize);
    for r in 0..file.rows() {
        file.row_into_f32(r, &mut row)?;
        let norm = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
        if !norm.is_finite() {
            non_finite_rows += 1;
            continue;
        }
        zero_rows += (norm == 0.0) as usize;
        finite_rows += 1;
        (min, max, sum) = (min.min(norm), max.max(norm), sum + norm);
    }
    Ok((finite_rows > 0).then(|| NormStats { min, mean: sum / finite_rows as f64, max, zero_rows, non_finite_rows }))
}

fn info(path: &Path, json: bool) -> anyhow::Result<i32> {
    let file = NpyFile::open(path)?;
    let info = Info {
        file: path.display().to_string(),
        dtype: file.dtype(),
        shape: file.shape().to_vec(),
        rows: file.rows(),
        dim: file.dim(),
        norms: norm_stats(&file)?,
    };
    if json {
        crate::output::json_line(&info)?;
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: {} {:?} ({} rows of {})", info.file, info.dtype, info.shape, info.rows, info.dim)?;
    if let Some(n) = &info.norms {
        writeln!(
            out,
            "row norms: min {:.6} mean {:.6} max {:.6}; {} zero rows, {} non-finite rows",
            n.min, n.mean, n.max, n.zero_rows, n.non_finite_rows
        )?;
    }
    Ok(0)
}

fn convert(input: &Path, output: &Path, dtype: DType, normalize: bool, json: bool) -> anyhow::Result<i32> {
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
        println!("wrote {} ({} rows of {}, {dtype}{})", path.display(), spec.rows, spec.dim, if normalize { ", normalised" } else { "" });
    }
    Ok(0)
}
