//! The change feed: [`Db::subscribe`], [`crate::Keyspace::subscribe`] and [`Db::subscribe_all`]
//! hand out [`Subscription`]s that receive every committed change matching their keyspace and
//! key prefix, as [`Event`]s, in commit order.
//!
//! How it works. The write leader calls [`publish`] under the WAL lock right after a group's
//! visible seqno is published, so events reach every queue in commit order, only for batches
//! that committed (a transaction that failed its check or a group whose WAL write failed never
//! gets there), and never before the change is visible to reads. Publishing never waits for a
//! subscriber: each one has a bounded queue, and an event that finds it full is counted, not
//! queued. Once a queue overflowed, the gap stays open (later events are counted too) until the
//! subscriber has drained the queue; it then receives [`Event::Lagged`] with the count, and the
//! events after it start at a commit boundary. One gap, one notice: a subscriber that fell
//! behind resynchronises once, not after every event.
//!
//! Cost. With no subscriber, a commit pays one relaxed atomic load. With subscribers, the leader
//! copies each matching entry's key and value once (subscribers share the copy) and takes each
//! matching subscriber's queue lock once per group; the consumer holds that lock only to pop.
//!
//! Lock order: WAL, then the registry, then a queue. [`Db::subscribe`] registers under the WAL
//! lock, so a subscription sees exactly the commits that finish after it: take a snapshot after
//! subscribing, and the events above its seqno are precisely the changes it does not hold.
//!
//! Files: this one holds the registry, filters, `publish` and the `subscribe` methods;
//! `subscription.rs` the [`Subscription`] with its bounded queue, and the [`Event`] types.

mod subscription;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::index::INDEX_KEYSPACE_PREFIX;
use super::tree::Tree;
use super::{Db, Keyspace, Shared};
use crate::batch::{BatchEntry, WriteBatch};
use crate::format::{RangeEnd, ValueKind};
use crate::key::SeqNo;
use crate::value::{Key, Value};

pub use subscription::{Change, DEFAULT_FEED_CAPACITY, Event, Subscription};
use subscription::Queue;

/// Which changes a subscription wants.
#[derive(Debug)]
struct Filter {
    /// `None`: every keyspace.
    keyspace: Option<u32>,
    prefix: Vec<u8>,
    /// The exclusive end of the prefix's keys (`None`: no end).
    prefix_end: Option<Vec<u8>>,
}

impl Filter {
    fn new(keyspace: Option<u32>, prefix: &[u8]) -> Filter {
        Filter {
            keyspace,
            prefix: prefix.to_vec(),
            prefix_end: crate::iter::prefix_upper_bound(prefix),
        }
    }

    /// Whether `item`, of an index keyspace if `index`, passes. Subscribing to every keyspace
    /// leaves out index keyspaces: their entries derive from the others'.
    fn matches(&self, item: &Item<'_>, index: bool) -> bool {
        match self.keyspace {
            Some(k) if k != item.keyspace => return false,
            None if index => return false,
            _ => {}
        }
        match &item.what {
            What::Point { key, .. } => key.starts_with(&self.prefix),
            // The ranges [start, end) and [prefix, prefix_end) overlap.
            What::Range { start, end } => {
                self.prefix_end.as_deref().is_none_or(|pe| *start < pe) && end.is_above(&self.prefix)
            }
        }
    }
}

/// A decoded batch entry, before it becomes an [`Event`].
struct Item<'a> {
    seqno: SeqNo,
    keyspace: u32,
    what: What<'a>,
}

enum What<'a> {
    /// A put (the user value, and its expiry if it has one) or a delete (`None`).
    Point {
        key: &'a [u8],
        value: Option<&'a [u8]>,
        expires_at: Option<u64>,
    },
    Range {
        start: &'a [u8],
        end: RangeEnd,
    },
}

