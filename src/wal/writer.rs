//! [`WalWriter`]: creates a segment and appends framed records to it.
//!
//! Records are framed into an in-memory buffer ([`WalWriter::add_record`], no syscall) and written
//! with one `write(2)` per [`WalWriter::flush`], so a group commit of many batches costs one write
//! and one `fdatasync`. After any I/O error the writer refuses further work: a failed write or
//! fsync leaves the file in an unknown state, and an fsync must never be retried (STYLE.md §5).

use std::io::Write;
use std::path::{Path, PathBuf};

use zerocopy::IntoBytes;
use zerocopy::little_endian::{U32, U64};

use super::{
    MAX_RECORD_PAYLOAD, RECORD_HEADER_SIZE, RECORD_MAGIC, RecordHeader, SEAL_MAGIC,
    SEGMENT_HEADER_SIZE, SealPayload, SegmentHeader, record_crc, record_header_crc,
};
use crate::error::{Error, Result};
use crate::format::files::wal_name;
use crate::fs::{CreateMode, FileSystem, WritableFile};

/// After a flush, a buffer that grew beyond this (one huge record) is shrunk back.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

/// Appends `payload` framed as the record at file offset `offset` of segment `segment` to `out`.
/// Returns nothing; the record takes `RECORD_HEADER_SIZE + payload.len()` bytes.
///
/// # Panics
/// If `payload.len() > MAX_RECORD_PAYLOAD` (the caller bounds batch sizes; a bug otherwise).
pub fn frame_record(out: &mut Vec<u8>, segment: u64, offset: u64, payload: &[u8]) {
    frame(out, RECORD_MAGIC, segment, offset, payload);
}

/// Appends the seal record of segment `segment` at file offset `offset` to `out`
/// (`format-spec/wal.md`, "Seal"): `records` batch records precede it, `last_seqno` is the last
/// seqno assigned when it was sealed.
pub fn frame_seal(out: &mut Vec<u8>, segment: u64, offset: u64, records: u64, last_seqno: u64) {
    let seal = SealPayload {
        records: U64::new(records),
        last_seqno: U64::new(last_seqno),
    };
    frame(out, SEAL_MAGIC, segment, offset, seal.as_bytes());
}

/// Frames one record (a batch with [`RECORD_MAGIC`], a seal with [`SEAL_MAGIC`]).
fn frame(out: &mut Vec<u8>, magic: [u8; 4], segment: u64, offset: u64, payload: &[u8]) {
    assert!(
        payload.len() <= MAX_RECORD_PAYLOAD,
        "WAL record payload of {} bytes exceeds {MAX_RECORD_PAYLOAD}",
        payload.len()
    );
    // Cannot truncate: checked just above.
    let length = U32::new(crate::format::len_u32(payload.len()));
    let header_crc = U32::new(record_header_crc(&magic, length));
    let header = RecordHeader {
        magic,
        crc: U32::new(record_crc(segment, offset, length, header_crc, payload)),
        length,
        header_crc,
    };
    out.reserve(RECORD_HEADER_SIZE + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
}

/// Appends records to one WAL segment. Not thread-safe by itself: the db's commit path owns it.
#[derive(Debug)]
pub struct WalWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    number: u64,
    /// Framed records not yet written.
    buf: Vec<u8>,
    /// Bytes already handed to the OS (header included).
    written: u64,
    /// File length reserved by `fallocate` (0 when nothing was reserved).
    allocated: u64,
    /// Growth step of the reservation (0: no preallocation).
    chunk: u64,
    /// Batch records added so far (what the seal counts).
    records: u64,
    /// Set once the seal is added: nothing may follow it.
    sealed: bool,
    /// Set by the first failed I/O operation; every later call fails with it.
    failed: Option<String>,
}

impl WalWriter {
    /// [`WalWriter::create_with_fs`] on the real file system (tests, benches).
    #[cfg(any(test, feature = "internal"))]
    pub fn create(dir: &Path, number: u64, preallocate: u64) -> Result<WalWriter> {
        Self::create_with_fs(&crate::fs::StdFs, dir, number, preallocate)
    }

    /// Creates segment `number` in `dir` on the file system `fs` (fails if it exists), writes and
    /// fsyncs the header and fsyncs the directory. When `preallocate` is larger than the header,
    /// space is reserved with `fallocate` in steps of `preallocate` bytes as the segment grows (so
    /// `fdatasync` only has to update the file size once per step); a file system without
    /// `fallocate` is used without reservation.
    ///
    /// # Errors
    /// [`Error::Io`] if the file exists or any step fails; the partly created file is removed
    /// (best effort; a leftover one reads as an empty segment).
    pub fn create_with_fs(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        preallocate: u64,
    ) -> Result<WalWriter> {
        let path = dir.join(wal_name(number));
        let mut file = fs
            .create(&path, CreateMode::New)
            .map_err(|e| Error::io("creating WAL segment", &path, e))?;
        match init_segment(fs, &mut *file, &path, dir, number, preallocate) {
            Ok(allocated) => Ok(WalWriter {
                file,
                path,
                number,
                buf: Vec::with_capacity(64 << 10),
                written: SEGMENT_HEADER_SIZE as u64,
                allocated,
                chunk: if allocated > 0 { preallocate } else { 0 },
                records: 0,
                sealed: false,
                failed: None,
            }),
            Err(e) => {
                drop(file);
                let _ = fs.remove(&path);
                Err(e)
            }
        }
    }

