//! Durability tickets: [`Db::write_with_ticket`] returns once a batch is visible, with a
//! [`DurabilityTicket`] that resolves when the WAL fsync covering the batch is done.
//!
//! The engine keeps one number, the *durable seqno*: every batch whose entries all have a seqno at
//! or below it is on stable storage. Each fsync of the WAL raises it to the highest seqno written
//! to the file before the fsync started, only after the fsync returned success:
//! - the commit path under `SyncMode::Always` (the group's fdatasync),
//! - `Db::sync`, close, and a WAL rotation (the finished segment is synced),
//! - the `async_batch` interval thread,
//! - the durability thread (`lsmkv-durability`, started on the first ticket that needs it): under
//!   `async_batch` and `none` it fsyncs **on demand**, as soon as a ticket above the durable seqno
//!   exists, rather than waiting for the interval (or, under `none`, for a sync that may never
//!   come). Tickets issued while it fsyncs are covered by its next fsync: concurrent tickets share
//!   fsyncs the way concurrent `always` writers do.
//!
//! A failed fsync poisons the database; from then on every ticket not yet durable resolves with
//! the error ([`crate::Error::Poisoned`] naming the cause), never as durable. A ticket still
//! pending when the database closes resolves with the outcome of the final sync of the close.
//!
//! Callbacks ([`DurabilityTicket::on_durable`]) run on the durability thread (or, when the ticket
//! is already resolved, on the caller's thread), never under an engine lock, so a callback may
//! write to the database; it must not block on another ticket's `wait` (the thread that would
//! resolve it is the one running the callback).
//!
//! Lock order: the WAL lock, then this module's state lock; the state lock is never held while
//! taking another lock, doing I/O or running a callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

use super::Shared;
use crate::error::{Error, Result};
use crate::key::SeqNo;

type Callback = Box<dyn FnOnce(Result<()>) + Send + 'static>;

#[derive(Default)]
struct State {
    /// Set once the database is poisoned: what pending tickets resolve with.
    failed: Option<String>,
    /// Set by close after its final sync: no fsync will come any more.
    closed: bool,
    /// Highest seqno a ticket is waiting for (the durability thread fsyncs while it is above
    /// the durable seqno).
    wanted: SeqNo,
    /// Callbacks of unresolved tickets: (seqno they wait for, callback).
    callbacks: Vec<(SeqNo, Callback)>,
}

/// The durable seqno and the tickets waiting on it (one per database, in [`Shared`]).
#[derive(Default)]
pub(crate) struct Durability {
    /// Every batch at or below this seqno is durable.
    durable: AtomicU64,
    /// Whether the durability thread was started.
    started: AtomicBool,
    state: Mutex<State>,
    cv: Condvar,
}

impl Durability {
    /// A database whose recovered writes (up to `seqno`) are on disk already.
    pub(crate) fn new(seqno: SeqNo) -> Durability {
        Durability {
            durable: AtomicU64::new(seqno),
            ..Durability::default()
        }
    }

    /// Records that a WAL fsync covering every seqno up to `upto` succeeded.
    pub(crate) fn mark_durable(&self, upto: SeqNo) {
        let before = self.durable.fetch_max(upto, Ordering::AcqRel);
        if upto > before {
            // Take the lock so that a waiter between its check and its wait cannot miss this.
            drop(self.state.lock());
            self.cv.notify_all();
        }
    }

    /// Wakes the durability thread (to see the shutdown flag).
    pub(crate) fn wake(&self) {
        drop(self.state.lock());
        self.cv.notify_all();
    }

    /// The database is poisoned: tickets not yet durable resolve with `cause`.
    pub(crate) fn fail(&self, cause: &str) {
        let mut st = self.state.lock();
        if st.failed.is_none() {
            st.failed = Some(cause.to_string());
        }
        drop(st);
        self.cv.notify_all();
    }

    /// The database closed after its final sync: resolves every remaining callback here.
    pub(crate) fn close(&self) {
        let callbacks = {
            let mut st = self.state.lock();
            st.closed = true;
            std::mem::take(&mut st.callbacks)
        };
        self.cv.notify_all();
        for (seqno, cb) in callbacks {
            cb(self.outcome(seqno).unwrap_or(Err(Error::Closed)));
        }
    }

    /// The resolved outcome of a ticket for `seqno`, `None` while it is pending.
    fn outcome_locked(&self, st: &State, seqno: SeqNo) -> Option<Result<()>> {
        if self.durable.load(Ordering::Acquire) >= seqno {
            return Some(Ok(()));
        }
        if let Some(cause) = &st.failed {
            return Some(Err(Error::Poisoned {
                cause: cause.clone(),
            }));
        }
        st.closed.then_some(Err(Error::Closed))
    }

    fn outcome(&self, seqno: SeqNo) -> Option<Result<()>> {
        let st = self.state.lock();
        self.outcome_locked(&st, seqno)
    }
}

/// Handed back by [`Db::write_with_ticket`](super::Db::write_with_ticket): resolves when the
/// batch it was issued for is durable (the WAL fsync covering it returned), or with the error that
/// makes that impossible. Cheap to clone; `Send + Sync`. See the module documentation of the
/// engine's `durable` module for which fsyncs resolve tickets in each [`crate::SyncMode`].
#[derive(Clone)]
pub struct DurabilityTicket {
    shared: Arc<Shared>,
    /// The seqno of the batch's last entry.
    seqno: SeqNo,
}

