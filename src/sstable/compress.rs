//! The block trailer and block compression.
//!
//! ```text
//! block on disk = payload | compression u8 | crc32c u32 LE      crc covers payload + compression
//! lz4 payload   = uncompressed_len u32 LE | lz4_flex block
//! ```
//!
//! The crc is checked before anything else is parsed. The stored uncompressed length is trusted
//! only up to [`MAX_BLOCK_SIZE`] and [`MAX_LZ4_RATIO`] times the compressed size, so a damaged
//! length cannot make the reader allocate gigabytes. LZ4 is used only when it saves at least 1/8
//! of the block. See `format-spec/sstable.md` ("Block trailer").

use std::path::Path;

use bytes::Bytes;

use crate::cache::pool::BufferPool;
use crate::error::{Error, Result};
use crate::format::MAX_BLOCK_SIZE;
use crate::format::crc::{crc32c, crc32c_append};
use crate::format::sst::{BLOCK_TRAILER_SIZE, COMPRESSION_LZ4, COMPRESSION_NONE, MAX_LZ4_RATIO};
use crate::options::Compression;

fn corrupt(offset: usize, reason: &'static str) -> Error {
    Error::corruption(Path::new(""), offset as u64, reason)
}

/// What [`encode_block`] reuses from one block to the next: LZ4's output buffer and its hash
/// table. `lz4_flex::block::compress_into` allocates and zeroes a fresh hash table for every
/// call, and a buffer cleared and resized before each block is zeroed again: together about
/// 12 KiB of allocation and memset per 4 KiB block, a fifth of a flush's or compaction's
/// instructions (callgrind). The table is still cleared before each block (LZ4 needs that), the
/// buffer only grows.
#[derive(Default)]
pub struct Lz4Scratch {
    out: Vec<u8>,
    table: lz4_flex::block::CompressTable,
}

/// The trailer of a block whose payload has crc32c `payload_crc` and whose compression byte is
/// `kind`: the byte, then the crc32c of payload and byte (LE).
pub fn block_trailer(payload_crc: u32, kind: u8) -> [u8; BLOCK_TRAILER_SIZE] {
    let crc = crc32c_append(payload_crc, &[kind]).to_le_bytes();
    [kind, crc[0], crc[1], crc[2], crc[3]]
}

/// Appends the on-disk form of `raw` to `out`, compressing with LZ4 when asked and worth it.
/// `scratch` is reused between calls. Returns the compression byte used.
pub fn encode_block(
    raw: &[u8],
    compression: Compression,
    scratch: &mut Lz4Scratch,
    out: &mut Vec<u8>,
) -> u8 {
    let start = out.len();
    let mut kind = COMPRESSION_NONE;
    if compression == Compression::Lz4 && raw.len() >= 64 && u32::try_from(raw.len()).is_ok() {
        let max = lz4_flex::block::get_maximum_output_size(raw.len());
        if scratch.out.len() < max {
            scratch.out.resize(max, 0);
        }
        let buf = &mut scratch.out;
        if let Ok(n) = lz4_flex::block::compress_into_with_table(raw, buf, &mut scratch.table) {
            // Keep LZ4 only if it saves at least 1/8 of the block (header included).
            if n + 4 <= raw.len() - raw.len() / 8 {
                out.extend_from_slice(&crate::format::len_u32(raw.len()).to_le_bytes());
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
                kind = COMPRESSION_LZ4;
            }
        }
    }
    if kind == COMPRESSION_NONE {
        out.extend_from_slice(raw);
    }
    let trailer = block_trailer(crc32c(out.get(start..).unwrap_or_default()), kind);
    out.extend_from_slice(&trailer);
    kind
}

/// A block whose checksum passed.
#[derive(Debug, Clone, Copy)]
pub enum Checked<'a> {
    /// The payload is the block contents.
    Raw(&'a [u8]),
    /// The payload must be decompressed to `uncompressed_len` bytes.
    Lz4 {
        uncompressed_len: usize,
        compressed: &'a [u8],
    },
}

/// Verifies the trailer of the on-disk block `block` and classifies its payload. Offsets in
/// errors are relative to the block start.
#[inline]
pub fn check_block(block: &[u8]) -> Result<Checked<'_>> {
    let payload_len = block
        .len()
        .checked_sub(BLOCK_TRAILER_SIZE)
        .ok_or_else(|| corrupt(0, "block shorter than its trailer"))?;
    let (covered, crc_bytes) = block.split_at(payload_len + 1);
    let stored = u32::from_le_bytes(
        crc_bytes
            .try_into()
            .map_err(|_| corrupt(payload_len + 1, "block trailer truncated"))?,
    );
    let (payload, kind) = covered.split_at(payload_len);
    let kind = kind.first().copied().unwrap_or(u8::MAX);
    let actual = crc32c_append(crc32c(payload), &[kind]);
    if actual != stored {
        return Err(corrupt(payload_len + 1, "block checksum mismatch"));
    }
    match kind {
        COMPRESSION_NONE => Ok(Checked::Raw(payload)),
        COMPRESSION_LZ4 => {
            let (len, compressed) = payload
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt(0, "lz4 block shorter than its length"))?;
            let uncompressed_len = u32::from_le_bytes(*len) as usize;
            // Bound the allocation before making it: the format's block limit, and LZ4's
            // maximum expansion ratio (a few bytes cannot claim a gigabyte).
            if uncompressed_len > MAX_BLOCK_SIZE
                || uncompressed_len > compressed.len().saturating_mul(MAX_LZ4_RATIO) + 64
            {
                return Err(corrupt(0, "implausible uncompressed block length"));
            }
            Ok(Checked::Lz4 {
                uncompressed_len,
                compressed,
            })
        }
        _ => Err(corrupt(payload_len, "unknown block compression")),
    }
}

