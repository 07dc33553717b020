//! On-disk files of an index: the graph file and the reduced-precision vector file.
//!
//! Both are `header (64 bytes) | body | footer (16 bytes)`, little-endian. The header is a
//! `#[repr(C)]` plain-old-data struct ([`GraphHeader`], [`VecsHeader`]) that starts with a
//! magic and the format version; the footer ([`Footer`]) holds a checksum of every byte
//! before it and a closing magic, so a torn or bit-flipped file is refused on open. Files
//! are written to a temporary name in the index folder, synced, and renamed; the index
//! manifest (`index.json`, written last) lists them, and nothing unlisted is read.
//!
//! Versions: 2 (written) checksums with CRC-32 (see `checksum.rs`: checkable with zlib);
//! 1 (still read) with a bespoke 64-bit hash (`checksum_v1.rs`). The layouts are the same.
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

use bytemuck::{Pod, Zeroable};
use memmap2::Mmap;
use swan_store::fsutil::AtomicFile;

use crate::checksum::ChecksumWriter;
use crate::error::{Error, IoContext, Result};
use crate::graph::Graph;
use crate::vectors::{Slab, WalkCopy, WatchedMap};

/// The file format version this build writes.
pub const CURRENT_VERSION: u32 = 2;
/// The oldest file format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

#[cfg(target_endian = "big")]
compile_error!("swan's index files are little-endian and read in place: big-endian hosts are not supported");

const GRAPH_MAGIC: &[u8; 8] = b"SWANHNSW";
const VECS_MAGIC: &[u8; 8] = b"SWANVECS";
const END_MAGIC: &[u8; 8] = b"SWANEND1";
const HEADER_LEN: usize = 64;
const FOOTER_LEN: usize = std::mem::size_of::<Footer>();

/// The first 64 bytes of a graph file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GraphHeader {
    magic: [u8; 8],
    version: u32,
    header_len: u32,
    nodes: u32,
    m: u32,
    m0: u32,
    entry: u32,
    max_level: u32,
    /// Upper-layer blocks of `m + 1` words.
    blocks: u32,
    reserved: [u8; 24],
}

/// The first 64 bytes of a vector file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct VecsHeader {
    magic: [u8; 8],
    version: u32,
    header_len: u32,
    kind: u32,
    nodes: u32,
    dim: u32,
    reserved0: u32,
    dim_scales_at: u64,
    scales_at: u64,
    codes_at: u64,
    reserved: [u8; 8],
}

/// The last 16 bytes of every file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Footer {
    /// Version 2: the CRC-32 of every byte before the footer, zero-extended; version 1: the
    /// legacy 64-bit hash.
    checksum: u64,
    end: [u8; 8],
}

const _: () = assert!(std::mem::size_of::<GraphHeader>() == HEADER_LEN && std::mem::size_of::<VecsHeader>() == HEADER_LEN);
const _: () = assert!(FOOTER_LEN == 16);

/// A file checksum as `index.json` lists it: 8 hex digits (CRC-32, version 2) or 16
/// (version 1's 64-bit hash).
pub(crate) fn checksum_hex(version: u32, sum: u64) -> String {
    if version >= 2 {
        format!("{sum:08x}")
    } else {
        format!("{sum:016x}")
    }
}

/// Write `path` atomically: `header`, then `body` through a checksumming writer, the footer
/// seals it, then fsync, rename, fsync the folder. Returns the checksum.
fn write_sealed(
    path: &Path,
    header: &[u8; HEADER_LEN],
    body: impl FnOnce(&mut ChecksumWriter<BufWriter<AtomicFile>>) -> std::io::Result<()>,
) -> Result<u64> {
    let out = AtomicFile::create(path)?;
    let tmp = out.temp_path().to_owned();
    let mut w = ChecksumWriter::new(BufWriter::with_capacity(1 << 20, out));
    w.write_all(header).at(&tmp)?;
    body(&mut w).at(&tmp)?;
    let (mut inner, sum) = w.finish();
    let footer = Footer { checksum: sum as u64, end: *END_MAGIC };
    inner.write_all(bytemuck::bytes_of(&footer)).at(&tmp)?;
    inner.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?.commit()?;
    Ok(sum as u64)
}

