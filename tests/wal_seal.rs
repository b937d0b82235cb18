//! Every WAL segment but the newest proves it is complete (`format-spec/wal.md`, "Seal"): a
//! segment cut at a record boundary, which reads back as a shorter but well-formed log, fails
//! `Db::open` with `Error::Corruption` naming the segment, also when another keyspace's flush put
//! the manifest's last seqno past the records the cut removed (the seqno continuity check cannot
//! see that gap). The crash windows around sealing (after the seal, before or during the creation
//! of the next segment; during recovery) still open with every acknowledged write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use common::dir::{copy_db_dir, files_with_ext, tempdir};
use lsmkv::format::crc::crc32c;
use lsmkv::fs::{FaultFs, FaultOp, FaultRule, PowerLossFs, StdFs};
use lsmkv::wal::{Tail, WalWriter, read_segment};
use lsmkv::{Db, Error, Options, SyncMode};

fn options() -> Options {
    Options {
        sync_mode: SyncMode::None,
        ..Options::default()
    }
}

type State = BTreeMap<(String, String), String>;

/// The shape of the finding: keyspace `default` writes into the first segment and is never
/// flushed; keyspace `b` writes after it and is flushed twice (each flush starts a new segment
/// and records `b`'s flushed seqno, past `default`'s records, in the manifest).
fn build(dir: &Path, opts: &Options) -> State {
    let db = Db::open(dir, opts.clone()).unwrap();
    let b = db.keyspace("b").unwrap();
    let mut state = State::new();
    for i in 0..20 {
        let (k, v) = (format!("a{i:02}"), format!("value-a-{i}"));
        db.put(&k, &v).unwrap();
        state.insert(("default".into(), k), v);
    }
    for round in 0..2 {
        for i in 0..10 {
            let (k, v) = (format!("b{i:02}"), format!("value-b-{round}-{i}"));
            b.put(&k, &v).unwrap();
            state.insert(("b".into(), k), v);
        }
        b.flush().unwrap();
    }
    drop(b);
    db.close().unwrap();
    state
}

fn read_state(dir: &Path, opts: &Options) -> Result<State, Error> {
    let db = Db::open(dir, opts.clone())?;
    let b = db.keyspace("b")?;
    let mut state = State::new();
    for (name, it) in [
        ("default", db.range::<&[u8], _>(..)),
        ("b", b.range::<&[u8], _>(..)),
    ] {
        for kv in it {
            let (k, v) = kv?;
            state.insert(
                (name.into(), String::from_utf8(k.to_vec()).unwrap()),
                String::from_utf8(v.to_vec()).unwrap(),
            );
        }
    }
    Ok(state)
}

/// The segment holding `default`'s records: the oldest one, with a newer segment after it.
fn older_segment(dir: &Path) -> PathBuf {
    let wals = files_with_ext(dir, "wal");
    assert!(
        wals.len() >= 2,
        "the build leaves several segments: {wals:?}"
    );
    wals[0].clone()
}

fn assert_corruption_naming(r: Result<State, Error>, file: &Path, what: &str) {
    match r {
        Err(Error::Corruption { file: f, .. }) => assert_eq!(
            f.file_name(),
            file.file_name(),
            "{what}: corruption names another file"
        ),
        Err(e) => panic!("{what}: expected Corruption naming {file:?}, got {e:?}"),
        Ok(s) => panic!("{what}: opened without an error, {} rows", s.len()),
    }
}

/// The finding: the older segment cut right after its header, and at every other record
/// boundary, opens with `Error::Corruption` naming it instead of silently losing its records.
#[test]
fn older_segment_cut_at_a_record_boundary_is_corruption() {
    let src = tempdir();
    let opts = options();
    let state = build(src.path(), &opts);
    let older = older_segment(src.path());
    let data = std::fs::read(&older).unwrap();
    let seg = read_segment(&data, &older).unwrap();
    assert!(seg.records.len() >= 20, "default's records are in it");
    // Right after the header, then at every record boundary (the start of each record, and the
    // end of the last record, where the seal starts).
    let mut cuts: Vec<u64> = seg.records.iter().map(|r| r.offset).collect();
    if let Some(last) = seg.records.last() {
        cuts.push(last.payload_offset() + last.payload.len() as u64);
    }
    assert_eq!(cuts[0], 24, "the first cut is right after the header");
    let pristine = tempdir();
    copy_db_dir(src.path(), pristine.path());
    assert_eq!(read_state(pristine.path(), &opts).unwrap(), state);
    for cut in cuts {
        let t = tempdir();
        copy_db_dir(src.path(), t.path());
        let path = t.path().join(older.file_name().unwrap());
        std::fs::write(&path, &data[..cut as usize]).unwrap();
        assert_corruption_naming(
            read_state(t.path(), &opts),
            &older,
            &format!("cut at {cut}"),
        );
    }
}

