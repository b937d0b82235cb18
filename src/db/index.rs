//! Secondary indexes: maintenance in the commit path, the background build, and the registry.
//!
//! An index is a keyspace of its own, `__index/<name>`, holding one entry per (index key, primary
//! key): the entry's key is the index key in an order-preserving escaped form (`0x00` becomes
//! `0x00 0xff`), the terminator `0x00 0x00`, then the primary key; its value is empty. So entries
//! sort by index key, then primary key, and an index-key prefix scan is a key-prefix scan. The key
//! `""` of the index keyspace holds its metadata: the primary keyspace's name and whether the
//! index is built.
//!
//! Maintenance happens inside the commit, under the WAL lock, before the group's batches are
//! sealed: for every entry a batch writes to an indexed keyspace, the key's current value (as of
//! the last commit, overlaid with the earlier entries of the same group) gives the index keys to
//! delete and the new value the ones to add; they are appended to the same batch, so the index and
//! the primary data commit in one WAL record, atomically across a crash. A range delete removes
//! the index entries of every key it covers (that costs a scan of the range).
//!
//! Building an index over existing data runs in a background thread in chunks: each chunk, under
//! the WAL lock (no commit in between), reads the next keys of the primary keyspace as they are
//! now and writes their index entries through the same commit path. Writes meanwhile maintain the
//! index themselves, so when the builder reaches the end the index is complete; it then writes the
//! "built" mark.
//!
//! An index found at open but not declared again (the extractor is code) makes writes to its
//! primary keyspace fail with `Error::InvalidArgument` naming the index, rather than let the index
//! silently go stale.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::format::{RangeEnd, ValueKind};

use super::Shared;
use super::tree::Tree;

/// The function an index is computed with: (primary key, value) to zero or more index keys.
pub type Extractor = dyn Fn(&[u8], &[u8]) -> Vec<Vec<u8>> + Send + Sync + 'static;

/// Name prefix of index keyspaces.
pub(crate) const INDEX_KEYSPACE_PREFIX: &str = "__index/";

/// One declared index.
pub(crate) struct IndexDef {
    pub name: String,
    /// The indexed keyspace.
    pub primary: Arc<Tree>,
    /// The index's own keyspace.
    pub tree: Arc<Tree>,
    pub extractor: Arc<Extractor>,
    pub ready: AtomicBool,
    /// Primary keys the builder has indexed so far.
    pub built_keys: AtomicU64,
}

/// Declared indexes by primary keyspace id, and the undeclared ones found at open.
#[derive(Default, Clone)]
pub(crate) struct IndexSet {
    pub by_primary: HashMap<u32, Vec<Arc<IndexDef>>>,
    pub by_name: BTreeMap<String, Arc<IndexDef>>,
    /// Primary keyspace id -> names of indexes that exist on disk but were not declared.
    pub undeclared: HashMap<u32, Vec<String>>,
}

impl IndexSet {
    pub fn is_empty(&self) -> bool {
        self.by_primary.is_empty() && self.undeclared.is_empty()
    }
}

/// The index entry key of (`ix`, `pk`).
pub(crate) fn entry_key(ix: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut out = escape(ix);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(pk);
    out
}

/// `ix` escaped: `0x00` becomes `0x00 0xff`. Order-preserving, and no escaped string contains
/// `0x00 0x00`.
pub(crate) fn escape(ix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ix.len() + 2);
    for &b in ix {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out
}

/// Splits an index entry key into (index key, primary key); `None` for a malformed key.
pub(crate) fn split_entry(entry: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut ix = Vec::new();
    let mut i = 0;
    while let Some(&b) = entry.get(i) {
        if b == 0 {
            match entry.get(i + 1) {
                Some(0) => return Some((ix, entry.get(i + 2..)?)),
                Some(0xff) => {
                    ix.push(0);
                    i += 2;
                    continue;
                }
                _ => return None,
            }
        }
        ix.push(b);
        i += 1;
    }
    None
}

/// The metadata value of an index keyspace: `primary keyspace name` + `0x00` + state byte
/// (0 building, 1 built).
pub(crate) fn meta_value(primary: &str, built: bool) -> Vec<u8> {
    let mut v = primary.as_bytes().to_vec();
    v.push(0);
    v.push(u8::from(built));
    v
}

/// Parses [`meta_value`].
pub(crate) fn parse_meta(v: &[u8]) -> Option<(String, bool)> {
    let (state, rest) = v.split_last()?;
    let (zero, name) = rest.split_last()?;
    if *zero != 0 {
        return None;
    }
    Some((String::from_utf8(name.to_vec()).ok()?, *state == 1))
}

/// The user value of a stored entry (strips an expiring put's expiry).
fn user_value(kind: ValueKind, v: &[u8]) -> &[u8] {
    if kind == ValueKind::PutExpiring {
        crate::format::split_expiring(v).map_or(&[][..], |(_, u)| u)
    } else {
        v
    }
}

