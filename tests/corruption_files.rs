//! Corruption suite: damage each file type of a real database directory (WAL segment, SSTable,
//! manifest, CURRENT) by flipping bytes (every byte of small files, a dense sample of larger ones)
//! and by truncating at many offsets, then `Db::open` a copy and read everything back.
//!
//! Each outcome must be one of:
//! - `Err(Error::Corruption { file, .. })` or `Err(Error::UnsupportedVersion { file, .. })` naming
//!   the damaged file, from `Db::open` or from any read;
//! - the exact data; or
//! - where the format defines a torn tail (the last WAL record, the last manifest record), a
//!   recovery that keeps exactly the records before the damage.
//!
//! Never a panic or a wrong value. (A hang would hang the test.)

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use lsmkv::{Compression, Db, Error, Options, SyncMode, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts(compression: Compression) -> Options {
    Options {
        sync_mode: SyncMode::None,
        compression,
        block_size: 256,
        sparse_index_interval: 4,
        block_cache_size_mb: 1,
        ..Options::default()
    }
}

/// One write batch and the model after it.
fn apply(db: &Db, model: &mut Model, i: u32) {
    let mut b = WriteBatch::new();
    let k = format!("key{:03}", i % 37).into_bytes();
    let v = format!("value-{i}-{}", "v".repeat((i % 11) as usize)).into_bytes();
    b.put(&k, &v);
    model.insert(k, v);
    if i.is_multiple_of(3) {
        let d = format!("key{:03}", (i * 7) % 37).into_bytes();
        b.delete(&d);
        model.remove(&d);
    }
    db.write(b).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        if name != "LOCK" {
            std::fs::copy(&p, to.join(name)).unwrap();
        }
    }
}

fn file_named(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pred(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    v.sort();
    v
}

/// Opens `dir` and reads everything: a full forward scan, a backward scan, a point read of every
/// key of the model, and `verify`. Returns the data, or the first error.
fn open_and_read(dir: &Path, o: &Options, keys: &[Vec<u8>]) -> Result<Model, Error> {
    let db = Db::open(dir, o.clone())?;
    let mut fwd = Model::new();
    for kv in db.range::<&[u8], _>(..) {
        let (k, v) = kv?;
        fwd.insert(k.to_vec(), v.to_vec());
    }
    let mut bwd = Model::new();
    for kv in db.range::<&[u8], _>(..).rev() {
        let (k, v) = kv?;
        bwd.insert(k.to_vec(), v.to_vec());
    }
    assert_eq!(fwd, bwd, "forward and backward scans disagree");
    for k in keys {
        let got = db.get(k)?.map(|v| v.to_vec());
        assert_eq!(got.as_ref(), fwd.get(k), "get and scan disagree on {k:?}");
    }
    db.verify()?;
    db.close()?;
    Ok(fwd)
}

/// What happened to one damaged copy.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Outcome {
    Error,
    Exact,
    /// An allowed torn-tail recovery (fewer records than written).
    Torn,
}

struct Case<'a> {
    /// The pristine directory.
    src: &'a Path,
    /// Name of the file to damage.
    name: String,
    opts: Options,
    keys: Vec<Vec<u8>>,
    expected: Model,
}

impl Case<'_> {
    /// Damages a copy with `f`, opens and reads it, and checks the outcome: an error naming the
    /// file, the exact data, or one of `torn_ok`. Returns what happened.
    fn run(&self, what: &str, f: impl FnOnce(&mut Vec<u8>), torn_ok: &[&Model]) -> Outcome {
        let tmp = common::dir::tmpfs_tempdir();
        copy_dir(self.src, tmp.path());
        let path = tmp.path().join(&self.name);
        let mut bytes = std::fs::read(&path).unwrap();
        f(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            open_and_read(tmp.path(), &self.opts, &self.keys)
        }));
        let ctx = format!("{} {what}", self.name);
        match r {
            Err(_) => panic!("{ctx}: panicked"),
            Ok(Ok(data)) if data == self.expected => Outcome::Exact,
            Ok(Ok(data)) if torn_ok.contains(&&data) => Outcome::Torn,
            Ok(Ok(data)) => panic!(
                "{ctx}: wrong data: {} keys, expected {} (missing {:?}, extra {:?})",
                data.len(),
                self.expected.len(),
                self.expected
                    .keys()
                    .filter(|k| !data.contains_key(*k))
                    .take(3)
                    .collect::<Vec<_>>(),
                data.iter()
                    .filter(|(k, v)| self.expected.get(*k) != Some(v))
                    .take(3)
                    .collect::<Vec<_>>()
            ),
            Ok(Err(e)) => {
                let file = match &e {
                    Error::Corruption { file, .. } | Error::UnsupportedVersion { file, .. } => file,
                    other => panic!("{ctx}: error of the wrong kind: {other:?}"),
                };
                assert!(
                    file.file_name()
                        .is_some_and(|n| n.to_string_lossy() == self.name),
                    "{ctx}: error names {} instead of the damaged file: {e}",
                    file.display()
                );
                Outcome::Error
            }
        }
    }
}

