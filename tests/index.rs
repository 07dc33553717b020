//! `swan index build` and `swan synth` from the command line: bad input exits 2 with a
//! message, and an output folder's other files survive.

mod common;

use common::{ok, swan};

#[test]
fn index_build_refuses_bad_shard_counts_zero_width_rows_and_foreign_folders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["synth", "--rows", "16", "--queries", "1", "--out", "set"], d);
    // Campaign 3: a capacity-overflow panic (exit 101); 4: a zero-width table panicked too.
    let out = swan(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--shards", "18446744073709551615"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("18446744073709551615 shards is more than the 16 rows to index"));
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 0), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    std::fs::write(d.join("empty.npy"), npy).unwrap();
    let out = swan(&["index", "build", "--npy", "empty.npy", "--out", "idx"], d);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows have no values"), "{}", String::from_utf8_lossy(&out.stderr));
    // Campaign 6: every `shard-*` file in --out was deleted.
    std::fs::create_dir(d.join("photos")).unwrap();
    std::fs::write(d.join("photos/shard-01.jpg"), b"precious").unwrap();
    let out = swan(&["index", "build", "--npy", "set/base.npy", "--out", "photos"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write an index there"));
    assert_eq!(std::fs::read(d.join("photos/shard-01.jpg")).unwrap(), b"precious");
    ok(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--m", "4", "--ef-construction", "16"], d);
    ok(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--m", "4", "--ef-construction", "16", "--shards", "2"], d);
}
