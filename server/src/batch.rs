//! Dynamic batching: queries waiting to be encoded are gathered for a short window and
//! encoded together in one forward pass, so throughput grows with load.
//!
//! libtorch calls block, so the model lives on its own thread. Requests reach it through a
//! bounded queue (a full queue answers 503 at once instead of queueing without limit);
//! the thread blocks for the first job, then takes whatever else arrives within the
//! window, up to `max_batch` jobs, and encodes texts and images in one call each. With
//! `max_batch == 1` every query is encoded on its own, as soon as it is taken.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::ApiError;

/// What the encoder thread runs: a model, or a stand-in in tests.
pub(crate) trait Backend {
    /// Embeddings of captions given as token ids, `n x dim` row-major.
    fn texts(&mut self, ids: &[Vec<i64>]) -> Result<Vec<f32>, String>;
    /// Embeddings of `n` resized images (`n x 256 x 256 x 3` bytes), `n x dim`.
    fn images(&mut self, pixels: &[u8], n: usize) -> Result<Vec<f32>, String>;
    /// Values per embedding.
    fn dim(&self) -> usize;
}

/// One query to encode.
pub(crate) enum Input {
    /// Token ids of a text query.
    Text(Vec<i64>),
    /// A resized image, `256 x 256 x 3` bytes.
    Image(Vec<u8>),
}

/// An encoded query.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The normalised embedding.
    pub vector: Vec<f32>,
    /// Queries encoded in the same call (texts with texts, images with images).
    pub batch: usize,
}

struct Job {
    input: Input,
    reply: oneshot::Sender<Result<Encoded, ApiError>>,
}

/// How jobs are gathered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchConfig {
    /// Most jobs in one batch (1: no batching).
    pub max_batch: usize,
    /// How long the first job of a batch waits for others.
    pub window: Duration,
    /// Jobs that may wait in the queue.
    pub queue: usize,
}

/// The handle requests use to reach the encoder thread.
pub(crate) struct Batcher {
    tx: SyncSender<Job>,
}

impl Batcher {
    /// Start the encoder thread. `make` builds the backend on that thread (libtorch state
    /// stays on the thread that uses it) and says something about it (`T`), returned here
    /// with the batcher; its error is returned here too.
    pub fn start<B, T, F>(make: F, config: BatchConfig) -> Result<(Batcher, T), String>
    where
        B: Backend,
        T: Send + 'static,
        F: FnOnce() -> Result<(B, T), String> + Send + 'static,
    {
        let (tx, rx) = sync_channel::<Job>(config.queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("swan-encoder".into())
            .spawn(move || match make() {
                Ok((mut backend, about)) => {
                    let _ = ready_tx.send(Ok(about));
                    run(&mut backend, &rx, config);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| format!("cannot start the encoder thread: {e}"))?;
        let about = ready_rx.recv().map_err(|_| "the encoder thread stopped while loading the model".to_string())??;
        Ok((Batcher { tx }, about))
    }

    /// Queue `input` and wait for its embedding.
    pub async fn encode(&self, input: Input) -> Result<Encoded, ApiError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { input, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(ApiError::unavailable("the encoder queue is full; try again")),
            Err(TrySendError::Disconnected(_)) => return Err(ApiError::internal("the encoder thread has stopped")),
        }
        rx.await.map_err(|_| ApiError::internal("the encoder thread dropped the query"))?
    }
}

/// The encoder thread's loop; returns when every [`Batcher`] is dropped.
fn run(backend: &mut dyn Backend, rx: &Receiver<Job>, config: BatchConfig) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + config.window;
        while jobs.len() < config.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(job) => jobs.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        encode_batch(backend, jobs);
    }
}

/// Encode the texts together and the images together, and answer every job.
fn encode_batch(backend: &mut dyn Backend, jobs: Vec<Job>) {
    let dim = backend.dim();
    let (texts, images): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| matches!(j.input, Input::Text(_)));
    if !texts.is_empty() {
        let ids: Vec<Vec<i64>> = texts
            .iter()
            .map(|j| match &j.input {
                Input::Text(ids) => ids.clone(),
                Input::Image(_) => unreachable!("partitioned"),
            })
            .collect();
        let result = guarded(|| backend.texts(&ids));
        reply(texts, result, dim);
    }
    if !images.is_empty() {
        let mut pixels = Vec::new();
        for j in &images {
            if let Input::Image(p) = &j.input {
                pixels.extend_from_slice(p);
            }
        }
        let n = images.len();
        let result = guarded(|| backend.images(&pixels, n));
        reply(images, result, dim);
    }
}

/// Run `f`, turning a panic (libtorch's wrappers panic on some errors) into an error, so
/// one bad batch cannot stop the encoder thread.
fn guarded(f: impl FnOnce() -> Result<Vec<f32>, String>) -> Result<Vec<f32>, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("the model panicked: {}", why.unwrap_or_default()))
    })
}

