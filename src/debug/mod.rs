//! Read-only dumpers of the database's files, for the `lsmkv inspect` and `lsmkv verify` tools.
//!
//! - [`sst`]: an SSTable's footer, meta block, filter, index and data blocks (`--blocks`, `--keys`).
//! - [`wal`]: a WAL segment's records, their batches, and where a torn tail starts.
//! - [`manifest`]: `CURRENT`, the manifest's version edits and the live tables per level.
//! - [`verify`]: every live SSTable, every WAL segment still needed and the manifest, with every
//!   problem found reported by file and offset.
//!
//! Invariants: nothing here writes, creates, locks or maps a file. Files are read into memory with
//! `std::fs::read` (never memory-mapped, so a file truncated by a running database cannot raise
//! SIGBUS) and parsed with the crate's own checked parsers. Damage never stops a dump early when
//! there is more to show: each dumper collects [`Problem`]s and carries on with what it can still
//! read. Results are plain data (`serde::Serialize`) that the CLI prints as text or JSON; keys and
//! values are shown escaped as the shell prints them ([`escape_bytes`]).

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

pub mod manifest;
pub mod sst;
pub mod verify;
pub mod wal;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::format::ValueKind;
use crate::key::unpack_trailer;
pub use crate::value::escape_bytes;

/// One problem found in a file: damage, an unsupported format, or an inconsistency between files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Byte offset in `file` where it was detected, when there is one.
    pub offset: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl Problem {
    /// A problem at `offset` of `file`.
    pub fn at(file: &Path, offset: u64, reason: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    /// A problem with a whole file (missing, wrong size, unreadable).
    pub fn whole(file: &Path, reason: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            offset: None,
            reason: reason.into(),
        }
    }

    /// Converts an engine error; errors without a file are attributed to `file`.
    pub fn from_error(file: &Path, e: &Error) -> Problem {
        match e {
            Error::Corruption {
                file: f,
                offset,
                reason,
            } => Problem {
                file: if f.as_os_str().is_empty() {
                    file.to_path_buf()
                } else {
                    f.clone()
                },
                offset: Some(*offset),
                reason: reason.clone(),
            },
            other => Problem::whole(file, other.to_string()),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at offset {o}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// Bytes shown as the shell shows them (printable ASCII, `\xHH` escapes), without quotes.
pub fn show(b: &[u8]) -> String {
    escape_bytes(b)
}

/// Like [`show`] but cut after `max` input bytes; the flag says whether anything was cut.
pub fn show_truncated(b: &[u8], max: usize) -> (String, bool) {
    match b.get(..max) {
        Some(head) if b.len() > max => (escape_bytes(head), true),
        _ => (escape_bytes(b), false),
    }
}

/// A stored value as shown: for an expiring put (`expiring`), the user's value and its expiry
/// (`None` when the value is too short to hold one, which is corruption); otherwise the value as
/// it is.
pub fn shown_value(expiring: bool, stored: &[u8]) -> (&[u8], Option<Expiry>) {
    if !expiring {
        return (stored, None);
    }
    match crate::format::split_expiring(stored) {
        Some((at, user)) => (user, Some(Expiry::new(at))),
        None => (stored, None),
    }
}

/// When an expiring put expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// Milliseconds since the Unix epoch.
    pub millis: u64,
    /// The same as an RFC 3339 UTC time, e.g. `2026-12-06T21:00:23.123Z`.
    pub utc: String,
}

impl Expiry {
    /// The expiry `millis` milliseconds after the Unix epoch.
    pub fn new(millis: u64) -> Expiry {
        Expiry {
            millis,
            utc: crate::ttl::format_utc_millis(millis),
        }
    }
}

/// `"put"`, `"delete"`, `"range-delete"`, `"put-expiring"` or `"unknown(N)"` for an entry kind byte.
pub fn kind_name(kind: Option<ValueKind>, raw: u8) -> String {
    match kind {
        Some(ValueKind::Put) => "put".into(),
        Some(ValueKind::Delete) => "delete".into(),
        Some(ValueKind::RangeDelete) => "range-delete".into(),
        Some(ValueKind::PutExpiring) => "put-expiring".into(),
        None => format!("unknown({raw})"),
    }
}

/// Splits a trailer into (seqno, kind name).
pub fn trailer_parts(trailer: u64) -> (u64, String) {
    let (seqno, kind) = unpack_trailer(trailer);
    (seqno, kind_name(kind, (trailer & 0xff) as u8))
}

/// Reads a whole file; the error is a [`Problem`] naming it.
fn read_file(path: &Path) -> Result<Vec<u8>, Problem> {
    std::fs::read(path).map_err(|e| Problem::whole(path, format!("cannot read: {e}")))
}

/// `part / whole`, or 0 when `whole` is 0.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Whether `dir` holds a database (it has a `CURRENT` file). Reading tools use it to refuse a
/// directory that is not one instead of creating a new, empty database there.
pub fn is_database_dir(dir: &Path) -> bool {
    dir.join(crate::format::files::CURRENT).is_file()
}
