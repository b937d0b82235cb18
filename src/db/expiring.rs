//! Writes with a time to live (`Db::put_with_ttl`) and the database's clock.
//!
//! An expiring put is an ordinary entry of kind `PutExpiring` whose value starts with its
//! `expires_at`; the read paths (`get`, `get_versioned`, compare-and-swap, iterators, snapshots)
//! read it through `ttl::live_value` with [`Shared::now_millis`], and compaction turns it into a
//! tombstone once expired (`compaction::retention`). WAL replay and flushes carry it as it is.

use std::time::Duration;

use super::{Db, Shared};
use crate::batch::WriteBatch;
use crate::error::Result;

impl Shared {
    /// The time every expiry decision of this database uses: its clock (`Options::clock`), in
    /// milliseconds since the Unix epoch.
    pub(crate) fn now_millis(&self) -> u64 {
        self.opts.clock.now_millis()
    }
}

impl Db {
    /// Inserts or replaces `key` with a value that expires `ttl` from now (by the database's
    /// clock, in whole milliseconds, rounded up). Until then it reads as any value does; from
    /// then on `key` reads as absent everywhere ([`Db::get`], [`Db::get_versioned`],
    /// iterators, snapshots, also those taken before the expiry: expiry is by time), as if it had
    /// been deleted, so older versions never reappear, and [`Db::put_if_absent`] succeeds. The
    /// expiry belongs to this write only: a later [`Db::put`] of the key has none. Compaction
    /// removes expired values (`Stats::entries_expired`). A zero `ttl` writes a value that is
    /// already expired. Size limits apply to `value`; the expiry takes 8 more bytes on disk.
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default())?;
    /// use std::time::Duration;
    /// db.put_with_ttl(b"session:42", b"alice", Duration::from_secs(3600))?;
    /// assert_eq!(db.get(b"session:42")?.as_deref(), Some(&b"alice"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut b = WriteBatch::with_capacity(17 + key.len() + value.len());
        b.put_with_ttl(key, value, ttl);
        self.write(b)
    }
}
