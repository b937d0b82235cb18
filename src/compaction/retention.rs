//! What a compaction does with a version besides garbage collection: expiry (TTL) and the user's
//! [`CompactionFilter`]. `job::merge_into` passes every version through [`Retention::rewrite`]
//! before its garbage-collection rule (`job::Gc`) decides whether the result is written.
//!
//! - A version that a newer version visible to every snapshot shadows is left alone: the garbage
//!   collection drops it anyway.
//! - An expiring put whose `expires_at` has passed (at the job's start) becomes a tombstone with
//!   the same seqno. Every reader reads it as absent already, through any snapshot (expiry is by
//!   time), and a tombstone hides the versions below it just as the expired put does; so no
//!   reader can tell the difference, while the value's bytes are gone. The tombstone then goes
//!   where every tombstone goes: kept above the bottom of the tree, so that older versions in
//!   lower levels can never reappear, and dropped at the bottom once no snapshot needs it.
//! - The newest version of a key in the job, when it is a value and every reader sees it (seqno
//!   at or below the oldest snapshot), goes through the compaction filter: `Keep`; `Drop` makes it
//!   a tombstone with its seqno (so it follows the rule above); `Replace` writes the new value
//!   with the same trailer, an expiring value keeping its `expires_at`. Versions that snapshots
//!   still read are never filtered, so a snapshot's view does not change under it.
//!
//! Invariants: the seqno (the key's version) never changes; the only kind change is to a
//! tombstone. A table that a compaction moves without rewriting it (a trivial move) is not seen
//! here: its expired values and unfiltered keys wait for a later rewrite.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::compaction_filter::{CompactionFilter, FilterDecision};
use crate::error::{Error, Result};
use crate::format::{EXPIRY_SIZE, ValueKind};
use crate::key::{SeqNo, pack_trailer, unpack_trailer};
use crate::ttl;
use crate::value::Value;

/// How many versions a job rewrote, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetentionStats {
    /// Expired values turned into tombstones (some of which the job then dropped).
    pub expired: u64,
    /// Values the compaction filter dropped.
    pub filter_dropped: u64,
    /// Values the compaction filter replaced.
    pub filter_replaced: u64,
}

/// The expiry and filter rules of one compaction job.
pub(crate) struct Retention<'a> {
    /// The clock's time when the job started.
    now_millis: u64,
    /// The oldest seqno a reader may read at.
    smallest_snapshot: SeqNo,
    filter: Option<&'a dyn CompactionFilter>,
    /// Largest value a replacement may have (`Options::max_value_size`).
    max_value_size: usize,
    pub stats: RetentionStats,
}

impl<'a> Retention<'a> {
    pub fn new(
        now_millis: u64,
        smallest_snapshot: SeqNo,
        filter: Option<&'a dyn CompactionFilter>,
        max_value_size: usize,
    ) -> Self {
        Retention {
            now_millis,
            smallest_snapshot,
            filter,
            max_value_size,
            stats: RetentionStats::default(),
        }
    }

    /// The entry (trailer, value) to put in place of the version (`trailer`, `value`) of `key`,
    /// given the seqno of the next newer version of the key in the job (`u64::MAX` when this is
    /// the newest).
    ///
    /// # Errors
    /// [`Error::Corruption`] for an expiring value shorter than its expiry;
    /// [`Error::InvalidArgument`] when the compaction filter panics.
    pub fn rewrite(
        &mut self,
        key: &[u8],
        trailer: u64,
        value: Value,
        newer_seq: SeqNo,
    ) -> Result<(u64, Value)> {
        if newer_seq <= self.smallest_snapshot {
            // Shadowed for every reader: garbage collection drops it.
            return Ok((trailer, value));
        }
        let (seq, kind) = unpack_trailer(trailer);
        let expires_at = match kind {
            Some(ValueKind::PutExpiring) => {
                let (at, _) = ttl::split_stored(value.clone())?;
                if ttl::is_expired(at, self.now_millis) {
                    self.stats.expired += 1;
                    return Ok(tombstone(seq));
                }
                Some(at)
            }
            Some(ValueKind::Put) => None,
            _ => return Ok((trailer, value)),
        };
        let visible_to_all = seq <= self.smallest_snapshot;
        match self.filter {
            Some(f) if newer_seq == u64::MAX && visible_to_all => {
                self.apply_filter(f, key, trailer, value, expires_at)
            }
            _ => Ok((trailer, value)),
        }
    }

