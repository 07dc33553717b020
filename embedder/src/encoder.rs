//! Batch encoding of images and captions into normalised `f32` vectors, with the
//! precision, device and text-padding choices applied in one place.

use tch::{Device, Kind, Tensor};

use crate::error::{EmbedError, Result};
use crate::model::{Swan, EMBED_DIM, IMAGE_SIZE};
use crate::padding::{plan, TextPadding};
use crate::precision::{to_channels_last, ComputePrecision};

/// How an [`Encoder`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Where the model runs.
    pub device: Device,
    /// Numeric precision.
    pub precision: ComputePrecision,
    /// Run convolutions channels-last (NHWC): faster with fp16/bf16 on tensor cores.
    pub channels_last: bool,
}

impl EncoderConfig {
    /// fp32 on the CPU.
    pub fn cpu() -> EncoderConfig {
        EncoderConfig { device: Device::Cpu, precision: ComputePrecision::Fp32, channels_last: false }
    }
}

/// SWAN prepared for a device and precision.
#[derive(Debug)]
pub struct Encoder {
    swan: Swan,
    config: EncoderConfig,
    /// SHA-256 of the checkpoint file the weights came from (`None`: hashinit or built in memory).
    checkpoint_sha256: Option<String>,
}

/// `(x / 255 - mean) / std` per channel, in `f32`: torchvision's `ToTensor` then
/// `Normalize`, operation for operation.
fn normalize_on_device(chw_u8: &Tensor) -> Tensor {
    let opts = (Kind::Float, chw_u8.device());
    let mean = Tensor::from_slice(&crate::image::MEAN).to_device(opts.1).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&crate::image::STD).to_device(opts.1).view([1, 3, 1, 1]);
    (chw_u8.to_kind(opts.0) / 255.0 - mean) / std
}

/// Images per forward pass on the CPU (see `Encoder::forward_images`).
pub const CPU_MICRO_BATCH: i64 = 4;

/// Floats in one preprocessed image (`3 x 256 x 256`).
pub const IMAGE_FLOATS: usize = (3 * IMAGE_SIZE * IMAGE_SIZE) as usize;

impl Encoder {
    /// Move `swan` to the configured device and precision. `swan` must have been built
    /// on `config.device`.
    pub fn new(mut swan: Swan, config: EncoderConfig) -> Result<Encoder> {
        config.precision.prepare(config.device).map_err(EmbedError::Input)?;
        if swan.device() != config.device {
            return Err(EmbedError::Input(format!("model is on {:?}, encoder configured for {:?}", swan.device(), config.device)));
        }
        if config.precision.kind() != Kind::Float {
            swan.set_kind(config.precision.kind());
        }
        if config.channels_last {
            swan.set_channels_last();
        }
        Ok(Encoder { swan, config, checkpoint_sha256: None })
    }

    /// Load `checkpoint` (safetensors with the reference key names) for `config`.
    pub fn load(checkpoint: &std::path::Path, config: EncoderConfig) -> Result<Encoder> {
        // Before any CUDA work: fp32 must switch TF32 off first.
        config.precision.prepare(config.device).map_err(EmbedError::Input)?;
        let (swan, info) = Swan::load(checkpoint, config.device)?;
        Ok(Encoder { checkpoint_sha256: Some(info.sha256), ..Encoder::new(swan, config)? })
    }

    /// swan-hashinit v1 weights for `seed` (demos, benchmarks, parity tests).
    pub fn hashinit(seed: u64, config: EncoderConfig) -> Result<Encoder> {
        config.precision.prepare(config.device).map_err(EmbedError::Input)?;
        Encoder::new(Swan::hashinit(seed, config.device), config)
    }