fn reply(jobs: Vec<Job>, result: Result<Vec<f32>, String>, dim: usize) {
    let n = jobs.len();
    match result {
        Ok(vectors) if vectors.len() == n * dim => {
            for (job, v) in jobs.into_iter().zip(vectors.chunks(dim)) {
                // A client that went away no longer waits for its answer: nothing to do.
                let _ = job.reply.send(Ok(Encoded { vector: v.to_vec(), batch: n }));
            }
        }
        Ok(vectors) => {
            let e = ApiError::internal(format!("the model returned {} values for {n} queries of {dim}", vectors.len()));
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            let e = ApiError::internal(format!("encoding failed: {e}"));
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Embeds a text as `[len, first id]` and an image as `[n, first byte]`, and records
    /// the size of every call.
    struct Fake {
        calls: Arc<Mutex<Vec<(char, usize)>>>,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    }

    impl Backend for Fake {
        fn texts(&mut self, ids: &[Vec<i64>]) -> Result<Vec<f32>, String> {
            if let Some(g) = self.gate.take() {
                g.recv().unwrap();
            }
            self.calls.lock().unwrap().push(('t', ids.len()));
            if ids.iter().any(|t| t.first() == Some(&-1)) {
                panic!("bad id");
            }
            Ok(ids.iter().flat_map(|t| [t.len() as f32, t.first().copied().unwrap_or(0) as f32]).collect())
        }
        fn images(&mut self, pixels: &[u8], n: usize) -> Result<Vec<f32>, String> {
            self.calls.lock().unwrap().push(('i', n));
            Ok(pixels.chunks(pixels.len() / n).flat_map(|p| [n as f32, p[0] as f32]).collect())
        }
        fn dim(&self) -> usize {
            2
        }
    }

    fn start(max_batch: usize, window_ms: u64) -> (Batcher, Arc<Mutex<Vec<(char, usize)>>>, std::sync::mpsc::Sender<()>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = std::sync::mpsc::channel();
        let c = calls.clone();
        let config = BatchConfig { max_batch, window: Duration::from_millis(window_ms), queue: 64 };
        let (b, about) = Batcher::start(move || Ok((Fake { calls: c, gate: Some(gate) }, "fake")), config).unwrap();
        assert_eq!(about, "fake");
        (b, calls, open)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn queued_queries_are_encoded_together_each_getting_its_own_vector() {
        // The first text holds the thread (gated) while six more queue up behind it: they
        // then go through as one text call of 4 (max_batch) and one of 2, plus the images.
        let (b, calls, open) = start(4, 50);
        let b = Arc::new(b);
        rt().block_on(async {
            let mut tasks = Vec::new();
            for i in 0..7i64 {
                let b = b.clone();
                tasks.push(tokio::spawn(async move { b.encode(Input::Text(vec![i + 10; i as usize + 1])).await }));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let img = {
                let b = b.clone();
                tokio::spawn(async move { b.encode(Input::Image(vec![7u8; 16])).await })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            open.send(()).unwrap();
            for (i, t) in tasks.into_iter().enumerate() {
                let e = t.await.unwrap().unwrap();
                assert_eq!(e.vector, [i as f32 + 1.0, i as f32 + 10.0], "query {i} got another query's vector");
            }
            assert_eq!(img.await.unwrap().unwrap().vector, [1.0, 7.0]);
        });
        let calls = calls.lock().unwrap().clone();
        let texts: Vec<usize> = calls.iter().filter(|c| c.0 == 't').map(|c| c.1).collect();
        assert_eq!(texts.iter().sum::<usize>(), 7);
        assert!(texts.iter().all(|&n| n <= 4), "{calls:?}");
        assert!(texts.len() < 7, "nothing was batched: {calls:?}");
    }

    #[test]
    fn max_batch_one_encodes_each_query_alone_and_a_panic_is_an_error_not_a_dead_thread() {
        let (b, calls, open) = start(1, 50);
        open.send(()).unwrap();
        rt().block_on(async {
            let e = b.encode(Input::Text(vec![-1])).await.unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            assert!(e.message.contains("the model panicked: bad id"), "{e}");
            for i in 0..3 {
                assert_eq!(b.encode(Input::Text(vec![i])).await.unwrap().batch, 1);
            }
        });
        assert_eq!(calls.lock().unwrap().len(), 4);
    }

    #[test]
    fn a_backend_that_fails_to_load_is_an_error_at_start() {
        let config = BatchConfig { max_batch: 4, window: Duration::from_millis(1), queue: 4 };
        let err = Batcher::start(|| Err::<(Fake, ()), _>("no such checkpoint".to_string()), config).err().unwrap();
        assert_eq!(err, "no such checkpoint");
    }
}
