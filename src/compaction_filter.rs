//! [`CompactionFilter`]: user code that decides, while compaction rewrites the tree, whether the
//! newest value of a key is kept, removed or replaced.
//!
//! The trait lives outside `compaction/` so that `Options` can hold one without a dependency of
//! the options on the compaction code. Where and how a decision is applied is
//! `compaction::retention`.

use std::fmt;
use std::panic::RefUnwindSafe;

/// What a [`CompactionFilter`] decided for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterDecision {
    /// Leave the value as it is.
    Keep,
    /// Remove the key, as a delete written at the value's own sequence number would: above the
    /// bottom of the tree the value becomes a tombstone (so that older versions below it stay
    /// hidden), at the bottom it disappears.
    Drop,
    /// Store this value instead. The entry keeps its sequence number (its version, see
    /// [`crate::Db::get_versioned`]) and its kind: an expiring value keeps its expiry. A
    /// replacement longer than the database's `max_value_size` is not applied (the value is kept
    /// and a warning is logged).
    Replace(Vec<u8>),
}

/// Decides, during compaction, what becomes of a key's value: a way to delete or rewrite data by
/// a rule (stale sessions, a retired field, a schema migration) without writing to every key.
///
/// Set one with [`crate::Options::with_compaction_filter`]. Compaction calls
/// [`CompactionFilter::filter`] for the newest version of each key among the tables it merges,
/// when that version is a value (not a delete, not an expired value) and every reader can see it
/// (its sequence number is at or below the oldest live [`crate::Snapshot`]). Older versions that
/// snapshots still read are never shown to the filter and never changed. Memtable flushes and
/// reads do not call it: until a compaction rewrites a key's table, reads return the value as
/// written (a table that a compaction only moves to the next level is not rewritten; a full
/// [`crate::Db::compact`] rewrites everything).
///
/// # Requirements
///
/// - **Fast.** It runs on the compaction threads (and in the caller's thread for
///   [`crate::Db::compact`] and [`crate::Db::compact_range`]), once per key per compaction;
///   a slow filter slows compaction, and with it writers, which wait when compaction falls
///   behind.
/// - **Deterministic.** A key is filtered again by every later compaction that rewrites it, and
///   which compaction reaches a key first depends on timing. The decision should depend on the
///   key and the value only (or on state that changes in one direction, such as a cut-off time
///   that only moves forward), so that filtering twice gives what filtering once gave.
/// - **No panics.** A panic fails the compaction, which poisons the database: writes fail with
///   [`crate::Error::Poisoned`], naming the filter and the panic, until it is reopened.
/// - It must not call back into the database.
///
/// ```
/// use std::sync::Arc;
/// use lsmkv::{CompactionFilter, FilterDecision, Options};
///
/// /// Drops every key under `tmp/` and upper-cases values under `shout/`.
/// struct Cleanup;
///
/// impl CompactionFilter for Cleanup {
///     fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision {
///         if key.starts_with(b"tmp/") {
///             FilterDecision::Drop
///         } else if key.starts_with(b"shout/") {
///             FilterDecision::Replace(value.to_ascii_uppercase())
///         } else {
///             FilterDecision::Keep
///         }
///     }
/// }
///
/// let opts = Options::default().with_compaction_filter(Arc::new(Cleanup));
/// # let _ = opts;
/// ```
pub trait CompactionFilter: Send + Sync + RefUnwindSafe {
    /// The fate of `key`, whose newest value is `value` (for a value written with a time to
    /// live, the user's value, without its expiry).
    fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision;

    /// A name for logs and `Debug` output. Default: the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl fmt::Debug for dyn CompactionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompactionFilter")
            .field(&self.name())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct DropAll;
    impl CompactionFilter for DropAll {
        fn filter(&self, _: &[u8], _: &[u8]) -> FilterDecision {
            FilterDecision::Drop
        }
    }

    #[test]
    fn debug_names_the_filter() {
        let f: Arc<dyn CompactionFilter> = Arc::new(DropAll);
        assert_eq!(f.filter(b"k", b"v"), FilterDecision::Drop);
        let shown = format!("{f:?}");
        assert!(shown.contains("DropAll"), "{shown}");
    }
}
