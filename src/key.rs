//! Internal keys: a user key plus an 8-byte trailer `(seqno << 8) | kind`.
//!
//! Ordering is by user key ascending, then by trailer descending, so that for one user key the
//! newest version comes first. A lookup at snapshot `s` seeks to `(key, s, ValueKind::MAX)` and
//! takes the first entry with the same user key. See `format-spec/sstable.md` ("Internal keys").

use std::cmp::Ordering;

#[cfg(any(test, feature = "internal"))]
use bytes::Bytes;

use crate::format::TRAILER_SIZE;
pub use crate::format::ValueKind;

/// A sequence number. Only the low 56 bits are usable.
pub type SeqNo = u64;

/// Largest sequence number that fits in a trailer.
pub use crate::format::MAX_SEQNO;

/// Packs a seqno and kind into the on-disk trailer.
#[inline]
pub fn pack_trailer(seqno: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seqno <= MAX_SEQNO);
    (seqno << 8) | kind as u64
}

/// The trailer that sorts before every real entry of a user key visible at `seqno`.
#[inline]
pub fn seek_trailer(seqno: SeqNo) -> u64 {
    (seqno.min(MAX_SEQNO) << 8) | u64::from(ValueKind::MAX)
}

/// Splits a trailer; the kind is `None` when the low byte is not a known kind.
#[inline]
pub fn unpack_trailer(trailer: u64) -> (SeqNo, Option<ValueKind>) {
    (trailer >> 8, ValueKind::from_u8(trailer as u8))
}

/// Compares two internal keys given as (user key, trailer).
#[inline]
pub fn cmp_internal(a_key: &[u8], a_trailer: u64, b_key: &[u8], b_trailer: u64) -> Ordering {
    match a_key.cmp(b_key) {
        Ordering::Equal => b_trailer.cmp(&a_trailer),
        o => o,
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when there is none
/// (the prefix is empty or all 0xff): the exclusive end of a prefix scan as a range.
///
/// ```
/// assert_eq!(lsmkv::prefix_upper_bound(b"user:"), Some(b"user;".to_vec()));
/// assert_eq!(lsmkv::prefix_upper_bound(b"a\xff"), Some(b"b".to_vec()));
/// assert_eq!(lsmkv::prefix_upper_bound(b"\xff"), None);
/// ```
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An owned internal key.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg(any(test, feature = "internal"))]
pub struct InternalKey {
    pub user_key: Bytes,
    pub trailer: u64,
}

#[cfg(any(test, feature = "internal"))]
impl InternalKey {
    pub fn new(user_key: impl Into<Bytes>, seqno: SeqNo, kind: ValueKind) -> Self {
        InternalKey {
            user_key: user_key.into(),
            trailer: pack_trailer(seqno, kind),
        }
    }

    pub fn seqno(&self) -> SeqNo {
        self.trailer >> 8
    }

    pub fn kind(&self) -> Option<ValueKind> {
        ValueKind::from_u8(self.trailer as u8)
    }

    /// `user_key ++ trailer.to_le_bytes()`: the form stored in SSTable index entries.
    pub fn encode(&self) -> Vec<u8> {
        encode_internal(&self.user_key, self.trailer)
    }
}

/// `user_key ++ trailer (u64 LE)`.
pub fn encode_internal(user_key: &[u8], trailer: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_SIZE);
    v.extend_from_slice(user_key);
    v.extend_from_slice(&trailer.to_le_bytes());
    v
}

/// Splits an encoded internal key; `None` if shorter than 8 bytes.
pub fn decode_internal(encoded: &[u8]) -> Option<(&[u8], u64)> {
    let split = encoded.len().checked_sub(TRAILER_SIZE)?;
    let (k, t) = encoded.split_at(split);
    let t: [u8; TRAILER_SIZE] = t.try_into().ok()?;
    Some((k, u64::from_le_bytes(t)))
}

#[cfg(any(test, feature = "internal"))]
impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_internal(&self.user_key, self.trailer, &other.user_key, other.trailer)
    }
}

#[cfg(any(test, feature = "internal"))]
impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(any(test, feature = "internal"))]
impl std::fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, k) = unpack_trailer(self.trailer);
        write!(
            f,
            "{}@{s}:{k:?}",
            crate::value::escape_bytes(&self.user_key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_version_sorts_first() {
        let a = InternalKey::new(&b"k"[..], 5, ValueKind::Put);
        let b = InternalKey::new(&b"k"[..], 3, ValueKind::Put);
        let c = InternalKey::new(&b"l"[..], 9, ValueKind::Put);
        assert!(a < b && b < c);
        // A seek key at seqno 5 sorts at or before every entry with seqno <= 5.
        let seek = InternalKey {
            user_key: Bytes::from_static(b"k"),
            trailer: seek_trailer(5),
        };
        assert!(seek <= a);
        let del = InternalKey::new(&b"k"[..], 5, ValueKind::Delete);
        assert!(a < del, "same seqno: put (1) sorts before delete (0)");
    }

    #[test]
    fn encode_round_trip() {
        let k = InternalKey::new(&b"abc"[..], 77, ValueKind::Delete);
        let e = k.encode();
        let (u, t) = decode_internal(&e).unwrap();
        assert_eq!(u, b"abc");
        assert_eq!(unpack_trailer(t), (77, Some(ValueKind::Delete)));
        assert!(decode_internal(b"short").is_none());
    }
}