/// Decompresses an LZ4 payload into a pooled buffer. Offsets in errors are relative to the
/// block start.
pub fn decompress(uncompressed_len: usize, compressed: &[u8]) -> Result<Bytes> {
    let mut buf = BufferPool::global().take(uncompressed_len);
    match lz4_flex::block::decompress_into(compressed, buf.as_mut_slice()) {
        Ok(n) if n == uncompressed_len => Ok(buf.freeze()),
        Ok(_) => Err(corrupt(0, "lz4 block shorter than its stated length")),
        Err(_) => Err(corrupt(4, "lz4 block does not decode")),
    }
}

/// Checks and, if needed, decompresses the on-disk block `block`, a slice of `file`: a raw payload
/// is returned as a zero-copy slice of `file`. Offsets in errors are relative to the block start.
pub fn read_block_in(file: &Bytes, block: &[u8]) -> Result<Bytes> {
    match check_block(block)? {
        Checked::Raw(p) => Ok(file.slice_ref(p)),
        Checked::Lz4 {
            uncompressed_len,
            compressed,
        } => decompress(uncompressed_len, compressed),
    }
}

/// Checks and, if needed, decompresses an on-disk block into an owned `Bytes` (raw payloads are
/// copied). For callers off the hot path (filter, index, meta, verify).
pub fn read_block_owned(block: &[u8]) -> Result<Bytes> {
    match check_block(block)? {
        Checked::Raw(p) => Ok(Bytes::copy_from_slice(p)),
        Checked::Lz4 {
            uncompressed_len,
            compressed,
        } => decompress(uncompressed_len, compressed),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn raw_and_lz4_round_trip() {
        let mut scratch = Lz4Scratch::default();
        let compressible = vec![b'a'; 1000];
        let mut x = 0x1234_5678_9abc_def0u64;
        let random: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        for (data, comp, expect) in [
            (&compressible, Compression::Lz4, COMPRESSION_LZ4),
            (&compressible, Compression::None, COMPRESSION_NONE),
            (&random, Compression::Lz4, COMPRESSION_NONE),
        ] {
            let mut out = Vec::new();
            assert_eq!(encode_block(data, comp, &mut scratch, &mut out), expect);
            assert_eq!(&read_block_owned(&out).unwrap()[..], &data[..]);
            for cut in 0..out.len() {
                assert!(read_block_owned(&out[..cut]).unwrap_err().is_corruption());
            }
            for i in 0..out.len() {
                let mut d = out.clone();
                d[i] ^= 0x10;
                assert!(read_block_owned(&d).unwrap_err().is_corruption());
            }
        }
    }

    /// A scratch reused across blocks of different sizes and contents (a large one before small
    /// ones, so stale buffer bytes and table entries are left behind) encodes each block exactly
    /// as a fresh one does, and every block reads back.
    #[test]
    fn reused_scratch_encodes_like_a_fresh_one() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut block = |len: usize, period: usize| -> Vec<u8> {
            let mut half: Vec<u8> = Vec::with_capacity(len);
            while half.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                half.push((x >> 24) as u8);
                if half.len().is_multiple_of(period) {
                    let again = half[half.len() - period..].to_vec();
                    half.extend_from_slice(&again[..again.len().min(len - half.len())]);
                }
            }
            half
        };
        let blocks = [
            block(8000, 50),
            block(4096, 50),
            block(100, 10),
            block(4096, 200),
            block(64, 8),
            // From here on the table is the 32-bit one (LZ4 never goes back to the 16-bit one):
            // other but equally valid output.
            block(70_000, 1000),
            block(3000, 50),
            block(64, 8),
        ];
        let mut reused = Lz4Scratch::default();
        let mut large_seen = false;
        for b in &blocks {
            let (mut a, mut f) = (Vec::new(), Vec::new());
            let kind = encode_block(b, Compression::Lz4, &mut reused, &mut a);
            encode_block(b, Compression::Lz4, &mut Lz4Scratch::default(), &mut f);
            assert_eq!(kind, COMPRESSION_LZ4, "{} bytes", b.len());
            assert_eq!(&read_block_owned(&a).unwrap()[..], &b[..]);
            large_seen |= b.len() >= usize::from(u16::MAX);
            if !large_seen {
                assert_eq!(a, f, "{} bytes", b.len());
            }
        }
    }

    #[test]
    fn absurd_length_rejected_before_allocating() {
        // A valid crc over a payload that claims 1 GiB from 10 bytes.
        let mut payload = (1u32 << 30).to_le_bytes().to_vec();
        payload.extend_from_slice(&[0u8; 10]);
        payload.push(COMPRESSION_LZ4);
        let crc = crc32c(&payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        let e = read_block_owned(&payload).unwrap_err();
        assert!(e.to_string().contains("implausible"), "{e}");
        // Unknown compression byte with a valid crc.
        let mut p = b"abc".to_vec();
        p.push(7);
        let crc = crc32c(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(read_block_owned(&p).unwrap_err().is_corruption());
    }
}
