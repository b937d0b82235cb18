//! `txn` and `txn4`: read-modify-write transactions on counters, from 1 and from
//! [`TXN_THREADS`] threads.
//!
//! The group loads `num` keys whose values start with a little-endian u64 counter (0), flushes
//! and warms them. Each transaction picks two distinct counters among the first `--txn-keys`,
//! reads both and writes both back incremented, and commits; a conflict retries the same pair in
//! a new transaction and is counted. The pairs are drawn before the clock starts, so the check
//! knows what to expect: afterwards (untimed) every counter touched must have grown by exactly
//! the number of committed transactions that took it, and the sum by twice the number of
//! transactions. A lost update, a write that landed twice or a transaction that committed
//! without its writes fails the workload.
//!
//! Engines: lsmkv `Db::transaction`, fjall `OptimisticTxDatabase::write_tx` (both optimistic and
//! serializable: a conflict is reported at commit), RocksDB `OptimisticTransactionDB` with
//! `get_for_update`, redb write transactions (one writer at a time: never a conflict, writers
//! wait for each other instead).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Extra, Meas, Outcome, Params, Rng, key, load_batches, timed, warm};
use crate::engines::{Engine, Result, Tx, TxOutcome};

/// Bytes of the counter at the start of each value.
const COUNTER_LEN: usize = 8;
/// Counters read per transaction by the (untimed) check.
const CHECK_CHUNK: usize = 1000;
/// Conflicts in a row after which one transaction gives up (and fails the workload).
const MAX_RETRIES: u64 = 100_000;

/// Untimed preparation: keys 0..n with counter 0 at the start of each value (the rest as the
/// other workloads' values), 1000 per batch; then a flush and a warm-up. Returns n.
pub(super) fn load_counters(eng: &dyn Engine, n: u64, seed: u64) -> Result<u64> {
    load_batches(n, seed, |_, keys, vals| {
        for v in vals.iter_mut() {
            v[..COUNTER_LEN].fill(0);
        }
        let items: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(vals.iter())
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        eng.write_batch(&items, false)
    })?;
    eng.flush()?;
    warm(eng, n)?;
    Ok(n)
}

/// The counter of a value.
pub fn counter(value: &[u8]) -> Option<u64> {
    let bytes: [u8; COUNTER_LEN] = value.get(..COUNTER_LEN)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// `value` with its counter plus one (wrapping).
pub fn incremented(value: &[u8]) -> Option<Vec<u8>> {
    let c = counter(value)?;
    let mut v = value.to_vec();
    v[..COUNTER_LEN].copy_from_slice(&c.wrapping_add(1).to_le_bytes());
    Some(v)
}

/// `n` pairs of distinct counters in 0..keys (keys >= 2), from `rng`.
pub fn pairs(n: u64, keys: u64, rng: &mut Rng) -> Vec<(u64, u64)> {
    (0..n)
        .map(|_| {
            let a = rng.below(keys);
            // Uniform over the other keys - 1 counters.
            let b = (a + 1 + rng.below(keys - 1)) % keys;
            (a, b)
        })
        .collect()
}

/// How many times each counter is taken by the transactions of `plans`.
pub fn expected_increments(plans: &[Vec<(u64, u64)>]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for &(a, b) in plans.iter().flatten() {
        *m.entry(a).or_insert(0) += 1;
        *m.entry(b).or_insert(0) += 1;
    }
    m
}

/// Checks after - before == expected for every counter; returns the summary of what held.
pub fn verify(
    expected: &BTreeMap<u64, u64>,
    before: &[u64],
    after: &[u64],
    committed: u64,
) -> std::result::Result<String, String> {
    if before.len() != expected.len() || after.len() != expected.len() {
        return Err("check: read a different number of counters than were touched".into());
    }
    let mut sum = 0u64;
    for (((&i, &want), &b), &a) in expected.iter().zip(before).zip(after) {
        let got = a.wrapping_sub(b);
        if got != want {
            return Err(format!(
                "check: counter {i} went from {b} to {a} (+{got}), expected +{want}"
            ));
        }
        sum += got;
    }
    if sum != 2 * committed {
        return Err(format!(
            "check: counters grew by {sum} in all, expected 2 x {committed} transactions"
        ));
    }
    Ok(format!(
        "{} counters grew by {sum} = 2 x {committed} commits, each as expected",
        expected.len()
    ))
}

/// Reads the counters of `keys` (key indices) in read-only transactions of [`CHECK_CHUNK`].
/// `None`: the engine has no transactions.
fn read_counters(eng: &dyn Engine, keys: &[u64]) -> Result<Option<Vec<u64>>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHECK_CHUNK) {
        let mut vals = Vec::with_capacity(chunk.len());
        let outcome = eng.transaction(&mut |tx: &mut dyn Tx| {
            vals.clear();
            for &i in chunk {
                let v = tx
                    .get(&key(i, true))?
                    .ok_or_else(|| format!("check: counter {i} is missing"))?;
                vals.push(counter(&v).ok_or_else(|| format!("check: counter {i} is short"))?);
            }
            Ok(())
        })?;
        match outcome {
            TxOutcome::Committed => out.extend_from_slice(&vals),
            TxOutcome::Unsupported => return Ok(None),
            // Nothing else writes now, and a transaction without writes commits.
            TxOutcome::Conflict => return Err("check: a read-only transaction conflicted".into()),
        }
    }
    Ok(Some(out))
}

