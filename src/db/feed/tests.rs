//! Unit tests of the change feed: the queue's lag accounting, decoding entries into events,
//! filters.

use super::*;

fn change(seqno: u64) -> Event {
    Event::Change(Change {
        seqno,
        keyspace: "default".into(),
        key: Key::copy_from_slice(b"k"),
        value: None,
        expires_at: None,
    })
}

fn take_all(q: &Queue) -> Vec<Event> {
    let mut st = q.state.lock();
    std::iter::from_fn(|| st.take()).collect()
}

#[test]
fn a_full_queue_counts_until_drained_then_reports_one_gap() {
    let q = Queue::new(3);
    q.push_all((1..=2).map(change).collect());
    q.push_all((3..=5).map(change).collect()); // 3 fits; 4 and 5 are missed
    assert_eq!(q.state.lock().take(), Some(change(1)));
    q.push_all(vec![change(6)]); // room again, but the gap is open: missed
    let got = take_all(&q);
    assert_eq!(got, [change(2), change(3), Event::Lagged { missed: 3 }]);
    q.push_all(vec![change(7)]);
    assert_eq!(take_all(&q), [change(7)]);
}

#[test]
fn a_closed_queue_drains_then_ends() {
    let q = Queue::new(1);
    q.push_all(vec![change(1), change(2)]);
    q.close();
    q.push_all(vec![change(3)]);
    assert_eq!(take_all(&q), [change(1), Event::Lagged { missed: 1 }]);
    assert!(q.state.lock().closed);
}

#[test]
fn expiring_puts_and_range_deletes_become_events() {
    let mut b = WriteBatch::new();
    b.push_entry(
        0,
        ValueKind::PutExpiring,
        b"ttl",
        &[&1234u64.to_le_bytes(), b"user value"],
    );
    let (mut before_m, mut unbounded) = (Vec::new(), Vec::new());
    RangeEnd::Before(b"m".to_vec()).encode(&mut before_m);
    RangeEnd::Unbounded.encode(&mut unbounded);
    b.push_entry(3, ValueKind::RangeDelete, b"a", &[&before_m]);
    b.push_entry(0, ValueKind::RangeDelete, b"x", &[&unbounded]);
    b.delete(b"gone");
    let events: Vec<Event> = (10..)
        .zip(b.iter())
        .map(|(seqno, e)| {
            let item = Item::decode(seqno, &e.unwrap()).unwrap();
            item.to_event(format!("ks{}", item.keyspace))
        })
        .collect();
    let range = |seqno, keyspace: &str, start: &[u8], end: Option<&[u8]>| Event::RangeDelete {
        seqno,
        keyspace: keyspace.into(),
        start: Key::copy_from_slice(start),
        end: end.map(Key::copy_from_slice),
    };
    assert_eq!(
        events,
        [
            Event::Change(Change {
                seqno: 10,
                keyspace: "ks0".into(),
                key: Key::copy_from_slice(b"ttl"),
                value: Some(Value::copy_from_slice(b"user value")),
                expires_at: Some(1234),
            }),
            range(11, "ks3", b"a", Some(b"m")),
            range(12, "ks0", b"x", None),
            Event::Change(Change {
                seqno: 13,
                keyspace: "ks0".into(),
                key: Key::copy_from_slice(b"gone"),
                value: None,
                expires_at: None,
            }),
        ]
    );
}

#[test]
fn filters_match_keyspace_prefix_and_overlapping_ranges() {
    let point = |keyspace, key: &'static [u8]| Item {
        seqno: 1,
        keyspace,
        what: What::Point {
                key,
                value: None,
                expires_at: None,
            },
    };
    let range = |start: &'static [u8], end: Option<&[u8]>| Item {
        seqno: 1,
        keyspace: 0,
        what: What::Range {
            start,
            end: end.map_or(RangeEnd::Unbounded, |e| RangeEnd::Before(e.to_vec())),
        },
    };
    let f = Filter::new(Some(0), b"user:");
    assert!(f.matches(&point(0, b"user:1"), false));
    assert!(f.matches(&point(0, b"user:"), false));
    assert!(!f.matches(&point(0, b"user"), false));
    assert!(!f.matches(&point(1, b"user:1"), false));
    assert!(f.matches(&range(b"a", None), false));
    assert!(f.matches(&range(b"a", Some(b"user:\x00")), false));
    assert!(f.matches(&range(b"user:5", Some(b"zzz")), false));
    assert!(!f.matches(&range(b"a", Some(b"user:")), false));
    assert!(!f.matches(&range(b"user;", None), false));
    let all = Filter::new(None, b"");
    assert!(all.matches(&point(7, b""), false));
    assert!(all.matches(&range(b"", Some(b"\x00")), false));
    // Index keyspaces only for a subscription to that keyspace.
    assert!(!all.matches(&point(7, b"k"), true));
    assert!(Filter::new(Some(7), b"").matches(&point(7, b"k"), true));
    let ff = Filter::new(Some(0), b"\xff");
    assert!(ff.matches(&range(b"\xff\x01", Some(b"\xff\x02")), false));
    assert!(!ff.matches(&range(b"a", Some(b"\xff")), false));
}
