//! `deleterange`: deleting a whole prefix, and getting the space back.
//!
//! The group loads `num` keys under [`DELETED_PREFIX`] and `num / 10` under [`KEPT_PREFIX`],
//! written interleaved in time (every 10th deleted key is followed by a kept one, 1000 per
//! batch), so every memtable and every table an LSM engine flushes holds both; then it flushes
//! and runs a full compaction, so the state before the delete is the settled one (untimed).
//!
//! The workload times one [`Engine::delete_prefix`] of the deleted prefix (lsmkv and RocksDB: one
//! range tombstone; fjall and sled: a scan and deletes in batches; redb: `retain_in` in one write
//! transaction). Then, untimed, it checks the result; then it times the space reclamation step,
//! a flush and a full compaction where the engine has one ([`Engine::compact`]), measuring the
//! bytes on disk before the delete, after the delete and its flush, and after the compaction;
//! and checks again. `ops` is the number of keys deleted, so `ops/s` is keys deleted per second
//! of the delete call, and the latency columns hold the delete call itself (one sample).
//!
//! The check fails the workload: every deleted key must be gone (a get of each), every kept key
//! still there with its whole value (a get of each), and a full scan must see exactly the kept
//! keys.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{BATCH, Extra, KEY_LEN, Meas, Outcome, Params, Rng, VALUE_LEN, fill_value};
use crate::engines::{Engine, Result};
use crate::sys;

/// The prefix the workload deletes.
pub const DELETED_PREFIX: &[u8; 2] = b"p/";
/// The prefix whose keys must survive (it sorts right after the deleted one).
pub const KEPT_PREFIX: &[u8; 2] = b"q/";
/// One kept key per this many deleted keys.
const KEPT_EVERY: u64 = 10;

/// What `deleterange` measured besides the delete call's time (also in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteRangeInfo {
    /// Keys under the deleted prefix.
    pub deleted_keys: u64,
    /// Keys under the kept prefix.
    pub kept_keys: u64,
    /// The delete call.
    pub delete_secs: f64,
    /// The flush after it (memtables to disk, durable).
    pub flush_secs: f64,
    /// The full compaction after the flush; `None`: the engine has none.
    pub compact_secs: Option<f64>,
    /// Allocated bytes of the database after the load, its flush and its compaction.
    pub disk_before_bytes: u64,
    /// After the delete and the flush.
    pub disk_after_delete_bytes: u64,
    /// After the compaction (the workload's `disk_bytes` too).
    pub disk_after_bytes: u64,
    /// After the child process closed the database and exited (measured by the driver): files
    /// that an engine deletes only later (fjall frees the tables a compaction replaced at its
    /// next memtable rotation or at close) are gone by then. `None` where not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_after_close_bytes: Option<u64>,
}

impl DeleteRangeInfo {
    /// The space reclamation step: the flush and the compaction.
    pub fn reclaim_secs(&self) -> f64 {
        self.flush_secs + self.compact_secs.unwrap_or(0.0)
    }
}

/// Keys under the kept prefix for a run of `num` keys.
pub fn kept_keys(num: u64) -> u64 {
    (num / KEPT_EVERY).max(1)
}

