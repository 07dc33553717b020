//! The caption half of a job: tokenise, plan padded batches per chunk, encode, write.

use std::ops::Range;
use std::time::Instant;

use swan_store::corpus::WarningKind;
use swan_store::{NpyWriter, Start, WriteSpec};

use super::errors::{non_finite_rows, ErrorLog, ItemError, ItemKind};
use super::{secs, EmbedJob, StageTimes, TableReport};
use crate::error::{EmbedError, Result};
use crate::text::Vocab;

const DIM: usize = swan_store::EMBED_DIM;

/// Embed the captions of `rows`; the writer is returned unfinished (the job commits it).
pub(super) fn run(
    job: &EmbedJob,
    vocab: &Vocab,
    key: &str,
    rows: Range<usize>,
    log: &mut ErrorLog,
    times: &mut StageTimes,
) -> Result<(NpyWriter, TableReport)> {
    let started = Instant::now();
    let opts = &job.options;
    let corpus = job.corpus;
    let chunk_rows = job.caption_chunk_rows();
    let spec = WriteSpec { dtype: opts.dtype, rows: rows.len(), dim: DIM, chunk_rows, key: format!("{key} captions {rows:?}") };
    let mut writer = NpyWriter::create(opts.out_dir.join("captions.npy"), spec.clone())?;
    if !matches!(writer.start(), Start::Resumed(_)) {
        log.forget(ItemKind::Caption)?;
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
                        kind: ItemKind::Caption,
                        row: item - rows.start,
                        item,
                        path: format!("{}:{}", w.path.display(), caption.line),
                        reason: format!("{} (embedded from the repaired text)", w.message),
                        invalid: false,
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
        let mut emb = job.encoder.encode_captions(&ids, opts.padding, opts.batch_size)?;
        times.forward += secs(t.elapsed());
        let source = |item: usize| format!("{}:{}", corpus.source.display(), corpus.captions[item].line);
        let bad = non_finite_rows(&mut emb, DIM, range.start, ItemKind::Caption, &[], |row| rows.start + row, source);
        if let (true, Some(e)) = (opts.strict, bad.first()) {
            return Err(EmbedError::Stopped(format!("{}: {}", e.path, e.reason)));
        }
        // A repaired line that also came out non-finite is listed once, as invalid.
        chunk_errors.retain(|e| !bad.iter().any(|b| b.row == e.row));
        chunk_errors.extend(bad);
        chunk_errors.sort_by_key(|e| e.row);
        let t = Instant::now();
        log.append(&chunk_errors)?;
        writer.write_chunk(chunk, &emb)?;
        times.write += secs(t.elapsed());
        job.progress.advance(items.len() as u64);
        super::failpoint::hit(&format!("after-captions-chunk-{chunk}"));
    }
    job.progress.end();
    let table = TableReport {
        rows: rows.len(),
        computed: rows.len() - resumed,
        resumed,
        invalid: log.entries().iter().filter(|e| e.kind == ItemKind::Caption && e.invalid).count(),
        items: [rows.start, rows.end],
        seconds: secs(started.elapsed()),
    };
    Ok((writer, table))
}
