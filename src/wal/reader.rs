//! Parsing a segment: records, and the verdict on how the segment ends.
//!
//! Rules (`format-spec/wal.md`, "Reading a segment"):
//! - The first record that fails to parse at offset `p` (short header, wrong marker, bad header
//!   checksum, length past the end, bad checksum) ends the record sequence.
//! - If every byte from `p` on is zero (preallocated space, or nothing was appended): [`Tail::Clean`].
//! - Else, if a valid record starts anywhere after `p`: [`Error::Corruption`] at `p` (bytes inside
//!   the log were damaged; silently dropping the records after them would lose acknowledged writes).
//! - Else: [`Tail::Torn`] at `p` (the last write was cut short by a crash).
//! - A seal record (version 3 on) ends the sequence: it must count the records before it, and
//!   only zero fill may follow it; then [`Tail::Sealed`]. Whether a segment *must* end with a
//!   seal (every segment but the newest) is the caller's rule: the reader sees one file.
//!
//! The resync scan is linear: it looks for [`RECORD_MAGIC`] and checks each candidate's 8-byte
//! header checksum before touching a payload, so only real record headers (which never overlap)
//! cost a payload checksum.

use std::path::{Path, PathBuf};

use zerocopy::FromBytes;

use super::{
    RECORD_HEADER_SIZE, RECORD_MAGIC, RecordHeader, SEAL_MAGIC, SEAL_PAYLOAD_SIZE,
    SEGMENT_HEADER_SIZE, SEGMENT_MAGIC, SealPayload, SegmentHeader, WAL_FORMAT_VERSION,
    WAL_SEAL_VERSION, record_crc, record_header_crc,
};
use crate::format::wal::WAL_MIN_READ_VERSION;
use crate::error::{Error, Result};
use crate::format::files::{FileKind, parse_name};
use crate::fs::{FileSystem, Mapping};

/// One record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// File offset of the record header.
    pub offset: u64,
    /// The payload (an encoded write batch).
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// File offset of the first payload byte: pass it to `crate::batch::decode_batch` so its
    /// errors name absolute offsets.
    pub fn payload_offset(&self) -> u64 {
        self.offset + RECORD_HEADER_SIZE as u64
    }
}

/// How a segment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// After the last record: end of file or zero fill.
    Clean,
    /// An incomplete record starts at `offset`; everything from there on is garbage from a write
    /// cut short. `offset` 0 means the segment header itself is missing (crash during create).
    Torn { offset: u64 },
    /// The segment ends with its seal (format version 3 on), at `offset`, which counts the
    /// `records` batch records before it (checked) and says `last_seqno` was the last seqno
    /// assigned when the segment was sealed. Only zero fill follows. Every segment but the
    /// newest must end so (`format-spec/wal.md`, "Seal").
    Sealed {
        offset: u64,
        records: u64,
        last_seqno: u64,
    },
}

/// A parsed segment.
#[derive(Debug)]
#[cfg(any(test, feature = "internal"))]
pub struct Segment<'a> {
    /// From the header; from the file name when the header is missing (0 if the name is not a
    /// segment name).
    pub number: u64,
    /// Every complete record, in order.
    pub records: Vec<Record<'a>>,
    pub tail: Tail,
}

/// Parses a whole segment held in memory. `file` names the segment in errors; when its file name
/// is a segment name (`NNNNNN.wal`) the header's number must match it.
///
/// # Errors
/// [`Error::Corruption`] (damaged header, or a bad record followed by a valid one) or
/// [`Error::UnsupportedVersion`].
#[cfg(any(test, feature = "internal"))]
pub fn read_segment<'a>(data: &'a [u8], file: &Path) -> Result<Segment<'a>> {
    let mut records = Vec::new();
    let (number, tail) = scan(data, file, |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(Segment {
        number,
        records,
        tail,
    })
}

/// Parses a segment held in memory, calling `f` on each record in order without collecting
/// them; returns the segment number (as in [`Segment::number`]) and how the segment ends. Unlike
/// [`read_segment`], records before a mid-log corruption have been passed to `f` when the error
/// is returned, which lets inspection tools show what precedes the damage.
///
/// # Errors
/// As [`read_segment`]; an error from `f` stops the scan and is returned.
pub fn scan_segment<'a>(
    data: &'a [u8],
    file: &Path,
    f: impl FnMut(Record<'a>) -> Result<()>,
) -> Result<(u64, Tail)> {
    scan(data, file, f)
}

