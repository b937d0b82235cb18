//! [`Subscription`], the receiving end of the change feed, its bounded queue, and the
//! [`Event`]s it delivers.

use std::collections::VecDeque;
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Registry, Sub};
use crate::value::{Key, Value};

/// Events a subscription buffers before it lags, unless [`Subscription::with_capacity`] says
/// otherwise.
pub const DEFAULT_FEED_CAPACITY: usize = 4096;

/// What a [`Subscription`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A key was written or deleted.
    Change(Change),
    /// Every key in `[start, end)` of `keyspace` was deleted (`end: None`: every key from `start`
    /// on). Delivered whole to a prefix subscription whose prefix the range overlaps.
    RangeDelete {
        /// The sequence number of the range delete.
        seqno: u64,
        /// The name of the keyspace.
        keyspace: String,
        /// The first key deleted.
        start: Key,
        /// The first key after the range, `None` for no end.
        end: Option<Key>,
    },
    /// The subscriber fell behind: its queue was full and `missed` events (matching its filter)
    /// were dropped here. The events after this one are newer; a consumer that mirrors the data
    /// should read it again (from a snapshot) instead of assuming it saw every change.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// A committed write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The write's sequence number: its version, as
    /// [`Db::get_versioned`](crate::Db::get_versioned) reports it.
    pub seqno: u64,
    /// The name of the keyspace.
    pub keyspace: String,
    /// The key.
    pub key: Key,
    /// The new value (for an expiring put, the value without its expiry), `None` for a delete.
    pub value: Option<Value>,
    /// For a put with a time to live, when it expires: milliseconds since the Unix epoch, by the
    /// database's clock ([`Options::clock`](crate::Options::clock)). `None` otherwise.
    pub expires_at: Option<u64>,
}

impl Event {
    /// The sequence number of the change, `None` for [`Event::Lagged`].
    pub fn seqno(&self) -> Option<u64> {
        match self {
            Event::Change(c) => Some(c.seqno),
            Event::RangeDelete { seqno, .. } => Some(*seqno),
            Event::Lagged { .. } => None,
        }
    }

    /// The keyspace of the change, `None` for [`Event::Lagged`].
    pub fn keyspace(&self) -> Option<&str> {
        match self {
            Event::Change(c) => Some(&c.keyspace),
            Event::RangeDelete { keyspace, .. } => Some(keyspace),
            Event::Lagged { .. } => None,
        }
    }
}

/// One subscriber's bounded queue.
#[derive(Debug)]
pub(super) struct Queue {
    pub(super) state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug)]
pub(super) struct QueueState {
    events: VecDeque<Event>,
    capacity: usize,
    /// Events dropped since the queue overflowed; while non-zero, new events are dropped too,
    /// until the consumer has drained the queue and taken the [`Event::Lagged`] notice.
    missed: u64,
    /// No event will be pushed any more (database closed, keyspace dropped).
    pub(super) closed: bool,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                capacity: capacity.max(1),
                missed: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues `events` (one group's, in order) without waiting: what does not fit is counted.
    pub(super) fn push_all(&self, events: Vec<Event>) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        for e in events {
            if st.missed > 0 || st.events.len() >= st.capacity {
                st.missed += 1;
            } else {
                st.events.push_back(e);
            }
        }
        drop(st);
        // Any thread may wait in `recv` (`&self`): wake them all; free when nobody waits.
        self.ready.notify_all();
    }

    pub(super) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}

impl QueueState {
    /// The next event: queued ones first, then the notice of the gap after them.
    pub(super) fn take(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if self.missed > 0 {
            let missed = std::mem::take(&mut self.missed);
            return Some(Event::Lagged { missed });
        }
        None
    }
}

/// A subscription to committed changes, from [`Db::subscribe`](crate::Db::subscribe),
/// [`Keyspace::subscribe`](crate::Keyspace::subscribe) or
/// [`Db::subscribe_all`](crate::Db::subscribe_all): a receiver of [`Event`]s in commit order.
/// Dropping it unsubscribes.
///
/// It buffers up to [`DEFAULT_FEED_CAPACITY`] events (see [`Subscription::with_capacity`]);
/// writers never wait for it. A subscriber that does not keep up misses events and is told so by
/// [`Event::Lagged`]. It disconnects (`recv` fails once the queue is drained) when the database
/// closes or its keyspace is dropped. `Send + Sync`; as an [`Iterator`] it blocks for the next
/// event and ends at the disconnect.
pub struct Subscription {
    pub(super) sub: Arc<Sub>,
    pub(super) registry: Weak<Registry>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.sub.queue.state.lock();
        f.debug_struct("Subscription")
            .field("keyspace", &self.sub.filter.keyspace)
            .field("prefix", &crate::value::escape_bytes(&self.sub.filter.prefix))
            .field("queued", &st.events.len())
            .field("capacity", &st.capacity)
            .field("missed", &st.missed)
            .field("closed", &st.closed)
            .finish()
    }
}

impl Subscription {
    /// Sets how many events the subscription buffers before it lags (at least 1; the default is
    /// [`DEFAULT_FEED_CAPACITY`]). Memory is taken as events arrive, not up front.
    pub fn with_capacity(self, capacity: usize) -> Subscription {
        self.sub.queue.state.lock().capacity = capacity.max(1);
        self
    }

    /// Waits for the next event.
    ///
    /// # Errors
    /// [`RecvError`] once the subscription is disconnected (database closed, keyspace dropped)
    /// and every event queued before has been received.
    pub fn recv(&self) -> Result<Event, RecvError> {
        let q = &self.sub.queue;
        let mut st = q.state.lock();
        loop {
            if let Some(e) = st.take() {
                return Ok(e);
            }
            if st.closed {
                return Err(RecvError);
            }
            q.ready.wait(&mut st);
        }
    }

    /// Waits at most `timeout` for the next event.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when none came in time; [`RecvTimeoutError::Disconnected`]
    /// as [`Subscription::recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.recv().map_err(|_| RecvTimeoutError::Disconnected);
        };
        let q = &self.sub.queue;
        let mut st = q.state.lock();
        loop {
            if let Some(e) = st.take() {
                return Ok(e);
            }
            if st.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            if q.ready.wait_until(&mut st, deadline).timed_out() {
                return st.take().ok_or(RecvTimeoutError::Timeout);
            }
        }
    }

    /// The next event if one is queued, without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when none is; [`TryRecvError::Disconnected`] as
    /// [`Subscription::recv`].
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        let mut st = self.sub.queue.state.lock();
        match st.take() {
            Some(e) => Ok(e),
            None if st.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl Iterator for Subscription {
    type Item = Event;

    /// Blocks for the next event; `None` once disconnected and drained.
    fn next(&mut self) -> Option<Event> {
        self.recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        registry.remove(&self.sub);
    }
}