/// Every segment a rotation finished ends with a seal counting its records; the newest (still
/// open when the db closed) has none.
#[test]
fn rotation_seals_every_segment_but_the_newest() {
    let dir = tempdir();
    build(dir.path(), &options());
    let wals = files_with_ext(dir.path(), "wal");
    assert_eq!(wals.len(), 3, "{wals:?}");
    for (i, w) in wals.iter().enumerate() {
        let data = std::fs::read(w).unwrap();
        let seg = read_segment(&data, w).unwrap();
        if i + 1 == wals.len() {
            assert_eq!(seg.tail, Tail::Clean, "{w:?}");
            continue;
        }
        match seg.tail {
            Tail::Sealed {
                offset,
                records,
                last_seqno,
            } => {
                assert_eq!(records, seg.records.len() as u64, "{w:?}");
                assert_eq!(
                    offset + 32,
                    data.len() as u64,
                    "{w:?}: the seal ends the file"
                );
                // One put per batch: the last record's seqno is the seal's.
                let last = seg.records.last().unwrap();
                let b = lsmkv::batch::decode_batch(last.payload, w, last.payload_offset()).unwrap();
                assert_eq!(last_seqno, b.base_seqno + u64::from(b.count) - 1, "{w:?}");
            }
            other => panic!("{w:?}: older segment ends {other:?}"),
        }
    }
}

/// A seal whose last seqno disagrees with the records before it (checksums intact) is corruption.
#[test]
fn seal_naming_another_last_seqno_is_corruption() {
    let dir = tempdir();
    let opts = options();
    build(dir.path(), &opts);
    let older = older_segment(dir.path());
    let data = std::fs::read(&older).unwrap();
    let Tail::Sealed {
        offset,
        records,
        last_seqno,
    } = read_segment(&data, &older).unwrap().tail
    else {
        panic!("older segment not sealed");
    };
    let mut b = data[..offset as usize].to_vec();
    let number: u64 = older
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    lsmkv::wal::frame_seal(&mut b, number, offset, records, last_seqno + 1);
    std::fs::write(&older, &b).unwrap();
    assert_corruption_naming(read_state(dir.path(), &opts), &older, "wrong last seqno");
}

/// The model state of the writes before the failed flush: `default`'s `a*` and `b`'s `b*`.
fn write_some(db: &Db) -> State {
    let b = db.keyspace("b").unwrap();
    let mut state = State::new();
    for i in 0..15 {
        let (ka, va) = (format!("a{i:02}"), format!("va{i}"));
        let (kb, vb) = (format!("b{i:02}"), format!("vb{i}"));
        db.put(&ka, &va).unwrap();
        b.put(&kb, &vb).unwrap();
        state.insert(("default".into(), ka), va);
        state.insert(("b".into(), kb), vb);
    }
    state
}