/// Maps the segment at `path` and calls `f` on each record in order, without collecting them.
/// Returns how the segment ends. An error from `f` stops the replay and is returned.
///
/// Records before a mid-log corruption are passed to `f` before the corruption is found; the
/// caller discards its state when `replay` fails.
#[cfg(any(test, feature = "internal"))]
pub fn replay(path: &Path, f: impl FnMut(Record<'_>) -> Result<()>) -> Result<Tail> {
    WalReader::open(path)?.replay(f)
}

/// A read-only mapping of one segment file.
///
/// Mapping contract (`format-spec/README.md`): the segment is not written while mapped. The db
/// reads segments only during recovery, under the directory lock, before any writer exists;
/// [`super::WalWriter`] creates new files only. Mapping the live segment of a running db (e.g. a
/// dump tool in another process) is outside the contract: `WalWriter::finish` truncates the file
/// and an access past the new end raises SIGBUS.
#[derive(Debug)]
pub struct WalReader {
    path: PathBuf,
    /// Empty for an empty file, which is never mapped.
    map: Mapping,
    /// Set by [`WalReader::read_with_fs`]: the segment's bytes, copied (then `map` is empty).
    owned: Option<Vec<u8>>,
}

impl WalReader {
    /// [`WalReader::open_with_fs`] on the real file system (tests, benches).
    #[cfg(any(test, feature = "internal"))]
    pub fn open(path: &Path) -> Result<WalReader> {
        Self::open_with_fs(&crate::fs::StdFs, path)
    }

    /// Opens and maps `path` read-only on the file system `fs`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened or mapped.
    pub fn open_with_fs(fs: &dyn FileSystem, path: &Path) -> Result<WalReader> {
        let map = fs
            .map(path)
            .map_err(|e| Error::io("mapping WAL segment", path, e))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(WalReader {
            path: path.to_path_buf(),
            map,
            owned: None,
        })
    }

    /// Reads `path` into memory instead of mapping it: for a segment another process may still
    /// append to or truncate (a read-only open next to a live writer), where a mapping could
    /// raise SIGBUS. A torn last record is then normal (the writer is mid-append).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read (`NotFound` when the writer deleted it).
    pub fn read_with_fs(fs: &dyn FileSystem, path: &Path) -> Result<WalReader> {
        let data = fs
            .read(path)
            .map_err(|e| Error::io("reading WAL segment", path, e))?;
        Ok(WalReader {
            path: path.to_path_buf(),
            map: Mapping::empty(),
            owned: Some(data),
        })
    }

    /// The segment's path.
    #[cfg(any(test, feature = "internal"))]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's format version, when its header is intact (`None` for a missing or damaged
    /// header).
    pub fn format_version(&self) -> Option<u32> {
        header_version(self.data())
    }

    /// The mapped bytes (empty for an empty file).
    pub fn data(&self) -> &[u8] {
        match &self.owned {
            Some(d) => d,
            None => &self.map,
        }
    }

    /// Parses the whole segment; see [`read_segment`].
    #[cfg(any(test, feature = "internal"))]
    pub fn read(&self) -> Result<Segment<'_>> {
        read_segment(self.data(), &self.path)
    }

    /// Streams the records to `f`; see [`replay`].
    pub fn replay<'a>(&'a self, f: impl FnMut(Record<'a>) -> Result<()>) -> Result<Tail> {
        scan(self.data(), &self.path, f).map(|(_, tail)| tail)
    }
}

/// What lies from `offset` to the end of a segment that replay stopped at early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedRegion {
    /// Bytes from `offset` to the last non-zero byte (zero fill is not data).
    pub bytes: u64,
    /// Batch records with intact framing and checksum that start at or after `offset` (a seal is
    /// not counted).
    pub records: u64,
}

