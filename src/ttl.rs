//! Time to live: the clock that every expiry decision reads, and what an expiring put means to a
//! reader.
//!
//! A [`ValueKind::PutExpiring`] entry stores `expires_at` (u64 LE, milliseconds since the Unix
//! epoch) in front of the user's value (`format-spec/sstable.md`, "Expiring puts"). From
//! `expires_at` on (`expires_at <= now`) the entry reads as a tombstone does: the key is absent and
//! the versions below it stay hidden, so an older value never reappears. Expiry is by time only:
//! a snapshot taken before `expires_at` also stops seeing the value once the time has passed.
//! Compaction later turns such an entry into a tombstone, or drops it at the bottom of the tree
//! (`compaction::retention`).
//!
//! "Now" always comes from the database's [`Clock`] (`Options::clock`): the system clock by
//! default, a [`ManualClock`] in tests, which then need no sleeping. A point read asks the clock
//! once; an iterator asks it once, when it is created, so both of its ends agree; a compaction
//! asks it once, when it starts.

use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::{EXPIRY_SIZE, ValueKind, split_expiring};
use crate::key::unpack_trailer;
use crate::value::Value;

/// Where a database reads the time: milliseconds since the Unix epoch. Every expiry decision
/// (writing `expires_at`, reading, compacting) goes through one `Clock`, chosen per database
/// with `Options::with_clock`.
pub trait Clock: Send + Sync + fmt::Debug + RefUnwindSafe {
    /// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z).
    fn now_millis(&self) -> u64;
}

/// The system's wall clock ([`SystemTime::now`]); the default. A clock set before 1970 reads as
/// 0. Wall clocks can jump: an entry whose expiry a compaction has acted on stays gone even if
/// the clock is later set back.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to, for tests: expiry without sleeping. Built for this
/// crate's tests and with the `internal` feature only.
#[cfg(any(test, feature = "internal"))]
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: std::sync::atomic::AtomicU64,
}

#[cfg(any(test, feature = "internal"))]
impl ManualClock {
    /// A clock reading `start_millis`.
    pub fn new(start_millis: u64) -> Self {
        ManualClock {
            now_ms: std::sync::atomic::AtomicU64::new(start_millis),
        }
    }

    /// Sets the time.
    pub fn set_millis(&self, now_millis: u64) {
        self.now_ms.store(now_millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let by = duration_millis(d);
        let _ = self
            .now_ms
            .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |t| {
                Some(t.saturating_add(by))
            });
    }
}

#[cfg(any(test, feature = "internal"))]
impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The default clock of `Options`.
pub(crate) fn default_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// `d` in whole milliseconds, rounded up (so that a positive TTL never makes an entry that is
/// already expired when it is written) and saturating at `u64::MAX`.
pub(crate) fn duration_millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The `expires_at` of an entry written at `now_millis` with time to live `ttl_millis`.
pub(crate) fn expires_at(now_millis: u64, ttl_millis: u64) -> u64 {
    now_millis.saturating_add(ttl_millis)
}

/// Whether an entry with `expires_at` is expired at `now_millis`.
pub(crate) fn is_expired(expires_at: u64, now_millis: u64) -> bool {
    expires_at <= now_millis
}

/// The error for a stored expiring value too short to hold its expiry. Batches are checked when
/// they are decoded, so only a table entry can be this short (damage under a valid checksum, or a
/// bug); where it came from is not known here.
fn short_expiring_value() -> Error {
    Error::corruption(
        "",
        0,
        "expiring entry's value is shorter than its 8-byte expiry",
    )
}

/// Splits a stored [`ValueKind::PutExpiring`] value into `expires_at` and the user's value, a
/// zero-copy slice of the same bytes (the mapping, the cached block or the memtable entry).
///
/// # Errors
/// [`Error::Corruption`] when the value is shorter than 8 bytes.
pub fn split_stored(stored: Value) -> Result<(u64, Value)> {
    let bytes: Bytes = stored.into_bytes();
    let expires_at = match split_expiring(&bytes) {
        Some((at, _)) => at,
        None => return Err(short_expiring_value()),
    };
    // `split_expiring` succeeded, so `bytes` holds at least EXPIRY_SIZE bytes.
    Ok((expires_at, Value::from_bytes(bytes.slice(EXPIRY_SIZE..))))
}

