//! Small building blocks shared by the SWAN modules, named as in the reference so that
//! variable names equal state-dict keys.

use tch::nn::{self, ModuleT};
use tch::Tensor;

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

    /// conv -> BN (eval) -> ReLU.
    pub fn forward_relu(&self, xs: &Tensor) -> Tensor {
        self.bn.forward_t(&xs.apply(&self.conv), false).relu()
    }
}

/// The reference's `FC` module: `linear` then ReLU (its dropout is the identity in eval).
#[derive(Debug)]
pub struct Fc {
    linear: nn::Linear,
}

impl Fc {
    /// `in_f -> out_f` under `{p}.linear`.
    pub fn new(p: nn::Path, in_f: i64, out_f: i64) -> Fc {
        Fc { linear: nn::linear(&p / "linear", in_f, out_f, Default::default()) }
    }

    /// linear -> ReLU.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.linear).relu()
    }
}

/// The reference's `MLP`: `fc` (an [`Fc`], with ReLU) then `linear`.
#[derive(Debug)]
pub struct Mlp {
    fc: Fc,
    linear: nn::Linear,
}

impl Mlp {
    /// `in_f -> mid -> out_f`.
    pub fn new(p: nn::Path, in_f: i64, mid: i64, out_f: i64) -> Mlp {
        Mlp { fc: Fc::new(&p / "fc", in_f, mid), linear: nn::linear(&p / "linear", mid, out_f, Default::default()) }
    }

    /// fc -> ReLU -> linear.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        self.fc.forward(xs).apply(&self.linear)
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
