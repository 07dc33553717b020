//! Start-up of libtorch: making CUDA visible, and describing what was found.
//!
//! The linker drops `libtorch_cuda.so` from the binary's needed libraries (no symbol of
//! it is referenced), and without it libtorch reports no CUDA even on a GPU machine.
//! [`init`] loads it by hand from the folder the running libtorch was loaded from, so
//! the CPU and GPU libraries always come from the same install.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Serialize;

/// Outcome of loading `libtorch_cuda.so`, recorded once per process.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum CudaLibrary {
    /// Loaded from this path.
    Loaded(PathBuf),
    /// This libtorch build has no CUDA library (a CPU-only wheel).
    Absent,
    /// The library exists but could not be loaded; the loader's message.
    Failed(String),
}

static CUDA_LIBRARY: OnceLock<CudaLibrary> = OnceLock::new();

/// Load `libtorch_cuda.so` if the running libtorch has one. Idempotent; call it before
/// the first tensor operation (the CLI does so first thing in `main`).
pub fn init() -> &'static CudaLibrary {
    CUDA_LIBRARY.get_or_init(|| {
        let Some(dir) = libtorch_lib_dir() else { return CudaLibrary::Absent };
        let path = dir.join("libtorch_cuda.so");
        if !path.exists() {
            return CudaLibrary::Absent;
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in a path from /proc");
        // SAFETY: dlopen with a valid C string; the handle is never closed, so the
        // library stays mapped for the life of the process, as libtorch expects.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a thread-local C string or null.
            let msg = unsafe { libc::dlerror() };
            let msg = if msg.is_null() {
                "unknown error".into()
            } else {
                unsafe { std::ffi::CStr::from_ptr(msg) }.to_string_lossy().into_owned()
            };
            return CudaLibrary::Failed(msg);
        }
        CudaLibrary::Loaded(path)
    })
}

/// The folder of the `libtorch_cpu.so` this process runs on (from `/proc/self/maps`).
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    // Make sure libtorch is mapped before looking (any cheap call will do).
    let _ = tch::get_num_threads();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.ends_with("/libtorch_cpu.so"))
        .and_then(|path| PathBuf::from(path).parent().map(PathBuf::from))
}

/// What `swan info` reports about the compute back end.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeInfo {
    /// libtorch version, read from the install it was loaded from (`torch/version.py`).
    pub libtorch_version: Option<String>,
    /// Folder of the libtorch libraries in use.
    pub libtorch_path: Option<PathBuf>,
    /// Whether CUDA can be used.
    pub cuda_available: bool,
    /// Whether cuDNN can be used.
    pub cudnn_available: bool,
    /// Number of CUDA devices.
    pub cuda_device_count: i64,
    /// Intra-op CPU threads libtorch uses.
    pub cpu_threads: i32,
    /// Outcome of loading `libtorch_cuda.so`.
    pub cuda_library: CudaLibrary,
}

