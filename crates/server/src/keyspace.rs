//! How the server lays its data out in the engine's one key space.
//!
//! A user key `K` is stored as `b"k" ++ K`; a feature flag `id` as `b"f" ++ id`, its value a small
//! JSON object `{"enabled": bool, "version": N}`. Key endpoints only ever read and write the `k`
//! range, so flags are invisible to them and no user key can collide with a flag. The prefix costs
//! one byte of the engine's key limit, so user keys are at most `MAX_KEY_SIZE - 1` bytes.

use std::ops::Bound;

use lsmkv::MAX_KEY_SIZE;

/// Prefix byte of user keys.
pub const USER: u8 = b'k';
/// Prefix byte of feature flags.
pub const FLAG: u8 = b'f';
/// Longest user key (or flag id) accepted.
pub const MAX_USER_KEY: usize = MAX_KEY_SIZE - 1;

fn prefixed(p: u8, k: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.push(p);
    v.extend_from_slice(k);
    v
}

/// The engine key of user key `k`.
pub fn user_key(k: &[u8]) -> Vec<u8> {
    prefixed(USER, k)
}

/// The engine key of flag `id`.
pub fn flag_key(id: &[u8]) -> Vec<u8> {
    prefixed(FLAG, id)
}

/// The user key (or flag id) of an engine key, without its prefix byte.
pub fn strip(k: &[u8]) -> &[u8] {
    k.get(1..).unwrap_or_default()
}

/// The engine bounds of the user-key range `(lower, upper)`, kept inside namespace `ns`.
pub fn bounds(
    ns: u8,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let lo = match lower {
        Bound::Included(k) => Bound::Included(prefixed(ns, k)),
        Bound::Excluded(k) => Bound::Excluded(prefixed(ns, k)),
        Bound::Unbounded => Bound::Included(vec![ns]),
    };
    let hi = match upper {
        Bound::Included(k) => Bound::Included(prefixed(ns, k)),
        Bound::Excluded(k) => Bound::Excluded(prefixed(ns, k)),
        // Both prefix bytes are below 0xff, so `ns + 1` is the end of the namespace.
        Bound::Unbounded => Bound::Excluded(vec![ns + 1]),
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_do_not_overlap() {
        assert!(flag_key(b"\xff\xff") < user_key(b""));
        assert_eq!(strip(&user_key(b"x/y")), b"x/y");
    }
}
