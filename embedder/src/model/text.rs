//! The text branch: word embedding, packed bidirectional GRU, TCGE.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::layers::{linear, Mlp, Mode};

/// Training dropout on the word embeddings.
const EMBED_DROPOUT: f64 = 0.4;
/// Training dropout in TCGE, after GA's BatchNorm.
const TCGE_DROPOUT: f64 = 0.2;

/// Rows of the embedding table: fixed at 8590 in the reference, whatever the vocabulary.
pub const EMBED_ROWS: i64 = 8590;
const WORD_DIM: i64 = 300;
const HIDDEN: i64 = 512;

/// `text_encoder.*`: embedding and bidirectional GRU (`projection` is never used).
#[derive(Debug)]
struct TextEncoder {
    embed: nn::Embedding,
    /// `[w_ih, w_hh, b_ih, b_hh]` forward then reverse: the order libtorch's GRU takes.
    gru_params: Vec<Tensor>,
}

impl TextEncoder {
    fn new(p: nn::Path) -> TextEncoder {
        let rnn = &p / "rnn";
        let mut gru_params = Vec::new();
        for suffix in ["", "_reverse"] {
            let z = nn::Init::Const(0.0);
            gru_params.push(rnn.var(&format!("weight_ih_l0{suffix}"), &[3 * HIDDEN, WORD_DIM], z));
            gru_params.push(rnn.var(&format!("weight_hh_l0{suffix}"), &[3 * HIDDEN, HIDDEN], z));
            gru_params.push(rnn.var(&format!("bias_ih_l0{suffix}"), &[3 * HIDDEN], z));
            gru_params.push(rnn.var(&format!("bias_hh_l0{suffix}"), &[3 * HIDDEN], z));
        }
        TextEncoder { embed: nn::embedding(&p / "embed", EMBED_ROWS, WORD_DIM, Default::default()), gru_params }
    }

    /// `B x T` ids with per-row `lengths` -> the directions' average, `B x T x 512`, zero
    /// past each length. Runs libtorch's packed GRU, the same kernel as the reference's
    /// `pack_padded_sequence` path, so each caption reads only its own tokens.
    fn forward(&self, ids: &Tensor, lengths: &[i64], mode: Mode) -> Tensor {
        let b = lengths.len() as i64;
        let t = ids.size()[1];
        let x = mode.dropout(&ids.apply(&self.embed), EMBED_DROPOUT);
        // pack_padded_sequence(enforce_sorted=False): sort by decreasing length.
        let mut order: Vec<i64> = (0..b).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(lengths[i as usize]));
        let sorted_lengths: Vec<i64> = order.iter().map(|&i| lengths[i as usize]).collect();
        let order_t = Tensor::from_slice(&order).to_device(ids.device());
        let x_sorted = x.index_select(0, &order_t);
        let (data, batch_sizes) = Tensor::internal_pack_padded_sequence(&x_sorted, &Tensor::from_slice(&sorted_lengths), true);
        let hx = Tensor::zeros([2, b, HIDDEN], (x.kind(), x.device()));
        let (out, _) = Tensor::gru_data(&data, &batch_sizes, &hx, &self.gru_params, true, 1, 0.0, mode.train, true);
        let (padded, _) = Tensor::internal_pad_packed_sequence(&out, &batch_sizes, true, 0.0, t);
        // Undo the sort.
        let mut inverse = vec![0i64; b as usize];
        for (pos, &i) in order.iter().enumerate() {
            inverse[i as usize] = pos as i64;
        }
        let padded = padded.index_select(0, &Tensor::from_slice(&inverse).to_device(ids.device()));
        (padded.narrow(2, 0, HIDDEN) + padded.narrow(2, HIDDEN, HIDDEN)) / 2.0
    }
}

/// Gated attention (`tcge.ga`): 2 heads of 256, sigmoid gates on q and k, floor-divided scores.
#[derive(Debug)]
struct Ga {
    linears: [nn::Linear; 3],
    fc_q: nn::Linear,
    fc_k: nn::Linear,
    fc_g: nn::Linear,
}

const GA_HEADS: i64 = 2;
const GA_DIM: i64 = 256;

