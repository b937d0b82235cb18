//! The model every model-based test compares the engine with: a versioned `BTreeMap`.
//!
//! Writes are applied at increasing seqnos (a batch is one seqno: readers see all of it or none);
//! the latest state is kept as a plain map, and every key's history lets the model answer for
//! any seqno it recorded, the way a `Snapshot` or `DbIter` taken then must. [`Read`] puts `Db`
//! and `Snapshot` behind one interface, and the scan helpers turn iterators into key/value pairs
//! to compare with the model's views.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use lsmkv::{Db, DbIter, Key, Snapshot, Value, WriteBatch};

/// One state: key -> value.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;
/// Key/value pairs in the order a scan yields them.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
/// One write of a batch: `Some(value)` puts, `None` deletes.
pub type Entry = (Vec<u8>, Option<Vec<u8>>);
/// A key range.
pub type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A key's value from a seqno on; `None` is a delete.
type Version = (u64, Option<Vec<u8>>);

/// A versioned `BTreeMap`: the state after every write, by seqno.
///
/// The plain methods (`put`, `delete`, `write`) number their writes themselves (one seqno each);
/// `write_at` and `mark` take the seqno the engine reported, so that snapshots' own seqnos can
/// be looked up with `at` and `is_boundary`.
#[derive(Debug, Clone, Default)]
pub struct Model {
    latest: State,
    /// Per key, its versions in seqno order.
    history: BTreeMap<Vec<u8>, Vec<Version>>,
    seqno: u64,
    /// Every seqno at which the model recorded a state.
    boundaries: BTreeSet<u64>,
    /// States before this seqno were forgotten (see `forget_before`).
    floor: u64,
}

impl Model {
    /// An empty model at seqno 0.
    pub fn new() -> Model {
        Model::starting_at(0)
    }

    /// An empty model whose first state is visible at `seqno` (a fresh database's seqno).
    pub fn starting_at(seqno: u64) -> Model {
        Model {
            seqno,
            boundaries: BTreeSet::from([seqno]),
            floor: seqno,
            ..Model::default()
        }
    }

