//! `.npy` files round-trip with numpy in both directions, and bad files fail clearly.

mod common;

use swan_store::{DType, NpyFile, NpyWriter, WriteSpec};

fn values(rows: usize, dim: usize) -> Vec<f32> {
    (0..rows * dim).map(|i| ((i * 7919) % 1000) as f32 / 64.0 - 7.5).collect()
}

#[test]
fn swan_reads_numpy_files() {
    let dir = tempfile::tempdir().unwrap();
    let code = r#"
import numpy as np, sys
d = sys.argv[1]
v = ((np.arange(13 * 9) * 7919) % 1000).astype(np.float64) / 64.0 - 7.5
np.save(d + "/f32.npy", v.astype("<f4").reshape(13, 9))
np.save(d + "/f16.npy", v.astype("<f2").reshape(13, 9))
np.save(d + "/f64.npy", v.reshape(13, 9))
np.save(d + "/i64.npy", np.arange(6, dtype="<i8").reshape(2, 3))
# format 2.0: a header dictionary longer than 65,535 bytes is not needed, numpy can be told
np.lib.format.write_array(open(d + "/v2.npy", "wb"), v.astype("<f4").reshape(13, 9), version=(2, 0))
"#;
    common::python(code, &[dir.path().to_str().unwrap()]);
    let want = values(13, 9);
    for name in ["f32", "f16", "f64", "v2"] {
        let f = NpyFile::open(dir.path().join(format!("{name}.npy"))).unwrap();
        assert_eq!((f.rows(), f.dim()), (13, 9), "{name}");
        let mut row = vec![0.0; 9];
        for r in 0..13 {
            f.row_into_f32(r, &mut row).unwrap();
            // The values are multiples of 1/64 within ±8: exact in f16 too.
            assert_eq!(row, want[r * 9..(r + 1) * 9], "{name} row {r}");
        }
    }
    assert_eq!(NpyFile::open(dir.path().join("f32.npy")).unwrap().as_f32().unwrap(), &want[..]);
    let ids = NpyFile::open(dir.path().join("i64.npy")).unwrap();
    assert_eq!(ids.as_i64().unwrap(), &[0, 1, 2, 3, 4, 5]);
    assert_eq!(ids.dtype(), DType::I64);
}

#[test]
fn numpy_reads_swan_files() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, dim) = (21, 512);
    let data = values(rows, dim);
    for dtype in [DType::F32, DType::F16] {
        let path = dir.path().join(format!("{dtype}.npy"));
        let spec = WriteSpec { dtype, rows, dim, chunk_rows: 8, key: String::new() };
        let mut w = NpyWriter::create(&path, spec.clone()).unwrap();
        for c in (0..spec.chunk_count()).rev() {
            w.write_chunk(c, &data[spec.chunk_rows_range(c).start * dim..spec.chunk_rows_range(c).end * dim]).unwrap();
        }
        w.finish().unwrap();
    }
    let code = r#"
import numpy as np, sys
d = sys.argv[1]
v = (((np.arange(21 * 512) * 7919) % 1000).astype(np.float64) / 64.0 - 7.5).reshape(21, 512)
for name, dt in (("f32", "<f4"), ("f16", "<f2")):
    a = np.load(d + "/" + name + ".npy", mmap_mode="r")
    assert a.dtype == np.dtype(dt), a.dtype
    assert a.shape == (21, 512), a.shape
    assert a.flags.c_contiguous
    assert np.array_equal(a.astype(np.float64), v), name
print("ok")
"#;
    assert_eq!(common::python(code, &[dir.path().to_str().unwrap()]).trim(), "ok");
}

/// `bytes` with the first occurrence of `from` replaced by `to` (same length).
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn bad_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    swan_store::npy::write_f32(&good, &[4, 3], &[1.0; 12]).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.npy",
            bytes[..bytes.len() - 5].to_vec(),
            "truncated: header promises [4, 3] f32 (176 bytes) but the file has 171 bytes",
        ),
        ("trailing.npy", [&bytes[..], b"xx"].concat(), "2 bytes after the data"),
        ("magic.npy", [b"\x93NUMPZ", &bytes[6..]].concat(), "magic"),
        ("header.npy", bytes.iter().map(|&b| if b == b'{' { b'[' } else { b }).collect(), "malformed header dictionary"),
        ("dtype.npy", replace(&bytes, b"<f4", b"<c8"), "unsupported dtype '<c8'"),
        ("order.npy", replace(&bytes, b"False", b"True "), "Fortran order"),
        ("empty.npy", Vec::new(), "file is empty"),
    ];
    for (name, content, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = NpyFile::open(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
    let err = NpyFile::open(&good).unwrap().as_f16().unwrap_err().to_string();
    assert!(err.contains("holds f32 elements, not f16"), "{err}");
}