impl<'a> Item<'a> {
    /// `None` for an entry that cannot be decoded, which a batch that passed validation and was
    /// applied to the memtables does not hold.
    fn decode(seqno: SeqNo, e: &BatchEntry<'a>) -> Option<Item<'a>> {
        let what = match e.kind {
            ValueKind::Put => What::Point {
                key: e.key,
                value: Some(e.value),
                expires_at: None,
            },
            ValueKind::PutExpiring => {
                let (expires_at, value) = crate::format::split_expiring(e.value)?;
                What::Point {
                    key: e.key,
                    value: Some(value),
                    expires_at: Some(expires_at),
                }
            }
            ValueKind::Delete => What::Point {
                key: e.key,
                value: None,
                expires_at: None,
            },
            ValueKind::RangeDelete => What::Range {
                start: e.key,
                end: RangeEnd::decode(e.value).ok()?,
            },
        };
        Some(Item {
            seqno,
            keyspace: e.keyspace,
            what,
        })
    }

    fn to_event(&self, keyspace: String) -> Event {
        match &self.what {
            What::Point {
                key,
                value,
                expires_at,
            } => Event::Change(Change {
                seqno: self.seqno,
                keyspace,
                key: Key::copy_from_slice(key),
                value: value.map(Value::copy_from_slice),
                expires_at: *expires_at,
            }),
            What::Range { start, end } => Event::RangeDelete {
                seqno: self.seqno,
                keyspace,
                start: Key::copy_from_slice(start),
                end: match end {
                    RangeEnd::Before(k) => Some(Key::copy_from_slice(k)),
                    RangeEnd::Unbounded => None,
                },
            },
        }
    }
}

struct Sub {
    filter: Filter,
    queue: Queue,
}

/// The subscribers of one database; what [`Shared`] holds.
#[derive(Default)]
pub(crate) struct Feed {
    registry: Arc<Registry>,
}

#[derive(Default)]
struct Registry {
    /// `subs.len()`, read by every commit without a lock. Changed under `subs`' lock, and when it
    /// grows also under the WAL lock, which the committing leader holds.
    count: AtomicUsize,
    state: Mutex<RegistryState>,
}

#[derive(Default)]
struct RegistryState {
    subs: Vec<Arc<Sub>>,
    /// Set when the database closes: later subscriptions start closed.
    closed: bool,
}

impl Registry {
    /// Unsubscribes `sub`.
    fn remove(&self, sub: &Arc<Sub>) {
        let mut st = self.state.lock();
        st.subs.retain(|s| !Arc::ptr_eq(s, sub));
        self.count.store(st.subs.len(), Ordering::Relaxed);
    }
}

impl Feed {
    /// Ends every subscription: each one receives what is queued, then disconnects.
    pub(crate) fn close(&self) {
        let mut st = self.registry.state.lock();
        st.closed = true;
        for s in st.subs.drain(..) {
            s.queue.close();
        }
        self.registry.count.store(0, Ordering::Relaxed);
    }