    /// The seqno of the latest state.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    pub fn put(&mut self, k: &[u8], v: &[u8]) {
        self.write(&[(k.to_vec(), Some(v.to_vec()))]);
    }

    pub fn delete(&mut self, k: &[u8]) {
        self.write(&[(k.to_vec(), None)]);
    }

    /// `w` at the next seqno.
    pub fn apply(&mut self, w: &Write) {
        self.write(&self.entries_of(w));
    }

    /// What `w` does to the latest state, as point entries: a range or prefix delete becomes a
    /// delete of every key it covers that is present (before it in its batch, or earlier).
    pub fn entries_of(&self, w: &Write) -> Vec<Entry> {
        let ops = match w {
            Write::DeleteRange(b) => vec![BatchOp::DeleteRange(b.clone())],
            Write::DeletePrefix(p) => vec![BatchOp::DeletePrefix(p.clone())],
            Write::Mixed(ops) => ops.clone(),
            point => return point.entries(),
        };
        let mut state = self.latest.clone();
        let mut out = Vec::new();
        for op in ops {
            let doomed: Vec<Vec<u8>> = match op {
                BatchOp::Entry(k, v) => {
                    match &v {
                        Some(v) => state.insert(k.clone(), v.clone()),
                        None => state.remove(&k),
                    };
                    out.push((k, v));
                    continue;
                }
                BatchOp::DeleteRange(b) => range(&state, &b).into_iter().map(|(k, _)| k).collect(),
                BatchOp::DeletePrefix(p) => {
                    prefix(&state, &p).into_iter().map(|(k, _)| k).collect()
                }
            };
            for k in doomed {
                state.remove(&k);
                out.push((k, None));
            }
        }
        out
    }

    /// A batch at the next seqno.
    pub fn write(&mut self, entries: &[Entry]) {
        self.write_at(self.seqno + 1, entries);
    }

    /// A batch visible from `seqno` on. A key named twice takes the later entry. An empty batch
    /// only records `seqno` (it may not have advanced the engine's seqno).
    pub fn write_at(&mut self, seqno: u64, entries: &[Entry]) {
        if entries.is_empty() {
            self.mark(seqno);
            return;
        }
        assert!(
            seqno > self.seqno,
            "model: a write at seqno {seqno} does not follow seqno {}",
            self.seqno
        );
        for (k, v) in entries {
            match v {
                Some(v) => self.latest.insert(k.clone(), v.clone()),
                None => self.latest.remove(k),
            };
            let versions = self.history.entry(k.clone()).or_default();
            if versions.last().is_some_and(|(s, _)| *s == seqno) {
                versions.pop();
            }
            versions.push((seqno, v.clone()));
        }
        self.seqno = seqno;
        self.boundaries.insert(seqno);
    }

    /// The latest state is also the state at `seqno` (no write in between: a reopen, an empty
    /// batch).
    pub fn mark(&mut self, seqno: u64) {
        assert!(
            seqno >= self.seqno,
            "model: seqno went back from {} to {seqno}",
            self.seqno
        );
        self.seqno = seqno;
        self.boundaries.insert(seqno);
    }

    /// Whether the model recorded a state at `seqno` (a reader can only see batch boundaries).
    pub fn is_boundary(&self, seqno: u64) -> bool {
        self.boundaries.contains(&seqno)
    }

    /// The recorded seqnos, for messages.
    pub fn boundaries(&self) -> Vec<u64> {
        self.boundaries.iter().copied().collect()
    }

    /// The latest state.
    pub fn latest(&self) -> &State {
        &self.latest
    }

    /// The latest value of `k`.
    pub fn get(&self, k: &[u8]) -> Option<&[u8]> {
        self.latest.get(k).map(Vec::as_slice)
    }

    /// The value of `k` at `seqno`.
    pub fn get_at(&self, k: &[u8], seqno: u64) -> Option<&[u8]> {
        self.check_floor(seqno);
        let versions = self.history.get(k)?;
        let n = versions.partition_point(|(s, _)| *s <= seqno);
        versions[..n].last()?.1.as_deref()
    }

    /// The state at `seqno`: every write at or before it.
    pub fn at(&self, seqno: u64) -> State {
        if seqno >= self.seqno {
            return self.latest.clone();
        }
        self.check_floor(seqno);
        self.history
            .keys()
            .filter_map(|k| Some((k.clone(), self.get_at(k, seqno)?.to_vec())))
            .collect()
    }

    /// Drops what only states before `seqno` need (long runs; no reader older than `seqno` is
    /// left).
    pub fn forget_before(&mut self, seqno: u64) {
        let seqno = seqno.min(self.seqno);
        self.history.retain(|_, versions| {
            let n = versions.partition_point(|(s, _)| *s <= seqno);
            versions.drain(..n.saturating_sub(1));
            !(versions.len() == 1 && versions[0].1.is_none())
        });
        self.boundaries = self.boundaries.split_off(&seqno);
        self.floor = self.floor.max(seqno);
    }

    fn check_floor(&self, seqno: u64) {
        assert!(
            seqno >= self.floor,
            "model: the state at {seqno} was forgotten (floor {})",
            self.floor
        );
    }
}

/// One write of a model-based test, to apply to the engine ([`Write::apply`]) and to the model
/// ([`Model::apply`], or [`Model::write_at`] with [`Model::entries_of`]).
#[derive(Debug, Clone)]
pub enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Entries: `Some(v)` = put, `None` = delete. May name a key twice; the later entry wins.
    Batch(Vec<Entry>),
    /// `Db::delete_range`: one range tombstone.
    DeleteRange(Bounds),
    /// `Db::delete_prefix`.
    DeletePrefix(Vec<u8>),
    /// A batch mixing point entries and range deletes, applied in order.
    Mixed(Vec<BatchOp>),
}

/// One operation of a [`Write::Mixed`] batch.
#[derive(Debug, Clone)]
pub enum BatchOp {
    /// `Some(v)` = put, `None` = delete.
    Entry(Vec<u8>, Option<Vec<u8>>),
    DeleteRange(Bounds),
    DeletePrefix(Vec<u8>),
}

impl Write {
    /// Applies the write to `db`.
    pub fn apply(&self, db: &Db) -> lsmkv::Result<()> {
        match self {
            Write::Put(k, v) => db.put(k, v),
            Write::Delete(k) => db.delete(k),
            Write::Batch(entries) => db.write(batch(entries)),
            Write::DeleteRange(b) => db.delete_range(b.clone()),
            Write::DeletePrefix(p) => db.delete_prefix(p),
            Write::Mixed(ops) => {
                let mut b = WriteBatch::new();
                for op in ops {
                    match op {
                        BatchOp::Entry(k, Some(v)) => b.put(k, v),
                        BatchOp::Entry(k, None) => b.delete(k),
                        BatchOp::DeleteRange(r) => b.delete_range(r.clone()),
                        BatchOp::DeletePrefix(p) => b.delete_prefix(p),
                    }
                }
                db.write(b)
            }
        }
    }

