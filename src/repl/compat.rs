//! Stand-in for `Db::compact`, which the compaction work is adding to the engine.
//!
//! INTEGRATION: delete this file (and its `mod compat;` line and `use ... CompactCompat as _;`
//! imports) once `Db::compact` exists. Until then this trait supplies the method; afterwards the
//! inherent method takes precedence and the unused import warns, so it cannot be forgotten.

use crate::{Db, Error, Result};

/// `compact()` for builds without compaction.
pub(crate) trait CompactCompat {
    /// Always fails: this build has no compaction.
    fn compact(&self) -> Result<()>;
}

impl CompactCompat for Db {
    fn compact(&self) -> Result<()> {
        // Io (exit status 4), not InvalidArgument (2): the command was used correctly.
        Err(Error::io(
            "compacting",
            self.path(),
            std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this build of lsmkv has no compaction yet",
            ),
        ))
    }
}