impl std::fmt::Debug for DurabilityTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurabilityTicket")
            .field("seqno", &self.seqno)
            .field("durable", &self.is_durable())
            .finish()
    }
}

impl DurabilityTicket {
    /// A ticket for the batch ending at `seqno`; starts the durability thread when an fsync is
    /// needed to resolve it.
    pub(crate) fn issue(shared: &Arc<Shared>, seqno: SeqNo) -> DurabilityTicket {
        let d = &shared.durability;
        let ticket = DurabilityTicket {
            shared: shared.clone(),
            seqno,
        };
        if d.durable.load(Ordering::Acquire) >= seqno {
            return ticket;
        }
        {
            let mut st = d.state.lock();
            st.wanted = st.wanted.max(seqno);
        }
        if let Err(e) = ensure_thread(shared) {
            // No thread to fsync for it: fsync here, so that the ticket still resolves.
            tracing::warn!(error = %e, "lsmkv: no durability thread; syncing in the writer");
            if let Err(e) = sync_now(shared) {
                shared.poison(&e);
            }
        }
        d.cv.notify_all();
        ticket
    }

    /// The seqno of the batch's last entry (for an empty batch: the visible seqno when it was
    /// written).
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// Whether the batch is durable now. `false` also when the ticket resolved with an error.
    pub fn is_durable(&self) -> bool {
        self.shared.durability.durable.load(Ordering::Acquire) >= self.seqno
    }

    /// Blocks until the batch is durable.
    ///
    /// # Errors
    /// [`Error::Poisoned`] when an fsync (or another write-side I/O) failed before the batch was
    /// durable; [`Error::Closed`] when the database closed and its final sync failed.
    pub fn wait(&self) -> Result<()> {
        let d = &self.shared.durability;
        let mut st = d.state.lock();
        loop {
            if let Some(r) = d.outcome_locked(&st, self.seqno) {
                return r;
            }
            d.cv.wait(&mut st);
        }
    }

    /// Calls `f` once with the ticket's outcome ([`DurabilityTicket::wait`]'s result): at once on
    /// this thread when it is already resolved, otherwise on the engine's durability thread
    /// right after the fsync (or failure) that resolves it. `f` must not block on another
    /// ticket's `wait`; it may write to the database.
    pub fn on_durable(self, f: impl FnOnce(Result<()>) + Send + 'static) {
        let d = &self.shared.durability;
        let mut st = d.state.lock();
        if let Some(r) = d.outcome_locked(&st, self.seqno) {
            drop(st);
            f(r);
            return;
        }
        st.callbacks.push((self.seqno, Box::new(f)));
        drop(st);
        d.cv.notify_all();
    }
}

/// Starts the durability thread once.
fn ensure_thread(shared: &Arc<Shared>) -> Result<()> {
    let d = &shared.durability;
    if d.started.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    match super::spawn_background(shared, "lsmkv-durability".into(), durability_thread) {
        Ok(handle) => {
            shared.extra_threads.lock().push(handle);
            Ok(())
        }
        Err(e) => {
            // The next ticket tries again.
            d.started.store(false, Ordering::Release);
            Err(e)
        }
    }
}

/// What the durability thread does next.
enum Step {
    Stop,
    Sync,
    Run(Vec<(Result<()>, Callback)>),
}

fn next_step(shared: &Shared) -> Step {
    let d = &shared.durability;
    let mut st = d.state.lock();
    loop {
        // Resolved callbacks first: they may be what the last fsync was for.
        let mut ready = Vec::new();
        let mut pending = Vec::new();
        for (seqno, cb) in std::mem::take(&mut st.callbacks) {
            match d.outcome_locked(&st, seqno) {
                Some(r) => ready.push((r, cb)),
                None => pending.push((seqno, cb)),
            }
        }
        st.callbacks = pending;
        if !ready.is_empty() {
            return Step::Run(ready);
        }
        if shared.shutdown.load(Ordering::Acquire) || st.closed {
            return Step::Stop;
        }
        if st.failed.is_none() && st.wanted > d.durable.load(Ordering::Acquire) {
            return Step::Sync;
        }
        d.cv.wait(&mut st);
    }
}

/// Fsyncs the WAL while a ticket waits for it; runs resolved callbacks. Stops at shutdown
/// (close resolves what is left after its final sync).
fn durability_thread(shared: Arc<Shared>) {
    loop {
        match next_step(&shared) {
            Step::Stop => return,
            Step::Run(ready) => {
                for (r, cb) in ready {
                    cb(r);
                }
            }
            Step::Sync => {
                if let Err(e) = sync_now(&shared) {
                    shared.poison(&e);
                }
            }
        }
    }
}

/// One fsync of the WAL covering every write assigned so far; the WAL lock is held only to hand
/// the buffered records to the OS and duplicate the descriptor, so commits go on meanwhile.
fn sync_now(shared: &Shared) -> Result<()> {
    let (file, path, upto) = {
        let mut wal = shared.wal.lock();
        shared.check_poisoned()?;
        wal.writer.flush()?;
        let upto = shared.last_seqno.load(Ordering::Relaxed);
        wal.unsynced = false;
        let file = wal.writer.sync_handle()?;
        (file, wal.writer.path().to_path_buf(), upto)
    };
    file.sync_data()
        .map_err(|e| Error::io("syncing WAL segment", &path, e))?;
    shared.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
    shared.durability.mark_durable(upto);
    Ok(())
}
