//! The background build of a secondary index (see `index.rs`): chunks of the primary keyspace
//! read and indexed under the commit lock, then the "built" mark.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::index::{IndexDef, entry_key, meta_value};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::format::ValueKind;

/// Keys of primary entries scanned per build chunk (one commit each).
const BUILD_CHUNK: usize = 512;

/// Builds `def` over the primary keyspace's existing data, chunk by chunk (see the module doc),
/// then marks it built. Stops early (unbuilt) when the database closes.
pub(crate) fn build(shared: &Arc<Shared>, def: &Arc<IndexDef>) -> Result<()> {
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        if shared.shutdown.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        shared.check_poisoned()?;
        let done = super::write::with_commit_lock(shared, |commit| {
            let seqno = shared.visible_seqno.load(Ordering::Acquire);
            let bounds = crate::iter::Bounds {
                lower: cursor
                    .as_ref()
                    .map_or(std::ops::Bound::Unbounded, |c| std::ops::Bound::Excluded(c.clone())),
                upper: std::ops::Bound::Unbounded,
                prefix: None,
            };
            let mut batch = WriteBatch::new();
            let mut n = 0usize;
            for kv in super::read::tree_iter_at(&def.primary, seqno, bounds).take(BUILD_CHUNK) {
                let (k, v) = kv?;
                for ix in (def.extractor)(&k, &v) {
                    batch.push_entry(def.tree.id, ValueKind::Put, &entry_key(&ix, &k), &[]);
                }
                cursor = Some(k.to_vec());
                n += 1;
            }
            let done = n < BUILD_CHUNK;
            if done {
                batch.push_entry(
                    def.tree.id,
                    ValueKind::Put,
                    b"",
                    &[&meta_value(&def.primary.name, true)],
                );
            }
            commit(batch)?;
            def.built_keys.fetch_add(n as u64, Ordering::Relaxed);
            Ok(done)
        })?;
        if done {
            def.ready.store(true, Ordering::Release);
            tracing::info!(index = %def.name, keys = def.built_keys.load(Ordering::Relaxed), "index built");
            return Ok(());
        }
    }
}
