//! [`ChunkSet`]: which chunks of a file are held, as a bitmap with a count.

/// A set of chunk indices below a fixed length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkSet {
    words: Vec<u64>,
    len: usize,
    count: usize,
}

impl ChunkSet {
    /// No chunk of `len`.
    pub fn empty(len: usize) -> ChunkSet {
        ChunkSet {
            words: vec![0; len.div_ceil(64)],
            len,
            count: 0,
        }
    }

    /// Every chunk of `len`.
    pub fn full(len: usize) -> ChunkSet {
        let mut set = ChunkSet::empty(len);
        for i in 0..len {
            set.insert(i);
        }
        set
    }

    /// The set of `len` holding `indices` (those out of range are ignored).
    pub fn from_indices(len: usize, indices: impl IntoIterator<Item = usize>) -> ChunkSet {
        let mut set = ChunkSet::empty(len);
        for i in indices {
            set.insert(i);
        }
        set
    }

    /// Adds `index`; `true` if it was not there. Out of range is ignored.
    pub fn insert(&mut self, index: usize) -> bool {
        if index >= self.len || self.contains(index) {
            return false;
        }
        self.words[index / 64] |= 1 << (index % 64);
        self.count += 1;
        true
    }

    /// Removes `index`; `true` if it was there.
    pub fn remove(&mut self, index: usize) -> bool {
        if !self.contains(index) {
            return false;
        }
        self.words[index / 64] &= !(1 << (index % 64));
        self.count -= 1;
        true
    }

    /// Whether `index` is in the set.
    pub fn contains(&self, index: usize) -> bool {
        index < self.len && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// How many indices are in the set.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The number of chunks the set is over.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is over no chunk at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every chunk is in.
    pub fn is_complete(&self) -> bool {
        self.count == self.len
    }

    /// The indices in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.contains(i))
    }

    /// Indices as compact text: `0-3, 7, 9-10`.
    pub fn ranges(indices: &[usize]) -> String {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < indices.len() {
            let start = indices[i];
            let mut end = start;
            while i + 1 < indices.len() && indices[i + 1] == end + 1 {
                i += 1;
                end = indices[i];
            }
            parts.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
            i += 1;
        }
        parts.join(", ")
    }
}
