//! [`Fences`]: a dense search accelerator over a table's index, built once at open.

use super::index::Index;
use crate::error::Result;

/// A search accelerator over the index: the user keys of the blocks' last entries share a prefix
/// (`prefix`, their longest common prefix); `words[i]` holds the 8 bytes of block `i`'s key after
/// that prefix, big-endian, zero-padded. That map is monotone (a <= b implies word(a) <= word(b)),
/// so a binary search over the dense words (8 bytes per block, cache friendly) narrows the answer
/// to the blocks whose word equals the target's, which are then compared in full: usually none or
/// one. Zero-padded decimal keys, the common case, differ within those 8 bytes.
///
/// The words are searched in two steps: `top` holds the last word of each run of [`BUCKET`]
/// words (an eighth of a word per block: a table of 30,000 blocks has 3.7 KiB of it, which stays
/// in the CPU's cache), and picks the one run to search. A plain binary search over the 240 KiB of
/// words of such a table missed the cache at nearly every step, and a database has many tables:
/// it was the largest cost of a point read from the page cache at 10M keys.
#[derive(Debug, Default)]
pub(super) struct Fences {
    prefix: Vec<u8>,
    words: Vec<u64>,
    /// `top[j]` = the last word of `words[j * BUCKET..]`'s first `BUCKET` words.
    top: Vec<u64>,
}

/// Words per run of the two-step search: 64 words are 8 cache lines.
const BUCKET: usize = 64;

impl Fences {
    pub(super) fn new(index: &Index) -> Result<Fences> {
        let n = index.len();
        let Some(last) = n.checked_sub(1) else {
            return Ok(Fences::default());
        };
        // Keys are sorted, so the common prefix of all is the common prefix of first and last.
        let (first, _) = index.key(0)?;
        let (lastk, _) = index.key(last)?;
        let lcp = first.iter().zip(lastk).take_while(|(a, b)| a == b).count();
        let prefix = first.get(..lcp).unwrap_or_default().to_vec();
        let mut words = Vec::with_capacity(n);
        for i in 0..n {
            let (k, _) = index.key(i)?;
            words.push(word_after(k, lcp));
        }
        let top = words
            .chunks(BUCKET)
            .filter_map(|c| c.last().copied())
            .collect();
        Ok(Fences { prefix, words, top })
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> u64 {
        (self.prefix.capacity() + (self.words.capacity() + self.top.capacity()) * 8) as u64
    }

    pub(super) fn find(&self, index: &Index, user_key: &[u8], trailer: u64) -> Result<usize> {
        if self.words.len() != index.len() || !user_key.starts_with(&self.prefix) {
            // Outside the prefix (or no blocks): rare, answer from the index itself.
            return index.find(user_key, trailer);
        }
        let w = word_after(user_key, self.prefix.len());
        // Blocks with a smaller word have a smaller key; blocks with a larger word a larger one.
        let lo = self.first_at_least(w);
        index.find_between(lo, self.end_of_equal(lo, w), user_key, trailer)
    }

    /// The first block whose word is >= `w` (`words.len()` when none): the run whose last word
    /// is the first >= `w` holds it.
    fn first_at_least(&self, w: u64) -> usize {
        let run = self.top.partition_point(|&x| x < w);
        let start = (run * BUCKET).min(self.words.len());
        let words = self.words.get(start..).unwrap_or_default();
        let words = words.get(..BUCKET).unwrap_or(words);
        start + words.partition_point(|&x| x < w)
    }

    /// The end of the blocks from `lo` whose word is `w`: usually none or one, so look at a few
    /// before searching the rest.
    fn end_of_equal(&self, lo: usize, w: u64) -> usize {
        let rest = self.words.get(lo..).unwrap_or_default();
        match rest.iter().take(4).position(|&x| x != w) {
            Some(n) => lo + n,
            None => lo + rest.partition_point(|&x| x == w),
        }
    }
}

/// The 8 bytes of `key` from `at`, big-endian, zero-padded.
#[inline]
fn word_after(key: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    let tail = key.get(at..).unwrap_or_default();
    let n = tail.len().min(8);
    if let (Some(dst), Some(src)) = (b.get_mut(..n), tail.get(..n)) {
        dst.copy_from_slice(src);
    }
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use bytes::Bytes;

    use super::*;
    use crate::sstable::index::IndexBuilder;

    fn index_of(keys: &[(&[u8], u64)]) -> Index {
        let mut b = IndexBuilder::new();
        for (i, (k, t)) in keys.iter().enumerate() {
            b.add(k, *t, i as u64 * 100, 100);
        }
        Index::new(Bytes::from(b.finish_vec())).unwrap()
    }

    /// Fences answer exactly as the index's own binary search, for targets inside and outside
    /// the common prefix, between keys, equal to keys with other trailers, and past the end.
    #[test]
    fn fences_agree_with_index_find() {
        let sets: Vec<Vec<Vec<u8>>> = vec![
            (0..300u64)
                .map(|i| format!("{:016}", i * 7).into_bytes())
                .collect(),
            vec![
                b"".to_vec(),
                b"a".to_vec(),
                b"a\x00".to_vec(),
                b"ab".to_vec(),
                b"b".to_vec(),
            ],
            vec![
                b"user:0001".to_vec(),
                b"user:0001\x00\x00".to_vec(),
                b"user:0002".to_vec(),
            ],
            vec![
                b"pppppppppppppppppppp1".to_vec(),
                b"pppppppppppppppppppp1zzzzzzzzzzzz".to_vec(),
                b"pppppppppppppppppppp2".to_vec(),
            ],
            vec![b"same".to_vec()],
            vec![],
            // Long runs of equal words (keys that differ only past the 8 bytes after the common
            // prefix), crossing the two-step search's runs of 64 words.
            (0..400u64)
                .map(|i| format!("k{:08}/{:05}", i / 90, i).into_bytes())
                .collect(),
        ];
        for keys in sets {
            // Duplicate user keys across blocks happen (versions of one key); trailers descend.
            let mut entries: Vec<(&[u8], u64)> = Vec::new();
            for k in &keys {
                entries.push((k, 9 << 8));
                entries.push((k, 3 << 8));
            }
            let index = index_of(&entries);
            let fences = Fences::new(&index).unwrap();
            let mut targets: Vec<Vec<u8>> = keys.clone();
            for k in &keys {
                let mut a = k.clone();
                a.push(0);
                targets.push(a);
                let mut b = k.clone();
                b.pop();
                targets.push(b);
                let mut c = k.clone();
                if let Some(l) = c.last_mut() {
                    *l = l.wrapping_add(1);
                }
                targets.push(c);
            }
            targets.extend([
                b"".to_vec(),
                b"\xff".to_vec(),
                b"0".to_vec(),
                b"zzzz".to_vec(),
            ]);
            for t in &targets {
                for tr in [u64::MAX, 9 << 8, 5 << 8, 3 << 8, 0] {
                    assert_eq!(
                        fences.find(&index, t, tr).unwrap(),
                        index.find(t, tr).unwrap(),
                        "target {t:?} trailer {tr}"
                    );
                }
            }
        }
    }

    #[test]
    fn word_after_is_monotone() {
        let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![1], vec![0xff; 9]];
        keys.extend((0..50u32).map(|i| i.to_be_bytes().to_vec()));
        keys.sort();
        for w in keys.windows(2) {
            assert!(word_after(&w[0], 0) <= word_after(&w[1], 0), "{w:?}");
        }
    }
}