    /// Runs `filter` on the value `stored` (of kind Put, or PutExpiring with `expires_at`).
    fn apply_filter(
        &mut self,
        filter: &dyn CompactionFilter,
        key: &[u8],
        trailer: u64,
        stored: Value,
        expires_at: Option<u64>,
    ) -> Result<(u64, Value)> {
        let user = match expires_at {
            Some(_) => stored.get(EXPIRY_SIZE..).unwrap_or_default(),
            None => &stored[..],
        };
        // A panic in user code must not unwind through the job (it would leave its output files
        // behind): it fails the compaction like any other error, which poisons the database.
        let decision = catch_unwind(AssertUnwindSafe(|| filter.filter(key, user)))
            .map_err(|payload| filter_panicked(filter, payload.as_ref()))?;
        match decision {
            FilterDecision::Keep => Ok((trailer, stored)),
            FilterDecision::Drop => {
                self.stats.filter_dropped += 1;
                Ok(tombstone(unpack_trailer(trailer).0))
            }
            FilterDecision::Replace(new) if new.len() > self.max_value_size => {
                tracing::warn!(
                    filter = filter.name(),
                    len = new.len(),
                    max = self.max_value_size,
                    "lsmkv: compaction filter replacement larger than MAX_VALUE_SIZE ignored"
                );
                Ok((trailer, stored))
            }
            FilterDecision::Replace(new) => {
                self.stats.filter_replaced += 1;
                let value = match expires_at {
                    Some(at) => {
                        let mut v = Vec::with_capacity(EXPIRY_SIZE + new.len());
                        v.extend_from_slice(&at.to_le_bytes());
                        v.extend_from_slice(&new);
                        v
                    }
                    None => new,
                };
                Ok((trailer, Value::from(value)))
            }
        }
    }
}

/// A tombstone with seqno `seq`.
fn tombstone(seq: SeqNo) -> (u64, Value) {
    (pack_trailer(seq, ValueKind::Delete), Value::default())
}