/// Check magic, version (readable, and the one `index.json` gave: `expected`), footer and
/// checksum of a whole file image; returns the header bytes and the checksum.
fn check_sealed<'b>(path: &Path, bytes: &'b [u8], magic: &[u8; 8], expected: u32) -> Result<(&'b [u8; HEADER_LEN], u64)> {
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err(Error::corrupt(path, None, format!("{} bytes is shorter than a header and a footer", bytes.len())));
    }
    let header: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().expect("64 bytes");
    if &header[..8] != magic {
        return Err(Error::corrupt(path, Some(0), format!("bad magic (expected {:?})", String::from_utf8_lossy(magic))));
    }
    // Magic and version open both headers: read them through the graph header's prefix.
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if !(OLDEST_READABLE_VERSION..=CURRENT_VERSION).contains(&version) {
        return Err(Error::Version {
            path: path.into(),
            found: version.to_string(),
            oldest: OLDEST_READABLE_VERSION,
            current: CURRENT_VERSION,
        });
    }
    if version != expected {
        return Err(Error::corrupt(path, Some(8), format!("format version {version}, but index.json says {expected}")));
    }
    let end = bytes.len() - FOOTER_LEN;
    let footer: Footer = bytemuck::pod_read_unaligned(&bytes[end..]);
    if &footer.end != END_MAGIC {
        return Err(Error::corrupt(path, Some(end as u64 + 8), "missing end marker: the file is truncated or was not finished"));
    }
    let actual = if version >= 2 { crc32fast::hash(&bytes[..end]) as u64 } else { crate::checksum_v1::checksum(&bytes[..end]) };
    if footer.checksum != actual {
        return Err(Error::corrupt(
            path,
            Some(end as u64),
            format!("checksum mismatch (stored {}, computed {})", checksum_hex(version, footer.checksum), checksum_hex(version, actual)),
        ));
    }
    Ok((header, actual))
}

fn new_header(magic: &[u8; 8]) -> ([u8; 8], u32, u32) {
    (*magic, CURRENT_VERSION, HEADER_LEN as u32)
}

fn write_u32s(w: &mut impl Write, v: &[u32]) -> std::io::Result<()> {
    w.write_all(bytemuck::cast_slice(v))
}

/// `a * b * c` bytes, or `None` on overflow (sizes come from file headers).
fn product(factors: &[usize]) -> Option<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// Write a shard's graph and row-id map. Returns the file checksum.
pub(crate) fn write_graph(path: &Path, graph: &Graph, row_ids: &[u32]) -> Result<u64> {
    let (magic, version, header_len) = new_header(GRAPH_MAGIC);
    let count = |v: usize, what: &str| u32::try_from(v).map_err(|_| Error::Invalid(format!("{what} {v} does not fit the graph file")));
    let h = GraphHeader {
        magic,
        version,
        header_len,
        nodes: count(graph.len(), "node count")?,
        m: count(graph.m, "M")?,
        m0: count(graph.m0, "M0")?,
        entry: graph.entry,
        max_level: graph.max_level as u32,
        blocks: count(graph.upper.len() / (graph.m + 1), "upper block count")?,
        reserved: [0; 24],
    };
    write_sealed(path, bytemuck::cast_ref(&h), |w| {
        write_u32s(w, row_ids)?;
        w.write_all(&graph.levels)?;
        w.pad_to(4)?;
        write_u32s(w, &graph.links0)?;
        write_u32s(w, &graph.upper_start)?;
        write_u32s(w, &graph.upper)
    })
}

