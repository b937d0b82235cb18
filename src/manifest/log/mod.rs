//! The manifest log's byte layout: a 16-byte file header, then records of a 12-byte header and a
//! payload (one encoded [`VersionEdit`]). Parsing tells a torn last record (dropped) from damage
//! followed by valid data (corruption). See `format-spec/manifest.md`, "Manifest file" and
//! "Recovery".
//!
//! Crash model: records are appended with one `write` and fsynced before the next append starts,
//! so only the last record can be incomplete after a crash. A damaged record that has a valid
//! record anywhere after it is therefore not a torn write but corruption.

use std::path::Path;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{Error, Result};
use crate::format::crc::crc32c;

use super::edit::VersionEdit;
use super::state::ManifestState;
use std::mem::offset_of;

use crate::format::manifest::{
    FILE_HEADER_CRC_COVERAGE, MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC, MAX_RECORD_SIZE,
    RECORD_HEADER_CRC_COVERAGE,
};

pub use crate::format::manifest::{FILE_HEADER_SIZE, FileHeader, RECORD_HEADER_SIZE, RecordHeader};

/// Appends the file header.
pub(crate) fn put_file_header(out: &mut Vec<u8>) {
    let mut h = FileHeader {
        magic: MANIFEST_MAGIC,
        format_version: U32::new(MANIFEST_FORMAT_VERSION),
        header_crc: U32::new(0),
    };
    h.header_crc = crc_of_prefix(h.as_bytes(), FILE_HEADER_CRC_COVERAGE);
    out.extend_from_slice(h.as_bytes());
}

/// crc32c of the first `covered` bytes of a header (the bytes before its own crc field).
fn crc_of_prefix(header: &[u8], covered: usize) -> U32 {
    U32::new(crc32c(header.get(..covered).unwrap_or_default()))
}

/// Appends one framed record holding `payload`.
///
/// # Errors
/// [`Error::InvalidArgument`] if the payload exceeds [`MAX_RECORD_SIZE`].
pub(crate) fn put_record(out: &mut Vec<u8>, payload: &[u8]) -> Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_RECORD_SIZE)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "manifest record of {} bytes exceeds the maximum of {MAX_RECORD_SIZE}",
                payload.len()
            ))
        })?;
    let mut h = RecordHeader {
        payload_len: U32::new(len),
        payload_crc: U32::new(crc32c(payload)),
        header_crc: U32::new(0),
    };
    h.header_crc = crc_of_prefix(h.as_bytes(), RECORD_HEADER_CRC_COVERAGE);
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Checks the file header at the start of `data`.
fn check_file_header(data: &[u8], file: &Path) -> Result<()> {
    let (h, _) = FileHeader::ref_from_prefix(data).map_err(|_| {
        Error::corruption(
            file,
            0,
            format!(
                "file of {} bytes is shorter than the {FILE_HEADER_SIZE}-byte manifest header",
                data.len()
            ),
        )
    })?;
    if h.magic != MANIFEST_MAGIC {
        return Err(Error::corruption(file, 0, "not a manifest: bad magic"));
    }
    let crc_input = data.get(..FILE_HEADER_CRC_COVERAGE).unwrap_or_default();
    if crc32c(crc_input) != h.header_crc.get() {
        return Err(Error::corruption(
            file,
            offset_of!(FileHeader, header_crc) as u64,
            "manifest header checksum mismatch",
        ));
    }
    let version = h.format_version.get();
    if !(crate::format::manifest::MANIFEST_MIN_READ_VERSION..=MANIFEST_FORMAT_VERSION)
        .contains(&version)
    {
        if version > MANIFEST_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found: version,
                supported: MANIFEST_FORMAT_VERSION,
            });
        }
        return Err(Error::corruption(
            file,
            offset_of!(FileHeader, format_version) as u64,
            format!("invalid format version {version}"),
        ));
    }
    Ok(())
}

/// What lies at one record position.
enum Slot<'a> {
    /// A complete record with both checksums good; the next record starts at `end`.
    Valid { payload: &'a [u8], end: usize },
    /// Fewer bytes than a header remain, or a good header whose payload runs past the end.
    Incomplete,
    /// The header checksum fails: the length cannot be trusted.
    BadHeader,
    /// Good header, payload checksum fails; the record's extent ends at `end`.
    BadPayload { end: usize },
    /// Good header whose length exceeds [`MAX_RECORD_SIZE`]: never written by this code.
    TooLong,
}

fn slot_at(data: &[u8], pos: usize) -> Slot<'_> {
    let Some(rest) = data.get(pos..) else {
        return Slot::Incomplete;
    };
    let Ok((h, after)) = RecordHeader::ref_from_prefix(rest) else {
        return Slot::Incomplete;
    };
    if crc_of_prefix(h.as_bytes(), RECORD_HEADER_CRC_COVERAGE) != h.header_crc {
        return Slot::BadHeader;
    }
    let len = h.payload_len.get();
    if len > MAX_RECORD_SIZE {
        return Slot::TooLong;
    }
    // usize is at least 32 bits on supported targets; `len` <= MAX_RECORD_SIZE.
    let len = len as usize;
    let Some(payload) = after.get(..len) else {
        return Slot::Incomplete;
    };
    // pos + header + len <= data.len() because `payload` was found inside `data`.
    let end = pos + RECORD_HEADER_SIZE + len;
    if crc32c(payload) != h.payload_crc.get() {
        return Slot::BadPayload { end };
    }
    Slot::Valid { payload, end }
}