    /// Frames one record into the in-memory buffer (no syscall). Returns the record's file offset
    /// (what [`super::Record::offset`] will say when it is read back).
    ///
    /// # Panics
    /// If `payload.len() > MAX_RECORD_PAYLOAD`, or after [`seal`](Self::seal) (the db replaces a
    /// sealed writer before the next commit; a bug otherwise).
    pub fn add_record(&mut self, payload: &[u8]) -> u64 {
        assert!(!self.sealed, "record added to sealed WAL segment {}", self.number);
        let offset = self.size();
        frame_record(&mut self.buf, self.number, offset, payload);
        self.records += 1;
        offset
    }

    /// Ends the segment before the next one is created: appends the seal record (the number of
    /// records added, and `last_seqno`, the last seqno assigned so far), syncs, and truncates
    /// preallocated space, so that the segment is complete on disk and proves it
    /// (`format-spec/wal.md`, "Seal"). Nothing may be added afterwards; the writer can still be
    /// dropped.
    ///
    /// # Errors
    /// As [`sync`](Self::sync), or [`Error::Io`] from the truncation.
    pub fn seal(&mut self, last_seqno: u64) -> Result<()> {
        self.check()?;
        if !self.sealed {
            let offset = self.size();
            frame_seal(&mut self.buf, self.number, offset, self.records, last_seqno);
            self.sealed = true;
        }
        self.sync()?;
        self.trim()
    }

    /// Records added so far (not counting a seal).
    #[cfg(any(test, feature = "internal"))]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes buffered records to the file with one `write_all`.
    ///
    /// # Errors
    /// [`Error::Io`] on a failed write; [`Error::Poisoned`] if an earlier call failed.
    pub fn flush(&mut self) -> Result<()> {
        self.check()?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let end = self.written + self.buf.len() as u64;
        if self.chunk > 0 && end > self.allocated {
            // Grow the reservation a chunk at a time: one size change (and one metadata sync)
            // per chunk instead of per commit, without reserving a whole segment up front.
            let want = end.div_ceil(self.chunk).saturating_mul(self.chunk);
            match reserve(&mut *self.file, &self.path, want) {
                Ok(0) => self.chunk = 0,
                Ok(n) => self.allocated = n,
                Err(e) => return Err(self.fail(e)),
            }
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            return Err(self.fail(Error::io("writing WAL segment", &self.path, e)));
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf.shrink_to(64 << 10);
        }
        Ok(())
    }

    /// [`flush`](Self::flush) + `fdatasync`: every record added so far is durable on return.
    ///
    /// # Errors
    /// As `flush`, plus [`Error::Io`] when the fsync fails (never retry it: poison the db).
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if let Err(e) = self.file.sync_data() {
            return Err(self.fail(Error::io("syncing WAL segment", &self.path, e)));
        }
        Ok(())
    }

    /// A second handle to the segment file, so that a background thread can `fdatasync` records
    /// already flushed without holding the writer (and so without blocking commits).
    ///
    /// # Errors
    /// [`Error::Io`] when the descriptor cannot be duplicated; [`Error::Poisoned`] after a failure.
    pub fn sync_handle(&self) -> Result<Box<dyn WritableFile>> {
        self.check()?;
        self.file
            .try_clone()
            .map_err(|e| Error::io("duplicating WAL descriptor", &self.path, e))
    }

    /// The segment number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Path of the segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logical bytes of the segment (header + every record added, flushed or not), excluding
    /// preallocated space. Use it to decide when to roll to a new segment.
    pub fn size(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Bytes added but not yet flushed.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Flush + sync, then truncates preallocated space to the logical size and fsyncs, so the
    /// closed segment ends exactly after its last record.
    ///
    /// # Errors
    /// As [`sync`](Self::sync), or [`Error::Io`] from the truncation.
    #[cfg(any(test, feature = "internal"))]
    pub fn finish(mut self) -> Result<()> {
        self.sync()?;
        self.trim()
    }

    /// Truncates preallocated space to the logical size and fsyncs (nothing to do without it).
    fn trim(&mut self) -> Result<()> {
        if self.allocated > self.written {
            let r = self
                .file
                .set_len(self.written)
                .and_then(|()| self.file.sync_all());
            if let Err(e) = r {
                return Err(self.fail(Error::io(
                    "truncating preallocated WAL space",
                    &self.path,
                    e,
                )));
            }
            self.allocated = self.written;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.to_string());
        e
    }
}

/// Writes the header, reserves space and makes file and directory entry durable. Returns the
/// reserved file length (0 if nothing was reserved).
fn init_segment(
    fs: &dyn FileSystem,
    file: &mut dyn WritableFile,
    path: &Path,
    dir: &Path,
    number: u64,
    preallocate: u64,
) -> Result<u64> {
    file.write_all(SegmentHeader::new(number).as_bytes())
        .map_err(|e| Error::io("writing WAL segment header", path, e))?;
    let allocated = if preallocate > SEGMENT_HEADER_SIZE as u64 {
        reserve(file, path, preallocate)?
    } else {
        0
    };
    file.sync_all()
        .map_err(|e| Error::io("syncing WAL segment header", path, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))?;
    Ok(allocated)
}

/// `fallocate(fd, 0, 0, len)`: allocates zeroed blocks and sets the file size, so later
/// `fdatasync`s need not log a size change. Returns `len`, or 0 where unsupported or where the
/// disk has no room for the reservation (ENOSPC): the segment then grows write by write, so a
/// nearly full disk still opens the database and takes the writes that fit.
fn reserve(file: &mut dyn WritableFile, path: &Path, len: u64) -> Result<u64> {
    const ENOSPC: i32 = 28;
    match file.allocate(len) {
        Ok(true) => Ok(len),
        Ok(false) => Ok(0),
        Err(e) if e.raw_os_error() == Some(ENOSPC) => {
            tracing::warn!(path = %path.display(), len, "no room to preallocate the WAL segment; going on without");
            Ok(0)
        }
        Err(e) => Err(Error::io("preallocating WAL segment", path, e)),
    }
}