    /// The write as batch entries. Point writes only: a range delete's entries depend on the
    /// state it applies to ([`Model::entries_of`]).
    pub fn entries(&self) -> Vec<Entry> {
        match self {
            Write::Put(k, v) => vec![(k.clone(), Some(v.clone()))],
            Write::Delete(k) => vec![(k.clone(), None)],
            Write::Batch(entries) => entries.clone(),
            range => panic!("{range:?} has no entries of its own: use Model::entries_of"),
        }
    }

    /// [`Write::strategy`] plus range deletes over bounds built from `key()` (every kind of
    /// bound, inverted and empty ranges included), prefix deletes of `key()` prefixes, and
    /// batches mixing them with point entries (10 : 4 : 3 : 2 : 1 : 2 for put, delete, batch,
    /// range, prefix, mixed).
    pub fn strategy_with_ranges<K, V>(
        key: impl Fn() -> K,
        value: impl Fn() -> V,
    ) -> impl proptest::strategy::Strategy<Value = Write>
    where
        K: proptest::strategy::Strategy<Value = Vec<u8>> + 'static,
        V: proptest::strategy::Strategy<Value = Vec<u8>> + 'static,
    {
        use proptest::prelude::*;
        let bound = || {
            prop_oneof![
                2 => key().prop_map(Bound::Included),
                2 => key().prop_map(Bound::Excluded),
                1 => Just(Bound::Unbounded),
            ]
        };
        let bounds = || (bound(), bound());
        let op = prop_oneof![
            4 => (key(), prop::option::weighted(0.7, value()))
                .prop_map(|(k, v)| BatchOp::Entry(k, v)),
            1 => bounds().prop_map(BatchOp::DeleteRange),
            1 => key().prop_map(BatchOp::DeletePrefix),
        ];
        prop_oneof![
            10 => (key(), value()).prop_map(|(k, v)| Write::Put(k, v)),
            4 => key().prop_map(Write::Delete),
            3 => prop::collection::vec((key(), prop::option::weighted(0.7, value())), 0..8)
                .prop_map(Write::Batch),
            2 => bounds().prop_map(Write::DeleteRange),
            1 => key().prop_map(Write::DeletePrefix),
            2 => prop::collection::vec(op, 1..6).prop_map(Write::Mixed),
        ]
    }

    /// Random writes for `proptest` over the keys and values `key()` and `value()` generate:
    /// puts, deletes and batches of up to 7 entries (10 : 4 : 3), 70 % of batch entries puts.
    pub fn strategy<K, V>(
        key: impl Fn() -> K,
        value: impl Fn() -> V,
    ) -> impl proptest::strategy::Strategy<Value = Write>
    where
        K: proptest::strategy::Strategy<Value = Vec<u8>> + 'static,
        V: proptest::strategy::Strategy<Value = Vec<u8>> + 'static,
    {
        use proptest::prelude::*;
        prop_oneof![
            10 => (key(), value()).prop_map(|(k, v)| Write::Put(k, v)),
            4 => key().prop_map(Write::Delete),
            3 => prop::collection::vec((key(), prop::option::weighted(0.7, value())), 0..8)
                .prop_map(Write::Batch),
        ]
    }
}

/// A small key set where overwrites, deletes of live keys and shared prefixes are common: the
/// strings of length 0..=3 over {a, b} (the empty key included), plus one binary key.
pub fn tiny_keys() -> Vec<Vec<u8>> {
    let mut keys = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for k in &frontier {
            for c in [b'a', b'b'] {
                let mut k2: Vec<u8> = k.clone();
                k2.push(c);
                next.push(k2);
            }
        }
        keys.extend(next.iter().cloned());
        frontier = next;
    }
    keys.push(vec![0x00, 0xff]);
    keys
}

/// The `WriteBatch` of `entries`.
pub fn batch(entries: &[Entry]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (k, v) in entries {
        match v {
            Some(v) => b.put(k, v),
            None => b.delete(k),
        }
    }
    b
}

