//! Small building blocks shared by the SWAN modules, named as in the reference so that
//! variable names equal state-dict keys.

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// How a forward pass runs. Eval: BatchNorm uses its running statistics and Dropout is
/// the identity. Training: BatchNorm uses batch statistics and updates its running
/// statistics in place (momentum 0.1), and Dropout is active unless switched off (the
/// reference's training-step parity check runs with every Dropout in eval mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// BatchNorm in training mode (batch statistics, running statistics updated).
    pub train: bool,
    /// Dropout active (only meaningful with `train`).
    pub dropout: bool,
}

impl Mode {
    /// Inference.
    pub const EVAL: Mode = Mode { train: false, dropout: false };

    /// Training, with or without Dropout.
    pub fn train(dropout: bool) -> Mode {
        Mode { train: true, dropout }
    }

    /// `nn.Dropout(p)` under this mode.
    pub fn dropout(&self, xs: &Tensor, p: f64) -> Tensor {
        if self.train && self.dropout && p > 0.0 {
            xs.dropout(p, true)
        } else {
            xs.shallow_clone()
        }
    }
}

/// `nn.Conv2d` without bias followed by `nn.BatchNorm2d` (keys `{prefix}.0` and
/// `{prefix}.1`, as an `nn.Sequential`), then ReLU when `relu` is set.
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ConvBn {
    /// Conv `in_c -> out_c`, square kernel `k`, `stride`, `padding`, no bias.
    pub fn new(p: nn::Path, in_c: i64, out_c: i64, k: i64, stride: i64, padding: i64) -> ConvBn {
        let cfg = nn::ConvConfig { stride, padding, bias: false, ..Default::default() };
        ConvBn { conv: nn::conv2d(&p / "0", in_c, out_c, k, cfg), bn: nn::batch_norm2d(&p / "1", out_c, Default::default()) }
    }

    /// conv -> BN -> ReLU.
    pub fn forward_relu(&self, xs: &Tensor, mode: Mode) -> Tensor {
        self.bn.forward_t(&xs.apply(&self.conv), mode.train).relu()
    }
}

/// The reference's `FC` module: `linear`, ReLU, then Dropout(`dropout`) in training.
#[derive(Debug)]
pub struct Fc {
    linear: nn::Linear,
    dropout: f64,
}

impl Fc {
    /// `in_f -> out_f` under `{p}.linear`, with the module's training dropout rate.
    pub fn new(p: nn::Path, in_f: i64, out_f: i64, dropout: f64) -> Fc {
        Fc { linear: nn::linear(&p / "linear", in_f, out_f, Default::default()), dropout }
    }

    /// linear -> ReLU -> dropout.
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        mode.dropout(&xs.apply(&self.linear).relu(), self.dropout)
    }
}

/// The reference's `MLP`: `fc` (an [`Fc`], with ReLU and its dropout) then `linear`.
#[derive(Debug)]
pub struct Mlp {
    fc: Fc,
    linear: nn::Linear,
}

impl Mlp {
    /// `in_f -> mid -> out_f`, Dropout(`dropout`) after the ReLU in training.
    pub fn new(p: nn::Path, in_f: i64, mid: i64, out_f: i64, dropout: f64) -> Mlp {
        Mlp { fc: Fc::new(&p / "fc", in_f, mid, dropout), linear: nn::linear(&p / "linear", mid, out_f, Default::default()) }
    }

    /// fc -> ReLU -> dropout -> linear.
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        self.fc.forward(xs, mode).apply(&self.linear)
    }
}

/// Plain linear layer (helper so call sites read like the reference).
pub fn linear(p: nn::Path, in_f: i64, out_f: i64) -> nn::Linear {
    nn::linear(p, in_f, out_f, Default::default())
}

/// `l2norm` of the reference: `x / (sqrt(sum(x^2)) + 1e-8)` along the last axis.
pub fn l2norm(xs: &Tensor) -> Tensor {
    let norm = xs.pow_tensor_scalar(2).sum_dim_intlist(-1, true, None::<tch::Kind>).sqrt() + 1e-8;
    xs / norm
}