impl Ga {
    fn new(p: nn::Path) -> Ga {
        let l = |i: usize| linear(&p / "linears" / i.to_string(), 512, 512);
        Ga {
            linears: [l(0), l(1), l(2)],
            fc_q: linear(&p / "fc_q", GA_DIM, GA_DIM),
            fc_k: linear(&p / "fc_k", GA_DIM, GA_DIM),
            fc_g: linear(&p / "fc_g", GA_DIM, 2 * GA_DIM),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let b = x.size()[0];
        let heads = |t: Tensor| t.view([b, -1, GA_HEADS, GA_DIM]).transpose(1, 2);
        let q = heads(x.apply(&self.linears[0]));
        let k = heads(x.apply(&self.linears[1]));
        let v = heads(x.apply(&self.linears[2]));
        let g = q.apply(&self.fc_q) * k.apply(&self.fc_k);
        let m = g.apply(&self.fc_g).sigmoid();
        let q = q * m.narrow(-1, 0, GA_DIM);
        let k = k * m.narrow(-1, GA_DIM, GA_DIM);
        // The reference divides with rounding_mode='floor' (not true division): same op here.
        let scores = q.matmul(&k.transpose(-2, -1)).divide_scalar_mode((GA_DIM as f64).sqrt(), "floor");
        // No padding mask: padded positions take part, which is why padding changes embeddings.
        let att = scores.softmax(-1, None::<Kind>).matmul(&v);
        att.transpose(1, 2).contiguous().view([b, -1, GA_HEADS * GA_DIM])
    }
}

/// TCGE (`tcge.*`). The dead `conv1d_block_22/33` branch is not built: its output is
/// concatenated after position `T - 1` and never gathered, so it cannot change any
/// embedding, and skipping it makes one- and two-word captions work.
#[derive(Debug)]
struct Tcge {
    ga: Ga,
    bn_1d: nn::BatchNorm,
    mlp: Mlp,
}

impl Tcge {
    fn new(p: nn::Path) -> Tcge {
        Tcge {
            ga: Ga::new(&p / "ga"),
            bn_1d: nn::batch_norm1d(&p / "bn_1d", 512, Default::default()),
            // The reference names only GA's BatchNorm output for TCGE's dropout.
            mlp: Mlp::new(&p / "mlp", 512, 1024, 512, 0.0),
        }
    }
}

/// Intermediates of the text branch, for parity tests.
#[derive(Debug)]
pub struct TextIntermediates {
    /// Averaged GRU output, `B x T x 512`.
    pub gru: Tensor,
    /// GA output before the BatchNorm, `B x T x 512`.
    pub ga: Tensor,
    /// Caption embeddings before normalisation (TCGE output at each caption's last token), `B x 512`.
    pub raw: Tensor,
}

/// The whole text branch.
#[derive(Debug)]
pub struct TextBranch {
    encoder: TextEncoder,
    tcge: Tcge,
}

impl TextBranch {
    /// Build with the reference's names (`text_encoder`, `tcge`) under `root`.
    pub fn new(root: &nn::Path) -> TextBranch {
        TextBranch { encoder: TextEncoder::new(root / "text_encoder"), tcge: Tcge::new(root / "tcge") }
    }

    /// Encode `B x T` ids (`T = max(lengths)`, zeros past each length) into intermediates.
    pub fn forward_intermediates(&self, ids: &Tensor, lengths: &[i64], mode: Mode) -> TextIntermediates {
        let gru = self.encoder.forward(ids, lengths, mode);
        let ga = self.tcge.ga.forward(&gru);
        // BatchNorm1d normalises channels on axis 1: move the 512 features there and back.
        // In training its batch statistics cover every position, padding included.
        let bn = self.tcge.bn_1d.forward_t(&ga.transpose(1, 2), mode.train).transpose(1, 2);
        let x = &gru + mode.dropout(&bn, TCGE_DROPOUT);
        let e = self.tcge.mlp.forward(&x, mode) + &x;
        let last = Tensor::from_slice(&lengths.iter().map(|&l| l - 1).collect::<Vec<_>>()).to_device(ids.device());
        let rows = Tensor::arange(lengths.len() as i64, (Kind::Int64, ids.device()));
        let picked = e.index(&[Some(rows), Some(last)]);
        TextIntermediates { gru, ga, raw: picked }
    }
}