/// Key `i` under `prefix`: the 2-byte prefix, 13 decimal digits of `i`, and the `0` tag of
/// written keys (16 bytes, as every key of the tool).
pub fn prefixed_key(prefix: &[u8; 2], i: u64) -> [u8; KEY_LEN] {
    let mut k = [b'0'; KEY_LEN];
    k[..2].copy_from_slice(prefix);
    let mut n = i;
    for slot in k[2..KEY_LEN - 1].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// Untimed preparation: both prefixes, interleaved, 1000 keys per batch; then a flush and a full
/// compaction. Returns the number of keys loaded.
pub(super) fn load(eng: &dyn Engine, p: &Params) -> Result<u64> {
    let kept = kept_keys(p.num);
    let mut rng = Rng::new(p.seed, "deleterange/load");
    let mut keys: Vec<[u8; KEY_LEN]> = Vec::with_capacity(BATCH + 1);
    let mut vals: Vec<[u8; VALUE_LEN]> = Vec::with_capacity(BATCH + 1);
    let write = |keys: &mut Vec<[u8; KEY_LEN]>, vals: &mut Vec<[u8; VALUE_LEN]>| {
        let items: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(vals.iter())
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        let r = eng.write_batch(&items, false);
        keys.clear();
        vals.clear();
        r
    };
    let mut push = |keys: &mut Vec<_>, vals: &mut Vec<_>, k| {
        let mut v = [0u8; VALUE_LEN];
        fill_value(&mut rng, &mut v);
        keys.push(k);
        vals.push(v);
    };
    for i in 0..p.num {
        push(&mut keys, &mut vals, prefixed_key(DELETED_PREFIX, i));
        if i % KEPT_EVERY == 0 && i / KEPT_EVERY < kept {
            push(
                &mut keys,
                &mut vals,
                prefixed_key(KEPT_PREFIX, i / KEPT_EVERY),
            );
        }
        if keys.len() >= BATCH {
            write(&mut keys, &mut vals)?;
        }
    }
    if !keys.is_empty() {
        write(&mut keys, &mut vals)?;
    }
    eng.flush()?;
    eng.compact()?;
    Ok(p.num + kept)
}

/// The workload (after [`load`]); `dir` is the database directory, for the bytes on disk.
pub(super) fn run(eng: &dyn Engine, dir: &std::path::Path, p: &Params) -> Result<Outcome> {
    let kept = kept_keys(p.num);
    let disk_before = sys::dir_bytes(dir).1;
    let start = Instant::now();
    if !eng.delete_prefix(DELETED_PREFIX)? {
        return Ok(None);
    }
    let delete_secs = start.elapsed().as_secs_f64();
    // Reads must honour the delete at once, before any flush or compaction.
    check(eng, p, "after the delete")?;
    let t = Instant::now();
    eng.flush()?;
    let flush_secs = t.elapsed().as_secs_f64();
    let disk_after_delete = sys::dir_bytes(dir).1;
    let t = Instant::now();
    let compacted = eng.compact()?;
    let compact_secs = compacted.then(|| t.elapsed().as_secs_f64());
    let disk_after = sys::dir_bytes(dir).1;
    check(eng, p, "after the compaction")?;

    let mut m = Meas::new();
    m.hist.saturating_record((delete_secs * 1e9) as u64);
    m.ops = p.num;
    m.secs = delete_secs;
    let info = DeleteRangeInfo {
        deleted_keys: p.num,
        kept_keys: kept,
        delete_secs,
        flush_secs,
        compact_secs,
        disk_before_bytes: disk_before,
        disk_after_delete_bytes: disk_after_delete,
        disk_after_bytes: disk_after,
        disk_after_close_bytes: None,
    };
    let verified = format!(
        "after the delete and after the compaction: {} deleted keys gone, {kept} kept keys \
         there, a scan sees only them",
        p.num
    );
    Ok(Some((
        m,
        Extra {
            verified: Some(verified),
            deleterange: Some(info),
            ..Extra::default()
        },
    )))
}

/// Untimed: every deleted key is gone, every kept key is there with its whole value, and a
/// full scan sees exactly the kept keys.
fn check(eng: &dyn Engine, p: &Params, when: &str) -> Result<()> {
    let kept = kept_keys(p.num);
    let mut r = eng.reader()?;
    for i in 0..p.num {
        if r.get(&prefixed_key(DELETED_PREFIX, i))?.is_some() {
            return Err(format!("check {when}: deleted key {i} is still there").into());
        }
    }
    for i in 0..kept {
        match r.get(&prefixed_key(KEPT_PREFIX, i))? {
            Some(VALUE_LEN) => {}
            Some(len) => {
                return Err(
                    format!("check {when}: kept key {i} has a value of {len} bytes").into(),
                );
            }
            None => return Err(format!("check {when}: kept key {i} is gone").into()),
        }
    }
    if eng.supports_scan()
        && let Some(n) = r.scan(b"", usize::MAX)?
        && n != kept
    {
        return Err(format!("check {when}: a full scan saw {n} keys, not the {kept} kept").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_keys_sort_by_prefix_then_index() {
        assert_eq!(&prefixed_key(DELETED_PREFIX, 42), b"p/00000000000420");
        assert_eq!(&prefixed_key(KEPT_PREFIX, 0), b"q/00000000000000");
        assert!(prefixed_key(DELETED_PREFIX, 9_999_999_999_999) < prefixed_key(KEPT_PREFIX, 0));
        assert!(prefixed_key(DELETED_PREFIX, 9) < prefixed_key(DELETED_PREFIX, 10));
        let end = crate::engines::prefix_end(DELETED_PREFIX).unwrap();
        assert!(prefixed_key(DELETED_PREFIX, 9_999_999_999_999).as_slice() < end.as_slice());
        assert!(end.as_slice() <= prefixed_key(KEPT_PREFIX, 0).as_slice());
    }

    #[test]
    fn a_tenth_is_kept() {
        assert_eq!(kept_keys(1_000_000), 100_000);
        assert_eq!(kept_keys(5), 1);
    }
}