/// Byte positions to damage: all of a small file; of a larger one every `stride`-th byte plus the
/// first and last 256 bytes (headers, footer, meta, index) in full.
fn positions(len: usize, all_below: usize) -> Vec<usize> {
    if len <= all_below {
        return (0..len).collect();
    }
    let stride = len.div_ceil(all_below / 2).max(1);
    let mut v: Vec<usize> = (0..len).step_by(stride).collect();
    v.extend(0..256.min(len));
    v.extend(len.saturating_sub(256)..len);
    v.sort();
    v.dedup();
    v
}

fn tally(outcomes: &[Outcome]) -> String {
    let n = |o| outcomes.iter().filter(|&&x| x == o).count();
    format!(
        "{} cases: {} errors, {} exact, {} torn",
        outcomes.len(),
        n(Outcome::Error),
        n(Outcome::Exact),
        n(Outcome::Torn)
    )
}

/// WAL: a database that never flushed, so one segment holds every batch as one record each.
#[test]
fn wal_segment_flips_and_truncations() {
    let src = common::dir::tmpfs_tempdir();
    let o = opts(Compression::Lz4);
    let db = Db::open(src.path(), o.clone()).unwrap();
    let mut model = Model::new();
    let mut prefixes = vec![model.clone()];
    for i in 0..12 {
        apply(&db, &mut model, i);
        prefixes.push(model.clone());
    }
    db.close().unwrap();
    let wals = file_named(src.path(), |n| n.ends_with(".wal"));
    assert_eq!(wals.len(), 1, "one WAL segment");
    let data = std::fs::read(&wals[0]).unwrap();
    let seg = lsmkv::wal::read_segment(&data, &wals[0]).unwrap();
    assert_eq!(seg.records.len(), 12, "one record per batch");
    // Record i spans [start_i, end_i).
    let spans: Vec<(usize, usize)> = seg
        .records
        .iter()
        .map(|r| {
            (
                r.offset as usize,
                r.payload_offset() as usize + r.payload.len(),
            )
        })
        .collect();
    let logical_end = spans.last().unwrap().1;
    let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key{i:03}").into_bytes()).collect();
    let case = Case {
        src: src.path(),
        name: wals[0].file_name().unwrap().to_string_lossy().into_owned(),
        opts: o,
        keys,
        expected: model.clone(),
    };
    let last = spans.len() - 1;
    let mut outcomes = Vec::new();
    for pos in positions(data.len().min(logical_end + 64), 4096) {
        // A flip inside the last record is a torn tail by design: that record may never have
        // been acknowledged. Anywhere else it must be detected.
        let in_last = pos >= spans[last].0 && pos < spans[last].1;
        let torn: Vec<&Model> = if in_last {
            vec![&prefixes[last]]
        } else {
            vec![]
        };
        outcomes.push(case.run(&format!("flip at {pos}"), |b| b[pos] ^= 0xff, &torn));
    }
    for cut in (0..=logical_end).step_by(3).chain([logical_end]) {
        // Truncation keeps exactly the complete records before the cut.
        let kept = spans.iter().filter(|s| s.1 <= cut).count();
        let torn = [&prefixes[kept]];
        outcomes.push(case.run(&format!("truncated to {cut}"), |b| b.truncate(cut), &torn));
    }
    eprintln!("WAL {}: {}", case.name, tally(&outcomes));
    assert!(outcomes.contains(&Outcome::Error) && outcomes.contains(&Outcome::Torn));
}

/// Builds a database with two flushed SSTables (LZ4 and raw blocks mixed) and an empty WAL.
fn two_table_db(compression: Compression) -> (tempfile::TempDir, Options, Model, Model) {
    let src = common::dir::tmpfs_tempdir();
    let o = opts(compression);
    let db = Db::open(src.path(), o.clone()).unwrap();
    let mut model = Model::new();
    for i in 0..40 {
        apply(&db, &mut model, i);
    }
    db.flush().unwrap();
    let after_first = model.clone();
    for i in 40..70 {
        apply(&db, &mut model, i);
    }
    db.flush().unwrap();
    db.close().unwrap();
    (src, o, model, after_first)
}

