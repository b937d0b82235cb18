//! Bearer-token authentication.

use hyper::header::AUTHORIZATION;
use hyper::http::HeaderMap;

/// Compares in time that depends only on the lengths, not on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    // Walk the expected token's length whatever the given one is, so timing reveals nothing
    // about the prefix that matched.
    for (i, x) in b.iter().enumerate() {
        let y = a.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// True when `headers` carry `Authorization: Bearer <token>`.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let given = given.as_bytes();
    let scheme = b"bearer ";
    if given.len() < scheme.len() || !given[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return false;
    }
    constant_time_eq(given[scheme.len()..].trim_ascii(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secret1", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "t"));
        h.insert(AUTHORIZATION, "Bearer t".parse().unwrap());
        assert!(authorized(&h, "t"));
        h.insert(AUTHORIZATION, "Basic t".parse().unwrap());
        assert!(!authorized(&h, "t"));
    }
}
