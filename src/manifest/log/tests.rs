//! Tests of the manifest log framing: round trips, torn tails, damage, and header checks.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::manifest::edit::test_meta as meta;

fn edits() -> Vec<VersionEdit> {
    vec![
        ManifestState {
            next_file_number: 2,
            ..ManifestState::default()
        }
        .snapshot_edit(),
        VersionEdit {
            added: vec![meta(2, 0, b"apple", b"melon")],
            next_file_number: Some(4),
            last_seqno: Some(9),
            log_number: Some(3),
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![meta(4, 1, b"apple", b"melon")],
            deleted: vec![(0, 2)],
            ..VersionEdit::default()
        },
    ]
}

fn build(edits: &[VersionEdit]) -> Vec<u8> {
    let mut out = Vec::new();
    put_file_header(&mut out);
    for e in edits {
        let mut p = Vec::new();
        e.encode(&mut p);
        put_record(&mut out, &p).unwrap();
    }
    out
}

/// The state after each prefix of `edits` (index k = first k edits).
fn prefix_states(edits: &[VersionEdit]) -> Vec<ManifestState> {
    let mut s = ManifestState::default();
    let mut out = vec![s.clone()];
    for e in edits {
        s.apply(e).unwrap();
        out.push(s.clone());
    }
    out
}

fn path() -> &'static Path {
    Path::new("MANIFEST-000001")
}

#[test]
fn round_trip_and_torn_tails() {
    let edits = edits();
    let data = build(&edits);
    assert_eq!(read_manifest(&data, path()).unwrap(), edits);
    let r = replay(&data, path()).unwrap();
    assert_eq!(r.state, prefix_states(&edits)[3]);
    assert_eq!(r.valid_len, data.len() as u64);
    assert!(r.torn_at.is_none());

    // Torn last record: cut inside it, or zero its tail (a torn sector).
    let last_start = build(&edits[..2]).len();
    for cut in last_start + 1..data.len() {
        let r = replay(&data[..cut], path()).unwrap();
        assert_eq!(r.state, prefix_states(&edits)[2]);
        assert_eq!(r.torn_at, Some(last_start as u64));
        assert_eq!(r.valid_len, last_start as u64);
    }
    let mut zeroed = data.clone();
    zeroed[last_start + 4..].fill(0);
    assert_eq!(
        replay(&zeroed, path()).unwrap().torn_at,
        Some(last_start as u64)
    );
    // Zeros appended after the last record (file extended, data never written).
    let mut padded = data.clone();
    padded.extend_from_slice(&[0; 40]);
    let r = replay(&padded, path()).unwrap();
    assert_eq!(r.state, prefix_states(&edits)[3]);
    assert_eq!(r.torn_at, Some(data.len() as u64));
}

#[test]
fn damage_before_valid_records_is_corruption() {
    let edits = edits();
    let data = build(&edits);
    let second = build(&edits[..1]).len();
    // Payload byte of the second record.
    let mut d = data.clone();
    d[second + RECORD_HEADER_SIZE + 1] ^= 0x10;
    let e = replay(&d, path()).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == second as u64),
        "{e}"
    );
    // Length field of the second record.
    let mut d = data.clone();
    d[second + 1] ^= 0x01;
    let e = replay(&d, path()).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == second as u64),
        "{e}"
    );
}

#[test]
fn header_checks() {
    let data = build(&edits());
    assert!(
        replay(&data[..FILE_HEADER_SIZE], path())
            .unwrap_err()
            .is_corruption()
    );
    let mut d = data.clone();
    d[0] = b'X';
    assert!(read_manifest(&d, path()).unwrap_err().is_corruption());
    // A newer version with a correct header checksum.
    let mut d = data.clone();
    d[8] = 3;
    let crc = crc32c(&d[..12]);
    d[12..16].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        read_manifest(&d, path()).unwrap_err(),
        Error::UnsupportedVersion {
            found: 3,
            supported: 2,
            ..
        }
    ));
    // The first record must be a snapshot.
    let not_snapshot = build(&[VersionEdit {
        last_seqno: Some(1),
        ..VersionEdit::default()
    }]);
    assert!(replay(&not_snapshot, path()).unwrap_err().is_corruption());
}

#[test]
fn edit_that_does_not_apply_is_corruption_at_its_record() {
    let mut edits = edits();
    edits.push(VersionEdit {
        deleted: vec![(0, 2)],
        ..VersionEdit::default()
    });
    let data = build(&edits);
    let last = build(&edits[..3]).len() as u64;
    let e = replay(&data, path()).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == last),
        "{e}"
    );
}

#[test]
fn every_truncation_and_bit_flip_is_prefix_or_corruption() {
    let edits = edits();
    let data = build(&edits);
    let prefixes = prefix_states(&edits);
    let check = |d: &[u8]| match replay(d, path()) {
        Ok(r) => assert!(
            prefixes.contains(&r.state),
            "state not a prefix: {:?}",
            r.state
        ),
        Err(e) => assert!(e.is_corruption(), "{e}"),
    };
    for cut in 0..=data.len() {
        check(&data[..cut]);
    }
    for i in 0..data.len() {
        for bit in 0..8 {
            let mut d = data.clone();
            d[i] ^= 1 << bit;
            check(&d);
        }
    }
}
