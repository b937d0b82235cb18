//! `Key` and `Value`: cheap, clonable handles to bytes.
//!
//! Both wrap [`bytes::Bytes`]. A value read from an uncompressed SSTable block points straight into
//! the file's memory mapping and keeps the mapping (and so the file) alive while it is held; one
//! read from a compressed block points into a decompressed block buffer.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

macro_rules! byte_handle {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Bytes);

        impl $name {
            /// Wraps bytes without copying.
            pub fn from_bytes(b: Bytes) -> Self {
                $name(b)
            }
            /// Copies a slice.
            pub fn copy_from_slice(s: &[u8]) -> Self {
                $name(Bytes::copy_from_slice(s))
            }
            /// The underlying `Bytes` handle.
            pub fn into_bytes(self) -> Bytes {
                self.0
            }
            /// The underlying `Bytes` handle, borrowed.
            pub fn as_bytes(&self) -> &Bytes {
                &self.0
            }
            /// Copies into a `Vec`.
            pub fn to_vec(&self) -> Vec<u8> {
                self.0.to_vec()
            }
        }

        impl Deref for $name {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                &self.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl std::borrow::Borrow<[u8]> for $name {
            fn borrow(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<Bytes> for $name {
            fn from(b: Bytes) -> Self {
                $name(b)
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> Self {
                $name(Bytes::from(v))
            }
        }

        impl From<&[u8]> for $name {
            fn from(v: &[u8]) -> Self {
                $name(Bytes::copy_from_slice(v))
            }
        }

        impl PartialEq<[u8]> for $name {
            fn eq(&self, other: &[u8]) -> bool {
                self.0.as_ref() == other
            }
        }

        impl PartialEq<&[u8]> for $name {
            fn eq(&self, other: &&[u8]) -> bool {
                self.0.as_ref() == *other
            }
        }

        impl<const N: usize> PartialEq<&[u8; N]> for $name {
            fn eq(&self, other: &&[u8; N]) -> bool {
                self.0.as_ref() == other.as_slice()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "\"{}\"", escape_bytes(&self.0))
            }
        }
    };
}

byte_handle!(
    Value,
    "A value read from the database: a cheap, clonable handle to its bytes."
);
byte_handle!(
    Key,
    "A key returned by an iterator: a cheap, clonable handle to its bytes."
);

/// Renders bytes as printable ASCII with `\xNN` escapes, as redis-cli does.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_compares_with_slices() {
        let v = Value::copy_from_slice(b"abc");
        assert_eq!(v, b"abc");
        assert_eq!(&*v, b"abc");
        assert_eq!(format!("{v:?}"), "\"abc\"");
        assert_eq!(escape_bytes(b"\x00\xff a\"b"), "\\x00\\xff a\\\"b");
    }
}
