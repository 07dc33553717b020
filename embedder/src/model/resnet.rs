//! ResNet-50 in torchvision's layout (stride 2 in the 3x3 conv of the first bottleneck
//! of layers 2-4; downsample = 1x1 conv + BN). `fc` exists in checkpoints but SWAN never
//! uses it, so it is not built here.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::layers::Mode;

#[derive(Debug)]
struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv2D,
    bn3: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    nn::conv2d(p, i, o, k, nn::ConvConfig { stride, padding, bias: false, ..Default::default() })
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

impl Bottleneck {
    fn new(p: nn::Path, in_c: i64, planes: i64, stride: i64) -> Bottleneck {
        let out_c = planes * 4;
        let downsample = (stride != 1 || in_c != out_c)
            .then(|| (conv(&p / "downsample" / "0", in_c, out_c, 1, stride, 0), bn(&p / "downsample" / "1", out_c)));
        Bottleneck {
            conv1: conv(&p / "conv1", in_c, planes, 1, 1, 0),
            bn1: bn(&p / "bn1", planes),
            conv2: conv(&p / "conv2", planes, planes, 3, stride, 1),
            bn2: bn(&p / "bn2", planes),
            conv3: conv(&p / "conv3", planes, out_c, 1, 1, 0),
            bn3: bn(&p / "bn3", out_c),
            downsample,
        }
    }

    fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        let h = self.bn1.forward_t(&xs.apply(&self.conv1), mode.train).relu();
        let h = self.bn2.forward_t(&h.apply(&self.conv2), mode.train).relu();
        let h = self.bn3.forward_t(&h.apply(&self.conv3), mode.train);
        let identity = match &self.downsample {
            Some((c, b)) => b.forward_t(&xs.apply(c), mode.train),
            None => xs.shallow_clone(),
        };
        (h + identity).relu()
    }
}

#[derive(Debug)]
struct Layer(Vec<Bottleneck>);

impl Layer {
    fn new(p: nn::Path, in_c: i64, planes: i64, blocks: usize, stride: i64) -> Layer {
        let mut v = vec![Bottleneck::new(&p / "0", in_c, planes, stride)];
        for i in 1..blocks {
            v.push(Bottleneck::new(&p / i.to_string(), planes * 4, planes, 1));
        }
        Layer(v)
    }

    fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        self.0.iter().fold(xs.shallow_clone(), |h, b| b.forward(&h, mode))
    }
}

/// The backbone, with the feature maps SWAN taps.
#[derive(Debug)]
pub struct ResNet50 {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layer1: Layer,
    layer2: Layer,
    layer3: Layer,
    layer4: Layer,
}

/// Feature maps of one forward pass (for 256 x 256 inputs).
#[derive(Debug)]
pub struct Features {
    /// After the max-pool: `B x 64 x 64 x 64`.
    pub stem: Tensor,
    /// `layer2(layer1(stem))`: `B x 512 x 32 x 32`.
    pub layer2: Tensor,
    /// `B x 1024 x 16 x 16`.
    pub layer3: Tensor,
    /// `B x 2048 x 8 x 8`.
    pub layer4: Tensor,
}

impl ResNet50 {
    /// Build under `p` (`image_encoder.resnet`).
    pub fn new(p: nn::Path) -> ResNet50 {
        ResNet50 {
            conv1: conv(&p / "conv1", 3, 64, 7, 2, 3),
            bn1: bn(&p / "bn1", 64),
            layer1: Layer::new(&p / "layer1", 64, 64, 3, 1),
            layer2: Layer::new(&p / "layer2", 256, 128, 4, 2),
            layer3: Layer::new(&p / "layer3", 512, 256, 6, 2),
            layer4: Layer::new(&p / "layer4", 1024, 512, 3, 2),
        }
    }

    /// Run the backbone and return the tapped feature maps. In training mode its
    /// BatchNorm layers use batch statistics even when its parameters are frozen, as in
    /// the reference (`model.train()` reaches the frozen ResNet too).
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Features {
        let h = self.bn1.forward_t(&xs.apply(&self.conv1), mode.train).relu();
        let stem = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let layer2 = self.layer2.forward(&self.layer1.forward(&stem, mode), mode);
        let layer3 = self.layer3.forward(&layer2, mode);
        let layer4 = self.layer4.forward(&layer3, mode);
        Features { stem, layer2, layer3, layer4 }
    }
}