/// Appends index maintenance to every accepted batch of `group` that writes an indexed keyspace
/// (`results[i]` is set for batches that must fail instead). Requires the WAL lock.
pub(crate) fn maintain<'a>(
    shared: &Shared,
    group: impl Iterator<Item = (&'a mut WriteBatch, &'a mut Option<Error>)>,
) {
    let set = shared.indexes.load();
    if set.is_empty() {
        return;
    }
    // Values written by earlier entries of this group, by (keyspace, key).
    let mut overlay: HashMap<(u32, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
    for (batch, failed) in group {
        if failed.is_some() {
            continue;
        }
        match plan_batch(shared, &set, batch, &mut overlay) {
            Ok(ops) => {
                for (ks, kind, key) in ops {
                    batch.push_entry(ks, kind, &key, &[]);
                }
            }
            Err(e) => *failed = Some(e),
        }
    }
}

/// The index entries (keyspace, Put/Delete, key) that `batch` makes necessary.
fn plan_batch(
    shared: &Shared,
    set: &IndexSet,
    batch: &WriteBatch,
    overlay: &mut HashMap<(u32, Vec<u8>), Option<Vec<u8>>>,
) -> Result<Vec<(u32, ValueKind, Vec<u8>)>> {
    let mut ops = Vec::new();
    for entry in batch.iter() {
        let e = entry?;
        if let Some(names) = set.undeclared.get(&e.keyspace) {
            return Err(Error::InvalidArgument(format!(
                "the keyspace has index(es) {names:?} that this process did not declare: call \
                 Db::create_index for them (the extractor is code) before writing to it"
            )));
        }
        let Some(defs) = set.by_primary.get(&e.keyspace) else {
            continue;
        };
        let Some(primary) = defs.first().map(|d| d.primary.clone()) else {
            continue;
        };
        let keys: Vec<Vec<u8>> = if e.kind == ValueKind::RangeDelete {
            covered_keys(shared, &primary, e.key, e.value, overlay)?
        } else {
            vec![e.key.to_vec()]
        };
        for pk in keys {
            let old = current(shared, &primary, &pk, overlay)?;
            let new: Option<Vec<u8>> = match e.kind {
                ValueKind::Put | ValueKind::PutExpiring => {
                    Some(user_value(e.kind, e.value).to_vec())
                }
                ValueKind::Delete | ValueKind::RangeDelete => None,
            };
            for def in defs {
                let f = &def.extractor;
                let old_ix: Vec<Vec<u8>> = old.as_ref().map(|v| f(&pk, v)).unwrap_or_default();
                let new_ix: Vec<Vec<u8>> = new.as_ref().map(|v| f(&pk, v)).unwrap_or_default();
                for ix in old_ix.iter().filter(|ix| !new_ix.contains(ix)) {
                    ops.push((def.tree.id, ValueKind::Delete, entry_key(ix, &pk)));
                }
                for ix in new_ix.iter().filter(|ix| !old_ix.contains(ix)) {
                    let key = entry_key(ix, &pk);
                    // The batch's own sizes were checked before it got here; an index entry
                    // (escaped index key + primary key) must fit in a key too.
                    if key.len() > crate::format::MAX_KEY_SIZE {
                        return Err(Error::KeyTooLarge {
                            len: key.len(),
                            max: crate::format::MAX_KEY_SIZE,
                        });
                    }
                    ops.push((def.tree.id, ValueKind::Put, key));
                }
            }
            overlay.insert((e.keyspace, pk), new);
        }
    }
    Ok(ops)
}

/// The value of `pk` in `primary` now: the group's overlay, else the last commit.
fn current(
    shared: &Shared,
    primary: &Tree,
    pk: &[u8],
    overlay: &HashMap<(u32, Vec<u8>), Option<Vec<u8>>>,
) -> Result<Option<Vec<u8>>> {
    if let Some(v) = overlay.get(&(primary.id, pk.to_vec())) {
        return Ok(v.clone());
    }
    let seqno = shared.visible_seqno.load(Ordering::Acquire);
    Ok(shared.get_at(primary, pk, seqno)?.map(|v| v.to_vec()))
}

/// Every key a range delete `[start, end)` removes from `primary` now (committed keys and keys
/// the group's overlay adds).
fn covered_keys(
    shared: &Shared,
    primary: &Arc<Tree>,
    start: &[u8],
    end: &[u8],
    overlay: &HashMap<(u32, Vec<u8>), Option<Vec<u8>>>,
) -> Result<Vec<Vec<u8>>> {
    let end = RangeEnd::decode(end).map_err(|r| Error::InvalidArgument(r.into()))?;
    let in_range = |k: &[u8]| end.contains(start, k);
    let seqno = shared.visible_seqno.load(Ordering::Acquire);
    let bounds = crate::iter::Bounds {
        lower: std::ops::Bound::Included(start.to_vec()),
        upper: match &end {
            RangeEnd::Before(e) => std::ops::Bound::Excluded(e.clone()),
            RangeEnd::Unbounded => std::ops::Bound::Unbounded,
        },
        prefix: None,
    };
    let mut keys: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
    for kv in super::read::tree_iter_at(primary, seqno, bounds) {
        keys.insert(kv?.0.to_vec());
    }
    for ((ks, k), v) in overlay {
        if *ks == primary.id && in_range(k) {
            if v.is_some() {
                keys.insert(k.clone());
            } else {
                keys.remove(k);
            }
        }
    }
    Ok(keys.into_iter().collect())
}