/// What a reader makes of the newest version of a key it can see (`trailer`, `value`) at
/// `now_millis`: the user's value for a put, or for an expiring put not yet expired (without its
/// expiry prefix, zero-copy); `None` for a tombstone, an expired put and anything else.
///
/// # Errors
/// [`Error::Corruption`] for an expiring value shorter than its expiry.
pub fn live_value(trailer: u64, value: Value, now_millis: u64) -> Result<Option<Value>> {
    live_value_at(trailer, value, || now_millis)
}

/// Whether `trailer` is an expiring put's, whose stored value starts with its expiry.
pub(crate) fn is_expiring(trailer: u64) -> bool {
    unpack_trailer(trailer).1 == Some(ValueKind::PutExpiring)
}

/// The user's part of a stored value whose version `trailer` [`live_slice`] found live: all of
/// it, or what follows the expiry of an expiring put.
pub(crate) fn user_part(trailer: u64, stored: &[u8]) -> &[u8] {
    if is_expiring(trailer) {
        stored.get(EXPIRY_SIZE..).unwrap_or_default()
    } else {
        stored
    }
}

/// [`live_value`] on a borrowed value: the user's part of `value` (a subslice, after the expiry
/// of an expiring put) when the version is live at `now_millis`.
///
/// # Errors
/// [`Error::Corruption`] for an expiring value shorter than its expiry.
pub fn live_slice(trailer: u64, value: &[u8], now_millis: u64) -> Result<Option<&[u8]>> {
    match unpack_trailer(trailer).1 {
        Some(ValueKind::Put) => Ok(Some(value)),
        Some(ValueKind::PutExpiring) => {
            let (at, user) = split_expiring(value).ok_or_else(short_expiring_value)?;
            Ok((!is_expired(at, now_millis)).then_some(user))
        }
        _ => Ok(None),
    }
}

/// [`live_value`] that reads the clock only for an expiring value (a point read of a plain value
/// makes no clock call).
#[inline]
pub fn live_value_at(
    trailer: u64,
    value: Value,
    now_millis: impl FnOnce() -> u64,
) -> Result<Option<Value>> {
    match unpack_trailer(trailer).1 {
        Some(ValueKind::Put) => Ok(Some(value)),
        Some(ValueKind::PutExpiring) => {
            let (at, user) = split_stored(value)?;
            Ok((!is_expired(at, now_millis())).then_some(user))
        }
        _ => Ok(None),
    }
}

