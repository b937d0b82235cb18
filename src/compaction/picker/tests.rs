//! Simulation of each strategy: flush tables into a simulated tree, apply every plan the picker
//! returns (merging key ranges, splitting outputs at a target size), and check the tree's
//! invariants and each strategy's write amplification.

use super::*;

const KEYSPACE: u64 = 1_000_000;

fn key(k: u64) -> Vec<u8> {
    format!("{k:08}").into_bytes()
}

struct Sim {
    cfg: PickerConfig,
    levels: Vec<Vec<TableView>>,
    next: u64,
    written: u64,
    flushed: u64,
    cursor: Vec<Vec<u8>>,
    rng: u64,
}

impl Sim {
    fn new(strategy: CompactionStrategy) -> Self {
        let cfg = PickerConfig {
            strategy,
            max_levels: 7,
            l0_trigger: 4,
            ratio: 10,
            level_base_size: 40,
            min_merge_width: 4,
        };
        Sim {
            levels: vec![Vec::new(); cfg.max_levels],
            cfg,
            next: 1,
            written: 0,
            flushed: 0,
            cursor: vec![Vec::new(); 7],
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// A flushed table of size 10 spanning a random part of the key space (random writes touch
    /// most of the key space, so most tables span wide ranges).
    fn flush(&mut self) {
        let a = self.rand() % KEYSPACE;
        let b = self.rand() % KEYSPACE;
        let (lo, hi) = (a.min(b) / 4, a.max(b).max(KEYSPACE / 2));
        let t = TableView {
            number: self.next,
            size: 10,
            smallest: key(lo),
            largest: key(hi),
            entries: 10,
            tombstones: 0,
        };
        self.next += 1;
        self.flushed += 10;
        self.written += 10;
        self.levels[0].insert(0, t);
    }

    fn apply(&mut self, p: &Plan) {
        let set: HashSet<u64> = p.inputs.iter().map(|(_, n)| *n).collect();
        let mut removed = Vec::new();
        for l in self.levels.iter_mut() {
            l.retain(|t| {
                if set.contains(&t.number) {
                    removed.push(t.clone());
                    false
                } else {
                    true
                }
            });
        }
        assert_eq!(
            removed.len(),
            set.len(),
            "plan names tables that do not exist"
        );
        let (s, e) = key_range(removed.iter()).unwrap();
        if p.trivial_move {
            assert_eq!(removed.len(), 1);
            let t = removed.pop().unwrap();
            self.levels[p.output_level].push(t);
        } else {
            // Output: total size, split into pieces of at most 20 across the range.
            let total: u64 = removed.iter().map(|t| t.size).sum();
            self.written += total;
            let lo: u64 = String::from_utf8(s).unwrap().parse().unwrap();
            let hi: u64 = String::from_utf8(e.clone()).unwrap().parse().unwrap();
            let pieces = total.div_ceil(20).max(1);
            let step = ((hi - lo) / pieces).max(1);
            for i in 0..pieces {
                let a = lo + i * step;
                let b = if i + 1 == pieces { hi } else { a + step - 1 };
                self.levels[p.output_level].push(TableView {
                    number: self.next,
                    size: total / pieces,
                    smallest: key(a),
                    largest: key(b.max(a)),
                    entries: total / pieces,
                    tombstones: 0,
                });
                self.next += 1;
            }
        }
        if p.output_level > 0 {
            self.levels[p.output_level].sort_by(|a, b| a.smallest.cmp(&b.smallest));
        }
        if let Some((l, _)) = p.inputs.first()
            && *l > 0
        {
            self.cursor[*l] = e;
        }
    }

    fn check(&self) {
        for (l, tables) in self.levels.iter().enumerate().skip(1) {
            for w in tables.windows(2) {
                assert!(
                    w[0].largest < w[1].smallest,
                    "level {l} overlaps: {:?} / {:?}",
                    w[0],
                    w[1]
                );
            }
        }
    }

    fn run(&mut self, flushes: usize) {
        for _ in 0..flushes {
            self.flush();
            let mut guard = 0;
            while let Some(p) = pick(&self.cfg, &self.levels, &HashSet::new(), &self.cursor) {
                self.apply(&p);
                self.check();
                guard += 1;
                assert!(guard < 1000, "picker does not converge");
            }
            assert!(
                self.levels[0].len() < 2 * self.cfg.l0_trigger.max(self.cfg.min_merge_width),
                "L0 grows without bound: {}",
                self.levels[0].len()
            );
        }
    }

    fn write_amp(&self) -> f64 {
        self.written as f64 / self.flushed as f64
    }

    fn runs(&self) -> usize {
        self.levels[0].len() + self.levels[1..].iter().filter(|l| !l.is_empty()).count()
    }
}

#[test]
fn leveled_keeps_levels_sorted_and_l0_bounded() {
    let mut s = Sim::new(CompactionStrategy::Leveled);
    s.run(300);
    let (targets, base) = level_targets(&s.cfg, &s.levels);
    assert!(base >= 1);
    // Every level above the last is within a small factor of its target once quiet.
    for (l, &target) in targets
        .iter()
        .enumerate()
        .take(s.cfg.max_levels - 1)
        .skip(base)
    {
        let size = level_size(&s.levels[l]);
        assert!(size <= target * 2, "level {l}: {size} vs target {target}");
    }
}

#[test]
fn tiered_and_lazy_write_less_than_leveled() {
    let mut leveled = Sim::new(CompactionStrategy::Leveled);
    leveled.run(300);
    let mut tiered = Sim::new(CompactionStrategy::Tiered);
    tiered.run(300);
    let mut lazy = Sim::new(CompactionStrategy::LazyLeveling);
    lazy.run(300);
    let (wl, wt, wz) = (leveled.write_amp(), tiered.write_amp(), lazy.write_amp());
    assert!(wt < wl, "tiered {wt} vs leveled {wl}");
    assert!(wz < wl, "lazy leveling {wz} vs leveled {wl}");
    // Runs stay bounded for both.
    assert!(tiered.runs() <= 7 + 8, "tiered runs {}", tiered.runs());
    assert!(lazy.runs() <= 7 + 8, "lazy runs {}", lazy.runs());
}

#[test]
fn lazy_leveling_keeps_one_big_last_run() {
    let mut s = Sim::new(CompactionStrategy::LazyLeveling);
    s.run(200);
    let last = level_size(&s.levels[6]);
    let upper: u64 = s.levels[..6].iter().map(|l| level_size(l)).sum();
    assert!(last > 0);
    // Upper runs are bounded relative to the last level (plus the not yet merged L0 files).
    assert!(
        upper * 10 <= last * 2 + 10 * 80,
        "upper {upper} last {last}"
    );
}

#[test]
fn busy_tables_are_not_picked_twice() {
    let mut s = Sim::new(CompactionStrategy::Leveled);
    for _ in 0..4 {
        s.flush();
    }
    let p = pick(&s.cfg, &s.levels, &HashSet::new(), &s.cursor).unwrap();
    assert_eq!(
        p.output_level, 6,
        "empty tree: L0 compacts into the last level"
    );
    let busy: HashSet<u64> = p.inputs.iter().map(|(_, n)| *n).collect();
    assert!(pick(&s.cfg, &s.levels, &busy, &s.cursor).is_none());
}

#[test]
fn single_l0_table_into_empty_base_is_a_trivial_move() {
    let mut s = Sim::new(CompactionStrategy::Leveled);
    s.cfg.l0_trigger = 1 + 1;
    s.flush();
    assert!(pick(&s.cfg, &s.levels, &HashSet::new(), &s.cursor).is_none());
    s.cfg.l0_trigger = 2;
    s.flush();
    let p = pick(&s.cfg, &s.levels, &HashSet::new(), &s.cursor).unwrap();
    assert!(!p.trivial_move);
    assert!(p.bottommost);
}

#[test]
fn pending_bytes_grow_when_levels_overflow() {
    let cfg = Sim::new(CompactionStrategy::Leveled).cfg;
    let t = |n: u64, size: u64| TableView {
        number: n,
        size,
        smallest: key(n * 10),
        largest: key(n * 10 + 5),
        entries: size,
        tombstones: 0,
    };
    let mut levels = vec![Vec::new(); 7];
    assert_eq!(pending_compaction_bytes(&cfg, &levels), 0);
    levels[5] = vec![t(1, 100)];
    levels[6] = vec![t(2, 100)];
    assert!(pending_compaction_bytes(&cfg, &levels) > 0);
}

/// With no level over its target, a table above the last level that is mostly point tombstones
/// is pushed down and rewritten (even with nothing below it to merge with): all of L0 from L0,
/// the table alone from a middle level. A table with few tombstones, with fewer than
/// `TOMBSTONE_TRIGGER_MIN`, at the last level, or busy, is left alone.
#[test]
fn tables_of_point_tombstones_are_pushed_down_when_nothing_else_is_due() {
    let cfg = Sim::new(CompactionStrategy::Leveled).cfg;
    let t = |n: u64, lo: u64, hi: u64, entries: u64, tombstones: u64| TableView {
        number: n,
        size: 10,
        smallest: key(lo),
        largest: key(hi),
        entries,
        tombstones,
    };
    let none = HashSet::new();
    let cursor = vec![Vec::new(); cfg.max_levels];
    let heavy = TOMBSTONE_TRIGGER_MIN * 2;
    // The base level is the last (the bottom is small): L0 goes there with what it overlaps.
    let mut levels = vec![Vec::new(); cfg.max_levels];
    levels[0] = vec![t(1, 10, 20, heavy, heavy / 2)];
    levels[6] = vec![t(2, 0, 15, 5000, 0), t(3, 30, 40, 5000, 0)];
    let p = pick(&cfg, &levels, &none, &cursor).expect("tombstones in L0");
    assert_eq!(p.inputs, vec![(0, 1), (6, 2)]);
    assert_eq!((p.output_level, p.trivial_move, p.reason), (6, false, "point tombstones"));
    // Fewer than half tombstones, or fewer than the minimum: nothing to do.
    levels[0] = vec![t(1, 10, 20, heavy, heavy / 2 - 1)];
    assert_eq!(pick(&cfg, &levels, &none, &cursor), None);
    levels[0] = vec![t(1, 10, 20, 100, TOMBSTONE_TRIGGER_MIN - 1)];
    assert_eq!(pick(&cfg, &levels, &none, &cursor), None);
    // At the last level tombstones stay (what still holds them is a snapshot).
    levels[0].clear();
    levels[6].push(t(4, 50, 60, heavy, heavy));
    assert_eq!(pick(&cfg, &levels, &none, &cursor), None);
    // A middle level: the table alone, rewritten although nothing below overlaps it; not while
    // it is busy.
    levels[3] = vec![t(5, 70, 80, heavy, heavy)];
    let p = pick(&cfg, &levels, &none, &cursor).expect("tombstones in L3");
    assert_eq!((p.inputs.clone(), p.output_level, p.trivial_move), (vec![(3, 5)], 4, false));
    assert_eq!(p.reason, "point tombstones");
    assert!(p.bottommost, "nothing below overlaps: the tombstones can go");
    let busy: HashSet<u64> = [5].into();
    assert_eq!(pick(&cfg, &levels, &busy, &cursor), None);
}
