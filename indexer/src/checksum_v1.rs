//! The body checksum of format version 1 files, read only (version 2 writes CRC-32).
//!
//! A bespoke 64-bit hash (four xxHash64-style lanes over 32-byte blocks) that matches no
//! standard one, so no common tool can check it; it is kept only so that indexes written
//! by version 1 still open with their bodies verified.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;

/// Streaming 64-bit checksum.
#[derive(Clone, Debug)]
struct Checksum {
    lanes: [u64; 4],
    tail: [u8; 32],
    tail_len: usize,
    total: u64,
}

#[inline(always)]
fn round(acc: u64, word: u64) -> u64 {
    acc.wrapping_add(word.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

impl Checksum {
    fn new() -> Checksum {
        Checksum { lanes: [P1.wrapping_add(P2), P2, 0, P1.wrapping_neg()], tail: [0; 32], tail_len: 0, total: 0 }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (32 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 32 {
                return;
            }
            let block = self.tail;
            self.block(&block);
            self.tail_len = 0;
        }
        let mut chunks = bytes.chunks_exact(32);
        for block in &mut chunks {
            self.block(block.try_into().expect("32 bytes"));
        }
        let rest = chunks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    #[inline(always)]
    fn block(&mut self, block: &[u8; 32]) {
        for (l, lane) in self.lanes.iter_mut().enumerate() {
            let word = u64::from_le_bytes(block[8 * l..8 * l + 8].try_into().expect("8 bytes"));
            *lane = round(*lane, word);
        }
    }

    fn finish(&self) -> u64 {
        let [a, b, c, d] = self.lanes;
        let mut h = a.rotate_left(1).wrapping_add(b.rotate_left(7)).wrapping_add(c.rotate_left(12)).wrapping_add(d.rotate_left(18));
        h ^= self.total.wrapping_mul(P3);
        for &byte in &self.tail[..self.tail_len] {
            h = (h ^ (byte as u64).wrapping_mul(P3)).rotate_left(11).wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

/// Version 1 checksum of a whole buffer.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.update(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot_and_detects_flips() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = checksum(&data);
        for split in [0, 1, 31, 32, 33, 999] {
            let mut c = Checksum::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.finish(), whole, "split {split}");
        }
        let mut flipped = data.clone();
        flipped[500] ^= 1;
        assert_ne!(checksum(&flipped), whole);
        assert_ne!(checksum(&data[..999]), whole);
    }
}