#[test]
fn sstable_flips_and_truncations() {
    for compression in [Compression::Lz4, Compression::None] {
        let (src, o, model, _) = two_table_db(compression);
        let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key{i:03}").into_bytes()).collect();
        for sst in file_named(src.path(), |n| n.ends_with(".sst")) {
            let len = std::fs::metadata(&sst).unwrap().len() as usize;
            let case = Case {
                src: src.path(),
                name: sst.file_name().unwrap().to_string_lossy().into_owned(),
                opts: o.clone(),
                keys: keys.clone(),
                expected: model.clone(),
            };
            let mut outcomes = Vec::new();
            for pos in positions(len, 700) {
                outcomes.push(case.run(&format!("flip at {pos}"), |b| b[pos] ^= 0xff, &[]));
            }
            for cut in (0..len).step_by(len / 97 + 1).chain([len - 1, len - 52]) {
                outcomes.push(case.run(&format!("truncated to {cut}"), |b| b.truncate(cut), &[]));
            }
            eprintln!(
                "SST {} ({compression:?}, {len} bytes): {}",
                case.name,
                tally(&outcomes)
            );
            // Every byte of a table is covered by a checksum or checked structure.
            assert!(
                outcomes.iter().all(|&o| o == Outcome::Error),
                "{}: some damage went unnoticed: {}",
                case.name,
                tally(&outcomes)
            );
        }
    }
}

#[test]
fn manifest_and_current_flips_and_truncations() {
    let (src, o, model, after_first) = two_table_db(Compression::Lz4);
    let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key{i:03}").into_bytes()).collect();
    let manifests = file_named(src.path(), |n| n.starts_with("MANIFEST-"));
    assert_eq!(manifests.len(), 1);
    let data = std::fs::read(&manifests[0]).unwrap();
    let edits = lsmkv::manifest::read_manifest(&data, &manifests[0]).unwrap();
    // Offsets of the records: header 16, then 12-byte record headers.
    let mut starts = Vec::new();
    let mut pos = 16usize;
    while pos + 12 <= data.len() {
        starts.push(pos);
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 12 + len;
    }
    assert_eq!(starts.len(), edits.len());
    let last_start = *starts.last().unwrap();
    let mut case = Case {
        src: src.path(),
        name: manifests[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        opts: o,
        keys,
        expected: model.clone(),
    };
    let mut outcomes = Vec::new();
    let empty = Model::new();
    for pos in 0..data.len() {
        // Damage in the last record reads as a torn append (the manifest format cannot tell a
        // torn write from a flipped byte in the last record). Recovery then runs without the
        // second flush's edit; the second table becomes an orphan and its WAL is gone, so what is
        // left is the state after the first flush. The format documents this; it is counted.
        let torn: Vec<&Model> = if pos >= last_start {
            vec![&after_first]
        } else {
            vec![]
        };
        outcomes.push(case.run(&format!("flip at {pos}"), |b| b[pos] ^= 0xff, &torn));
    }
    // A manifest cut after its first record reads as a shorter log with a torn tail (a cut at EOF
    // looks like an interrupted append). Recovery must then notice that a table the lost edits
    // recorded holds writes nothing else recovers (its WAL segment is gone), and refuse with a
    // corruption error naming the manifest, instead of returning the state of an earlier flush.
    let mut lost = 0;
    for cut in 0..data.len() {
        let torn: Vec<&Model> = if cut >= starts[1] {
            vec![&after_first, &empty]
        } else {
            vec![]
        };
        let out = case.run(&format!("truncated to {cut}"), |b| b.truncate(cut), &torn);
        if out == Outcome::Torn && cut < last_start {
            lost += 1;
        }
        outcomes.push(out);
    }
    assert_eq!(lost, 0, "{lost} manifest truncations silently lost data");
    eprintln!(
        "manifest {} ({} bytes): {}",
        case.name,
        data.len(),
        tally(&outcomes)
    );

    case.name = "CURRENT".into();
    let current = std::fs::read(src.path().join("CURRENT")).unwrap();
    let mut outcomes = Vec::new();
    for pos in 0..current.len() {
        outcomes.push(case.run(&format!("flip at {pos}"), |b| b[pos] ^= 0xff, &[]));
        outcomes.push(case.run(&format!("byte {pos} -> '2'"), |b| b[pos] = b'2', &[]));
    }
    for cut in 0..current.len() {
        outcomes.push(case.run(&format!("truncated to {cut}"), |b| b.truncate(cut), &[]));
    }
    eprintln!("CURRENT: {}", tally(&outcomes));
}
