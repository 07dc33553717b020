//! Bounded top-k selection with a total order, for many queries at once.
//!
//! Order: a larger key is better; equal keys are broken by the smaller id. With keys
//! from [`f32_key`] / [`f64_key`] that is "score descending, then id ascending", NaN
//! below every number, and `-0.0` equal to `0.0`: a total order, so results never
//! depend on the order rows were scanned or merged in.
//!
//! [`TopK`] keeps one binary min-heap per query (the worst kept item at the root) in a
//! single flat slab of `queries x k` slots, so a block of queries costs two allocations,
//! reused across blocks with [`TopK::reset`].

/// A kept item: its ordering key and row id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot<K> {
    pub key: K,
    pub id: u32,
}

impl<K: Ord> Slot<K> {
    /// `self` ranks after `other`.
    #[inline(always)]
    fn worse(&self, other: &Slot<K>) -> bool {
        self.key < other.key || (self.key == other.key && self.id > other.id)
    }
}

/// Order-preserving map of an `f32` score to `u32`: NaN maps to 0, below `-inf`; `-0.0`
/// maps like `0.0`. Invert with [`f32_from_key`].
#[inline(always)]
pub(crate) fn f32_key(x: f32) -> u32 {
    if x.is_nan() {
        return 0;
    }
    let bits = (x + 0.0).to_bits(); // -0.0 + 0.0 == +0.0
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// The score of an [`f32_key`] (a NaN for key 0, `+0.0` for either zero).
#[inline(always)]
pub(crate) fn f32_from_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 { key & 0x7FFF_FFFF } else { !key })
}

/// [`f32_key`] for `f64`.
#[inline(always)]
pub(crate) fn f64_key(x: f64) -> u64 {
    if x.is_nan() {
        return 0;
    }
    let bits = (x + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 0x8000_0000_0000_0000
    }
}

/// The best `k` items of each of a block of queries.
#[derive(Clone, Debug)]
pub(crate) struct TopK<K> {
    k: usize,
    lens: Vec<usize>,
    slots: Vec<Slot<K>>,
}

impl<K: Copy + Ord + Default> TopK<K> {
    /// Empty heaps for `queries` queries.
    pub(crate) fn new(queries: usize, k: usize) -> TopK<K> {
        let mut t = TopK { k, lens: Vec::new(), slots: Vec::new() };
        t.reset(queries);
        t
    }

    /// Empty every heap and resize for `queries` queries, reusing the allocations.
    pub(crate) fn reset(&mut self, queries: usize) {
        self.lens.clear();
        self.lens.resize(queries, 0);
        self.slots.resize(queries * self.k, Slot::default());
    }

    /// Offer item `id` with `key` to query `q`.
    #[inline(always)]
    pub(crate) fn push(&mut self, q: usize, key: K, id: u32) {
        let k = self.k;
        let heap = &mut self.slots[q * k..q * k + k];
        let len = &mut self.lens[q];
        let item = Slot { key, id };
        if *len < k {
            heap[*len] = item;
            sift_up(heap, *len);
            *len += 1;
        } else if k > 0 && heap[0].worse(&item) {
            heap[0] = item;
            sift_down(heap, 0);
        }
    }

    /// Number of queries.
    pub(crate) fn queries(&self) -> usize {
        self.lens.len()
    }

    /// Whether query `q` is full and `key` could not enter it whatever the id: the
    /// cheap test to skip work on most items.
    #[inline(always)]
    pub(crate) fn rejects(&self, q: usize, key: K) -> bool {
        self.lens[q] == self.k && (self.k == 0 || key < self.slots[q * self.k].key)
    }

    /// The kept items of query `q`, in heap order.
    pub(crate) fn items(&self, q: usize) -> &[Slot<K>] {
        &self.slots[q * self.k..q * self.k + self.lens[q]]
    }

    /// The kept items of query `q`, best first, appended to `out`.
    pub(crate) fn sorted_into(&self, q: usize, out: &mut Vec<Slot<K>>) {
        let start = out.len();
        out.extend_from_slice(self.items(q));
        out[start..].sort_unstable_by(|a, b| b.key.cmp(&a.key).then(a.id.cmp(&b.id)));
    }
}

#[inline(always)]
fn sift_up<K: Ord + Copy>(heap: &mut [Slot<K>], mut i: usize) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if heap[i].worse(&heap[parent]) {
            heap.swap(i, parent);
            i = parent;
        } else {
            break;
        }
    }
}

#[inline(always)]
fn sift_down<K: Ord + Copy>(heap: &mut [Slot<K>], mut i: usize) {
    let n = heap.len();
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut worst = i;
        if l < n && heap[l].worse(&heap[worst]) {
            worst = l;
        }
        if r < n && heap[r].worse(&heap[worst]) {
            worst = r;
        }
        if worst == i {
            break;
        }
        heap.swap(i, worst);
        i = worst;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_keys_order_like_numbers_with_nan_lowest() {
        let xs = [f32::NAN, f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::INFINITY];
        let keys: Vec<u32> = xs.iter().map(|&x| f32_key(x)).collect();
        assert_eq!(keys[0], 0);
        for w in keys.windows(2).skip(1) {
            assert!(w[0] <= w[1]);
        }
        assert_eq!(f32_key(-0.0), f32_key(0.0));
        for &x in &xs[1..] {
            assert_eq!(f32_from_key(f32_key(x)), x + 0.0);
        }
        assert!(f32_from_key(0).is_nan());
        assert!(f64_key(f64::NAN) < f64_key(f64::NEG_INFINITY));
        assert!(f64_key(-1.0) < f64_key(-0.5) && f64_key(-0.0) == f64_key(0.0) && f64_key(0.5) < f64_key(1.0));
    }

    #[test]
    fn keeps_the_best_k_with_ties_by_id() {
        // Scores with many ties, offered in a scrambled order, to two queries.
        let scores = [3u32, 1, 3, 2, 3, 5, 1, 5, 0, 2];
        let mut t = TopK::new(2, 4);
        for step in 0..scores.len() {
            let id = (step * 7) % scores.len();
            t.push(0, scores[id], id as u32);
            t.push(1, 10 - scores[id], id as u32);
        }
        let mut out = Vec::new();
        t.sorted_into(0, &mut out);
        let ids: Vec<u32> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, [5, 7, 0, 2]);
        out.clear();
        t.sorted_into(1, &mut out);
        let ids: Vec<u32> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, [8, 1, 6, 3]);
        assert!(t.rejects(0, 2) && !t.rejects(0, 3));
    }

    #[test]
    fn k_zero_and_fewer_items_than_k() {
        let mut t: TopK<u32> = TopK::new(1, 0);
        t.push(0, 1, 1);
        assert!(t.items(0).is_empty() && t.rejects(0, 9));
        let mut t: TopK<u32> = TopK::new(1, 5);
        t.push(0, 1, 1);
        t.push(0, 2, 0);
        assert_eq!(t.items(0).len(), 2);
        t.reset(3);
        assert!(t.items(0).is_empty() && t.items(2).is_empty());
    }
}
