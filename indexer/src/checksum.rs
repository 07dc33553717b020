//! The body checksum of swan's index files (format version 2 on): CRC-32 (IEEE, the
//! checksum of zlib, gzip and PNG) from `crc32fast`, so a file can be checked by hand
//! with common tools (`python3 -c 'import zlib,sys; b=open(sys.argv[1],"rb").read();
//! print("%08x" % zlib.crc32(b[:-16]))' FILE` prints the value `index.json` lists). It
//! guards against torn writes and bit rot at several GB/s, so every open checks it; the
//! source file's identity is a SHA-256 (see `index.rs`).

use std::io::{self, Write};

/// A writer that checksums everything written through it. Sealed by an explicit
/// [`ChecksumWriter::finish`], never by `Drop`, so an error cannot produce a file that
/// looks complete.
pub(crate) struct ChecksumWriter<W: Write> {
    inner: W,
    sum: crc32fast::Hasher,
    written: u64,
}

impl<W: Write> ChecksumWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        ChecksumWriter { inner, sum: crc32fast::Hasher::new(), written: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.written
    }

    /// Zero bytes up to the next multiple of `align`.
    pub(crate) fn pad_to(&mut self, align: u64) -> io::Result<()> {
        let pad = (align - self.written % align) % align;
        self.write_all(&vec![0u8; pad as usize])
    }

    /// Return the inner writer and the checksum of everything written.
    pub(crate) fn finish(self) -> (W, u32) {
        (self.inner, self.sum.finalize())
    }
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_computes_the_standard_crc32() {
        // The CRC-32 check value of "123456789" (the catalogue's test vector for CRC-32/ISO-HDLC).
        let mut w = ChecksumWriter::new(Vec::new());
        w.write_all(b"1234").unwrap();
        w.write_all(b"56789").unwrap();
        w.pad_to(4).unwrap();
        assert_eq!(w.position(), 12);
        let (bytes, sum) = w.finish();
        assert_eq!(crc32fast::hash(&bytes[..9]), 0xCBF4_3926);
        assert_eq!(sum, crc32fast::hash(&bytes));
        assert_eq!(&bytes[9..], &[0, 0, 0]);
    }
}