/// Measures the region of segment `data` (number `number`) from `offset` on, which recovery is
/// about to drop: its length without trailing zero fill, and how many valid records it holds
/// (found by the same resync scan that tells damage from a torn tail). `offset` past the end is
/// an empty region.
pub fn dropped_region(data: &[u8], offset: u64, number: u64) -> DroppedRegion {
    let Some(start) = usize::try_from(offset).ok().filter(|s| *s <= data.len()) else {
        return DroppedRegion {
            bytes: 0,
            records: 0,
        };
    };
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
        .max(start);
    let frame = Frame::new(number, header_version(data).unwrap_or(WAL_MIN_READ_VERSION));
    let mut records = 0u64;
    let mut from = start;
    while let Some(at) = find_valid_record(data, from, frame) {
        // A valid record parses again; its end is past `at`, so the scan always advances.
        from = match parse_record(data, at, frame) {
            Ok((kind, _, next)) => {
                records += u64::from(kind == Kind::Batch);
                next
            }
            Err(_) => at + 1,
        };
    }
    DroppedRegion {
        bytes: (end - start) as u64,
        records,
    }
}

/// Whether the segment header is present.
enum Header {
    /// Crash during create: shorter than a header, or zero-filled.
    Missing,
    /// The segment's number and format version.
    Present(u64, u32),
}

/// What parsing a record needs to know about its segment.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The segment number, which salts every record checksum.
    number: u64,
    /// Whether a seal record may end the segment (format version 3 on).
    seals: bool,
}

impl Frame {
    fn new(number: u64, version: u32) -> Frame {
        Frame {
            number,
            seals: version >= WAL_SEAL_VERSION,
        }
    }
}

/// What a valid record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A write batch.
    Batch,
    /// The seal that ends a finished segment.
    Seal,
}

/// Parses the header and every record, passing batch records to `f`. Returns (number, tail).
fn scan<'a>(
    data: &'a [u8],
    file: &Path,
    mut f: impl FnMut(Record<'a>) -> Result<()>,
) -> Result<(u64, Tail)> {
    let frame = match parse_header(data, file)? {
        Header::Missing => {
            return Ok((name_number(file).unwrap_or(0), Tail::Torn { offset: 0 }));
        }
        Header::Present(n, version) => Frame::new(n, version),
    };
    let mut pos = SEGMENT_HEADER_SIZE;
    let mut records = 0u64;
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok((frame.number, Tail::Clean));
        }
        match parse_record(data, pos, frame) {
            Ok((Kind::Batch, payload, next)) => {
                f(Record {
                    offset: pos as u64,
                    payload,
                })?;
                records += 1;
                pos = next;
            }
            Ok((Kind::Seal, payload, next)) => {
                let tail = seal_tail(data, file, (pos, next), records, payload)?;
                return Ok((frame.number, tail));
            }
            Err(why) => {
                if is_zero(rest) {
                    return Ok((frame.number, Tail::Clean));
                }
                if let Some(valid) = find_valid_record(data, pos.saturating_add(1), frame) {
                    return Err(Error::corruption(
                        file,
                        pos as u64,
                        format!("damaged WAL record ({why}) followed by a valid record at {valid}"),
                    ));
                }
                return Ok((frame.number, Tail::Torn { offset: pos as u64 }));
            }
        }
    }
}

/// The verdict on a segment whose seal record spans `at.0..at.1`, after `records` batch records:
/// the seal must count exactly those records, and only zero fill may follow it (nothing is ever
/// written after a seal).
fn seal_tail(
    data: &[u8],
    file: &Path,
    (pos, next): (usize, usize),
    records: u64,
    payload: &[u8],
) -> Result<Tail> {
    let Ok(seal) = SealPayload::ref_from_bytes(payload) else {
        return Err(Error::corruption(
            file,
            pos as u64,
            format!(
                "WAL seal record holds {} bytes, not {SEAL_PAYLOAD_SIZE}",
                payload.len()
            ),
        ));
    };
    if seal.records.get() != records {
        return Err(Error::corruption(
            file,
            pos as u64,
            format!(
                "WAL seal counts {} records but the segment holds {records} before it: records are missing",
                seal.records.get()
            ),
        ));
    }
    if !is_zero(data.get(next..).unwrap_or_default()) {
        return Err(Error::corruption(
            file,
            next as u64,
            "bytes after the WAL segment's seal",
        ));
    }
    Ok(Tail::Sealed {
        offset: pos as u64,
        records,
        last_seqno: seal.last_seqno.get(),
    })
}