    /// SHA-256 of the checkpoint file the weights were loaded from, if any.
    pub fn checkpoint_sha256(&self) -> Option<&str> {
        self.checkpoint_sha256.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// The model.
    pub fn model(&self) -> &Swan {
        &self.swan
    }

    /// Encode a batch of preprocessed images given as a CPU `f32` tensor `B x 3 x 256 x 256`
    /// (pinned or not); returns `B x 512` normalised `f32` on the CPU.
    pub fn encode_image_tensor(&self, images: &Tensor) -> Result<Tensor> {
        let on_device = images.f_to_device_(self.config.device, self.config.precision.kind(), true, false)?;
        let input = if self.config.channels_last { to_channels_last(&on_device) } else { on_device };
        self.forward_images(&input)
    }

    /// The image forward pass. On the CPU, large batches run as micro-batches of
    /// [`CPU_MICRO_BATCH`]: libtorch's CPU kernels slow down 4x at batch 32 (activations of
    /// hundreds of MB fall out of cache and are re-faulted from the OS on every
    /// allocation), and images are independent in eval mode, so nothing else changes.
    fn forward_images(&self, input: &Tensor) -> Result<Tensor> {
        let n = input.size()[0];
        if self.config.device.is_cuda() || n <= CPU_MICRO_BATCH {
            return Ok(self.swan.encode_images(input)?.to_device(Device::Cpu));
        }
        let parts = (0..n)
            .step_by(CPU_MICRO_BATCH as usize)
            .map(|start| self.swan.encode_images(&input.narrow(0, start, CPU_MICRO_BATCH.min(n - start))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(&parts, 0))
    }

    /// Encode a batch of resized 8-bit images, `B x 256 x 256 x 3` (`u8`, HWC, on the
    /// CPU, pinned or not). The copy to the device moves bytes, not floats, and the
    /// normalisation runs on the device with the same operations as torchvision's
    /// `ToTensor` + `Normalize`, so the result equals encoding the normalised floats.
    pub fn encode_image_u8(&self, images: &Tensor) -> Result<Tensor> {
        self.encode_uploaded_u8(&self.upload_u8(images)?)
    }

    /// First half of [`Encoder::encode_image_u8`]: start the copy of a `B x 256 x 256 x 3`
    /// `u8` batch to the device (asynchronous when the host memory is pinned).
    pub fn upload_u8(&self, images: &Tensor) -> Result<Tensor> {
        let size = images.size();
        if size.len() != 4 || size[1] != IMAGE_SIZE || size[2] != IMAGE_SIZE || size[3] != 3 || images.kind() != Kind::Uint8 {
            return Err(EmbedError::Input(format!("expected B x 256 x 256 x 3 u8 images, got {size:?} {:?}", images.kind())));
        }
        Ok(images.f_to_device_(self.config.device, Kind::Uint8, true, false)?)
    }

    /// Second half of [`Encoder::encode_image_u8`]: normalise on the device, run the
    /// model, return `B x 512` normalised `f32` on the CPU.
    pub fn encode_uploaded_u8(&self, on_device: &Tensor) -> Result<Tensor> {
        let floats = normalize_on_device(&on_device.permute([0, 3, 1, 2]));
        let input = if self.config.channels_last { to_channels_last(&floats) } else { floats.contiguous() };
        let input = if self.config.precision.kind() != Kind::Float { input.to_kind(self.config.precision.kind()) } else { input };
        self.forward_images(&input)
    }

    /// Encode `pixels` holding whole preprocessed images back to back (`n x 3 x 256 x 256`).
    pub fn encode_images(&self, pixels: &[f32]) -> Result<Vec<f32>> {
        if pixels.len() % IMAGE_FLOATS != 0 {
            return Err(EmbedError::Input(format!("{} floats is not a whole number of 3 x 256 x 256 images", pixels.len())));
        }
        let n = (pixels.len() / IMAGE_FLOATS) as i64;
        let images = Tensor::from_slice(pixels).view([n, 3, IMAGE_SIZE, IMAGE_SIZE]);
        Ok(Vec::<f32>::try_from(self.encode_image_tensor(&images)?.view([-1]))?)
    }

    /// Encode resized 8-bit images given as bytes, `n x 256 x 256 x 3` (HWC) back to back,
    /// as [`load_input`](crate::pipeline::load_input) fills them; returns `n x 512`.
    pub fn encode_pixels(&self, pixels: &[u8]) -> Result<Vec<f32>> {
        let n = pixels.len() / crate::pipeline::PIXELS;
        if n == 0 || pixels.len() % crate::pipeline::PIXELS != 0 {
            return Err(EmbedError::Input(format!("{} bytes is not a whole number of 256 x 256 x 3 images", pixels.len())));
        }
        let input = Tensor::f_from_slice(pixels)?.f_view([n as i64, IMAGE_SIZE, IMAGE_SIZE, 3])?;
        Ok(Vec::<f32>::try_from(self.encode_image_u8(&input)?.f_view([-1])?)?)
    }

    /// Encode image files (decoded, converted to RGB and resized as `swan embed` does, so
    /// both give identical vectors for the same file), `batch` per forward pass; returns
    /// `n x 512` in input order. The first unreadable file is an error.
    pub fn encode_image_files(&self, paths: &[std::path::PathBuf], batch: usize) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(paths.len() * swan_store::EMBED_DIM);
        for group in paths.chunks(batch.max(1)) {
            let mut pixels = vec![0u8; crate::pipeline::PIXELS * group.len()];
            for (path, buf) in group.iter().zip(pixels.chunks_mut(crate::pipeline::PIXELS)) {
                crate::pipeline::load_input(path, buf)?;
            }
            out.extend(self.encode_pixels(&pixels)?);
        }
        Ok(out)
    }

    /// Encode an image file's bytes held in memory (JPEG, PNG or TIFF); `origin` names it
    /// in messages. Returns one 512-d vector.
    pub fn encode_image_bytes(&self, bytes: &[u8], origin: &std::path::Path) -> Result<Vec<f32>> {
        let mut pixels = vec![0u8; crate::pipeline::PIXELS];
        crate::pipeline::fit(&crate::image::decode_bytes(bytes, origin)?, &mut pixels);
        self.encode_pixels(&pixels)
    }

    /// Encode caption texts: tokenised and looked up in `vocab`, padded per `padding`, at
    /// most `max_batch` per forward pass. Returns `n x 512` in input order.
    pub fn encode_texts(
        &self,
        vocab: &crate::text::Vocab,
        texts: &[impl AsRef<str>],
        padding: TextPadding,
        max_batch: usize,
    ) -> Result<Vec<f32>> {
        let ids: Vec<Vec<i64>> = texts.iter().map(|t| vocab.encode(t.as_ref())).collect();
        self.encode_captions(&ids, padding, max_batch)
    }

    /// Encode captions given as token ids (empty = the empty caption), padded per
    /// `padding`, at most `max_batch` per forward pass. Returns `n x 512` normalised
    /// `f32` in input order.
    pub fn encode_captions(&self, captions: &[Vec<i64>], padding: TextPadding, max_batch: usize) -> Result<Vec<f32>> {
        let dim = EMBED_DIM as usize;
        let lengths: Vec<usize> = captions.iter().map(Vec::len).collect();
        let mut out = vec![0f32; captions.len() * dim];
        for batch in plan(&lengths, padding, max_batch) {
            let width = batch.width;
            let mut ids = vec![0i64; batch.members.len() * width];
            let mut lens = Vec::with_capacity(batch.members.len());
            for (row, &i) in batch.members.iter().enumerate() {
                ids[row * width..row * width + captions[i].len()].copy_from_slice(&captions[i]);
                lens.push(captions[i].len().max(1) as i64);
            }
            // T is the batch's width, which for part of a shard split over several
            // batches exceeds its own longest member: the shard's padding is kept.
            let ids = Tensor::from_slice(&ids).view([batch.members.len() as i64, width as i64]).to_device(self.config.device);
            let emb = self.swan.encode_texts(&ids, &lens)?.to_device(Device::Cpu);
            let emb = Vec::<f32>::try_from(emb.view([-1]))?;
            for (row, &i) in batch.members.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&emb[row * dim..(row + 1) * dim]);
            }
        }
        Ok(out)
    }
}