/// `millis` since the Unix epoch as an RFC 3339 UTC time with milliseconds, e.g.
/// `2026-12-06T21:00:23.123Z` (proleptic Gregorian calendar; years past 9999 get more digits).
pub fn format_utc_millis(millis: u64) -> String {
    let (secs, ms) = (millis / 1000, millis % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
}

/// (year, month, day) of the day `days` after 1970-01-01: Howard Hinnant's `civil_from_days`,
/// for non-negative day counts only, so all of it is unsigned.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shifted so that eras (400 years, 146097 days) start on 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year from March 1, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::pack_trailer;

    fn stored(expires_at: u64, user: &[u8]) -> Value {
        let mut v = expires_at.to_le_bytes().to_vec();
        v.extend_from_slice(user);
        Value::from(v)
    }

    #[test]
    fn expiring_values_read_until_their_expiry() {
        let t = pack_trailer(7, ValueKind::PutExpiring);
        let v = stored(1000, b"hello");
        assert_eq!(live_value(t, v.clone(), 999).unwrap().unwrap(), b"hello");
        assert_eq!(live_value(t, v.clone(), 1000).unwrap(), None);
        assert_eq!(live_value(t, v, u64::MAX).unwrap(), None);
        // Empty user values are values.
        assert_eq!(live_value(t, stored(5, b""), 4).unwrap().unwrap(), b"");
        let put = pack_trailer(7, ValueKind::Put);
        assert_eq!(
            live_value(put, Value::from(&b"x"[..]), u64::MAX).unwrap().unwrap(),
            b"x"
        );
        let del = pack_trailer(7, ValueKind::Delete);
        assert_eq!(live_value(del, Value::default(), 0).unwrap(), None);
        assert_eq!(live_value((7 << 8) | 0x7f, Value::default(), 0).unwrap(), None);
    }

    #[test]
    fn the_user_value_is_a_slice_of_the_stored_bytes() {
        let v = stored(10, b"payload");
        let base = v.as_ptr() as usize;
        let (at, user) = split_stored(v).unwrap();
        assert_eq!(at, 10);
        assert_eq!(user.as_ptr() as usize, base + EXPIRY_SIZE, "no copy");
    }

    #[test]
    fn short_expiring_values_are_corruption() {
        let t = pack_trailer(1, ValueKind::PutExpiring);
        for n in 0..EXPIRY_SIZE {
            let e = live_value(t, Value::from(vec![0u8; n]), 0).unwrap_err();
            assert!(e.is_corruption(), "{n}: {e}");
        }
    }

    #[test]
    fn ttls_round_up_to_whole_milliseconds_and_saturate() {
        assert_eq!(duration_millis(Duration::ZERO), 0);
        assert_eq!(duration_millis(Duration::from_nanos(1)), 1);
        assert_eq!(duration_millis(Duration::from_millis(1500)), 1500);
        assert_eq!(duration_millis(Duration::from_micros(1500)), 2);
        assert_eq!(duration_millis(Duration::MAX), u64::MAX);
        assert_eq!(expires_at(u64::MAX - 1, 5), u64::MAX);
        assert!(is_expired(5, 5) && !is_expired(6, 5));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(100);
        assert_eq!(c.now_millis(), 100);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now_millis(), 2100);
        c.set_millis(5);
        assert_eq!(c.now_millis(), 5);
        c.advance(Duration::MAX);
        assert_eq!(c.now_millis(), u64::MAX);
        assert!(SystemClock.now_millis() > 1_700_000_000_000, "after 2023");
    }

    /// The worked example of `format-spec/sstable.md`, "Expiring puts": a data block holding one
    /// expiring entry. `LSMKV_BLESS=1` prints the bytes when they differ.
    #[test]
    fn expiring_entry_example_matches_spec() {
        let mut b = crate::sstable::block::BlockBuilder::new(16);
        let stored = stored(1_796_515_210_000, b"v");
        b.add(b"k", pack_trailer(5, ValueKind::PutExpiring), &stored);
        let bytes = b.finish().to_vec();
        let mut got = String::new();
        for (i, chunk) in bytes.chunks(16).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            got.push_str(&format!("{:08x}  {}\n", i * 16, hex.join(" ")));
        }
        let spec = include_str!("../format-spec/sstable.md");
        let section = &spec[spec.find("### Expiring puts").unwrap()..];
        let start = section.find("```text\n").unwrap() + 8;
        let len = section[start..].find("```").unwrap();
        let want = &section[start..start + len];
        if std::env::var_os("LSMKV_BLESS").is_some() && want != got {
            eprintln!("new example:\n{got}");
        }
        assert_eq!(want, got, "format-spec/sstable.md expiring-put example is stale");
        // And it reads back as the spec says.
        let view = crate::sstable::block::BlockView::new(&bytes).unwrap();
        let e = view.entry_at(0).unwrap();
        let (at, user) = split_stored(Value::from(e.value)).unwrap();
        assert_eq!((e.user_key, at, &user[..]), (&b"k"[..], 1_796_515_210_000, &b"v"[..]));
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_utc_millis(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(format_utc_millis(1_796_591_223_123), "2026-12-06T21:07:03.123Z");
        assert_eq!(format_utc_millis(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(format_utc_millis(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        // The largest value does not overflow.
        assert!(format_utc_millis(u64::MAX).ends_with('Z'));
    }
}
