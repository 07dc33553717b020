//! Deterministic 1/N slices of a corpus, for `--shard I/N`.

/// Rows `[start, end)` of slice `index` of `count` over `total` items, cut at multiples
/// of `unit` (the text-padding shard size, so that a caption's padding group never
/// straddles two slices; 1 for images).
pub fn slice(total: usize, index: usize, count: usize, unit: usize) -> std::ops::Range<usize> {
    let unit = unit.max(1);
    let units = total.div_ceil(unit);
    let cut = |i: usize| ((units * i / count) * unit).min(total);
    cut(index)..cut(index + 1)
}

#[cfg(test)]
mod tests {
    use super::slice;

    #[test]
    fn slices_cover_everything_once_and_respect_units() {
        for (total, count, unit) in [(10, 3, 1), (1000, 7, 128), (5, 8, 1), (0, 2, 1), (300, 2, 128)] {
            let mut next = 0;
            for i in 0..count {
                let r = slice(total, i, count, unit);
                assert_eq!(r.start, next);
                assert!(r.start == total || r.start % unit == 0);
                next = r.end;
            }
            assert_eq!(next, total);
        }
        assert_eq!(slice(300, 0, 2, 128), 0..128);
        assert_eq!(slice(300, 1, 2, 128), 128..300);
    }
}
