//! On-disk files of an index: the graph file and the reduced-precision vector file.
//!
//! Both are `header (64 bytes) | body | footer (16 bytes)`, little-endian. The header
//! starts with a magic and a format version; the footer holds a checksum of every byte
//! before it and a closing magic, so a torn or bit-flipped file is refused on open. Files
//! are written to a temporary name in the index folder, synced, and renamed; the index
//! manifest (`index.json`, written last) lists them, and nothing unlisted is read.
//!
//! Graph file body: `row_ids[n] u32 | levels[n] u8, zero-padded to 4 | links0[n*(m0+1)] u32 |
//! upper_start[n+1] u32 | upper[blocks*(m+1)] u32`.
//!
//! Vector file body: `dim_scales[dim] f32 (int8-per-dim only) | scales[n] f32 (int8 kinds) |
//! zero pad to 64 | codes[n*dim] (f16 or i8)`, offsets in the header, so the codes are
//! mapped in place, aligned.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::checksum::{checksum, ChecksumWriter};
use crate::error::{Error, IoContext, Result};
use crate::graph::Graph;
use crate::vectors::{Copy, Slab};

/// The file format version this build writes.
pub const CURRENT_VERSION: u32 = 1;
/// The oldest file format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

const GRAPH_MAGIC: &[u8; 8] = b"SWANHNSW";
const VECS_MAGIC: &[u8; 8] = b"SWANVECS";
const END_MAGIC: &[u8; 8] = b"SWANEND1";
const HEADER_LEN: usize = 64;
const FOOTER_LEN: usize = 16;

/// Write `path` atomically: `body` writes through a checksumming writer, the footer
/// seals it, then fsync, rename, fsync the folder. Returns the checksum.
fn write_sealed(path: &Path, body: impl FnOnce(&mut ChecksumWriter<BufWriter<File>>) -> std::io::Result<()>) -> Result<u64> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let file = File::create(&tmp).at(&tmp)?;
        let mut w = ChecksumWriter::new(BufWriter::with_capacity(1 << 20, file));
        body(&mut w).at(&tmp)?;
        let (mut inner, sum) = w.finish();
        inner.write_all(&sum.to_le_bytes()).at(&tmp)?;
        inner.write_all(END_MAGIC).at(&tmp)?;
        let file = inner.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)?;
        swan_store::fsutil::sync_parent(path)?;
        Ok(sum)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Check magic, version, footer and checksum of a whole file image; returns the checksum.
fn check_sealed(path: &Path, bytes: &[u8], magic: &[u8; 8]) -> Result<u64> {
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err(Error::corrupt(path, None, format!("{} bytes is shorter than a header and a footer", bytes.len())));
    }
    if &bytes[..8] != magic {
        return Err(Error::corrupt(path, Some(0), format!("bad magic (expected {:?})", String::from_utf8_lossy(magic))));
    }
    let version = u32_at(bytes, 8);
    if !(OLDEST_READABLE_VERSION..=CURRENT_VERSION).contains(&version) {
        return Err(Error::Version { path: path.into(), found: version, oldest: OLDEST_READABLE_VERSION, current: CURRENT_VERSION });
    }
    let end = bytes.len() - FOOTER_LEN;
    if &bytes[end + 8..] != END_MAGIC {
        return Err(Error::corrupt(path, Some(end as u64 + 8), "missing end marker: the file is truncated or was not finished"));
    }
    let stored = u64::from_le_bytes(bytes[end..end + 8].try_into().expect("8 bytes"));
    let actual = checksum(&bytes[..end]);
    if stored != actual {
        return Err(Error::corrupt(path, Some(end as u64), format!("checksum mismatch (stored {stored:016x}, computed {actual:016x})")));
    }
    Ok(actual)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn header(magic: &[u8; 8], fields: &[(usize, u64, usize)]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&CURRENT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    for &(at, value, width) in fields {
        h[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
    }
    h
}

fn write_u32s(w: &mut impl Write, v: &[u32]) -> std::io::Result<()> {
    w.write_all(bytemuck::cast_slice(v))
}

/// Write a shard's graph and row-id map. Returns the file checksum.
pub(crate) fn write_graph(path: &Path, graph: &Graph, row_ids: &[u32]) -> Result<u64> {
    let n = graph.len();
    let blocks = graph.upper.len() / (graph.m + 1);
    let h = header(
        GRAPH_MAGIC,
        &[
            (16, n as u64, 4),
            (20, graph.m as u64, 4),
            (24, graph.m0 as u64, 4),
            (28, graph.entry as u64, 4),
            (32, graph.max_level as u64, 4),
            (36, blocks as u64, 4),
        ],
    );
    write_sealed(path, |w| {
        w.write_all(&h)?;
        write_u32s(w, row_ids)?;
        w.write_all(&graph.levels)?;
        w.pad_to(4)?;
        write_u32s(w, &graph.links0)?;
        write_u32s(w, &graph.upper_start)?;
        write_u32s(w, &graph.upper)
    })
}

/// Read and check a graph file: returns the graph, its row-id map and the checksum.
pub(crate) fn read_graph(path: &Path) -> Result<(Graph, Vec<u32>, u64)> {
    let bytes = std::fs::read(path).at(path)?;
    let sum = check_sealed(path, &bytes, GRAPH_MAGIC)?;
    let bad = |offset: usize, reason: String| Error::corrupt(path, Some(offset as u64), reason);
    let n = u32_at(&bytes, 16) as usize;
    let (m, m0) = (u32_at(&bytes, 20) as usize, u32_at(&bytes, 24) as usize);
    let (entry, max_level, blocks) = (u32_at(&bytes, 28), u32_at(&bytes, 32), u32_at(&bytes, 36) as usize);
    if m == 0 || m > 1024 || m0 < m || m0 > 2048 || max_level > 255 {
        return Err(bad(20, format!("impossible parameters m={m} m0={m0} max_level={max_level}")));
    }
    let body_end = bytes.len() - FOOTER_LEN;
    let mut at = HEADER_LEN;
    let mut take = |len: usize, what: &str| -> Result<std::ops::Range<usize>> {
        let end = at.checked_add(len).filter(|&e| e <= body_end).ok_or_else(|| bad(at, format!("file too short for {what}")))?;
        let r = at..end;
        at = end;
        Ok(r)
    };
    let row_ids: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(4 * n, "the row-id map")?]);
    let levels = bytes[take(n, "the levels")?].to_vec();
    take((4 - n % 4) % 4, "padding")?;
    let links0: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(4 * n * (m0 + 1), "layer-0 links")?]);
    let upper_start: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(4 * (n + 1), "upper offsets")?]);
    let upper: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(4 * blocks * (m + 1), "upper links")?]);
    if at != body_end {
        return Err(bad(at, format!("{} unexpected bytes before the footer", body_end - at)));
    }
    let graph = Graph { m, m0, entry, max_level: max_level as u8, levels, links0, upper_start, upper };
    graph.validate().map_err(|reason| bad(HEADER_LEN, reason))?;
    Ok((graph, row_ids, sum))
}