/// True if a complete, checksum-valid record starts anywhere after `pos`.
fn valid_record_after(data: &[u8], pos: usize) -> bool {
    (pos.saturating_add(1)..data.len()).any(|q| matches!(slot_at(data, q), Slot::Valid { .. }))
}

/// A parsed manifest log.
#[derive(Debug)]
pub(crate) struct ParsedLog {
    /// Each edit with the absolute offset of its record.
    pub records: Vec<(u64, VersionEdit)>,
    /// Bytes from the start of the file through the last valid record.
    pub valid_len: u64,
    /// Offset of a dropped torn last record, if there was one.
    pub torn_at: Option<u64>,
}

/// Parses a whole manifest file.
///
/// # Errors
/// [`Error::Corruption`] for a bad header, a damaged record that is not the torn tail, or a
/// valid record whose payload does not decode; [`Error::UnsupportedVersion`] for a newer format.
pub(crate) fn parse(data: &[u8], file: &Path) -> Result<ParsedLog> {
    check_file_header(data, file)?;
    let mut records = Vec::new();
    let mut pos = FILE_HEADER_SIZE;
    let mut torn_at = None;
    while pos < data.len() {
        let offset = pos as u64;
        match slot_at(data, pos) {
            Slot::Valid { payload, end } => {
                let edit = VersionEdit::decode(payload, file, offset + RECORD_HEADER_SIZE as u64)?;
                records.push((offset, edit));
                pos = end;
            }
            Slot::TooLong => {
                return Err(Error::corruption(
                    file,
                    offset,
                    format!("record length exceeds {MAX_RECORD_SIZE}"),
                ));
            }
            // A record that reaches past the end of the file was being written during a crash.
            Slot::Incomplete => {
                torn_at = Some(offset);
                break;
            }
            // A complete record is the torn tail only if it is the last thing in the file.
            Slot::BadPayload { end } => {
                if end != data.len() {
                    return Err(Error::corruption(
                        file,
                        offset,
                        "record checksum mismatch before the end of the log",
                    ));
                }
                torn_at = Some(offset);
                break;
            }
            // The length is unknown: torn unless a valid record follows somewhere.
            Slot::BadHeader => {
                if valid_record_after(data, pos) {
                    return Err(Error::corruption(
                        file,
                        offset,
                        "record header checksum mismatch, followed by valid records",
                    ));
                }
                torn_at = Some(offset);
                break;
            }
        }
    }
    Ok(ParsedLog {
        records,
        valid_len: pos as u64,
        torn_at,
    })
}

/// Parses a whole manifest file's bytes into its edits, dropping a torn last record as recovery
/// does. For inspection tools and fuzzing.
///
/// # Errors
/// As [`parse`].
#[cfg(any(test, feature = "internal"))]
pub fn read_manifest(data: &[u8], file: &Path) -> Result<Vec<VersionEdit>> {
    Ok(parse(data, file)?
        .records
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// Every edit of a manifest with its record's offset, and the offset of a torn last record.
pub type ManifestRecords = (Vec<(u64, VersionEdit)>, Option<u64>);

/// Parses a whole manifest file's bytes into `(record offset, edit)` pairs and the offset of a
/// dropped torn last record, if any. For inspection tools.
///
/// # Errors
/// As [`parse`].
pub fn read_manifest_records(data: &[u8], file: &Path) -> Result<ManifestRecords> {
    let parsed = parse(data, file)?;
    Ok((parsed.records, parsed.torn_at))
}

/// A replayed manifest: the state and what recovery needs to know about the log.
#[derive(Debug)]
pub(crate) struct Replayed {
    /// The state after every edit (`manifest_number` is left 0 for the caller to set).
    pub state: ManifestState,
    /// Bytes through the last valid record.
    pub valid_len: u64,
    /// Bytes of the file header and the first (snapshot) record.
    pub snapshot_len: u64,
    /// Offset of a dropped torn last record.
    pub torn_at: Option<u64>,
}

/// Parses `data` and applies its edits to an empty state.
///
/// # Errors
/// As [`parse`]; also [`Error::Corruption`] if there is no first record, the first record is not
/// a full snapshot (all three counters set), or an edit does not apply.
pub(crate) fn replay(data: &[u8], file: &Path) -> Result<Replayed> {
    let parsed = parse(data, file)?;
    let mut records = parsed.records.iter();
    let Some((_, first)) = records.next() else {
        return Err(Error::corruption(
            file,
            FILE_HEADER_SIZE as u64,
            "manifest holds no complete snapshot record",
        ));
    };
    if first.next_file_number.is_none() || first.last_seqno.is_none() || first.log_number.is_none()
    {
        return Err(Error::corruption(
            file,
            FILE_HEADER_SIZE as u64,
            "first manifest record is not a snapshot",
        ));
    }
    let snapshot_len = parsed
        .records
        .get(1)
        .map_or(parsed.valid_len, |(offset, _)| *offset);
    let mut state = ManifestState::default();
    for (offset, edit) in &parsed.records {
        state
            .check(edit)
            .map_err(|reason| Error::corruption(file, *offset, reason))?;
        state.apply_checked(edit);
    }
    Ok(Replayed {
        state,
        valid_len: parsed.valid_len,
        snapshot_len,
        torn_at: parsed.torn_at,
    })
}

#[cfg(test)]
mod tests;