/// Read and check a graph file of format `version`: returns the graph, its row-id map and
/// the checksum.
pub(crate) fn read_graph(path: &Path, version: u32) -> Result<(Graph, Vec<u32>, u64)> {
    swan_store::fsutil::check_input(path)?;
    let bytes = std::fs::read(path).at(path)?;
    let (header, sum) = check_sealed(path, &bytes, GRAPH_MAGIC, version)?;
    let h: GraphHeader = bytemuck::pod_read_unaligned(header);
    let bad = |offset: usize, reason: String| Error::corrupt(path, Some(offset as u64), reason);
    let (n, m, m0, blocks) = (h.nodes as usize, h.m as usize, h.m0 as usize, h.blocks as usize);
    if m == 0 || m > 1024 || m0 < m || m0 > 2048 || h.max_level > 255 {
        return Err(bad(20, format!("impossible parameters m={m} m0={m0} max_level={}", h.max_level)));
    }
    let body_end = bytes.len() - FOOTER_LEN;
    let mut at = HEADER_LEN;
    // Every size is checked for overflow before it is added: the counts come from the file.
    let mut take = |len: Option<usize>, what: &str| -> Result<std::ops::Range<usize>> {
        let end = len
            .and_then(|len| at.checked_add(len))
            .filter(|&e| e <= body_end)
            .ok_or_else(|| bad(at, format!("file too short for {what}")))?;
        let r = at..end;
        at = end;
        Ok(r)
    };
    let row_ids: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(product(&[4, n]), "the row-id map")?]);
    let levels = bytes[take(Some(n), "the levels")?].to_vec();
    take(Some((4 - n % 4) % 4), "padding")?;
    let links0: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(product(&[4, n, m0 + 1]), "layer-0 links")?]);
    let upper_start: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(product(&[4, n + 1]), "upper offsets")?]);
    let upper: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[take(product(&[4, blocks, m + 1]), "upper links")?]);
    if at != body_end {
        return Err(bad(at, format!("{} unexpected bytes before the footer", body_end - at)));
    }
    let graph = Graph { m, m0, entry: h.entry, max_level: h.max_level as u8, levels, links0, upper_start, upper };
    graph.validate().map_err(|reason| bad(HEADER_LEN, reason))?;
    Ok((graph, row_ids, sum))
}

fn mapped<T: bytemuck::Pod>(map: &Arc<WatchedMap>, offset: usize, len: usize) -> Slab<T> {
    Slab::Mapped { map: Arc::clone(map), offset, len }
}

const KIND_F16: u32 = 1;
const KIND_I8: u32 = 2;
const KIND_I8_PER_DIM: u32 = 3;

/// Write a shard's reduced-precision copy. Returns the file checksum.
pub(crate) fn write_vectors(path: &Path, copy: &WalkCopy, nodes: usize, dim: usize) -> Result<u64> {
    let (kind, dim_scales, scales, codes): (u32, &[f32], &[f32], &[u8]) = match copy {
        WalkCopy::None => return Err(Error::Invalid("no reduced-precision copy to write".into())),
        WalkCopy::F16(c) => (KIND_F16, &[], &[], bytemuck::cast_slice(c.as_slice())),
        WalkCopy::I8 { codes, scales, dim_scales } => {
            let ds = dim_scales.as_ref().map(|d| d.as_slice()).unwrap_or(&[]);
            let kind = if dim_scales.is_some() { KIND_I8_PER_DIM } else { KIND_I8 };
            (kind, ds, scales.as_slice(), bytemuck::cast_slice(codes.as_slice()))
        }
    };
    let dim_scales_at = HEADER_LEN;
    let scales_at = dim_scales_at + 4 * dim_scales.len();
    let codes_at = (scales_at + 4 * scales.len()).next_multiple_of(64);
    let (magic, version, header_len) = new_header(VECS_MAGIC);
    let count = |v: usize, what: &str| u32::try_from(v).map_err(|_| Error::Invalid(format!("{what} {v} does not fit the vector file")));
    let h = VecsHeader {
        magic,
        version,
        header_len,
        kind,
        nodes: count(nodes, "node count")?,
        dim: count(dim, "dimension")?,
        reserved0: 0,
        dim_scales_at: dim_scales_at as u64,
        scales_at: scales_at as u64,
        codes_at: codes_at as u64,
        reserved: [0; 8],
    };
    write_sealed(path, bytemuck::cast_ref(&h), |w| {
        w.write_all(bytemuck::cast_slice(dim_scales))?;
        w.write_all(bytemuck::cast_slice(scales))?;
        w.pad_to(64)?;
        debug_assert_eq!(w.position(), codes_at as u64);
        w.write_all(codes)
    })
}