/// Describe the libtorch this process runs on (calls [`init`] first).
pub fn info() -> RuntimeInfo {
    let cuda_library = init().clone();
    let lib_dir = libtorch_lib_dir();
    let libtorch_version = lib_dir.as_ref().and_then(|d| read_version(&d.join("../version.py")));
    RuntimeInfo {
        libtorch_version,
        libtorch_path: lib_dir,
        cuda_available: tch::Cuda::is_available(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cuda_device_count: tch::Cuda::device_count(),
        cpu_threads: tch::get_num_threads(),
        cuda_library,
    }
}

/// `__version__ = '2.11.0+cu130'` -> `2.11.0+cu130`.
fn read_version(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__"))
        .and_then(|rest| rest.split_once('='))
        .map(|(_, value)| value.trim().trim_matches(['\'', '"']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_libtorch_it_runs_on() {
        let info = info();
        let version = info.libtorch_version.expect("version.py beside the libtorch in use");
        assert!(version.starts_with("2.11."), "{version}");
        assert!(info.cpu_threads >= 1);
        // A tensor op works whatever the device situation.
        assert_eq!(tch::Tensor::from_slice(&[1.0f32, 2.0]).sum(tch::Kind::Float).double_value(&[]), 3.0);
    }

    #[test]
    fn probes_the_cpu_and_refuses_unknown_devices() {
        let p = probe("cpu").unwrap();
        assert_eq!(p.max_abs_diff, 0.0);
        assert!(parse_device("gpu").unwrap_err().to_string().contains("unknown device 'gpu'"));
        if !tch::Cuda::is_available() {
            let err = parse_device("cuda:0").unwrap_err().to_string();
            assert!(err.contains("CUDA is not available"), "{err}");
        }
    }

    #[test]
    fn thread_counts_are_bounded() {
        let max = max_threads();
        assert_eq!(check_threads("--threads", 1).unwrap(), 1);
        assert_eq!(check_threads("--threads", max as i64).unwrap(), max);
        for bad in [0, -1, max as i64 + 1, 100_000] {
            let err = check_threads("--threads", bad).unwrap_err().to_string();
            assert_eq!(err, format!("--threads must be between 1 and {max} (4 per available core), got {bad}"));
        }
    }

    #[test]
    fn parses_version_files() {
        let dir = std::env::temp_dir().join(format!("swan-version-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("version.py");
        std::fs::write(&file, "from typing import Optional\n__version__ = '2.11.0+cu130'\ngit_version = 'x'\n").unwrap();
        assert_eq!(read_version(&file).as_deref(), Some("2.11.0+cu130"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Result of running a small computation on a device and checking it against the CPU.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    /// The device, as given.
    pub device: String,
    /// Max absolute difference of a 256 x 256 matmul between the device and the CPU.
    pub max_abs_diff: f64,
    /// Wall time of the device computation including the copy back, in milliseconds.
    pub millis: f64,
}

/// Errors of [`probe`] and device parsing.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The text is not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device '{0}' (expected cpu, cuda or cuda:N)")]
    Unknown(String),
    /// CUDA was asked for but libtorch sees no CUDA device.
    #[error("device '{0}' requested but CUDA is not available ({1})")]
    NoCuda(String, String),
    /// libtorch failed while computing.
    #[error("libtorch error on {0}: {1}")]
    Torch(String, tch::TchError),
    /// A thread count outside `1..=max`.
    #[error("{what} must be between 1 and {max} (4 per available core), got {got}")]
    Threads {
        /// The setting, as the user named it.
        what: &'static str,
        /// What was asked for.
        got: i64,
        /// The most allowed.
        max: usize,
    },
}

/// The most threads a thread setting may ask for: 4 per available core. More only
/// thrash (100000 threads took minutes to start on one image).
pub fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Check a thread count named `what` (for messages) against `1..=`[`max_threads`].
pub fn check_threads(what: &'static str, n: i64) -> Result<usize, DeviceError> {
    let max = max_threads();
    if n < 1 || n as u64 > max as u64 {
        return Err(DeviceError::Threads { what, got: n, max });
    }
    Ok(n as usize)
}

/// Set libtorch's intra-op CPU threads (`--threads`), bounded by [`max_threads`].
pub fn set_threads(n: i32) -> Result<(), DeviceError> {
    check_threads("--threads", n as i64)?;
    tch::set_num_threads(n);
    Ok(())
}

/// Intra-op CPU threads libtorch uses.
pub fn cpu_threads() -> i32 {
    tch::get_num_threads()
}

/// The first CUDA device if there is one, else the CPU.
pub fn default_device() -> tch::Device {
    init();
    tch::Device::cuda_if_available()
}

/// Parse `cpu`, `cuda` or `cuda:N` and check the device exists.
pub fn parse_device(text: &str) -> Result<tch::Device, DeviceError> {
    let index = match text {
        "cpu" => return Ok(tch::Device::Cpu),
        "cuda" => 0,
        _ => text.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| DeviceError::Unknown(text.into()))?,
    };
    init();
    let count = tch::Cuda::device_count();
    if (index as i64) >= count {
        let why = match init() {
            CudaLibrary::Failed(msg) => format!("libtorch_cuda.so failed to load: {msg}"),
            CudaLibrary::Absent => "this libtorch has no CUDA library".into(),
            CudaLibrary::Loaded(_) => format!("{count} CUDA devices visible"),
        };
        return Err(DeviceError::NoCuda(text.into(), why));
    }
    Ok(tch::Device::Cuda(index))
}

/// Run a deterministic 256 x 256 matmul on `device` and compare it with the CPU.
pub fn probe(device_text: &str) -> Result<Probe, DeviceError> {
    let device = parse_device(device_text)?;
    let torch = |e| DeviceError::Torch(device_text.into(), e);
    let _guard = tch::no_grad_guard();
    let values: Vec<f32> = (0..256 * 256).map(|i| ((i * 7919) % 1021) as f32 / 1021.0 - 0.5).collect();
    let a = tch::Tensor::from_slice(&values).f_view([256, 256]).map_err(torch)?;
    let want = a.f_matmul(&a.tr()).map_err(torch)?;
    let start = std::time::Instant::now();
    let on_device = a.f_to_device(device).map_err(torch)?;
    let got = on_device.f_matmul(&on_device.tr()).map_err(torch)?.f_to_device(tch::Device::Cpu).map_err(torch)?;
    let millis = start.elapsed().as_secs_f64() * 1e3;
    let max_abs_diff = (got - want).abs().max().double_value(&[]);
    Ok(Probe { device: device_text.into(), max_abs_diff, millis })
}