/// Crash windows of a rotation, from the durable state a power cut leaves (`PowerLossFs`), under
/// `SyncMode::None` (nothing was synced before the seal): the creation of the next segment fails
/// (as if the power failed right after the seal), then that segment is also present empty or
/// with part of its header (a crash during its creation). Every image opens with every write.
#[test]
fn crash_after_the_seal_or_during_the_next_create_loses_nothing() {
    let dir = tempdir();
    let fault = FaultFs::new(Arc::new(StdFs));
    let rec = PowerLossFs::new(fault.clone(), dir.path()).unwrap();
    let opts = Options {
        file_system: rec.clone(),
        ..options()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let state = write_some(&db);
    let _guard = fault.inject(FaultRule {
        path_ends_with: ".wal".into(),
        ..FaultRule::new(FaultOp::Create, 5)
    });
    assert!(
        db.keyspace("b").unwrap().flush().is_err(),
        "creating the next segment fails"
    );
    let image = tempdir();
    rec.crash_image(image.path()).unwrap();
    drop(db);
    let wals = files_with_ext(image.path(), "wal");
    let newest = wals.last().unwrap().clone();
    let data = std::fs::read(&newest).unwrap();
    assert!(
        matches!(
            read_segment(&data, &newest).unwrap().tail,
            Tail::Sealed { records: 30, .. }
        ),
        "the sealed segment is the newest in the image"
    );
    let t = tempdir();
    copy_db_dir(image.path(), t.path());
    assert_eq!(
        read_state(t.path(), &options()).unwrap(),
        state,
        "sealed newest"
    );
    // The next segment as a crash during its creation may leave it: empty, part of the header,
    // the whole header.
    let number: u64 = newest
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let header = {
        let h = tempdir();
        let w = WalWriter::create(h.path(), number + 1, 0).unwrap();
        let p = w.path().to_path_buf();
        w.finish().unwrap();
        std::fs::read(p).unwrap()
    };
    for len in [0, 5, 20, 24] {
        let t = tempdir();
        copy_db_dir(image.path(), t.path());
        let next = t.path().join(format!("{:06}.wal", number + 1));
        std::fs::write(&next, &header[..len]).unwrap();
        assert_eq!(
            read_state(t.path(), &options()).unwrap(),
            state,
            "next segment with {len} header bytes"
        );
    }
}

/// Recovery records the replayed data in the manifest before it creates the new segment: when
/// the manifest edit fails, no new segment exists yet (else the unsealed newest segment would be
/// followed by an empty newer one, which recovery refuses); when the creation fails (a crash
/// right after the edit), the replayed segments are below the manifest's log number. Either way
/// the crash image and the directory open with every write.
#[test]
fn crash_during_recovery_before_the_new_segment_loses_nothing() {
    for (op, path) in [(FaultOp::Create, ".wal"), (FaultOp::Write, "MANIFEST")] {
        let dir = tempdir();
        let opts = options();
        let state = build(dir.path(), &opts);
        let fault = FaultFs::new(Arc::new(StdFs));
        let rec = PowerLossFs::new(fault.clone(), dir.path()).unwrap();
        let guard = fault.inject(FaultRule {
            path_contains: path.into(),
            ..FaultRule::new(op, 5)
        });
        let faulty = Options {
            file_system: rec.clone(),
            ..options()
        };
        assert!(Db::open(dir.path(), faulty).is_err(), "{op:?} {path}");
        assert!(guard.fired() > 0, "{op:?} {path}");
        let image = tempdir();
        rec.crash_image(image.path()).unwrap();
        let got = read_state(image.path(), &opts);
        assert_eq!(
            got.unwrap(),
            state,
            "crash image after {op:?} {path} failed"
        );
        drop(guard);
        let got = read_state(dir.path(), &opts);
        assert_eq!(got.unwrap(), state, "directory after {op:?} {path} failed");
    }
}

/// A segment header of format version 2 (no seals) for segment `number`.
fn v2_header(number: u64) -> Vec<u8> {
    let mut h = b"LSMKVWAL".to_vec();
    h.extend_from_slice(&2u32.to_le_bytes());
    h.extend_from_slice(&number.to_le_bytes());
    let crc = crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

fn fixture_v2() -> tempfile::TempDir {
    let t = tempdir();
    copy_db_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2"),
        t.path(),
    );
    t
}

type Rows = BTreeMap<(String, Vec<u8>), Vec<u8>>;

/// Every row of every keyspace.
fn rows(dir: &Path) -> Result<Rows, Error> {
    let db = Db::open(dir, options())?;
    let mut out = Rows::new();
    for name in db.keyspaces()? {
        for kv in db.keyspace(&name)?.range::<&[u8], _>(..) {
            let (k, v) = kv?;
            out.insert((name.clone(), k.to_vec()), v.to_vec());
        }
    }
    Ok(out)
}

/// Older segments of format version 2 have no seal and keep version 2's rules: an unsealed
/// older segment followed by an empty one opens (the crash windows of that version), and a cut
/// at a record boundary there is not detected (the documented limit of version 2); a torn one
/// before a segment of version 3 is corruption.
#[test]
fn version_2_older_segments_keep_the_old_rules() {
    let whole = rows(fixture_v2().path()).unwrap();
    // 000016.wal (version 2, records) then an empty version-2 segment: opens with everything.
    let t = fixture_v2();
    std::fs::write(t.path().join("000018.wal"), v2_header(18)).unwrap();
    assert_eq!(rows(t.path()).unwrap(), whole);
    // The version-2 segment cut right after its header: read as a shorter log, as before.
    let t = fixture_v2();
    std::fs::write(t.path().join("000016.wal"), v2_header(16)).unwrap();
    std::fs::write(t.path().join("000018.wal"), v2_header(18)).unwrap();
    assert_ne!(rows(t.path()).unwrap(), whole);
    // Torn (a record cut short) before a version-3 segment: corruption naming it.
    let t = fixture_v2();
    let old = t.path().join("000016.wal");
    let data = std::fs::read(&old).unwrap();
    std::fs::write(&old, &data[..data.len() - 3]).unwrap();
    let w = WalWriter::create(t.path(), 18, 0).unwrap();
    w.finish().unwrap();
    match rows(t.path()) {
        Err(Error::Corruption { file, .. }) => assert!(file.ends_with("000016.wal"), "{file:?}"),
        other => panic!("expected corruption, got {other:?}"),
    }
}