/// All pairs of `state`, in key order.
pub fn pairs(state: &State) -> Pairs {
    state.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether `k` lies in `bounds`.
pub fn contains(bounds: &Bounds, k: &[u8]) -> bool {
    let above = match &bounds.0 {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match &bounds.1 {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// The pairs of `state` in `bounds` (empty, not a panic, when the bounds are inverted).
pub fn range(state: &State, bounds: &Bounds) -> Pairs {
    state
        .iter()
        .filter(|(k, _)| contains(bounds, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The pairs of `state` whose key starts with `prefix`.
pub fn prefix(state: &State, prefix: &[u8]) -> Pairs {
    state
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `pairs` in reverse order (what a reverse scan yields).
pub fn reversed(mut pairs: Pairs) -> Pairs {
    pairs.reverse();
    pairs
}

/// What reads the engine: a `Db` (its latest state) or a `Snapshot`.
pub trait Read {
    fn get(&self, k: &[u8]) -> lsmkv::Result<Option<Value>>;
    fn range(&self, bounds: Bounds) -> DbIter;
    fn prefix(&self, prefix: &[u8]) -> DbIter;

    /// A full scan, forward.
    fn all(&self) -> DbIter {
        self.range((Bound::Unbounded, Bound::Unbounded))
    }
}

/// `Db` and `Snapshot` have the same read methods.
macro_rules! impl_read {
    ($($t:ty),*) => {$(
        impl Read for $t {
            fn get(&self, k: &[u8]) -> lsmkv::Result<Option<Value>> {
                <$t>::get(self, k)
            }
            fn range(&self, bounds: Bounds) -> DbIter {
                <$t>::range(self, bounds)
            }
            fn prefix(&self, prefix: &[u8]) -> DbIter {
                <$t>::prefix(self, prefix)
            }
        }
    )*};
}

impl_read!(Db, Snapshot);

/// The pairs an iterator yields (forward with `it`, reverse with `it.rev()`), or its first error.
pub fn try_collect(it: impl Iterator<Item = lsmkv::Result<(Key, Value)>>) -> lsmkv::Result<Pairs> {
    it.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect()
}

/// The pairs an iterator yields; panics on an error.
pub fn collect(it: impl Iterator<Item = lsmkv::Result<(Key, Value)>>) -> Pairs {
    try_collect(it).expect("iteration")
}

/// The pairs `it` yields through [`DbIter::next_ref`] (borrowed, copied here); panics on an
/// error.
pub fn collect_lent(mut it: DbIter) -> Pairs {
    let mut out = Pairs::new();
    while let Some(r) = it.next_ref() {
        let (k, v) = r.expect("iteration");
        out.push((k.to_vec(), v.to_vec()));
    }
    out
}

/// A full forward scan of `r`.
pub fn scan(r: &impl Read) -> Pairs {
    collect(r.all())
}

/// A full reverse scan of `r`, in the order it yields (descending keys).
pub fn scan_rev(r: &impl Read) -> Pairs {
    collect(r.all().rev())
}

/// Panics, naming the first difference (not dumping both sides), unless `got == want`.
pub fn assert_pairs_eq(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)], ctx: &str) {
    if got == want {
        return;
    }
    let show = |p: Option<&(Vec<u8>, Vec<u8>)>| {
        p.map(|(k, v)| {
            format!(
                "{:?} = {} bytes {:?}",
                String::from_utf8_lossy(k),
                v.len(),
                String::from_utf8_lossy(&v[..v.len().min(32)])
            )
        })
    };
    let i = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    panic!(
        "{ctx}: {} pairs, want {}; first difference at {i}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        show(got.get(i)),
        show(want.get(i))
    );
}

/// `r` holds exactly `state`: full scans forward and backward.
pub fn assert_matches(r: &impl Read, state: &State, ctx: &str) {
    let want = pairs(state);
    assert_pairs_eq(&scan(r), &want, &format!("{ctx}: scan"));
    assert_pairs_eq(
        &scan_rev(r),
        &reversed(want),
        &format!("{ctx}: reverse scan"),
    );
}

/// `r` answers point reads of `keys` as `state` does.
pub fn assert_gets<'a>(
    r: &impl Read,
    state: &State,
    keys: impl IntoIterator<Item = &'a [u8]>,
    ctx: &str,
) {
    for k in keys {
        let got = r.get(k).unwrap_or_else(|e| panic!("{ctx}: get {k:?}: {e}"));
        assert_eq!(
            got.as_deref(),
            state.get(k).map(Vec::as_slice),
            "{ctx}: get {:?}",
            String::from_utf8_lossy(k)
        );
    }
}
