//! `readlevels`: point-read latency by the level that holds the key's newest version.
//!
//! Untimed first: the engine is flushed and left to finish the compaction it owes
//! ([`Engine::wait_idle`]), then it says where every key 0..num lives ([`Engine::key_levels`]).
//! From each place (memtable, each level) up to `reads` keys are drawn at random, and `reads`
//! never-written keys besides (the `absent` row: a get that misses the memtable and every level).
//! All those gets are shuffled together, run once untimed (so every row starts from the same warm
//! caches) and then once timed, each latency going to its row's histogram: load on the machine
//! falls on every row alike. Every drawn key must be found and no absent one, or the workload
//! fails.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Extra, Meas, Outcome, Params, Rng, key, new_hist};
use crate::engines::{Engine, IN_MEMTABLE, NOT_FOUND, Result};

/// How long `readlevels` waits for the engine's pending compaction.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1200);

/// Row of the absent keys (never written): after every level.
pub const ABSENT: u8 = NOT_FOUND;

/// What `readlevels` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelReads {
    /// Time spent waiting for the engine's pending compaction before the reads (untimed).
    pub settle_secs: f64,
    /// Time spent finding every key's level (untimed).
    pub classify_secs: f64,
    /// One row per place with keys (memtable first, then levels down), then `absent`.
    pub rows: Vec<LevelRead>,
}

/// Gets of keys whose newest version is in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRead {
    /// `memtable`, `L0`, `L1`, ..., or `absent` (keys never written).
    pub place: String,
    /// Keys 0..num whose newest version is there (for `absent`: 0).
    pub keys: u64,
    /// Timed gets.
    pub gets: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// The row name of a place code from [`Engine::key_levels`].
pub fn place_name(code: u8) -> String {
    match code {
        IN_MEMTABLE => "memtable".into(),
        ABSENT => "absent".into(),
        l => format!("L{l}"),
    }
}

/// Row order: memtable, then levels down, then absent.
fn place_rank(code: u8) -> u16 {
    match code {
        IN_MEMTABLE => 0,
        ABSENT => 1000,
        l => 1 + u16::from(l),
    }
}

/// Up to `per_place` keys of every place, drawn uniformly (a reservoir per place), and the number
/// of keys each place holds. Keys nobody holds are not drawn (they are the check's business).
pub fn sample_by_place(levels: &[u8], per_place: usize, rng: &mut Rng) -> Vec<Place> {
    let mut places: Vec<Place> = Vec::new();
    for (i, &code) in levels.iter().enumerate() {
        if code == NOT_FOUND {
            continue;
        }
        let slot = match places.iter().position(|p| p.0 == code) {
            Some(s) => s,
            None => {
                places.push((code, 0, Vec::new()));
                places.len() - 1
            }
        };
        let (_, seen, picked) = &mut places[slot];
        *seen += 1;
        if picked.len() < per_place {
            picked.push(i as u64);
        } else {
            let j = rng.below(*seen);
            if (j as usize) < per_place {
                picked[j as usize] = i as u64;
            }
        }
    }
    places.sort_by_key(|p| place_rank(p.0));
    places
}

/// A place's code, how many keys live there, and the keys drawn from it.
type Place = (u8, u64, Vec<u64>);