/// The format version in `data`'s segment header, when the header is intact (magic and checksum).
pub fn header_version(data: &[u8]) -> Option<u32> {
    let (h, _) = SegmentHeader::ref_from_prefix(data).ok()?;
    (h.magic == SEGMENT_MAGIC && h.crc.get() == h.compute_crc()).then(|| h.format_version.get())
}

fn parse_header(data: &[u8], file: &Path) -> Result<Header> {
    let Ok((h, rest)) = SegmentHeader::ref_from_prefix(data) else {
        // Shorter than a header: create crashed before its fsync completed. Accept a zero or
        // magic prefix; other bytes are not something create could have left.
        let magic_part = data.get(..SEGMENT_MAGIC.len()).unwrap_or(data);
        if is_zero(magic_part) || SEGMENT_MAGIC.starts_with(magic_part) {
            return Ok(Header::Missing);
        }
        return Err(Error::corruption(file, 0, "bad WAL segment magic"));
    };
    if h.magic == [0; 8] && is_zero(data) {
        return Ok(Header::Missing);
    }
    if h.magic != SEGMENT_MAGIC {
        let why = if is_zero(&h.magic) && !is_zero(rest) {
            "WAL segment header is missing but the segment holds data"
        } else {
            "bad WAL segment magic"
        };
        return Err(Error::corruption(file, 0, why));
    }
    // The header layout is the same in every version, so the checksum is checked first: a damaged
    // version field is corruption, not a newer format.
    if h.crc.get() != h.compute_crc() {
        return Err(Error::corruption(
            file,
            0,
            "WAL segment header checksum mismatch",
        ));
    }
    let version = h.format_version.get();
    if !(WAL_MIN_READ_VERSION..=WAL_FORMAT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            file: file.to_path_buf(),
            found: version,
            supported: WAL_FORMAT_VERSION,
        });
    }
    let number = h.number.get();
    if let Some(expected) = name_number(file)
        && expected != number
    {
        return Err(Error::corruption(
            file,
            std::mem::offset_of!(SegmentHeader, number) as u64,
            format!("WAL segment header says number {number}, file name says {expected}"),
        ));
    }
    Ok(Header::Present(number, version))
}

/// The record at `pos`: what it holds, its payload and the offset just after it, or why it is not
/// valid. A seal counts as a record only in a segment of a version that has seals.
fn parse_record(
    data: &[u8],
    pos: usize,
    frame: Frame,
) -> Result<(Kind, &[u8], usize), &'static str> {
    let rest = data.get(pos..).ok_or("offset past end")?;
    let (h, body) = RecordHeader::ref_from_prefix(rest).map_err(|_| "short record header")?;
    let kind = match h.magic {
        RECORD_MAGIC => Kind::Batch,
        SEAL_MAGIC if frame.seals => Kind::Seal,
        _ => return Err("bad record marker"),
    };
    if h.header_crc.get() != record_header_crc(&h.magic, h.length) {
        return Err("record header checksum mismatch");
    }
    // A u32 length fits usize on every supported target (>= 32 bits); `get` bounds it by the file.
    let len = usize::try_from(h.length.get()).map_err(|_| "record length overflows")?;
    let payload = body.get(..len).ok_or("record extends past end of file")?;
    if h.crc.get() != record_crc(frame.number, pos as u64, h.length, h.header_crc, payload) {
        return Err("record checksum mismatch");
    }
    // No overflow: pos + 16 + len <= data.len().
    Ok((kind, payload, pos + RECORD_HEADER_SIZE + len))
}

/// Offset of the first valid record (a batch, or a seal where the version has seals) starting at
/// or after `from`.
fn find_valid_record(data: &[u8], mut from: usize, frame: Frame) -> Option<usize> {
    loop {
        let hay = data.get(from..)?;
        let rel = hay
            .windows(RECORD_MAGIC.len())
            .position(|w| w == RECORD_MAGIC || (frame.seals && w == SEAL_MAGIC))?;
        let candidate = from + rel;
        if parse_record(data, candidate, frame).is_ok() {
            return Some(candidate);
        }
        from = candidate + 1;
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn name_number(file: &Path) -> Option<u64> {
    match parse_name(file.file_name()?.to_str()?)? {
        FileKind::Wal(n) => Some(n),
        _ => None,
    }
}
