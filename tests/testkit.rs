//! The test kit itself (`tests/common/`): the versioned model answers for every seqno it
//! recorded, batches are atomic and take their later entry, forgetting old states keeps the
//! newer ones exact; the RNG depends on nothing but its seed. The model is the oracle of the
//! model-based tests, so its own mistakes must not pass silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ops::Bound;

use common::model::{self, Entry, Model, State};
use common::rng::Rng;

fn put(k: &str, v: &str) -> Entry {
    (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
}

fn del(k: &str) -> Entry {
    (k.as_bytes().to_vec(), None)
}

fn state(pairs: &[(&str, &str)]) -> State {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn model_answers_for_every_recorded_seqno() {
    let mut m = Model::starting_at(10);
    m.write_at(11, &[put("a", "1"), put("b", "1")]);
    m.write_at(13, &[del("a"), put("c", "3"), put("c", "3b")]);
    m.mark(20);
    m.write_at(21, &[put("a", "again")]);

    assert_eq!(m.at(10), State::new());
    assert_eq!(m.at(11), state(&[("a", "1"), ("b", "1")]));
    // Between boundaries the state is the earlier one; 12 is not a boundary.
    assert_eq!(m.at(12), m.at(11));
    assert!(m.is_boundary(11) && !m.is_boundary(12) && m.is_boundary(13));
    // A key named twice in one batch takes the later entry.
    assert_eq!(m.at(13), state(&[("b", "1"), ("c", "3b")]));
    assert_eq!(m.at(20), m.at(13));
    assert!(m.is_boundary(20));
    assert_eq!(
        m.latest(),
        &state(&[("a", "again"), ("b", "1"), ("c", "3b")])
    );
    assert_eq!(m.get_at(b"a", 11), Some(&b"1"[..]));
    assert_eq!(m.get_at(b"a", 13), None);
    assert_eq!(m.get(b"a"), Some(&b"again"[..]));
    assert_eq!(m.seqno(), 21);
}

#[test]
fn model_numbers_its_own_writes() {
    let mut m = Model::new();
    m.put(b"k", b"v1");
    let s1 = m.seqno();
    m.delete(b"k");
    m.apply(&model::Write::Batch(vec![put("k", "v3"), put("j", "x")]));
    assert_eq!(m.get_at(b"k", s1), Some(&b"v1"[..]));
    assert_eq!(m.get_at(b"k", s1 + 1), None);
    assert_eq!(m.get(b"k"), Some(&b"v3"[..]));
    assert_eq!(m.seqno(), 3);
}

#[test]
#[should_panic(expected = "does not follow")]
fn model_refuses_a_write_that_goes_back() {
    let mut m = Model::starting_at(5);
    m.write_at(5, &[put("a", "1")]);
}

#[test]
fn forgetting_old_states_keeps_newer_ones_exact() {
    let mut rng = Rng::new(42);
    let mut m = Model::new();
    let mut states = Vec::new();
    for i in 0..2000u32 {
        let k = format!("k{}", rng.below(50)).into_bytes();
        if rng.one_in(3) {
            m.delete(&k);
        } else {
            m.put(&k, format!("v{i}").as_bytes());
        }
        states.push((m.seqno(), m.latest().clone()));
    }
    m.forget_before(1000);
    for (s, want) in &states[999..] {
        assert_eq!(&m.at(*s), want, "state at {s}");
    }
    assert!(!m.is_boundary(999) && m.is_boundary(1000));
    let old = std::panic::catch_unwind(|| m.at(999));
    assert!(old.is_err(), "a forgotten state must not be answered");
}

#[test]
fn views_select_ranges_and_prefixes() {
    let s = state(&[("a", "1"), ("ab", "2"), ("abc", "3"), ("b", "4")]);
    let keys = |p: model::Pairs| -> Vec<String> {
        p.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    let r = |lo: Bound<&str>, hi: Bound<&str>| {
        let b = |x: Bound<&str>| x.map(|k| k.as_bytes().to_vec());
        keys(model::range(&s, &(b(lo), b(hi))))
    };
    assert_eq!(
        r(Bound::Excluded("a"), Bound::Included("abc")),
        ["ab", "abc"]
    );
    assert_eq!(r(Bound::Included("a"), Bound::Excluded("ab")), ["a"]);
    assert_eq!(
        r(Bound::Included("b"), Bound::Included("a")),
        Vec::<String>::new()
    );
    assert_eq!(keys(model::prefix(&s, b"ab")), ["ab", "abc"]);
    assert_eq!(
        keys(model::reversed(model::prefix(&s, b""))),
        ["b", "abc", "ab", "a"]
    );
}

#[test]
fn rng_depends_only_on_its_seed() {
    let take = |mut r: Rng| (0..8).map(|_| r.next_u64()).collect::<Vec<_>>();
    assert_eq!(take(Rng::new(7)), take(Rng::new(7)));
    assert_ne!(take(Rng::new(7)), take(Rng::new(8)));
    assert_ne!(take(Rng::salted(7, 1)), take(Rng::salted(7, 2)));
    let mut r = Rng::new(0);
    assert!((0..1000).all(|_| r.below(10) < 10));
}
