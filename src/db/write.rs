//! The write path: group commit, WAL append, memtable insert, memtable rotation (also on
//! `Db::flush`) and stalls.
//!
//! A writer enqueues its batch. If no leader is active it becomes the leader: it takes every queued
//! batch, and under the WAL lock assigns consecutive seqnos, frames all batches into the WAL with
//! one `write(2)` (plus one fdatasync when any of them needs it), inserts them into the memtable,
//! publishes the visible seqno, and hands each follower its result. While it works, new writers
//! queue behind it and the next leader takes them all: concurrent writers share one fsync.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::{Condvar, Mutex};

use super::scheduler;
use super::conflicts::{Check, Written, WrittenKey, key_hash};
use super::tree::Tree;
use super::version::SuperVersion;
use super::{Counters, Shared};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::format::{MAX_KEY_SIZE, ValueKind};
use crate::memtable::Memtable;
use crate::options::SyncMode;
use crate::wal::WalWriter;

/// `SyncMode::None` hands WAL records to the OS in chunks of about this size: one `write(2)` per
/// ~500 small records instead of one per commit.
const WAL_BUFFER_BYTES: usize = 64 << 10;

/// The WAL being appended to, and whether it holds data not yet fsynced.
pub(crate) struct WalState {
    pub writer: WalWriter,
    pub unsynced: bool,
}

impl WalState {
    pub fn new(writer: WalWriter) -> WalState {
        WalState {
            writer,
            unsynced: false,
        }
    }

