//! Contiguous row slices `I/N`: the one formula every sharded stage (index build, exact
//! search, top-k merge) uses, so slices made by different commands line up.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The `index`-th of `count` contiguous slices of a table's rows (0-based `index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RowSlice {
    /// Which slice, `0..count`.
    pub index: usize,
    /// How many slices the rows are cut into (at least 1).
    pub count: usize,
}

impl RowSlice {
    /// The whole table, `0/1`.
    pub const ALL: RowSlice = RowSlice { index: 0, count: 1 };

    /// Slice `index` of `count`; `None` unless `index < count`.
    pub fn new(index: usize, count: usize) -> Option<RowSlice> {
        (index < count).then_some(RowSlice { index, count })
    }

    /// Parse `I/N` (`0 <= I < N`). The error says what was expected.
    pub fn parse(text: &str) -> Result<RowSlice, String> {
        let parsed = text.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        parsed
            .and_then(|(i, n)| RowSlice::new(i, n))
            .ok_or_else(|| format!("expected I/N with 0 <= I < N (slice I of N, 0-based), not '{text}'"))
    }

    /// The rows of this slice in a table of `rows` rows: `[rows*I/N, rows*(I+1)/N)`.
    /// Slices `0..N` cover `0..rows` exactly once, in order, and differ in length by at most one.
    pub fn range(&self, rows: usize) -> Range<usize> {
        let at = |i: usize| ((rows as u128 * i as u128) / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// Whether this is the whole table (`0/1`).
    pub fn is_all(&self) -> bool {
        self.count == 1
    }
}

impl std::fmt::Display for RowSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for RowSlice {
    type Err = String;
    fn from_str(s: &str) -> Result<RowSlice, String> {
        RowSlice::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_rows_once_in_order() {
        for rows in [0usize, 1, 2, 7, 100, 101] {
            for n in 1..=9 {
                let mut next = 0;
                for i in 0..n {
                    let r = RowSlice::new(i, n).unwrap().range(rows);
                    assert_eq!(r.start, next, "{rows} rows, {i}/{n}");
                    assert!(r.len() <= rows.div_ceil(n) && r.len() + 1 >= rows / n);
                    next = r.end;
                }
                assert_eq!(next, rows);
            }
        }
        assert_eq!(RowSlice::new(1, 3).unwrap().range(10), 3..6);
        // No overflow for huge tables.
        assert_eq!(RowSlice::new(1, 2).unwrap().range(usize::MAX).start, usize::MAX / 2);
    }

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!(RowSlice::parse("2/5"), Ok(RowSlice { index: 2, count: 5 }));
        assert_eq!("0/1".parse::<RowSlice>().unwrap(), RowSlice::ALL);
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2", ""] {
            let e = RowSlice::parse(bad).unwrap_err();
            assert!(e.contains("expected I/N with 0 <= I < N"), "{bad}: {e}");
        }
        assert_eq!(RowSlice::new(3, 4).unwrap().to_string(), "3/4");
    }
}