/// The error of a compaction whose filter panicked.
fn filter_panicked(filter: &dyn CompactionFilter, payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|m| (*m).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    Error::InvalidArgument(format!(
        "compaction filter {} panicked: {what}",
        filter.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(seq: SeqNo, v: &[u8]) -> (u64, Value) {
        (pack_trailer(seq, ValueKind::Put), Value::from(v))
    }

    fn expiring(seq: SeqNo, at: u64, v: &[u8]) -> (u64, Value) {
        let mut s = at.to_le_bytes().to_vec();
        s.extend_from_slice(v);
        (pack_trailer(seq, ValueKind::PutExpiring), Value::from(s))
    }

    fn kind_of(e: &(u64, Value)) -> Option<ValueKind> {
        unpack_trailer(e.0).1
    }

    /// Drops keys starting with `d`, replaces the value of keys starting with `r` by `R:value`,
    /// panics on `p`.
    struct ByPrefix;
    impl CompactionFilter for ByPrefix {
        fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision {
            match key.first() {
                Some(b'd') => FilterDecision::Drop,
                Some(b'r') => FilterDecision::Replace([b"R:", value].concat()),
                Some(b'p') => panic!("filter bug"),
                Some(b'h') => FilterDecision::Replace(vec![0; 100]),
                _ => FilterDecision::Keep,
            }
        }
    }

    const NEWEST: u64 = u64::MAX;

    #[test]
    fn expired_values_become_tombstones_with_their_seqno() {
        let mut r = Retention::new(1000, 50, None, 64);
        let (t, v) = expiring(7, 1000, b"gone");
        let out = r.rewrite(b"k", t, v, NEWEST).unwrap();
        assert_eq!(out.0, pack_trailer(7, ValueKind::Delete));
        assert!(out.1.is_empty());
        // Also when snapshots still see it (seqno above the oldest snapshot) and when it is not
        // the newest version: every reader reads it as absent anyway.
        let (t, v) = expiring(70, 5, b"gone");
        assert_eq!(kind_of(&r.rewrite(b"k", t, v, 80).unwrap()), Some(ValueKind::Delete));
        assert_eq!(r.stats.expired, 2);
        // Not yet expired: unchanged.
        let e = expiring(8, 1001, b"live");
        assert_eq!(r.rewrite(b"k", e.0, e.1.clone(), NEWEST).unwrap(), e);
        // Shadowed for everyone: left to garbage collection, not counted.
        let (t, v) = expiring(3, 1, b"old");
        assert_eq!(kind_of(&r.rewrite(b"k", t, v, 9).unwrap()), Some(ValueKind::PutExpiring));
        assert_eq!(r.stats.expired, 2);
    }

    #[test]
    fn the_filter_sees_only_the_newest_version_visible_to_all() {
        let f = ByPrefix;
        let mut r = Retention::new(0, 50, Some(&f), 64);
        // Newest and visible to all: dropped (a tombstone with the same seqno).
        let (t, v) = put(10, b"x");
        assert_eq!(r.rewrite(b"drop", t, v, NEWEST).unwrap(), tombstone(10));
        // A snapshot older than it exists (seqno 60 > 50): untouched.
        let e = put(60, b"x");
        assert_eq!(r.rewrite(b"drop", e.0, e.1.clone(), NEWEST).unwrap(), e);
        // An older version under a newer one that not everyone sees: untouched.
        let e = put(20, b"x");
        assert_eq!(r.rewrite(b"drop", e.0, e.1.clone(), 60).unwrap(), e);
        // Tombstones are not filtered.
        let e = tombstone(5);
        assert_eq!(r.rewrite(b"drop", e.0, e.1.clone(), NEWEST).unwrap(), e);
        // Keep.
        let e = put(11, b"x");
        assert_eq!(r.rewrite(b"keep", e.0, e.1.clone(), NEWEST).unwrap(), e);
        assert_eq!(
            r.stats,
            RetentionStats {
                expired: 0,
                filter_dropped: 1,
                filter_replaced: 0
            }
        );
    }

    #[test]
    fn replacements_keep_seqno_kind_and_expiry() {
        let f = ByPrefix;
        let mut r = Retention::new(100, 50, Some(&f), 64);
        let (t, v) = put(10, b"x");
        assert_eq!(r.rewrite(b"rk", t, v, NEWEST).unwrap(), put(10, b"R:x"));
        // The filter sees the user's value; the expiry stays in front of the new one.
        let (t, v) = expiring(12, 500, b"y");
        assert_eq!(
            r.rewrite(b"rk", t, v, NEWEST).unwrap(),
            expiring(12, 500, b"R:y")
        );
        // An expired value never reaches the filter.
        let (t, v) = expiring(13, 100, b"z");
        assert_eq!(r.rewrite(b"rk", t, v, NEWEST).unwrap(), tombstone(13));
        // Too large a replacement is ignored.
        let e = put(14, b"small");
        assert_eq!(r.rewrite(b"huge", e.0, e.1.clone(), NEWEST).unwrap(), e);
        assert_eq!(
            r.stats,
            RetentionStats {
                expired: 1,
                filter_dropped: 0,
                filter_replaced: 2
            }
        );
    }

    #[test]
    fn a_panicking_filter_is_an_error() {
        let f = ByPrefix;
        let mut r = Retention::new(0, 50, Some(&f), 64);
        let (t, v) = put(1, b"x");
        let e = r.rewrite(b"panic", t, v, NEWEST).unwrap_err();
        assert!(e.to_string().contains("filter bug"), "{e}");
        assert!(e.to_string().contains("ByPrefix"), "{e}");
    }

    #[test]
    fn short_expiring_values_are_corruption() {
        let mut r = Retention::new(0, 50, None, 64);
        let t = pack_trailer(1, ValueKind::PutExpiring);
        let e = r.rewrite(b"k", t, Value::from(&b"1234"[..]), NEWEST).unwrap_err();
        assert!(e.is_corruption());
    }
}