pub(super) fn run(eng: &dyn Engine, p: &Params) -> Result<Outcome> {
    let t = Instant::now();
    eng.flush()?;
    eng.wait_idle(IDLE_TIMEOUT)?;
    let settle_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let Some(levels) = eng.key_levels(p.num)? else {
        return Ok(None);
    };
    let classify_secs = t.elapsed().as_secs_f64();
    if levels.len() as u64 != p.num {
        return Err(format!("key_levels gave {} keys, not {}", levels.len(), p.num).into());
    }
    if let Some(i) = levels.iter().position(|&c| c == NOT_FOUND) {
        return Err(format!("check: written key {i} is in no level").into());
    }
    let per_place = usize::try_from(p.reads().min(p.num))?;
    let mut rng = Rng::new(p.seed, "readlevels");
    let mut places = sample_by_place(&levels, per_place, &mut rng);
    drop(levels);
    let absent: Vec<u64> = (0..per_place).map(|_| rng.below(p.num)).collect();
    places.push((ABSENT, 0, absent));
    let (m, hists) = read_places(eng, &places, &mut rng)?;
    let us = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let rows = places
        .iter()
        .zip(&hists)
        .map(|((code, keys, _), h)| LevelRead {
            place: place_name(*code),
            keys: *keys,
            gets: h.len(),
            p50_us: us(h, 0.50),
            p99_us: us(h, 0.99),
            p999_us: us(h, 0.999),
        })
        .collect();
    let extra = Extra {
        level_reads: Some(LevelReads {
            settle_secs,
            classify_secs,
            rows,
        }),
        ..Extra::default()
    };
    Ok(Some((m, extra)))
}

/// Gets every drawn key of every place (the last place: absent keys) in one random order, once
/// untimed and once timed: the whole, and a histogram per place.
fn read_places(
    eng: &dyn Engine,
    places: &[Place],
    rng: &mut Rng,
) -> Result<(Meas, Vec<hdrhistogram::Histogram<u64>>)> {
    // (row, key index)
    let mut gets: Vec<(usize, u64)> = places
        .iter()
        .enumerate()
        .flat_map(|(row, (_, _, keys))| keys.iter().map(move |&k| (row, k)))
        .collect();
    for i in (1..gets.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        gets.swap(i, j);
    }
    let mut r = eng.reader()?;
    let absent_row = places.len().saturating_sub(1);
    let check = |row: usize, k: u64, found: bool| -> Result<()> {
        if found != (row != absent_row) {
            let what = if found {
                "absent key found"
            } else {
                "key not found"
            };
            return Err(format!("check: {what}: {k} ({})", place_name(places[row].0)).into());
        }
        Ok(())
    };
    for &(row, k) in &gets {
        let found = r.get(&key(k, row != absent_row))?.is_some();
        check(row, k, found)?;
    }
    let mut hists: Vec<_> = places.iter().map(|_| new_hist()).collect();
    let mut m = Meas::new();
    let start = Instant::now();
    for &(row, k) in &gets {
        let k0 = key(k, row != absent_row);
        let t0 = Instant::now();
        let found = r.get(&k0)?.is_some();
        let ns = t0.elapsed().as_nanos() as u64;
        check(row, k, found)?;
        m.hist.saturating_record(ns);
        hists[row].saturating_record(ns);
        m.found += u64::from(found);
    }
    m.secs = start.elapsed().as_secs_f64();
    m.ops = gets.len() as u64;
    Ok((m, hists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_sampled_evenly_and_counted() {
        // 1000 keys: 10 in the memtable, 90 in L0, 900 in L3; one key nowhere.
        let mut levels = vec![3u8; 1000];
        levels[..10].fill(IN_MEMTABLE);
        levels[10..100].fill(0);
        levels[500] = NOT_FOUND;
        let places = sample_by_place(&levels, 50, &mut Rng::new(1, "t"));
        let summary: Vec<(u8, u64, usize)> =
            places.iter().map(|(c, n, k)| (*c, *n, k.len())).collect();
        assert_eq!(
            summary,
            vec![(IN_MEMTABLE, 10, 10), (0, 90, 50), (3, 899, 50)]
        );
        for (code, _, keys) in &places {
            assert!(keys.iter().all(|&k| levels[k as usize] == *code), "{code}");
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), keys.len(), "no key twice");
        }
        // The reservoir draws from the whole level, not its first keys.
        let l3 = &places[2].2;
        assert!(l3.iter().any(|&k| k > 550), "{l3:?}");
        assert_eq!(
            ["memtable", "L0", "L3", "absent"]
                .map(String::from)
                .to_vec(),
            [IN_MEMTABLE, 0, 3, ABSENT].map(place_name).to_vec()
        );
    }
}
