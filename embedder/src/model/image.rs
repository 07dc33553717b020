//! The image branch: backbone, shallow filter, VMSF (global), SFGS (local), aggregation.

use tch::nn;
use tch::{Kind, Tensor};

use super::layers::{linear, ConvBn, Fc, Mlp, Mode};

/// Training dropout of VMSF's channel-filter MLP.
const VMSF_DROPOUT: f64 = 0.2;
/// Training dropout in SFGS: its FC, the attention map, inside the FFN and after each WSA sublayer.
const SFGS_DROPOUT: f64 = 0.1;
use super::resnet::ResNet50;

/// VMSF: multi-scale fusion of layers 2-4 into the global embedding `vg`.
#[derive(Debug)]
struct Vmsf {
    conv_512: nn::Conv2D,
    conv_1024: nn::Conv2D,
    conv_2048: nn::Conv2D,
    channel_att: ConvBn,
    channel_filter: Mlp,
}

impl Vmsf {
    fn new(p: nn::Path) -> Vmsf {
        let c = |name: &str, i, o| nn::conv2d(&p / name, i, o, 1, Default::default());
        Vmsf {
            conv_512: c("conv_512", 512, 512),
            conv_1024: c("conv_1024", 1024, 512),
            conv_2048: c("conv_2048", 2048, 1024),
            channel_att: ConvBn::new(&p / "channel_att", 2048, 512, 1, 1, 0),
            channel_filter: Mlp::new(&p / "channel_filter", 512, 1024, 512, VMSF_DROPOUT),
        }
    }

    fn forward(&self, d1: &Tensor, d2: &Tensor, d3: &Tensor, mode: Mode) -> Tensor {
        // Nearest downsampling by 0.5 keeps the even rows and columns.
        let a = d1.apply(&self.conv_512).slice(2, 0, None, 2).slice(3, 0, None, 2);
        let b = d2.apply(&self.conv_1024);
        let c = d3.apply(&self.conv_2048).upsample_nearest2d([16, 16], Some(2.0), Some(2.0));
        let m = self.channel_att.forward_relu(&Tensor::cat(&[a, b, c], 1), mode);
        self.channel_filter.forward(&m.mean_dim([2i64, 3].as_slice(), false, None::<Kind>), mode)
    }
}

/// Multi-head attention of the SFGS block, with the reference's argument-order quirk.
#[derive(Debug)]
struct MhAtt {
    linear_v: nn::Linear,
    linear_k: nn::Linear,
    linear_q: nn::Linear,
    linear_merge: nn::Linear,
}

const HEADS: i64 = 8;
const HEAD_DIM: i64 = 64;

impl MhAtt {
    fn new(p: nn::Path) -> MhAtt {
        MhAtt {
            linear_v: linear(&p / "linear_v", 512, 512),
            linear_k: linear(&p / "linear_k", 512, 512),
            linear_q: linear(&p / "linear_q", 512, 512),
            linear_merge: linear(&p / "linear_merge", 512, 512),
        }
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let b = x.size()[0];
        let heads = |t: Tensor| t.view([b, -1, HEADS, HEAD_DIM]).transpose(1, 2);
        let v = heads(x.apply(&self.linear_v));
        let k = heads(x.apply(&self.linear_k));
        let q = heads(x.apply(&self.linear_q));
        // The reference calls att(v, k, q) on a function declared att(k, q, v), so it
        // computes softmax(K V^T / sqrt(d)) Q, not textbook attention. Reproduced on purpose.
        let scores = k.matmul(&v.transpose(-2, -1)) / (HEAD_DIM as f64).sqrt();
        let att = mode.dropout(&scores.softmax(-1, None::<Kind>), SFGS_DROPOUT).matmul(&q);
        att.transpose(1, 2).contiguous().view([b, -1, HEADS * HEAD_DIM]).apply(&self.linear_merge)
    }
}

/// Weighted self-attention: a transformer layer, then a learned 128 -> 512 token mixing.
#[derive(Debug)]
struct Wsa {
    mhatt: MhAtt,
    ffn_0: nn::Linear,
    ffn_3: nn::Linear,
    norm1: nn::LayerNorm,
    norm2: nn::LayerNorm,
    fmp_weight: Tensor,
}

impl Wsa {
    fn new(p: nn::Path) -> Wsa {
        let ln = |name: &str| nn::layer_norm(&p / name, vec![512], Default::default());
        Wsa {
            mhatt: MhAtt::new(&p / "mhatt"),
            ffn_0: linear(&p / "ffn" / "net" / "0", 512, 1024),
            ffn_3: linear(&p / "ffn" / "net" / "3", 1024, 512),
            norm1: ln("norm1"),
            norm2: ln("norm2"),
            fmp_weight: p.var("fmp_weight", &[1, 128, 512], nn::Init::Const(0.0)),
        }
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let x = (x + mode.dropout(&self.mhatt.forward(x, mode), SFGS_DROPOUT)).apply(&self.norm1);
        // ffn.net = [Linear, GELU, Dropout, Linear]: the keys skip index 2, the dropout.
        let ffn = mode.dropout(&x.apply(&self.ffn_0).gelu("none"), SFGS_DROPOUT).apply(&self.ffn_3);
        let x = (&x + mode.dropout(&ffn, SFGS_DROPOUT)).apply(&self.norm2);
        // fmp_weight^T (1 x 512 x 128) @ x (B x 128 x 512) -> B x 512 x 512, then mean over axis 1.
        self.fmp_weight.transpose(1, 2).matmul(&x).mean_dim([1i64].as_slice(), false, None::<Kind>)
    }
}

