//! Range deletes: `Db::delete_range` and `Db::delete_prefix`. Each writes one range tombstone
//! (`crate::rangedel`), so its cost does not depend on how many keys it deletes; reads honour it at
//! once, and compactions drop what it covers (whole tables when it covers them entirely).

use std::ops::RangeBounds;

use super::Db;
use crate::batch::WriteBatch;
use crate::error::Result;

impl Db {
    /// Deletes every key in `range` (any range, as [`Db::range`] takes) by writing one range
    /// tombstone: O(1) in the number of keys it covers. Snapshots and iterators taken before
    /// still see the keys; later writes to keys in the range are not affected. An empty range
    /// writes nothing.
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default())?;
    /// for i in 0..100 {
    ///     db.put(format!("k{i:03}"), "v")?;
    /// }
    /// db.delete_range("k010".."k090")?;
    /// assert_eq!(db.range::<&str, _>(..).count(), 20);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::KeyTooLarge`] when a bound is longer than a key; otherwise as
    /// [`Db::put`].
    pub fn delete_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_range(range);
        self.write(b)
    }

    /// Deletes every key starting with `prefix` by writing one range tombstone (see
    /// [`Db::delete_range`]). An empty prefix deletes every key.
    ///
    /// # Errors
    /// As [`Db::delete_range`].
    pub fn delete_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_prefix(prefix);
        self.write(b)
    }
}
