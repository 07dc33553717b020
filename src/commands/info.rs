//! `swan info`.

use swan_embedder::runtime::{self, CudaLibrary};

pub fn run(probe: Option<&str>, json: bool) -> anyhow::Result<()> {
    let info = runtime::info();
    let probe = probe.map(runtime::probe).transpose()?;
    if json {
        crate::output::json_line(&serde_json::json!({ "runtime": info, "probe": probe }))?;
        return Ok(());
    }
    let mut out = crate::output::stdout();
    writeln!(out, "libtorch     {}", info.libtorch_version.as_deref().unwrap_or("unknown"))?;
    if let Some(path) = &info.libtorch_path {
        writeln!(out, "  from       {}", path.display())?;
    }
    writeln!(out, "cuda         {}", if info.cuda_available { "available" } else { "not available" })?;
    writeln!(out, "cudnn        {}", if info.cudnn_available { "available" } else { "not available" })?;
    writeln!(out, "devices      {}", info.cuda_device_count)?;
    writeln!(out, "cpu threads  {}", info.cpu_threads)?;
    let lib = match &info.cuda_library {
        CudaLibrary::Loaded(path) => format!("loaded {}", path.display()),
        CudaLibrary::Absent => "absent (CPU-only libtorch)".into(),
        CudaLibrary::Failed(msg) => format!("failed to load: {msg}"),
    };
    writeln!(out, "torch_cuda   {lib}")?;
    if let Some(p) = probe {
        writeln!(out, "probe        {}: 256x256 matmul in {:.2} ms, max |device - cpu| = {:.3e}", p.device, p.millis, p.max_abs_diff)?;
    }
    Ok(())
}
