//! The image half of a job: parallel decode into batch buffers, bounded queue, forward
//! pass, chunked durable writes.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use rayon::prelude::*;
use swan_store::{NpyWriter, Start, WriteSpec};
use tch::{Device, Kind, Tensor};

use super::errors::{non_finite_rows, ErrorLog, ItemError, ItemKind};
use super::{secs, EmbedJob, StageTimes, TableReport};
use crate::error::{EmbedError, Result};
use crate::image::{self, INPUT_SIZE};

const DIM: usize = swan_store::EMBED_DIM;
/// Bytes of one model input image (`256 x 256 x 3`).
pub const PIXELS: usize = INPUT_SIZE * INPUT_SIZE * 3;

/// A host batch buffer: `batch x 256 x 256 x 3` bytes, pinned when the device is CUDA
/// so the copy to the device is asynchronous.
struct Buffer {
    tensor: Tensor,
    capacity: usize,
}

// SAFETY: a buffer is owned by one thread at a time (it travels through channels).
unsafe impl Send for Buffer {}

impl Buffer {
    /// Fallible allocation: an out-of-memory error (pinned memory is scarce) is an
    /// error, not a panic.
    fn new(capacity: usize, device: Device) -> Result<Buffer> {
        let t = Tensor::f_zeros([capacity as i64, INPUT_SIZE as i64, INPUT_SIZE as i64, 3], (Kind::Uint8, Device::Cpu))?;
        let tensor = if device.is_cuda() { t.f_pin_memory(device)? } else { t };
        Ok(Buffer { tensor, capacity })
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the tensor is a contiguous CPU u8 tensor of `capacity * PIXELS` bytes
        // that only this buffer's owner touches.
        unsafe { std::slice::from_raw_parts_mut(self.tensor.data_ptr() as *mut u8, self.capacity * PIXELS) }
    }
}

/// A decoded batch on its way to the forward pass.
struct Batch {
    chunk: usize,
    /// Row of the first item within the chunk.
    offset: usize,
    len: usize,
    buffer: Buffer,
    errors: Vec<ItemError>,
    decode_cpu: f64,
}

/// Decode, convert to RGB and resize one image into `out` (`256 x 256 x 3` bytes, HWC):
/// the model input before normalisation, which happens on the device.
pub fn load_input(path: &std::path::Path, out: &mut [u8]) -> std::result::Result<(), image::ImageError> {
    fit(&image::decode_file(path)?, out);
    Ok(())
}

/// [`load_input`] for an image file held in memory (an upload); `origin` names it in
/// messages. The same decoder limits apply: a header claiming a huge image is refused
/// before any allocation.
pub fn load_input_bytes(bytes: &[u8], origin: &std::path::Path, out: &mut [u8]) -> std::result::Result<(), image::ImageError> {
    fit(&image::decode_bytes(bytes, origin)?, out);
    Ok(())
}

/// Resize a decoded image into `out` (`256 x 256 x 3` bytes), or copy it if it fits.
pub(crate) fn fit(img: &image::Rgb8, out: &mut [u8]) {
    if img.width == INPUT_SIZE && img.height == INPUT_SIZE {
        out.copy_from_slice(&img.data);
    } else {
        out.copy_from_slice(&image::resize_bilinear(img, INPUT_SIZE, INPUT_SIZE).data);
    }
}

pub(super) fn run(
    job: &EmbedJob,
    key: &str,
    rows: Range<usize>,
    log: &mut ErrorLog,
    times: &mut StageTimes,
) -> Result<(NpyWriter, TableReport)> {
    let started = Instant::now();
    let opts = &job.options;
    let chunk_rows = job.image_chunk_rows();
    let spec = WriteSpec { dtype: opts.dtype, rows: rows.len(), dim: DIM, chunk_rows, key: format!("{key} images {rows:?}") };
    let mut writer = NpyWriter::create(opts.out_dir.join("images.npy"), spec.clone())?;
    if !matches!(writer.start(), Start::Resumed(_)) {
        log.forget(ItemKind::Image)?;
    }
    let pending = writer.pending();
    let resumed = writer.rows_done();
    job.progress.begin("images", rows.len() as u64, resumed as u64);
    let device = job.encoder.config().device;
    let batch_size = opts.batch_size;
    // Buffers hold a batch, never more rows than the table has.
    let capacity = batch_size.min(rows.len()).max(1);
    let images = &job.corpus.images;
    let first = rows.start;

    let (ready_tx, ready_rx) = sync_channel::<Result<Batch>>(opts.queue_depth.max(1));
    let (free_tx, free_rx) = sync_channel::<Buffer>(opts.queue_depth + 2);
    for _ in 0..opts.queue_depth + 2 {
        free_tx.send(Buffer::new(capacity, device)?).expect("room for every buffer");
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.workers.max(1)).build().map_err(|e| EmbedError::Input(e.to_string()))?;

    let result = std::thread::scope(|scope| -> Result<()> {
        // Producer: decode pending chunks batch by batch, in order.
        let producer_spec = spec.clone();
        let pending_for_producer = pending.clone();
        scope.spawn(move || {
            produce(&pool, &producer_spec, &pending_for_producer, first, batch_size, images, opts.strict, &free_rx, &ready_tx);
        });
        consume(job, &spec, first, &pending, &ready_rx, &free_tx, &mut writer, log, times)
    });
    result?;
    job.progress.end();
    let invalid = log.entries().iter().filter(|e| e.kind == ItemKind::Image && e.invalid).count();
    let table = TableReport {
        rows: rows.len(),
        computed: rows.len() - resumed,
        resumed,
        invalid,
        items: [rows.start, rows.end],
        seconds: secs(started.elapsed()),
    };
    Ok((writer, table))
}

