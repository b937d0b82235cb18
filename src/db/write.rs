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

#[derive(Default)]
struct QueueState {
    leader_active: bool,
    next_ticket: u64,
    waiting: Vec<(u64, WriteBatch)>,
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
    Ok(())
}

/// Commits `batch`, as leader or follower. Returns the seqno of its first entry (entry `i` has
/// that plus `i`); for an empty batch, which writes nothing, the last visible seqno.
pub(crate) fn write(shared: &Shared, batch: WriteBatch) -> Result<SeqNo> {
    validate(shared, &batch)?;
    if batch.is_empty() {
        return Ok(shared.visible_seqno.load(Ordering::Acquire));
    }
    shared.check_poisoned()?;
    scheduler::throttle(shared, batch.encoded_size() as u64)?;
    let q = &shared.queue;
    let mut st = q.state.lock();
    if !st.leader_active && st.waiting.is_empty() {
        // Fast path: nobody else is writing.
        st.leader_active = true;
        drop(st);
        let result = commit_group(shared, std::slice::from_mut(&mut { batch }));
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
        st.waiting.push((t, batch));
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
        let (tickets, mut group): (Vec<u64>, Vec<WriteBatch>) = taken.into_iter().unzip();
        let result = commit_group(shared, &mut group);
        let mut st = q.state.lock();
        // Each batch's first seqno follows from the group's and the lengths before it.
        let mut mine = result.clone();
        let mut seq = result.clone();
        for (t2, b) in tickets.into_iter().zip(group.iter()) {
            if t2 == t {
                mine = seq.clone();
            } else {
                st.results.insert(t2, seq.clone());
            }
            if let Ok(s) = &mut seq {
                *s += b.len() as u64;
            }
        }
        st.leader_active = false;
        drop(st);
        q.cv.notify_all();
        mine
    }
}

/// Leader's work for one group; returns the seqno of the group's first entry. On error nothing of
/// the group is visible to readers; the WAL may hold part of it, so the database is poisoned (a
/// reopen replays what the WAL really holds).
fn commit_group(shared: &Shared, group: &mut [WriteBatch]) -> Result<SeqNo> {
    let mut wal = shared.wal.lock();
    commit_locked(shared, &mut wal, group)
}

/// [`commit_group`] under the WAL lock (`wal`).
fn commit_locked(shared: &Shared, wal: &mut WalState, group: &mut [WriteBatch]) -> Result<SeqNo> {
    shared.check_poisoned()?;
    make_room(shared, wal)?;
    let c = &shared.counters;
    let first = shared.last_seqno.load(Ordering::Relaxed) + 1;
    let mut seq = first;
    let mut bytes = 0u64;
    for b in group.iter_mut() {
        let payload = b.seal(seq);
        bytes += payload.len() as u64;
        wal.writer.add_record(payload);
        seq += b.len() as u64;
    }
    let last = seq - 1;
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
            c.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
        _ => wal.unsynced = true,
    }
    c.wal_bytes_written.fetch_add(bytes, Ordering::Relaxed);
    shared.last_seqno.store(last, Ordering::Relaxed);

    let sv = shared.sv.load();
    let mem = &sv.mem;
    let mut seq = first;
    let (mut puts, mut deletes, mut range_deletes, mut user_bytes) = (0u64, 0u64, 0u64, 0u64);
    for b in group.iter() {
        for entry in b.iter() {
            // A self-built batch always decodes; a failure here is our bug.
            let e = entry?;
            mem.insert(e.key, seq, e.kind, e.value);
            seq += 1;
            user_bytes += (e.key.len() + e.value.len()) as u64;
            match e.kind {
                ValueKind::Put | ValueKind::PutExpiring => puts += 1,
                ValueKind::Delete => deletes += 1,
                ValueKind::RangeDelete => range_deletes += 1,
            }
        }
    }
    shared.visible_seqno.store(last, Ordering::Release);
    c.puts.fetch_add(puts, Ordering::Relaxed);
    c.deletes.fetch_add(deletes, Ordering::Relaxed);
    c.range_deletes.fetch_add(range_deletes, Ordering::Relaxed);
    c.batches.fetch_add(group.len() as u64, Ordering::Relaxed);
    c.user_bytes_written
        .fetch_add(user_bytes, Ordering::Relaxed);
    Ok(first)
}

