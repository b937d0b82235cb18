//! The crate's one error type.
//!
//! Every fallible public function returns [`Result`]. Variants carry enough context to act on
//! (which file, which offset, which operation) without a backtrace. Corruption of a file the engine
//! wrote is always [`Error::Corruption`]; a file from a newer format is
//! [`Error::UnsupportedVersion`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in lsmkv.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error. `op` names what the engine was doing.
    Io {
        /// What the engine was doing ("appending to WAL", "renaming SSTable", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: Arc<std::io::Error>,
    },
    /// Bytes read from disk are not what the engine wrote.
    Corruption {
        /// The file (or a description of the buffer) the bad bytes came from.
        file: PathBuf,
        /// Byte offset within that file where the problem was detected.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A file written by a format version this build does not read.
    UnsupportedVersion {
        /// The file whose header names the version.
        file: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A caller-supplied argument or configuration value is invalid.
    InvalidArgument(String),
    /// A key longer than [`crate::MAX_KEY_SIZE`].
    KeyTooLarge {
        /// The key's length in bytes.
        len: usize,
        /// The largest allowed key length.
        max: usize,
    },
    /// A value longer than the configured maximum.
    ValueTooLarge {
        /// The value's length in bytes.
        len: usize,
        /// The configured maximum (`MAX_VALUE_SIZE`).
        max: usize,
    },
    /// Another process or handle holds the database directory.
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The database was closed.
    Closed,
    /// A write (or flush, compaction, checkpoint) on a handle from [`crate::Db::open_read_only`].
    ReadOnly,
    /// A transaction's commit found that another commit, after the transaction's snapshot,
    /// wrote a key or range the transaction read (or the transaction was too old to check).
    /// Nothing of it was written; retry it (a new transaction sees the other commit).
    Conflict,
    /// The keyspace does not exist: it was dropped (through another handle), or a write batch
    /// names a keyspace of another database.
    KeyspaceNotFound {
        /// The keyspace's name (or `#id` when only the id is known).
        name: String,
    },
    /// An earlier write, fsync or background job failed; the database refuses further writes
    /// until reopened, because it can no longer promise durability.
    Poisoned {
        /// The first failure, as it was reported.
        cause: String,
    },
    /// A non-blocking write ([`crate::Db::try_write`] and the other `try_` methods) found the
    /// database slowing down or stopping writes (too many memtables waiting for flush, too many
    /// level-0 tables or pending compaction bytes, the memory budget used up). Nothing was
    /// written; retry after about `retry_after`.
    WouldStall {
        /// The engine's estimate of when the write can go through: see [`crate::Db::try_write`].
        retry_after: std::time::Duration,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Builds an [`Error::Corruption`].
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// Re-labels a corruption error found in an in-memory buffer with the file it came from and
    /// the buffer's offset within that file. Other errors pass through unchanged.
    pub fn in_file(self, file: &std::path::Path, base_offset: u64) -> Self {
        match self {
            Error::Corruption { offset, reason, .. } => Error::Corruption {
                file: file.to_path_buf(),
                offset: base_offset.saturating_add(offset),
                reason,
            },
            Error::UnsupportedVersion {
                found, supported, ..
            } => Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found,
                supported,
            },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => {
                write!(f, "I/O error while {op} {}: {source}", path.display())
            }
            Error::Corruption {
                file,
                offset,
                reason,
            } => write!(
                f,
                "corruption in {} at offset {offset}: {reason}",
                file.display()
            ),
            Error::UnsupportedVersion {
                file,
                found,
                supported,
            } => write!(
                f,
                "{} has format version {found}; this build reads up to {supported}",
                file.display()
            ),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::KeyTooLarge { len, max } => {
                write!(f, "key of {len} bytes exceeds the maximum of {max} bytes")
            }
            Error::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the maximum of {max} bytes")
            }
            Error::Locked { path } => write!(
                f,
                "database directory {} is locked by another process or handle",
                path.display()
            ),
            Error::Closed => write!(f, "database is closed"),
            Error::ReadOnly => write!(f, "database is open read-only"),
            Error::Conflict => write!(
                f,
                "transaction conflict: another commit changed what the transaction read; retry it"
            ),
            Error::KeyspaceNotFound { name } => write!(f, "keyspace {name:?} does not exist"),
            Error::Poisoned { cause } => write!(
                f,
                "database is read-only after an earlier failure ({cause}); reopen it to recover"
            ),
            Error::WouldStall { retry_after } => write!(
                f,
                "writes are stalled waiting for background work; retry in {} ms",
                retry_after.as_millis().max(1)
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_offset() {
        let e = Error::corruption("000001.sst", 42, "bad crc");
        assert_eq!(
            e.to_string(),
            "corruption in 000001.sst at offset 42: bad crc"
        );
        let e = e.in_file(std::path::Path::new("/d/000002.sst"), 100);
        assert!(
            matches!(e, Error::Corruption { ref file, offset: 142, .. } if file.ends_with("000002.sst"))
        );
    }

    #[test]
    fn io_error_has_source() {
        let e = Error::io("reading", "x", std::io::Error::other("boom"));
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("reading x"));
    }
}