/// SFGS: the local embedding `vl` from the shallow features.
#[derive(Debug)]
pub struct Sfgs {
    conv2d_block_11: ConvBn,
    conv2d_block_33: ConvBn,
    conv2d_block_55: ConvBn,
    fc: Fc,
    wsa: Wsa,
}

impl Sfgs {
    /// Build under `p` (`sfgs`).
    pub fn new(p: nn::Path) -> Sfgs {
        Sfgs {
            conv2d_block_11: ConvBn::new(&p / "conv2d_block_11", 32, 32, 1, 1, 0),
            conv2d_block_33: ConvBn::new(&p / "conv2d_block_33", 32, 32, 3, 3, 0),
            conv2d_block_55: ConvBn::new(&p / "conv2d_block_55", 32, 64, 5, 5, 0),
            fc: Fc::new(&p / "fc", 256, 512, SFGS_DROPOUT),
            wsa: Wsa::new(&p / "wsa"),
        }
    }

    /// `s` (`B x 32 x 64 x 64`) -> `vl` (`B x 512`).
    pub fn forward(&self, s: &Tensor, mode: Mode) -> Tensor {
        let b = s.size()[0];
        let block = |m: &ConvBn| m.forward_relu(s, mode).adaptive_avg_pool2d([16, 16]).view([b, -1, 256]);
        let v = Tensor::cat(&[block(&self.conv2d_block_11), block(&self.conv2d_block_33), block(&self.conv2d_block_55)], 1);
        self.wsa.forward(&self.fc.forward(&v, mode), mode)
    }
}

/// The image encoder (`image_encoder.*`): backbone, shallow filter and VMSF.
#[derive(Debug)]
pub struct ImageEncoder {
    resnet: ResNet50,
    conv_filter: ConvBn,
    vmsf: Vmsf,
}

/// Every intermediate of the image branch, for parity tests.
#[derive(Debug)]
pub struct ImageIntermediates {
    /// Backbone stem after the max-pool.
    pub stem: Tensor,
    /// Output of layer 2.
    pub layer2: Tensor,
    /// Output of layer 3.
    pub layer3: Tensor,
    /// Output of layer 4.
    pub layer4: Tensor,
    /// Shallow filter output `s`.
    pub shallow: Tensor,
    /// Global embedding `vg`.
    pub vmsf: Tensor,
    /// Local embedding `vl`.
    pub sfgs: Tensor,
    /// Aggregated embedding, not normalised.
    pub raw: Tensor,
}

impl ImageEncoder {
    /// Build under `p` (`image_encoder`).
    pub fn new(p: nn::Path) -> ImageEncoder {
        ImageEncoder {
            resnet: ResNet50::new(&p / "resnet"),
            conv_filter: ConvBn::new(&p / "conv_filter", 64, 32, 1, 1, 0),
            vmsf: Vmsf::new(&p / "vmsf"),
        }
    }
}

/// The aggregation MLP (`agg.*`).
#[derive(Debug)]
pub struct Agg {
    fc_1: nn::Linear,
    fc_2: nn::Linear,
}

impl Agg {
    /// Build under `p` (`agg`).
    pub fn new(p: nn::Path) -> Agg {
        Agg { fc_1: linear(&p / "fc_1", 1024, 512), fc_2: linear(&p / "fc_2", 512, 512) }
    }
}

/// The whole image branch.
#[derive(Debug)]
pub struct ImageBranch {
    encoder: ImageEncoder,
    sfgs: Sfgs,
    agg: Agg,
}

impl ImageBranch {
    /// Build with the reference's top-level names (`image_encoder`, `sfgs`, `agg`) under `root`.
    pub fn new(root: &nn::Path) -> ImageBranch {
        ImageBranch { encoder: ImageEncoder::new(root / "image_encoder"), sfgs: Sfgs::new(root / "sfgs"), agg: Agg::new(root / "agg") }
    }

    /// All intermediates for normalised images `B x 3 x 256 x 256`.
    pub fn forward_intermediates(&self, images: &Tensor, mode: Mode) -> ImageIntermediates {
        let f = self.encoder.resnet.forward(images, mode);
        let shallow = self.encoder.conv_filter.forward_relu(&f.stem, mode);
        let vmsf = self.encoder.vmsf.forward(&f.layer2, &f.layer3, &f.layer4, mode);
        let sfgs = self.sfgs.forward(&shallow, mode);
        let raw = Tensor::cat(&[&sfgs, &vmsf], 1).apply(&self.agg.fc_1).relu().apply(&self.agg.fc_2);
        ImageIntermediates { stem: f.stem, layer2: f.layer2, layer3: f.layer3, layer4: f.layer4, shallow, vmsf, sfgs, raw }
    }

    /// Aggregated (not normalised) embeddings `B x 512`.
    pub fn forward_raw(&self, images: &Tensor, mode: Mode) -> Tensor {
        self.forward_intermediates(images, mode).raw
    }
}