/// Ensures the memtable has room, rotating it (and the WAL segment) when full. Stalls while too
/// many frozen memtables wait for the flush thread.
fn make_room(shared: &Shared, wal: &mut WalState) -> Result<()> {
    loop {
        let sv = shared.sv.load();
        let full = sv.mem.approximate_size() >= shared.opts.memtable_max_size
            || wal.writer.size() >= shared.opts.max_wal_size;
        if !full {
            return Ok(());
        }
        if sv.imms.len() >= shared.opts.max_immutable_memtables {
            scheduler::stall_for_flush(shared)?;
            continue;
        }
        drop(sv);
        rotate(shared, wal)?;
        return Ok(());
    }
}

/// `Db::flush`: rotate a non-empty memtable and wait until it and every older frozen memtable
/// are durable tables.
pub(crate) fn flush_and_wait(shared: &Shared) -> Result<()> {
    shared.check_poisoned()?;
    let target = {
        let mut wal = shared.wal.lock();
        let sv = shared.sv.load();
        if sv.mem.is_empty() {
            sv.imms.first().map(|m| m.wal_number())
        } else {
            drop(sv);
            while shared.sv.load().imms.len() >= shared.opts.max_immutable_memtables {
                scheduler::wait_for_flush(shared)?;
            }
            let n = shared.sv.load().mem.wal_number();
            rotate(shared, &mut wal)?;
            Some(n)
        }
    };
    let Some(target) = target else {
        return Ok(());
    };
    loop {
        if !shared
            .sv
            .load()
            .imms
            .iter()
            .any(|m| m.wal_number() <= target)
        {
            return Ok(());
        }
        scheduler::wait_for_flush(shared)?;
    }
}

/// Freezes the memtable and starts a new WAL segment. Requires the WAL lock (`wal`).
pub(crate) fn rotate(shared: &Shared, wal: &mut WalState) -> Result<()> {
    let number = shared.manifest.lock().new_file_number();
    let prealloc = wal_preallocation(&shared.opts);
    let fs = &*shared.opts.file_system;
    let new_writer = match WalWriter::create_with_fs(fs, &shared.dir, number, prealloc) {
        Ok(w) => w,
        Err(e) => {
            shared.poison(&e);
            return Err(e);
        }
    };
    let old = std::mem::replace(&mut wal.writer, new_writer);
    // The old segment is complete: sync it (its writes may have been acknowledged without fsync
    // under AsyncBatch/None) and trim its preallocated tail.
    if let Err(e) = old.finish() {
        shared.poison(&e);
        return Err(e);
    }
    wal.unsynced = false;
    {
        let _g = shared.sv_lock.lock();
        let cur = shared.sv.load();
        let mut imms = Vec::with_capacity(cur.imms.len() + 1);
        imms.push(cur.mem.clone());
        imms.extend(cur.imms.iter().cloned());
        shared.sv.store(Arc::new(SuperVersion {
            mem: Arc::new(Memtable::new(number)),
            imms,
            version: cur.version.clone(),
        }));
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
    key: &[u8],
    expected: Option<SeqNo>,
    mut batch: WriteBatch,
) -> Result<crate::CasOutcome> {
    validate(shared, &batch)?;
    shared.check_poisoned()?;
    scheduler::throttle(shared, batch.encoded_size() as u64)?;
    let mut wal = shared.wal.lock();
    shared.check_poisoned()?;
    // Under the WAL lock every assigned seqno is visible: the last commit finished.
    let current = shared.version_at(key, shared.visible_seqno.load(Ordering::Acquire))?;
    if current != expected {
        return Ok(crate::CasOutcome::Mismatch { current });
    }
    let version = commit_locked(shared, &mut wal, std::slice::from_mut(&mut batch))?;
    Ok(crate::CasOutcome::Written { version })
}