/// Map and check a vector file of format `version` written for `nodes` x `dim`; returns the
/// copy and checksum.
pub(crate) fn read_vectors(path: &Path, version: u32, nodes: usize, dim: usize) -> Result<(WalkCopy, u64)> {
    // A FIFO or device would block the open or map nothing: refused by name.
    swan_store::fsutil::check_input(path)?;
    let file = File::open(path).at(path)?;
    // SAFETY: read-only map of a file swan only ever replaces by rename, never rewrites;
    // if something else truncates it, the watch turns the SIGBUS into a message.
    let map = Arc::new(WatchedMap::new(unsafe { Mmap::map(&file) }.at(path)?, path));
    let (header, sum) = check_sealed(path, &map, VECS_MAGIC, version)?;
    let h: VecsHeader = bytemuck::pod_read_unaligned(header);
    let bad = |offset: u64, reason: String| Error::corrupt(path, Some(offset), reason);
    let (n, d) = (h.nodes as usize, h.dim as usize);
    if n != nodes || d != dim {
        return Err(bad(20, format!("holds {n} x {d} vectors, the index expects {nodes} x {dim}")));
    }
    let (code_size, n_dim_scales, n_scales) = match h.kind {
        KIND_F16 => (2, 0, 0),
        KIND_I8 => (1, 0, n),
        KIND_I8_PER_DIM => (1, d, n),
        other => return Err(bad(16, format!("unknown vector kind {other}"))),
    };
    let body_end = (map.len() - FOOTER_LEN) as u64;
    // In u64 with checked arithmetic: the offsets are read from the file and may be anything.
    let (dim_scales_at, scales_at, codes_at) = (h.dim_scales_at, h.scales_at, h.codes_at);
    let end_of = |at: u64, count: usize, size: usize| product(&[count, size]).and_then(|len| at.checked_add(len as u64));
    let fits = dim_scales_at == HEADER_LEN as u64
        && end_of(dim_scales_at, n_dim_scales, 4) == Some(scales_at)
        && end_of(scales_at, n_scales, 4).is_some_and(|e| codes_at >= e)
        && codes_at % 64 == 0
        && product(&[n, d]).and_then(|nd| end_of(codes_at, nd, code_size)) == Some(body_end);
    if !fits {
        return Err(bad(
            32,
            format!("section offsets {dim_scales_at}/{scales_at}/{codes_at} do not fit {n} x {d} vectors in {} bytes", map.len()),
        ));
    }
    // All three offsets are now at most body_end, so they fit usize.
    let (dim_scales_at, scales_at, codes_at) = (dim_scales_at as usize, scales_at as usize, codes_at as usize);
    let copy = match h.kind {
        KIND_F16 => WalkCopy::F16(mapped(&map, codes_at, n * d)),
        _ => WalkCopy::I8 {
            codes: mapped(&map, codes_at, n * d),
            scales: mapped(&map, scales_at, n),
            dim_scales: (h.kind == KIND_I8_PER_DIM).then(|| mapped(&map, dim_scales_at, d)),
        },
    };
    Ok((copy, sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i8_copy(nodes: usize, dim: usize) -> WalkCopy {
        WalkCopy::I8 { codes: Slab::Owned(vec![1i8; nodes * dim]), scales: Slab::Owned(vec![0.5; nodes]), dim_scales: None }
    }

    /// Rewrite header field bytes `at..at + value.len()` and reseal with a valid CRC-32, so
    /// that only the header's values are wrong.
    fn patch_and_reseal(path: &Path, at: usize, value: &[u8]) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at..at + value.len()].copy_from_slice(value);
        let end = bytes.len() - FOOTER_LEN;
        let sum = crc32fast::hash(&bytes[..end]) as u64;
        bytes[end..end + 8].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(path, &bytes).unwrap();
    }

    #[test]
    fn offsets_near_the_top_of_u64_are_refused_not_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.vec");
        write_vectors(&path, &i8_copy(3, 8), 3, 8).unwrap();
        read_vectors(&path, CURRENT_VERSION, 3, 8).unwrap();
        // Before the checks were checked, `codes_at + 24` overflowed (a panic in debug builds).
        for codes_at in [u64::MAX - 63, 1 << 63] {
            patch_and_reseal(&path, 48, &codes_at.to_le_bytes());
            let e = read_vectors(&path, CURRENT_VERSION, 3, 8).err().unwrap().to_string();
            assert!(e.contains("do not fit 3 x 8 vectors"), "{e}");
        }
        patch_and_reseal(&path, 40, &u64::MAX.to_le_bytes());
        assert!(read_vectors(&path, CURRENT_VERSION, 3, 8).err().unwrap().to_string().contains("do not fit"));
    }

    #[test]
    fn huge_node_counts_in_a_graph_header_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.graph");
        let graph =
            Graph { m: 2, m0: 4, entry: 0, max_level: 0, levels: vec![0], links0: vec![0; 5], upper_start: vec![0, 0], upper: vec![] };
        write_graph(&path, &graph, &[0]).unwrap();
        assert_eq!(read_graph(&path, CURRENT_VERSION).unwrap().0, graph);
        patch_and_reseal(&path, 16, &u32::MAX.to_le_bytes());
        let e = read_graph(&path, CURRENT_VERSION).unwrap_err().to_string();
        assert!(e.contains("file too short for the row-id map"), "{e}");
        patch_and_reseal(&path, 16, &1u32.to_le_bytes());
        patch_and_reseal(&path, 36, &u32::MAX.to_le_bytes());
        let e = read_graph(&path, CURRENT_VERSION).unwrap_err().to_string();
        assert!(e.contains("file too short for upper links"), "{e}");
    }

    #[test]
    fn a_file_of_another_version_than_its_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.vec");
        write_vectors(&path, &i8_copy(2, 4), 2, 4).unwrap();
        let e = read_vectors(&path, 1, 2, 4).err().unwrap().to_string();
        assert!(e.contains("format version 2, but index.json says 1"), "{e}");
    }

    #[test]
    fn headers_have_the_documented_layout() {
        let h = VecsHeader {
            magic: *VECS_MAGIC,
            version: 2,
            header_len: 64,
            kind: 3,
            nodes: 5,
            dim: 6,
            reserved0: 0,
            dim_scales_at: 7,
            scales_at: 8,
            codes_at: 9,
            reserved: [0; 8],
        };
        let b = bytemuck::bytes_of(&h);
        assert_eq!((&b[..8], b[8], b[16], b[20], b[24], b[32], b[40], b[48]), (&VECS_MAGIC[..], 2, 3, 5, 6, 7, 8, 9));
    }

    #[test]
    fn fifos_as_index_files_are_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("shard-0.vec");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Before, opening the FIFO blocked until a writer appeared: read on a thread, so
        // that a hang fails the test instead of stalling it.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let vectors = read_vectors(&path, CURRENT_VERSION, 3, 8).err().map(|e| e.to_string());
            let graph = read_graph(&path, CURRENT_VERSION).err().map(|e| e.to_string());
            tx.send((vectors, graph)).unwrap();
        });
        let (vectors, graph) = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("reading a FIFO hung");
        for err in [vectors, graph] {
            let err = err.expect("a FIFO was read as an index file");
            assert!(err.contains("shard-0.vec") && err.contains("is a FIFO, not a regular file"), "{err}");
        }
    }

    #[test]
    fn a_vector_file_truncated_while_mapped_is_reported_by_name() {
        // The store's SIGBUS watch covers the index's maps: reading the codes of a vector
        // file truncated after it was mapped names the file and exits 2. The fault kills
        // the process, so the reading happens in a child: this test binary run again.
        const CHILD: &str = "SWAN_INDEXER_TEST_TRUNCATED_VECTORS";
        const DIM: usize = 4096;
        if let Some(path) = std::env::var_os(CHILD) {
            let (copy, _) = read_vectors(Path::new(&path), CURRENT_VERSION, 3, DIM).unwrap();
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
            let WalkCopy::I8 { codes, .. } = &copy else { unreachable!("an int8 copy was written") };
            let sum: i64 = codes.as_slice().iter().map(|&c| c as i64).sum();
            println!("read {sum} without a fault");
            std::process::exit(0);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-0.vec");
        write_vectors(&path, &i8_copy(3, DIM), 3, DIM).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "format::tests::a_vector_file_truncated_while_mapped_is_reported_by_name", "--nocapture"])
            .env(CHILD, &path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}{}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains(&format!("swan: error: {}: the file changed under swan while it was being read", path.display())), "{err}");
    }
}