/// One transaction: read counters `a` and `b`, write both back plus one.
fn increment_pair(tx: &mut dyn Tx, a: u64, b: u64) -> Result<()> {
    let (ka, kb) = (key(a, true), key(b, true));
    let va = tx
        .get(&ka)?
        .ok_or_else(|| format!("counter {a} is missing"))?;
    let vb = tx
        .get(&kb)?
        .ok_or_else(|| format!("counter {b} is missing"))?;
    let short = |i: u64| format!("counter {i}: value shorter than {COUNTER_LEN} bytes");
    tx.put(&ka, &incremented(&va).ok_or_else(|| short(a))?)?;
    tx.put(&kb, &incremented(&vb).ok_or_else(|| short(b))?)?;
    Ok(())
}

/// Runs `plan` on one thread: each pair in a transaction, retried until it commits. Returns the
/// timing (one op per committed transaction, retries included in its latency) and the conflicts.
fn run_plan(eng: &dyn Engine, plan: &[(u64, u64)]) -> Result<(Meas, u64)> {
    let mut conflicts = 0u64;
    let m = timed(plan.len() as u64, |i| {
        let (a, b) = plan[i as usize];
        let mut retries = 0u64;
        loop {
            match eng.transaction(&mut |tx: &mut dyn Tx| increment_pair(tx, a, b))? {
                TxOutcome::Committed => return Ok(0),
                TxOutcome::Conflict => {
                    conflicts += 1;
                    retries += 1;
                    if retries >= MAX_RETRIES {
                        return Err(format!("a transaction conflicted {retries} times").into());
                    }
                }
                TxOutcome::Unsupported => return Err("transactions unsupported".into()),
            }
        }
    })?;
    Ok((m, conflicts))
}

/// `txn` (threads = 1) or `txn4`: `--txns` transactions in all, split over the threads.
pub(super) fn run(eng: &dyn Engine, w: &str, p: &Params, threads: usize) -> Result<Outcome> {
    let per = (p.txns() / threads as u64).max(1);
    let keys = p.txn_keys();
    let plans: Vec<Vec<(u64, u64)>> = (0..threads)
        .map(|t| pairs(per, keys, &mut Rng::new(p.seed, &format!("{w}/{t}"))))
        .collect();
    let expected = expected_increments(&plans);
    let touched: Vec<u64> = expected.keys().copied().collect();
    let Some(before) = read_counters(eng, &touched)? else {
        return Ok(None);
    };

    let start = Instant::now();
    let parts: Vec<Result<(Meas, u64)>> = std::thread::scope(|s| {
        let hs: Vec<_> = plans
            .iter()
            .map(|plan| s.spawn(move || run_plan(eng, plan)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("transaction thread panicked".into()))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut m = Meas::new();
    let mut conflicts = 0;
    for part in parts {
        let (pm, c) = part?;
        m.merge(&pm);
        conflicts += c;
    }
    m.secs = secs;

    let after = read_counters(eng, &touched)?.ok_or("transactions went away")?;
    let verified = verify(&expected, &before, &after, m.ops)?;
    Ok(Some((
        m,
        Extra {
            conflicts: Some(conflicts),
            verified: Some(verified),
            ..Extra::default()
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_increment_in_place() {
        let mut v = vec![7u8; 100];
        v[..8].copy_from_slice(&41u64.to_le_bytes());
        let w = incremented(&v).unwrap();
        assert_eq!(counter(&w), Some(42));
        assert_eq!(w[8..], v[8..]);
        assert_eq!(counter(&u64::MAX.to_le_bytes()), Some(u64::MAX));
        assert_eq!(
            counter(&incremented(&u64::MAX.to_le_bytes()).unwrap()),
            Some(0)
        );
        assert_eq!(counter(b"short"), None);
        assert_eq!(incremented(b"short"), None);
    }

    #[test]
    fn pairs_are_distinct_in_range_and_seeded() {
        let a = pairs(10_000, 5, &mut Rng::new(1, "p"));
        assert!(a.iter().all(|&(x, y)| x != y && x < 5 && y < 5));
        // Every ordered pair of 5 counters shows up.
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 20);
        assert_eq!(a, pairs(10_000, 5, &mut Rng::new(1, "p")));
        assert!(
            pairs(100, 2, &mut Rng::new(2, "p"))
                .iter()
                .all(|&(x, y)| x + y == 1)
        );
    }

    #[test]
    fn expected_increments_count_both_counters_of_every_plan() {
        let plans = vec![vec![(1, 2), (2, 3)], vec![(3, 1)]];
        let e = expected_increments(&plans);
        assert_eq!(
            e.into_iter().collect::<Vec<_>>(),
            vec![(1, 2), (2, 2), (3, 2)]
        );
    }

    #[test]
    fn verify_accepts_exact_growth_only() {
        let plans = vec![vec![(0, 1), (1, 2)]];
        let e = expected_increments(&plans); // 0: +1, 1: +2, 2: +1
        let before = [10, 20, u64::MAX];
        let ok = verify(&e, &before, &[11, 22, 0], 2).unwrap();
        assert!(ok.contains("grew by 4 = 2 x 2"), "{ok}");
        // A lost update.
        let err = verify(&e, &before, &[11, 21, 0], 2).unwrap_err();
        assert!(err.contains("counter 1"), "{err}");
        // A write applied twice.
        assert!(verify(&e, &before, &[12, 22, 0], 2).is_err());
        // The counters add up but the commit count does not.
        assert!(verify(&e, &before, &[11, 22, 0], 3).is_err());
        // Missing reads.
        assert!(verify(&e, &before[..2], &[11, 22], 2).is_err());
    }
}
