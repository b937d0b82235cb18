//! CRC-32C (Castagnoli), hardware accelerated where the CPU has it.

/// crc32c of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Extends a running crc32c with more bytes.
#[inline]
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(super::crc32c(&[0u8; 32]), 0x8A91_36AA);
        let a = super::crc32c(b"hello ");
        assert_eq!(
            super::crc32c_append(a, b"world"),
            super::crc32c(b"hello world")
        );
    }
}