    /// flush + fdatasync, if anything is unsynced.
    pub fn sync(&mut self, c: &Counters) -> Result<()> {
        self.writer.sync()?;
        if self.unsynced {
            self.unsynced = false;
            c.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A batch waiting to be committed, with the conflict check of the transaction it belongs to.
pub(crate) struct Pending {
    pub batch: WriteBatch,
    pub check: Option<Arc<Check>>,
    /// From a `try_` write: refused with [`Error::WouldStall`] rather than waiting for room.
    pub nonblocking: bool,
}

#[derive(Default)]
struct QueueState {
    leader_active: bool,
    next_ticket: u64,
    waiting: Vec<(u64, Pending)>,
    /// Each follower's result: the seqno of its batch's first entry.
    results: HashMap<u64, Result<SeqNo>>,
}

/// Writers waiting for a leader.
#[derive(Default)]
pub(crate) struct WriteQueue {
    state: Mutex<QueueState>,
    cv: Condvar,
}

fn validate(shared: &Shared, batch: &WriteBatch) -> Result<()> {
    let (max_key, max_value) = batch.max_sizes();
    if max_key > MAX_KEY_SIZE {
        return Err(Error::KeyTooLarge {
            len: max_key,
            max: MAX_KEY_SIZE,
        });
    }
    if max_value > shared.opts.max_value_size {
        return Err(Error::ValueTooLarge {
            len: max_value,
            max: shared.opts.max_value_size,
        });
    }
    if batch.len() > u32::MAX as usize / 2 || batch.encoded_size() > crate::wal::MAX_RECORD_PAYLOAD
    {
        return Err(Error::InvalidArgument(
            "batch too large: it must encode to less than 4 GiB".into(),
        ));
    }
    if batch.has_keyspaces() {
        for e in batch.iter() {
            let id = e?.keyspace;
            if shared.tree(id).is_none() {
                return Err(Error::KeyspaceNotFound {
                    name: format!("#{id}"),
                });
            }
        }
    }
    Ok(())
}

/// Commits `batch`, as leader or follower. Returns the seqno of its first entry (entry `i` has
/// that plus `i`); for an empty batch, which writes nothing, the last visible seqno.
pub(crate) fn write(shared: &Shared, batch: WriteBatch) -> Result<SeqNo> {
    write_checked(shared, batch, None)
}

/// [`write`] of a transaction's batch: committed only if `check` finds no conflict
/// ([`Error::Conflict`] otherwise). It still shares the group commit (and its fsync).
pub(crate) fn write_checked(
    shared: &Shared,
    mut batch: WriteBatch,
    check: Option<Arc<Check>>,
) -> Result<SeqNo> {
    // Every write with a time to live gets its expiry from the clock now.
    batch.stamp_expiry(shared.now_millis());
    validate(shared, &batch)?;
    if batch.is_empty() && check.is_none() {
        return Ok(shared.visible_seqno.load(Ordering::Acquire));
    }
    shared.check_poisoned()?;
    scheduler::throttle(shared, batch.encoded_size() as u64)?;
    enqueue(
        shared,
        Pending {
            batch,
            check,
            nonblocking: false,
        },
    )
}

/// [`write`] that never waits for background work: [`Error::WouldStall`] (nothing written) when
/// the write would be slowed down or stopped (see [`scheduler::try_throttle`]) or when a memtable
/// it needs is full and cannot be frozen because its keyspace already has
/// `max_immutable_memtables` frozen ones waiting for flush. Checked before it queues and again
/// by the commit that takes it, under the WAL lock. It still waits, like every write, for the
/// commit in progress ahead of it (whose leader may itself be a blocking writer waiting for a
/// flush, if that stall began between this check and the queueing).
pub(crate) fn try_write(shared: &Shared, mut batch: WriteBatch) -> Result<SeqNo> {
    batch.stamp_expiry(shared.now_millis());
    validate(shared, &batch)?;
    if batch.is_empty() {
        return Ok(shared.visible_seqno.load(Ordering::Acquire));
    }
    shared.check_poisoned()?;
    if memtables_would_stall(shared) {
        return Err(scheduler::would_stall_for_flush(shared));
    }
    scheduler::try_throttle(shared, batch.encoded_size() as u64)?;
    enqueue(
        shared,
        Pending {
            batch,
            check: None,
            nonblocking: true,
        },
    )
}

/// Queues `mine` for the group commit, as leader or follower, and returns its result.
fn enqueue(shared: &Shared, mut mine: Pending) -> Result<SeqNo> {
    let q = &shared.queue;
    let mut st = q.state.lock();
    if !st.leader_active && st.waiting.is_empty() {
        // Fast path: nobody else is writing.
        st.leader_active = true;
        drop(st);
        let result = commit_group(shared, std::slice::from_mut(&mut mine))
            .and_then(|mut r| r.pop().unwrap_or(Err(Error::Closed)));
        let mut st = q.state.lock();
        st.leader_active = false;
        let others = !st.waiting.is_empty();
        drop(st);
        if others {
            q.cv.notify_all();
        }
        result
    } else {
        let t = st.next_ticket;
        st.next_ticket += 1;
        st.waiting.push((t, mine));
        loop {
            if let Some(r) = st.results.remove(&t) {
                shared
                    .counters
                    .group_commit_followers
                    .fetch_add(1, Ordering::Relaxed);
                return r;
            }
            if !st.leader_active {
                break;
            }
            q.cv.wait(&mut st);
        }
        st.leader_active = true;
        let taken = std::mem::take(&mut st.waiting);
        drop(st);
        let (tickets, mut group): (Vec<u64>, Vec<Pending>) = taken.into_iter().unzip();
        let results = commit_group(shared, &mut group);
        let mut st = q.state.lock();
        let mut mine = Err(Error::Closed);
        for (i, t2) in tickets.into_iter().enumerate() {
            let r = match &results {
                Ok(v) => v.get(i).cloned().unwrap_or(Err(Error::Closed)),
                Err(e) => Err(e.clone()),
            };
            if t2 == t {
                mine = r;
            } else {
                st.results.insert(t2, r);
            }
        }
        st.leader_active = false;
        drop(st);
        q.cv.notify_all();
        mine
    }
}

/// Leader's work for one group: each batch's result, the seqno of its first entry or
/// [`Error::Conflict`] for a transaction that failed its check. An outer error (I/O) fails the
/// whole group: nothing of it is visible to readers; the WAL may hold part of it, so the database
/// is poisoned (a reopen replays what the WAL really holds).
fn commit_group(shared: &Shared, group: &mut [Pending]) -> Result<Vec<Result<SeqNo>>> {
    let mut wal = shared.wal.lock();
    commit_locked(shared, &mut wal, group)
}

/// [`commit_group`] under the WAL lock (`wal`).
fn commit_locked(
    shared: &Shared,
    wal: &mut WalState,
    group: &mut [Pending],
) -> Result<Vec<Result<SeqNo>>> {
    shared.check_poisoned()?;
    let mut refused = admit(shared, wal, group)?;
    let c = &shared.counters;
    super::index::maintain(
        shared,
        group.iter_mut().map(|p| &mut p.batch).zip(refused.iter_mut()),
    );
    let first = shared.last_seqno.load(Ordering::Relaxed) + 1;
    let mut seq = first;
    let mut bytes = 0u64;
    let mut results = Vec::with_capacity(group.len());
    let mut firsts: Vec<Option<SeqNo>> = Vec::with_capacity(group.len());
    for (p, refusal) in group.iter_mut().zip(refused) {
        if let Some(e) = refusal {
            results.push(Err(e));
            firsts.push(None);
            continue;
        }
        results.push(Ok(seq));
        if p.batch.is_empty() {
            firsts.push(None);
            continue;
        }
        let payload = p.batch.seal(seq);
        bytes += payload.len() as u64;
        wal.writer.add_record(payload);
        firsts.push(Some(seq));
        seq += p.batch.len() as u64;
    }
    let sealed: Vec<(SeqNo, &WriteBatch)> = group
        .iter()
        .zip(firsts)
        .filter_map(|(p, f)| f.map(|f| (f, &p.batch)))
        .collect();
    if sealed.is_empty() {
        let visible = shared.visible_seqno.load(Ordering::Acquire);
        return Ok(results
            .into_iter()
            .map(|r| r.map(|_| visible))
            .collect());
    }
    let last = seq - 1;
    write_wal(shared, wal, last)?;
    c.wal_bytes_written.fetch_add(bytes, Ordering::Relaxed);
    shared.last_seqno.store(last, Ordering::Relaxed);
    apply_to_memtables(shared, wal.writer.number(), &sealed)?;
    shared.visible_seqno.store(last, Ordering::Release);
    // After publishing (see `conflicts`): open transactions must see these writes at commit.
    if shared.commit_log.any_open() {
        shared.commit_log.append(written(&sealed));
    }
    // Still under the WAL lock: change-feed subscribers get commits in commit order.
    super::feed::publish(shared, &sealed);
    c.batches.fetch_add(sealed.len() as u64, Ordering::Relaxed);
    Ok(results)
}

/// Hands the group's framed records (seqnos up to `last`) to the OS as the sync mode says, with
/// the fdatasync under `SyncMode::Always` (which makes them durable). A failure poisons the
/// database.
fn write_wal(shared: &Shared, wal: &mut WalState, last: SeqNo) -> Result<()> {
    let io = match shared.opts.sync_mode {
        SyncMode::Always => wal.writer.sync(),
        SyncMode::AsyncBatch => wal.writer.flush(),
        SyncMode::None if wal.writer.buffered_bytes() >= WAL_BUFFER_BYTES => wal.writer.flush(),
        SyncMode::None => Ok(()),
    };
    if let Err(e) = io {
        shared.poison(&e);
        return Err(e);
    }
    match shared.opts.sync_mode {
        SyncMode::Always => {
            shared.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
            shared.durability.mark_durable(last);
        }
        _ => wal.unsynced = true,
    }
    Ok(())
}

/// Makes room in the memtables for `group` and says which of its batches are refused:
/// [`Error::WouldStall`] for the non-blocking ones when making room would stall (then room is
/// made, waiting, only if some blocking batch remains), [`Error::Conflict`] for transactions that
/// fail their check.
fn admit(shared: &Shared, wal: &mut WalState, group: &[Pending]) -> Result<Vec<Option<Error>>> {
    let stalled = refuse_nonblocking(shared, wal, group);
    if stalled.iter().any(Option::is_none) {
        make_room(shared, wal)?;
    }
    Ok(check_conflicts(shared, group)
        .into_iter()
        .zip(stalled)
        .map(|(ok, stall)| stall.or((!ok).then_some(Error::Conflict)))
        .collect())
}

/// Runs `f` holding the WAL lock (no other commit can run), with a function that commits one
/// batch inside it (through the same path as every commit: index maintenance, WAL, memtables).
pub(crate) fn with_commit_lock<T>(
    shared: &Shared,
    f: impl FnOnce(&mut dyn FnMut(WriteBatch) -> Result<()>) -> Result<T>,
) -> Result<T> {
    let mut wal = shared.wal.lock();
    let mut commit = |batch: WriteBatch| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut p = Pending {
            batch,
            check: None,
            nonblocking: false,
        };
        commit_locked(shared, &mut wal, std::slice::from_mut(&mut p))?
            .pop()
            .unwrap_or(Err(Error::Closed))
            .map(drop)
    };
    f(&mut commit)
}

/// Which batches of the group may commit: every plain batch, and each transaction whose reads no
/// commit since its snapshot (earlier batches of this group included) has written.
fn check_conflicts(shared: &Shared, group: &[Pending]) -> Vec<bool> {
    if group.iter().all(|p| p.check.is_none()) {
        return vec![true; group.len()];
    }
    let mut pending: Vec<Written> = Vec::new();
    let mut accepted = Vec::with_capacity(group.len());
    let next = shared.last_seqno.load(Ordering::Relaxed) + 1;
    for p in group {
        let ok = match &p.check {
            Some(check) => shared.commit_log.verify(check, &pending).is_ok(),
            None => true,
        };
        if ok {
            // Seqnos only matter to be above every snapshot in this group's checks.
            pending.extend(written(&[(next, &p.batch)]));
        }
        accepted.push(ok);
    }
    accepted
}

/// The keys (and ranges) `batches` write, for the commit log.
fn written(batches: &[(SeqNo, &WriteBatch)]) -> Vec<Written> {
    let mut out = Vec::new();
    for (first, b) in batches {
        for (seq, e) in (*first..).zip(b.iter().flatten()) {
            let what = if e.kind == ValueKind::RangeDelete {
                let end = match crate::format::RangeEnd::decode(e.value) {
                    Ok(crate::format::RangeEnd::Before(k)) => Some(k),
                    _ => None,
                };
                WrittenKey::Range {
                    start: e.key.to_vec(),
                    end,
                }
            } else {
                WrittenKey::Key {
                    key: e.key.to_vec(),
                    hash: key_hash(e.keyspace, e.key),
                }
            };
            out.push(Written {
                seqno: seq,
                keyspace: e.keyspace,
                what,
            });
        }
    }
    out
}

/// Inserts the sealed batches into their keyspaces' memtables (logged in WAL segment `segment`)
/// and counts them. A batch of the default keyspace only goes in with one
/// [`Memtable::insert_many`].
fn apply_to_memtables(shared: &Shared, segment: u64, sealed: &[(SeqNo, &WriteBatch)]) -> Result<()> {
    let c = &shared.counters;
    let default_sv = shared.default_tree.sv.load();
    let mut n = EntryCounts::default();
    for (first, b) in sealed {
        if !b.has_keyspaces() {
            let mut bad = None;
            let entries = (*first..).zip(b.iter()).map_while(|(seq, entry)| match entry {
                Ok(e) => {
                    n.count(&e);
                    Some((e.key, seq, e.kind, e.value))
                }
                Err(e) => {
                    bad = Some(e);
                    None
                }
            });
            default_sv.mem.note_wal(segment);
            default_sv.mem.insert_many(entries);
            // A self-built batch always decodes; a failure here is our bug.
            if let Some(e) = bad {
                return Err(e);
            }
            continue;
        }
        for (seq, entry) in (*first..).zip(b.iter()) {
            // A self-built batch always decodes; a failure here is our bug.
            let e = entry?;
            if e.keyspace == 0 {
                default_sv.mem.note_wal(segment);
                default_sv.mem.insert(e.key, seq, e.kind, e.value);
            } else if let Some(tree) = shared.tree(e.keyspace) {
                // A keyspace dropped since the batch was validated: the write is ordered before
                // the drop (which holds the WAL lock) and goes with it; replay skips it too.
                let sv = tree.sv.load();
                sv.mem.note_wal(segment);
                sv.mem.insert(e.key, seq, e.kind, e.value);
            }
            n.count(&e);
        }
    }
    c.puts.fetch_add(n.puts, Ordering::Relaxed);
    c.deletes.fetch_add(n.deletes, Ordering::Relaxed);
    c.range_deletes.fetch_add(n.range_deletes, Ordering::Relaxed);
    c.user_bytes_written
        .fetch_add(n.user_bytes, Ordering::Relaxed);
    Ok(())
}

/// What [`apply_to_memtables`] counts of the entries it inserts.
#[derive(Default)]
struct EntryCounts {
    puts: u64,
    deletes: u64,
    range_deletes: u64,
    user_bytes: u64,
}

impl EntryCounts {
    fn count(&mut self, e: &crate::batch::BatchEntry<'_>) {
        self.user_bytes += (e.key.len() + e.value.len()) as u64;
        match e.kind {
            ValueKind::Put | ValueKind::PutExpiring => self.puts += 1,
            ValueKind::Delete => self.deletes += 1,
            ValueKind::RangeDelete => self.range_deletes += 1,
        }
    }
}

/// What the memtables need before a commit: the keyspaces whose memtable must be frozen (full,
/// or holding the oldest WAL segment once the live segments pass `max_wal_size`), and whether
/// one of them cannot be because it already has `max_immutable_memtables` frozen memtables
/// waiting for the flush thread.
fn room_needed(shared: &Shared, wal: &WalState) -> (Vec<Arc<Tree>>, bool) {
    let trees = shared.all_trees();
    let mut full: Vec<Arc<Tree>> = trees
        .iter()
        .filter(|t| t.sv.load().mem.approximate_size() >= shared.opts.memtable_max_size)
        .cloned()
        .collect();
    let (old_bytes, oldest) = {
        let old = shared.old_wal_segments.lock();
        (old.iter().map(|s| s.1).sum::<u64>(), old.first().map(|s| s.0))
    };
    if old_bytes + wal.writer.size() >= shared.opts.max_wal_size {
        let oldest = oldest.unwrap_or(wal.writer.number());
        for t in &trees {
            let holds_oldest = t.sv.load().mem.first_wal().is_some_and(|n| n <= oldest);
            if holds_oldest && !full.iter().any(|f| Arc::ptr_eq(f, t)) {
                full.push(t.clone());
            }
        }
    }
    let max_imms = shared.opts.max_immutable_memtables;
    let stall = full.iter().any(|t| t.sv.load().imms.len() >= max_imms);
    let budget_stall = match shared.opts.write_buffer_budget() {
        Some(limit) => budget_room(&trees, limit, &mut full),
        None => false,
    };
    (full, stall || budget_stall)
}

/// Under `MEMORY_BUDGET`, with `limit` the write buffer: freezes (adds to `full`) the largest
/// active memtable once the active memtables together reach half of `limit`, and returns true
/// (stall) while all memtables together hold `limit` and some are frozen (their flush frees
/// memory; without frozen ones the freeze above makes some).
fn budget_room(trees: &[Arc<Tree>], limit: u64, full: &mut Vec<Arc<Tree>>) -> bool {
    let (active, frozen, largest) = memtable_usage(trees);
    if active + frozen >= limit && frozen > 0 {
        return true;
    }
    if active >= limit / 2
        && let Some(t) = largest
        && !full.iter().any(|f| Arc::ptr_eq(f, &t))
    {
        full.push(t);
    }
    false
}

/// Bytes of the active memtables, bytes of the frozen ones, and the tree with the largest
/// non-empty active memtable.
fn memtable_usage(trees: &[Arc<Tree>]) -> (u64, u64, Option<Arc<Tree>>) {
    let (mut active, mut frozen) = (0u64, 0u64);
    let mut largest: Option<(u64, &Arc<Tree>)> = None;
    for t in trees {
        let sv = t.sv.load();
        let a = sv.mem.approximate_size() as u64;
        active += a;
        frozen += sv.imms.iter().map(|m| m.approximate_size() as u64).sum::<u64>();
        if !sv.mem.is_empty() && largest.is_none_or(|(s, _)| a > s) {
            largest = Some((a, t));
        }
    }
    (active, frozen, largest.map(|(_, t)| t.clone()))
}

/// The check [`try_write`] makes before it queues, without the WAL lock: some keyspace has a
/// full memtable and `max_immutable_memtables` frozen ones. (The commit checks again, WAL size
/// included, in [`refuse_nonblocking`].)
fn memtables_would_stall(shared: &Shared) -> bool {
    let max_imms = shared.opts.max_immutable_memtables;
    let trees = shared.all_trees();
    let full = trees.iter().any(|t| {
        let sv = t.sv.load();
        sv.imms.len() >= max_imms && sv.mem.approximate_size() >= shared.opts.memtable_max_size
    });
    full || shared.opts.write_buffer_budget().is_some_and(|limit| {
        let (active, frozen, _) = memtable_usage(&trees);
        active + frozen >= limit && frozen > 0
    })
}

/// Per batch of `group`: [`Error::WouldStall`] for each non-blocking one when making room would
/// stall, so that the commit refuses them instead of waiting; `None` for the others.
fn refuse_nonblocking(shared: &Shared, wal: &WalState, group: &[Pending]) -> Vec<Option<Error>> {
    let mut out = vec![None; group.len()];
    if !group.iter().any(|p| p.nonblocking) || !room_needed(shared, wal).1 {
        return out;
    }
    let e = scheduler::would_stall_for_flush(shared);
    for (p, o) in group.iter().zip(out.iter_mut()) {
        if p.nonblocking {
            *o = Some(e.clone());
        }
    }
    out
}

/// Ensures every memtable has room, rotating the full ones (and the WAL segment). Stalls while
/// a keyspace to rotate already has too many frozen memtables waiting for the flush thread.
fn make_room(shared: &Shared, wal: &mut WalState) -> Result<()> {
    loop {
        let (full, stall) = room_needed(shared, wal);
        if stall {
            let w: &WalState = wal;
            scheduler::stall_for_flush(shared, &|| room_needed(shared, w).1)?;
            continue;
        }
        if full.is_empty() {
            return Ok(());
        }
        return rotate(shared, wal, &full);
    }
}

/// `flush()` of `tree`: rotate its memtable if non-empty and wait until it and every older
/// frozen memtable of the tree are durable tables. Other keyspaces are not flushed.
pub(crate) fn flush_and_wait(shared: &Shared, tree: &Arc<Tree>) -> Result<()> {
    shared.check_poisoned()?;
    let target = {
        let mut wal = shared.wal.lock();
        let sv = tree.sv.load();
        if sv.mem.is_empty() {
            sv.imms.first().map(|m| m.wal_number())
        } else {
            drop(sv);
            while tree.sv.load().imms.len() >= shared.opts.max_immutable_memtables {
                scheduler::wait_for_flush(shared)?;
            }
            let n = tree.sv.load().mem.wal_number();
            rotate(shared, &mut wal, std::slice::from_ref(tree))?;
            Some(n)
        }
    };
    let Some(target) = target else {
        return Ok(());
    };
    loop {
        if !tree.sv.load().imms.iter().any(|m| m.wal_number() <= target) {
            return Ok(());
        }
        if tree.is_dropped() {
            return Err(Error::KeyspaceNotFound {
                name: tree.name.clone(),
            });
        }
        shared.check_poisoned()?;
        // Flush it here rather than wait behind other keyspaces' flushes in the flush thread.
        if let Err(e) = super::flush::flush_oldest(shared, tree) {
            shared.poison(&e);
            return Err(e);
        }
    }
}

/// Starts a new WAL segment and freezes the memtables of `freeze`. Requires the WAL lock (`wal`).
///
/// The current segment is sealed first (a seal record with its record count and the last seqno,
/// synced, preallocated space trimmed), so it is complete on disk, and proves it, before the next
/// segment exists (`format-spec/wal.md`, "Seal"). A crash after the seal leaves it the newest
/// segment; a crash while creating the next one leaves an empty newest segment after it.
pub(crate) fn rotate(shared: &Shared, wal: &mut WalState, freeze: &[Arc<Tree>]) -> Result<()> {
    let number = shared.manifest.lock().new_file_number();
    let prealloc = wal_preallocation(&shared.opts);
    let fs = &*shared.opts.file_system;
    // The old segment is complete: seal and sync it (its writes may have been acknowledged
    // without fsync under AsyncBatch/None). A failure poisons the db, so the sealed writer left
    // in `wal` never takes another record.
    let last = shared.last_seqno.load(Ordering::Relaxed);
    if let Err(e) = wal.writer.seal(last) {
        shared.poison(&e);
        return Err(e);
    }
    // Every seqno assigned so far was written to the old segment, which is now synced.
    shared.durability.mark_durable(last);
    let new_writer = match WalWriter::create_with_fs(fs, &shared.dir, number, prealloc) {
        Ok(w) => w,
        Err(e) => {
            shared.poison(&e);
            return Err(e);
        }
    };
    let old = std::mem::replace(&mut wal.writer, new_writer);
    let (old_number, old_size) = (old.number(), old.size());
    drop(old);
    shared.old_wal_segments.lock().push((old_number, old_size));
    shared.current_wal.store(number, Ordering::SeqCst);
    wal.unsynced = false;
    for tree in freeze {
        tree.update_sv(|cur| {
            let mut imms = Vec::with_capacity(cur.imms.len() + 1);
            imms.push(cur.mem.clone());
            imms.extend(cur.imms.iter().cloned());
            SuperVersion {
                mem: Arc::new(Memtable::with_key_filter(
                    number,
                    shared.opts.memtable_max_size,
                )),
                imms,
                version: cur.version.clone(),
            }
        });
        let frozen = tree.sv.load().imms.len() as u64;
        shared
            .counters
            .peak_immutable_memtables
            .fetch_max(frozen, Ordering::Relaxed);
    }
    shared.sched.request_flush();
    Ok(())
}

/// Preallocation step for WAL segments: with `SyncMode::Always`, space is reserved 4 MiB at a
/// time so that most fdatasyncs need not update the file size.
pub(crate) fn wal_preallocation(opts: &crate::options::Options) -> u64 {
    if opts.sync_mode == SyncMode::Always {
        (4u64 << 20).min(opts.max_wal_size)
    } else {
        0
    }
}

/// A conditional write of one key (`batch` holds entries for `key` only): under the WAL lock,
/// which every commit holds from seqno assignment until its entries are in the memtable and
/// visible, the key's current version is compared with `expected` (`None`: absent) and `batch`
/// is committed only on a match. No commit can run between the check and the write, so of two
/// conditional writes expecting the same version exactly one succeeds. It bypasses the group
/// commit queue (a group of one, with its own WAL write and, under `SyncMode::Always`, fsync);
/// plain writes do not pay for it.
pub(crate) fn write_if(
    shared: &Shared,
    tree: &Tree,
    key: &[u8],
    expected: Option<SeqNo>,
    mut batch: WriteBatch,
) -> Result<crate::CasOutcome> {
    batch.stamp_expiry(shared.now_millis());
    validate(shared, &batch)?;
    shared.check_poisoned()?;
    scheduler::throttle(shared, batch.encoded_size() as u64)?;
    let mut wal = shared.wal.lock();
    shared.check_poisoned()?;
    // Under the WAL lock every assigned seqno is visible: the last commit finished.
    let current = shared.version_at(tree, key, shared.visible_seqno.load(Ordering::Acquire))?;
    if current != expected {
        return Ok(crate::CasOutcome::Mismatch { current });
    }
    let mut pending = Pending {
        batch,
        check: None,
        nonblocking: false,
    };
    let version = commit_locked(shared, &mut wal, std::slice::from_mut(&mut pending))?
        .pop()
        .unwrap_or(Err(Error::Closed))?;
    Ok(crate::CasOutcome::Written { version })
}