    /// Ends the subscriptions to keyspace `id`, which was just dropped (and whose id is never
    /// used again). Requires: the keyspace's `dropped` flag is already set.
    pub(crate) fn keyspace_dropped(&self, id: u32) {
        let mut st = self.registry.state.lock();
        st.subs.retain(|s| {
            let bound = s.filter.keyspace == Some(id);
            if bound {
                s.queue.close();
            }
            !bound
        });
        self.registry.count.store(st.subs.len(), Ordering::Relaxed);
    }
}

/// Hands the group just made visible (`sealed`: each batch with its first seqno) to the
/// subscribers. Requires the WAL lock, held since the group's seqnos were assigned.
#[inline]
pub(crate) fn publish(shared: &Shared, sealed: &[(SeqNo, &WriteBatch)]) {
    if shared.feed.registry.count.load(Ordering::Relaxed) == 0 {
        return;
    }
    deliver(shared, sealed);
}

#[inline(never)]
fn deliver(shared: &Shared, sealed: &[(SeqNo, &WriteBatch)]) {
    let st = shared.feed.registry.state.lock();
    let mut out: Vec<Vec<Event>> = st.subs.iter().map(|_| Vec::new()).collect();
    // The keyspace of the last entry, looked up once per run of entries of one keyspace.
    let mut last: Option<(u32, Option<Arc<Tree>>)> = None;
    for (first, batch) in sealed {
        for (seqno, entry) in (*first..).zip(batch.iter()) {
            let Some(item) = entry.ok().and_then(|e| Item::decode(seqno, &e)) else {
                continue;
            };
            if last.as_ref().is_none_or(|(id, _)| *id != item.keyspace) {
                last = Some((item.keyspace, shared.tree(item.keyspace)));
            }
            // A keyspace dropped since the batch was validated: its writes went with it, as in
            // `apply_to_memtables`.
            let Some((_, Some(tree))) = &last else {
                continue;
            };
            let index = tree.name.starts_with(INDEX_KEYSPACE_PREFIX);
            let mut event = None;
            for (sub, events) in st.subs.iter().zip(out.iter_mut()) {
                if sub.filter.matches(&item, index) {
                    let e = event.get_or_insert_with(|| item.to_event(tree.name.clone()));
                    events.push(e.clone());
                }
            }
        }
    }
    for (sub, events) in st.subs.iter().zip(out) {
        if !events.is_empty() {
            sub.queue.push_all(events);
        }
    }
}

/// Registers a subscription with `filter`; `tree` is the keyspace it is bound to, if one.
fn subscribe(shared: &Shared, filter: Filter, tree: Option<&Tree>) -> Subscription {
    // Under the WAL lock no commit is between its seqnos and its `publish`: the subscription
    // gets exactly the commits that finish after this point. (A read-only handle has no WAL and
    // no commits.)
    let _wal = shared.wal.get().map(|w| w.lock());
    let registry = &shared.feed.registry;
    let sub = Arc::new(Sub {
        filter,
        queue: Queue::new(DEFAULT_FEED_CAPACITY),
    });
    let mut st = registry.state.lock();
    // `drop_keyspace` sets the flag before it takes the registry lock to close subscriptions.
    if st.closed || tree.is_some_and(Tree::is_dropped) {
        sub.queue.close();
    } else {
        st.subs.push(sub.clone());
        registry.count.store(st.subs.len(), Ordering::Relaxed);
    }
    Subscription {
        sub,
        registry: Arc::downgrade(registry),
    }
}

impl Db {
    /// Subscribes to the changes of keys starting with `prefix` (empty: every key) in keyspace
    /// `default`. The subscription receives every write committed after this call returns, in
    /// commit order, each with its sequence number: puts and deletes as [`Event::Change`] (the
    /// entries of one batch together and in order), range deletes overlapping the prefix as
    /// [`Event::RangeDelete`]. Nothing of a failed write or transaction is sent. When an event
    /// arrives, its change is visible to reads.
    ///
    /// Writers never wait for subscribers: a subscription buffers up to
    /// [`DEFAULT_FEED_CAPACITY`] events ([`Subscription::with_capacity`]), and one that falls
    /// further behind misses events and then receives [`Event::Lagged`] with how many. Dropping
    /// the [`Subscription`] unsubscribes. The call may wait for a commit in progress. On a
    /// read-only handle nothing arrives: it commits nothing, and [`Db::refresh`] sends no events.
    ///
    /// To mirror the data, subscribe first, then read a [`Db::snapshot`]: the events with a
    /// seqno above the snapshot's are exactly the changes it does not hold.
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use lsmkv::{Db, Event, Options};
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let feed = db.subscribe(b"user:");
    /// db.put(b"user:1", b"alice")?;
    /// db.put(b"order:7", b"book")?; // not under the prefix
    /// db.delete(b"user:1")?;
    /// let changes: Vec<_> = feed
    ///     .take(2)
    ///     .map(|event| match event {
    ///         Event::Change(c) => (c.key.to_vec(), c.value.map(|v| v.to_vec())),
    ///         other => panic!("unexpected {other:?}"),
    ///     })
    ///     .collect();
    /// assert_eq!(changes, [
    ///     (b"user:1".to_vec(), Some(b"alice".to_vec())),
    ///     (b"user:1".to_vec(), None),
    /// ]);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Subscription {
        let s = self.shared();
        subscribe(s, Filter::new(Some(0), prefix.as_ref()), Some(&*s.default_tree))
    }

    /// Subscribes to the changes of every keyspace (those created later included), as
    /// [`Db::subscribe`] does for one; [`Event::keyspace`] names each event's keyspace. The
    /// keyspaces of secondary indexes (`__index/...`) are left out: their entries derive from the
    /// others' ([`Keyspace::subscribe`] on one still works).
    pub fn subscribe_all(&self) -> Subscription {
        subscribe(self.shared(), Filter::new(None, &[]), None)
    }

    /// The number of live subscriptions (dropped ones no longer count).
    pub fn subscriber_count(&self) -> usize {
        self.shared().feed.registry.state.lock().subs.len()
    }
}

impl Keyspace {
    /// Subscribes to the changes of keys starting with `prefix` (empty: every key) in this
    /// keyspace, as [`Db::subscribe`] does in `default`. The subscription disconnects when the
    /// keyspace is dropped (at once, if it already was).
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Subscription {
        let s = self.db().shared();
        let filter = Filter::new(Some(self.id()), prefix.as_ref());
        match self.live_tree_of(s) {
            Ok(tree) => subscribe(s, filter, Some(&*tree)),
            Err(_) => {
                let sub = Arc::new(Sub {
                    filter,
                    queue: Queue::new(DEFAULT_FEED_CAPACITY),
                });
                sub.queue.close();
                Subscription {
                    sub,
                    registry: Weak::new(),
                }
            }
        }
    }
}
