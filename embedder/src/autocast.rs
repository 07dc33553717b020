//! Autocast regions, as `with torch.autocast(device_type, dtype):` opens them: inside, the
//! ops on autocast's lists run in the low-precision type (convolutions, matmuls, linear
//! layers, RNN kernels) or in fp32 (softmax, norms, reductions, losses on CUDA), whatever the
//! dtype of their inputs; weights stay as they are. tch 0.24 only wraps CUDA autocast with its
//! default dtype (fp16), so this goes through a small C++ shim (`csrc/autocast.cpp`) that calls
//! libtorch's `at::autocast` switches for any device and dtype.
//!
//! Autocast state is per thread in libtorch, so the guard is neither `Send` nor `Sync`, and
//! nested guards must end in reverse order (as scopes do).

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;

use tch::{Device, Kind};

use crate::error::{EmbedError, Result};

#[repr(C)]
#[derive(Debug, Default)]
struct Prev {
    enabled: c_int,
    dtype: c_int,
}

extern "C" {
    fn swan_autocast_enter(device: c_int, dtype: c_int, prev: *mut Prev, err: *mut c_char, err_len: usize) -> c_int;
    fn swan_autocast_exit(device: c_int, prev: *const Prev, err: *mut c_char, err_len: usize) -> c_int;
    fn swan_autocast_state(device: c_int, enabled: *mut c_int, dtype: *mut c_int, err: *mut c_char, err_len: usize) -> c_int;
}

fn device_code(device: Device) -> Result<c_int> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => Err(EmbedError::Input(format!("autocast runs on the CPU or CUDA, not {other:?}"))),
    }
}

fn kind_code(kind: Kind) -> Result<c_int> {
    match kind {
        Kind::Half => Ok(0),
        Kind::BFloat16 => Ok(1),
        other => Err(EmbedError::Input(format!("autocast computes in Half or BFloat16, not {other:?}"))),
    }
}

/// Call a shim function with an error buffer; its message becomes a [`EmbedError::Torch`].
fn call(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut err = [0 as c_char; 512];
    if f(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated message within the buffer.
    let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    Err(EmbedError::Torch(msg))
}

/// Autocast on for one device in one low-precision type until dropped; the previous
/// state (enabled or not, and its dtype) comes back on drop, during a panic too.
#[derive(Debug)]
#[must_use = "autocast ends when the guard is dropped"]
pub struct AutocastGuard {
    device: c_int,
    prev: Prev,
    // libtorch's autocast state is thread-local: the guard must end on its own thread.
    _not_send: PhantomData<*const ()>,
}

impl AutocastGuard {
    /// Start autocast on `device` (CPU or CUDA) computing in `kind` (`Half` or `BFloat16`).
    pub fn new(device: Device, kind: Kind) -> Result<AutocastGuard> {
        let (device, dtype) = (device_code(device)?, kind_code(kind)?);
        let mut prev = Prev::default();
        // SAFETY: plain ints and pointers to live locals; the shim catches every C++ exception.
        call(|err, len| unsafe { swan_autocast_enter(device, dtype, &mut prev, err, len) })?;
        Ok(AutocastGuard { device, prev, _not_send: PhantomData })
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        // Cannot fail for the device codes `new` accepted; nothing to report from a drop.
        // SAFETY: as in `new`.
        let _ = call(|err, len| unsafe { swan_autocast_exit(self.device, &self.prev, err, len) });
    }
}

/// Whether autocast is on for `device` on this thread, and the type it computes in
/// (`None` for a type other than Half, BFloat16 or Float).
pub fn state(device: Device) -> Result<(bool, Option<Kind>)> {
    let device = device_code(device)?;
    let (mut enabled, mut dtype) = (0, 0);
    // SAFETY: as in `AutocastGuard::new`.
    call(|err, len| unsafe { swan_autocast_state(device, &mut enabled, &mut dtype, err, len) })?;
    let kind = match dtype {
        0 => Some(Kind::Half),
        1 => Some(Kind::BFloat16),
        2 => Some(Kind::Float),
        _ => None,
    };
    Ok((enabled != 0, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    fn matmul_kind() -> Kind {
        let a = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
        a.matmul(&a).kind()
    }

    fn mse_kind() -> Kind {
        let a = Tensor::ones([4], (Kind::BFloat16, Device::Cpu));
        a.mse_loss(&a.zeros_like(), tch::Reduction::Mean).kind()
    }

    #[test]
    fn bf16_autocast_on_the_cpu_changes_matmul_and_conv_outputs_and_ends_with_the_guard() {
        assert!(!state(Device::Cpu).unwrap().0);
        assert_eq!(matmul_kind(), Kind::Float);
        {
            let _g = AutocastGuard::new(Device::Cpu, Kind::BFloat16).unwrap();
            assert_eq!(state(Device::Cpu).unwrap(), (true, Some(Kind::BFloat16)));
            assert_eq!(matmul_kind(), Kind::BFloat16);
            let x = Tensor::ones([1, 3, 8, 8], (Kind::Float, Device::Cpu));
            let w = Tensor::ones([2, 3, 3, 3], (Kind::Float, Device::Cpu));
            assert_eq!(x.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1).kind(), Kind::BFloat16);
            // On autocast's fp32 list (losses): computed in fp32 even from bf16 inputs.
            assert_eq!(mse_kind(), Kind::Float);
        }
        assert!(!state(Device::Cpu).unwrap().0);
        assert_eq!(matmul_kind(), Kind::Float);
        assert_eq!(mse_kind(), Kind::BFloat16);
    }

    #[test]
    fn nested_guards_restore_the_outer_state_and_a_panic_restores_it_too() {
        let outer = AutocastGuard::new(Device::Cpu, Kind::BFloat16).unwrap();
        {
            let _inner = AutocastGuard::new(Device::Cpu, Kind::Half).unwrap();
            assert_eq!(state(Device::Cpu).unwrap(), (true, Some(Kind::Half)));
        }
        assert_eq!(state(Device::Cpu).unwrap(), (true, Some(Kind::BFloat16)));
        drop(outer);
        let before = state(Device::Cpu).unwrap();
        assert!(!before.0);
        let caught = std::panic::catch_unwind(|| {
            let _g = AutocastGuard::new(Device::Cpu, Kind::BFloat16).unwrap();
            assert_eq!(matmul_kind(), Kind::BFloat16);
            panic!("inside autocast");
        });
        assert!(caught.is_err());
        assert_eq!(state(Device::Cpu).unwrap(), before);
        assert_eq!(matmul_kind(), Kind::Float);
    }

    #[test]
    fn other_types_and_devices_are_refused() {
        assert!(AutocastGuard::new(Device::Cpu, Kind::Float).is_err());
        assert!(AutocastGuard::new(Device::Mps, Kind::BFloat16).is_err());
        assert!(!state(Device::Cpu).unwrap().0);
    }
}
