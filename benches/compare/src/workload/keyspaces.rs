//! `keyspaces4` and `keyspaces4read`: the same keys as the other workloads, spread over
//! [`KEYSPACES`] keyspaces of one database (lsmkv keyspaces, fjall partitions, redb tables,
//! RocksDB column families). Key `i` lives in keyspace `i % 4` ([`keyspace_of`]), so the writes,
//! in a random order of the keys, land in a random keyspace each time, and a reader knows where
//! to look.
//!
//! Both end with a check that fails the workload: every timed read must have found its key, and
//! a sample of keys must be found in their own keyspace and in no other (an engine that ignored
//! keyspaces would find them everywhere).

use super::{Extra, KEY_LEN, Outcome, Params, Rng, VALUE_LEN, fill_value, key};
use super::{load_batches, permutation, timed};
use crate::engines::{Engine, Result};

/// Keys checked after each workload, untimed.
const CHECK_SAMPLES: u64 = 1000;

/// The keyspace that holds key `i` (of `spaces`).
pub fn keyspace_of(i: u64, spaces: usize) -> usize {
    (i % spaces as u64) as usize
}

/// The keyspaces the engine opened, or `None` if it has none (the workload is unsupported).
fn spaces(eng: &dyn Engine) -> Option<usize> {
    Some(eng.keyspace_count()).filter(|&n| n > 0)
}

/// Untimed preparation for `keyspaces4read` run alone: keys 0..n, 1000 per atomic
/// cross-keyspace batch, then a flush. Returns the keys loaded (0 if the engine has no
/// keyspaces).
pub(super) fn load(eng: &dyn Engine, n: u64, seed: u64) -> Result<u64> {
    let Some(count) = spaces(eng) else {
        return Ok(0);
    };
    load_batches(n, seed, |first, keys, vals| {
        let items: Vec<(usize, &[u8], &[u8])> = (first..)
            .zip(keys.iter().zip(vals.iter()))
            .map(|(i, (k, v))| (keyspace_of(i, count), &k[..], &v[..]))
            .collect();
        eng.write_batch_in(&items)
    })?;
    eng.flush()?;
    Ok(n)
}

/// `keyspaces4`: `num` puts of a random permutation of the keys, each into its keyspace.
pub(super) fn write(eng: &dyn Engine, p: &Params) -> Result<Outcome> {
    let Some(count) = spaces(eng) else {
        return Ok(None);
    };
    let order = permutation(p.num, &mut Rng::new(p.seed, "keyspaces4"));
    let mut vrng = Rng::new(p.seed, "keyspaces4/values");
    let mut v = [0u8; VALUE_LEN];
    let m = timed(p.num, |i| {
        fill_value(&mut vrng, &mut v);
        let j = order[i as usize];
        eng.put_in(keyspace_of(j, count), &key(j, true), &v)?;
        Ok(0)
    })?;
    let verified = check_placement(eng, p, count, "keyspaces4/check")?;
    Ok(Some((
        m,
        Extra {
            verified: Some(verified),
            ..Extra::default()
        },
    )))
}

/// `keyspaces4read`: `reads` gets of random present keys, each in its keyspace.
pub(super) fn read(eng: &dyn Engine, p: &Params) -> Result<Outcome> {
    let Some(count) = spaces(eng) else {
        return Ok(None);
    };
    let mut krng = Rng::new(p.seed, "keyspaces4read");
    let m = {
        let mut r = eng.reader()?;
        timed(p.reads(), |_| {
            let j = krng.below(p.num);
            Ok(u64::from(
                r.get_in(keyspace_of(j, count), &key(j, true))?.is_some(),
            ))
        })?
    };
    if m.found != m.ops {
        return Err(format!("check: {} of {} reads found their key", m.found, m.ops).into());
    }
    let verified = check_placement(eng, p, count, "keyspaces4read/check")?;
    let verified = format!("all {} reads hit; {verified}", m.ops);
    Ok(Some((
        m,
        Extra {
            verified: Some(verified),
            ..Extra::default()
        },
    )))
}

/// Untimed: a sample of keys is in its own keyspace with a full value, and in no other.
fn check_placement(eng: &dyn Engine, p: &Params, count: usize, stream: &str) -> Result<String> {
    let mut rng = Rng::new(p.seed, stream);
    let mut r = eng.reader()?;
    let samples = CHECK_SAMPLES.min(p.num);
    for _ in 0..samples {
        let j = rng.below(p.num);
        let k: [u8; KEY_LEN] = key(j, true);
        let own = keyspace_of(j, count);
        match r.get_in(own, &k)? {
            Some(VALUE_LEN) => {}
            Some(len) => {
                return Err(format!("check: key {j} has a value of {len} bytes").into());
            }
            None => return Err(format!("check: key {j} not found in keyspace {own}").into()),
        }
        for other in (0..count).filter(|&o| o != own) {
            if r.get_in(other, &k)?.is_some() {
                return Err(format!("check: key {j} of keyspace {own} found in {other}").into());
            }
        }
    }
    Ok(format!(
        "{samples} sampled keys in their keyspace only ({count} keyspaces)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::KEYSPACES;

    #[test]
    fn keys_spread_evenly_over_the_keyspaces() {
        let mut per = [0u64; KEYSPACES];
        for i in 0..1000 {
            per[keyspace_of(i, KEYSPACES)] += 1;
        }
        assert_eq!(per, [250; KEYSPACES]);
        // A random order of the keys visits the keyspaces in a random order.
        let order = permutation(1000, &mut Rng::new(1, "k"));
        let first: Vec<usize> = order[..8]
            .iter()
            .map(|&i| keyspace_of(i, KEYSPACES))
            .collect();
        assert_ne!(first, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    }
}