fn mapped<T: bytemuck::Pod>(map: &Arc<Mmap>, offset: usize, len: usize) -> Slab<T> {
    Slab::Mapped { map: Arc::clone(map), offset, len }
}

const KIND_F16: u32 = 1;
const KIND_I8: u32 = 2;
const KIND_I8_PER_DIM: u32 = 3;

/// Write a shard's reduced-precision copy. Returns the file checksum.
pub(crate) fn write_vectors(path: &Path, copy: &Copy, nodes: usize, dim: usize) -> Result<u64> {
    let (kind, dim_scales, scales, codes): (u32, &[f32], &[f32], &[u8]) = match copy {
        Copy::None => return Err(Error::Invalid("no reduced-precision copy to write".into())),
        Copy::F16(c) => (KIND_F16, &[], &[], bytemuck::cast_slice(c.as_slice())),
        Copy::I8 { codes, scales, dim_scales } => {
            let ds = dim_scales.as_ref().map(|d| d.as_slice()).unwrap_or(&[]);
            let kind = if dim_scales.is_some() { KIND_I8_PER_DIM } else { KIND_I8 };
            (kind, ds, scales.as_slice(), bytemuck::cast_slice(codes.as_slice()))
        }
    };
    let dim_scales_at = HEADER_LEN;
    let scales_at = dim_scales_at + 4 * dim_scales.len();
    let codes_at = (scales_at + 4 * scales.len()).next_multiple_of(64);
    let h = header(
        VECS_MAGIC,
        &[
            (16, kind as u64, 4),
            (20, nodes as u64, 4),
            (24, dim as u64, 4),
            (32, dim_scales_at as u64, 8),
            (40, scales_at as u64, 8),
            (48, codes_at as u64, 8),
        ],
    );
    write_sealed(path, |w| {
        w.write_all(&h)?;
        w.write_all(bytemuck::cast_slice(dim_scales))?;
        w.write_all(bytemuck::cast_slice(scales))?;
        w.pad_to(64)?;
        debug_assert_eq!(w.position(), codes_at as u64);
        w.write_all(codes)
    })
}

/// Map and check a vector file written for `nodes` x `dim`; returns the copy and checksum.
pub(crate) fn read_vectors(path: &Path, nodes: usize, dim: usize) -> Result<(Copy, u64)> {
    let file = File::open(path).at(path)?;
    // SAFETY: read-only map of a file swan only ever replaces by rename, never rewrites.
    let map = Arc::new(unsafe { Mmap::map(&file) }.at(path)?);
    let sum = check_sealed(path, &map, VECS_MAGIC)?;
    let bad = |offset: u64, reason: String| Error::corrupt(path, Some(offset), reason);
    let (kind, n, d) = (u32_at(&map, 16), u32_at(&map, 20) as usize, u32_at(&map, 24) as usize);
    if n != nodes || d != dim {
        return Err(bad(20, format!("holds {n} x {d} vectors, the index expects {nodes} x {dim}")));
    }
    let (dim_scales_at, scales_at, codes_at) = (u64_at(&map, 32) as usize, u64_at(&map, 40) as usize, u64_at(&map, 48) as usize);
    let (code_size, n_dim_scales, n_scales) = match kind {
        KIND_F16 => (2, 0, 0),
        KIND_I8 => (1, 0, n),
        KIND_I8_PER_DIM => (1, d, n),
        other => return Err(bad(16, format!("unknown vector kind {other}"))),
    };
    let body_end = map.len() - FOOTER_LEN;
    let fits = dim_scales_at == HEADER_LEN
        && scales_at == dim_scales_at + 4 * n_dim_scales
        && codes_at >= scales_at + 4 * n_scales
        && codes_at % 64 == 0
        && codes_at + n * d * code_size == body_end;
    if !fits {
        return Err(bad(
            32,
            format!("section offsets {dim_scales_at}/{scales_at}/{codes_at} do not fit {n} x {d} vectors in {} bytes", map.len()),
        ));
    }
    let copy = match kind {
        KIND_F16 => Copy::F16(mapped(&map, codes_at, n * d)),
        _ => Copy::I8 {
            codes: mapped(&map, codes_at, n * d),
            scales: mapped(&map, scales_at, n),
            dim_scales: (kind == KIND_I8_PER_DIM).then(|| mapped(&map, dim_scales_at, d)),
        },
    };
    Ok((copy, sum))
}
