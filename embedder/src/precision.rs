//! Numeric precision of the forward pass, and the memory layout of convolutions.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

/// How the forward pass computes (inference: weights and activations converted; training:
/// autocast over fp32 weights, see [`ComputePrecision::autocast_kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputePrecision {
    /// True fp32: TF32 off in cuDNN and cuBLAS. Bit-level parity with the reference.
    Fp32,
    /// PyTorch's defaults on Ampere and later: cuDNN convolutions in TF32, matmuls in
    /// fp32 (the reference's GPU throughput figures were measured this way). On the CPU
    /// it is the same as `fp32`.
    Tf32,
    /// Weights and activations in bfloat16.
    Bf16,
    /// Weights and activations in float16 (CUDA only).
    Fp16,
}

impl ComputePrecision {
    /// Element type of weights and activations.
    pub fn kind(self) -> Kind {
        match self {
            ComputePrecision::Fp32 | ComputePrecision::Tf32 => Kind::Float,
            ComputePrecision::Bf16 => Kind::BFloat16,
            ComputePrecision::Fp16 => Kind::Half,
        }
    }

    /// Training: the type autocast computes in (`bf16`, `fp16`), or `None` for the fp32
    /// precisions. Weights, gradients and Adam's state stay fp32 in every precision.
    pub fn autocast_kind(self) -> Option<Kind> {
        match self {
            ComputePrecision::Fp32 | ComputePrecision::Tf32 => None,
            ComputePrecision::Bf16 => Some(Kind::BFloat16),
            ComputePrecision::Fp16 => Some(Kind::Half),
        }
    }

    /// Training: whether the loss is scaled dynamically (fp16, whose range is too small for
    /// the gradients; bf16 has fp32's range).
    pub fn scales_loss(self) -> bool {
        self == ComputePrecision::Fp16
    }

    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ComputePrecision::Fp32 => "fp32",
            ComputePrecision::Tf32 => "tf32",
            ComputePrecision::Bf16 => "bf16",
            ComputePrecision::Fp16 => "fp16",
        }
    }

    /// The default for a device: true fp32 on the CPU (it costs nothing there), PyTorch's
    /// own default (`tf32`) on CUDA.
    pub fn default_for(device: Device) -> ComputePrecision {
        if device.is_cuda() {
            ComputePrecision::Tf32
        } else {
            ComputePrecision::Fp32
        }
    }

    /// Check the precision can run on `device`, and prepare the process for it.
    ///
    /// libtorch has no switch for cuDNN's TF32, so `fp32` on CUDA sets
    /// `NVIDIA_TF32_OVERRIDE=0`, which cuDNN and cuBLAS read when they start: this must
    /// happen before the first CUDA operation of the process, and applies to all of it.
    pub fn prepare(self, device: Device) -> Result<(), String> {
        match (self, device.is_cuda()) {
            (ComputePrecision::Fp16, false) => Err("fp16 needs a CUDA device; use bf16 or fp32 on the CPU".into()),
            (ComputePrecision::Fp32, true) => {
                // SAFETY (set_var): called on the main thread before worker threads start.
                std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
                Ok(())
            }
            (ComputePrecision::Tf32, true) if std::env::var("NVIDIA_TF32_OVERRIDE").as_deref() == Ok("0") => {
                Err("tf32 requested but NVIDIA_TF32_OVERRIDE=0 is set in the environment".into())
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for ComputePrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ComputePrecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(ComputePrecision::Fp32),
            "tf32" => Ok(ComputePrecision::Tf32),
            "bf16" => Ok(ComputePrecision::Bf16),
            "fp16" => Ok(ComputePrecision::Fp16),
            _ => Err(format!("unknown precision '{s}' (expected fp32, tf32, bf16 or fp16)")),
        }
    }
}

/// Give a 4-d tensor channels-last strides (NHWC in memory, NCHW in shape), as
/// `tensor.to(memory_format=torch.channels_last)` does; tch has no memory-format API.
pub fn to_channels_last(t: &tch::Tensor) -> tch::Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        t.shallow_clone()
    }
}