#[allow(clippy::too_many_arguments)]
fn produce(
    pool: &rayon::ThreadPool,
    spec: &WriteSpec,
    pending: &[usize],
    first: usize,
    batch_size: usize,
    images: &[swan_store::corpus::Image],
    strict: bool,
    free: &Receiver<Buffer>,
    ready: &SyncSender<Result<Batch>>,
) {
    for &chunk in pending {
        let chunk_range = spec.chunk_rows_range(chunk);
        for offset in (0..chunk_range.len()).step_by(batch_size) {
            let len = batch_size.min(chunk_range.len() - offset);
            let Ok(mut buffer) = free.recv() else { return };
            let start_row = chunk_range.start + offset;
            let bytes = buffer.bytes_mut();
            let outcomes: Vec<(std::result::Result<(), image::ImageError>, f64)> = pool.install(|| {
                bytes[..len * PIXELS]
                    .par_chunks_mut(PIXELS)
                    .enumerate()
                    .map(|(i, out)| {
                        let t = Instant::now();
                        let r = load_input(&images[first + start_row + i].path, out);
                        if r.is_err() {
                            // Unreadable: a zero image (its row is marked invalid).
                            out.fill(0);
                        }
                        (r, secs(t.elapsed()))
                    })
                    .collect()
            });
            let decode_cpu = outcomes.iter().map(|(_, cpu)| cpu).sum();
            let mut failures = outcomes.into_iter().enumerate().filter_map(|(i, (r, _))| r.err().map(|e| (i, e))).peekable();
            if strict && failures.peek().is_some() {
                let (_, e) = failures.next().expect("peeked");
                let _ = ready.send(Err(EmbedError::Image(e)));
                return;
            }
            let errors = failures
                .map(|(i, e)| ItemError {
                    kind: ItemKind::Image,
                    row: start_row + i,
                    item: first + start_row + i,
                    path: e.path().display().to_string(),
                    reason: e.to_string(),
                    invalid: true,
                })
                .collect();
            if ready.send(Ok(Batch { chunk, offset, len, buffer, errors, decode_cpu })).is_err() {
                return;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn consume(
    job: &EmbedJob,
    spec: &WriteSpec,
    first: usize,
    pending: &[usize],
    ready: &Receiver<Result<Batch>>,
    free: &SyncSender<Buffer>,
    writer: &mut NpyWriter,
    log: &mut ErrorLog,
    times: &mut StageTimes,
) -> Result<()> {
    for &chunk in pending {
        let chunk_range = spec.chunk_rows_range(chunk);
        let len = chunk_range.len();
        let mut rows = vec![0f32; len * DIM];
        let mut chunk_errors = Vec::new();
        let mut filled = 0;
        while filled < len {
            let t = Instant::now();
            let batch = ready.recv().map_err(|_| EmbedError::Stopped("image decoding stopped".into()))??;
            times.waiting_for_input += secs(t.elapsed());
            debug_assert_eq!(batch.chunk, chunk);
            times.decode_cpu += batch.decode_cpu;
            let t = Instant::now();
            let input = batch.buffer.tensor.narrow(0, 0, batch.len as i64);
            let uploaded = job.encoder.upload_u8(&input)?;
            times.transfer += secs(t.elapsed());
            let t = Instant::now();
            let emb = job.encoder.encode_uploaded_u8(&uploaded)?;
            let emb = Vec::<f32>::try_from(emb.view([-1]))?;
            times.forward += secs(t.elapsed());
            rows[batch.offset * DIM..(batch.offset + batch.len) * DIM].copy_from_slice(&emb);
            // Invalid rows stay zero, whatever the model made of the zero image.
            for e in &batch.errors {
                let r = e.row - spec.chunk_rows_range(chunk).start;
                rows[r * DIM..(r + 1) * DIM].fill(0.0);
            }
            chunk_errors.extend(batch.errors);
            filled += batch.len;
            job.progress.advance(batch.len as u64);
            let _ = free.send(batch.buffer);
        }
        let bad = non_finite_rows(
            &mut rows,
            DIM,
            chunk_range.start,
            ItemKind::Image,
            &chunk_errors,
            |row| first + row,
            |item| job.corpus.images[item].path.display().to_string(),
        );
        if let (true, Some(e)) = (job.options.strict, bad.first()) {
            return Err(EmbedError::Stopped(format!("{}: {}", e.path, e.reason)));
        }
        chunk_errors.extend(bad);
        chunk_errors.sort_by_key(|e| e.row);
        let t = Instant::now();
        log.append(&chunk_errors)?;
        writer.write_chunk(chunk, &rows)?;
        times.write += secs(t.elapsed());
        super::failpoint::hit(&format!("after-images-chunk-{chunk}"));
    }
    Ok(())
}
