//! A bounds-checked cursor over bytes read from disk, and little-endian / varint writers.
//!
//! Every parser of on-disk bytes reads through [`Cursor`]: each read either returns the bytes asked
//! for or an [`Error::Corruption`] naming the file and the absolute offset, never a panic.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads little-endian integers, varints and byte runs from a slice, checking every bound.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    file: &'a Path,
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor over `data`, which starts at byte `base` of `file` (used only in errors).
    pub fn new(data: &'a [u8], file: &'a Path, base: u64) -> Self {
        Cursor {
            data,
            pos: 0,
            file,
            base,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Position relative to the start of the slice.
    #[cfg(any(test, feature = "internal"))]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Absolute offset in the file of the next byte.
    pub fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    /// A corruption error at the current position.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::corruption(self.file, self.offset(), reason)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.data.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.error(format!(
                "truncated: need {n} bytes, {} remain",
                self.remaining()
            ))),
        }
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    #[cfg(any(test, feature = "internal"))]
    pub fn u16_le(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A LEB128 varint of at most 10 bytes that fits in a u64.
    pub fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut result: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            // The 10th byte may only carry the top bit of a u64.
            if i == 9 && b > 1 {
                self.pos = start;
                return Err(self.error("varint overflows 64 bits"));
            }
            result |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(result);
            }
        }
        self.pos = start;
        Err(self.error("varint longer than 10 bytes"))
    }

    /// A varint that must fit in a u32.
    pub fn varint32(&mut self) -> Result<u32> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.error("varint exceeds 32 bits"))
    }

    /// A varint length followed by that many bytes.
    pub fn length_prefixed(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| self.error("length does not fit in memory"))?;
        if len > self.remaining() {
            return Err(self.error(format!(
                "length {len} exceeds the {} bytes that remain",
                self.remaining()
            )));
        }
        self.take(len)
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.data.get(self.pos..).unwrap_or_default();
        self.pos = self.data.len();
        s
    }
}

/// Appends a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(((v & 0x7f) as u8) | 0x80);
        v >>= 7;
    }
    out.push((v & 0x7f) as u8);
}

/// Appends a varint length and the bytes.
pub fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Number of bytes `put_varint` writes for `v`.
#[cfg(any(test, feature = "internal"))]
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(d: &[u8]) -> Cursor<'_> {
        Cursor::new(d, Path::new("t"), 100)
    }

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            let mut c = cur(&b);
            assert_eq!(c.varint().unwrap(), v);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn truncation_is_corruption_with_offset() {
        let mut c = cur(&[1, 2, 3]);
        assert_eq!(c.u16_le().unwrap(), 0x0201);
        let e = c.u32_le().unwrap_err();
        assert!(matches!(e, Error::Corruption { offset: 102, .. }));
        assert!(cur(&[0x80, 0x80]).varint().is_err());
        assert!(cur(&[0xff; 11]).varint().is_err());
        let mut b = Vec::new();
        put_varint(&mut b, u64::from(u32::MAX) + 1);
        assert!(cur(&b).varint32().is_err());
    }

    #[test]
    fn length_prefixed_bounds() {
        let mut b = Vec::new();
        put_length_prefixed(&mut b, b"abc");
        assert_eq!(cur(&b).length_prefixed().unwrap(), b"abc");
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 40);
        assert!(cur(&b).length_prefixed().is_err());
    }
}
