//! The caption half of a job: tokenise, plan padded batches per chunk, encode, write.

use std::ops::Range;
use std::time::Instant;

use swan_store::corpus::WarningKind;
use swan_store::{NpyWriter, Start, WriteSpec};

use super::errors::{ErrorLog, ItemError};
use super::{secs, EmbedJob, StageTimes, TableReport};
use crate::error::{EmbedError, Result};
use crate::text::Vocab;

const DIM: usize = swan_store::EMBED_DIM;

pub(super) fn run(job: &EmbedJob, vocab: &Vocab, rows: Range<usize>, log: &mut ErrorLog, times: &mut StageTimes) -> Result<TableReport> {
    let started = Instant::now();
    let opts = &job.options;
    let corpus = job.corpus;
    let chunk_rows = job.caption_chunk_rows();
    let spec = WriteSpec {
        dtype: opts.dtype,
        rows: rows.len(),
        dim: DIM,
        chunk_rows,
        key: format!("{} captions {rows:?} padding={}", job.key, opts.padding),
    };
    let mut writer = NpyWriter::create(opts.out_dir.join("captions.npy"), spec.clone())?;
    if !matches!(writer.start(), Start::Resumed(_)) {
        log.forget("caption")?;
    }
    let resumed = writer.rows_done();
    job.progress.begin("captions", rows.len() as u64, resumed as u64);

    // Lines that were not UTF-8 are embedded from their repaired text, and reported.
    let not_utf8: std::collections::HashMap<usize, &swan_store::corpus::Warning> =
        corpus.warnings.iter().filter(|w| w.kind == WarningKind::NotUtf8).filter_map(|w| w.line.map(|l| (l, w))).collect();

    for chunk in writer.pending() {
        let range = spec.chunk_rows_range(chunk);
        let items = rows.start + range.start..rows.start + range.end;
        let mut chunk_errors = Vec::new();
        let t = Instant::now();
        let ids: Vec<Vec<i64>> = items
            .clone()
            .map(|item| {
                let caption = &corpus.captions[item];
                if let Some(w) = not_utf8.get(&caption.line) {
                    chunk_errors.push(ItemError {
                        kind: "caption".into(),
                        row: item - rows.start,
                        item,
                        path: format!("{}:{}", w.path.display(), caption.line),
                        reason: format!("{} (embedded from the repaired text)", w.message),
                    });
                }
                vocab.encode(&caption.text)
            })
            .collect();
        times.tokenize += secs(t.elapsed());
        if opts.strict {
            if let Some(e) = chunk_errors.first() {
                return Err(EmbedError::Stopped(format!("{}: {}", e.path, e.reason)));
            }
        }
        let t = Instant::now();
        let emb = job.encoder.encode_captions(&ids, opts.padding, opts.batch_size)?;
        times.forward += secs(t.elapsed());
        let t = Instant::now();
        log.append(&chunk_errors)?;
        writer.write_chunk(chunk, &emb)?;
        times.write += secs(t.elapsed());
        job.progress.advance(items.len() as u64);
    }
    let t = Instant::now();
    writer.finish()?;
    times.write += secs(t.elapsed());
    job.progress.end();
    Ok(TableReport {
        rows: rows.len(),
        computed: rows.len() - resumed,
        resumed,
        invalid: 0,
        items: [rows.start, rows.end],
        seconds: secs(started.elapsed()),
    })
}
