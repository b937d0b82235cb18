//! `Db::checkpoint`: the copy is the database at one seqno, opens as an independent database,
//! is consistent while writers go on, and a crash or I/O error during it leaves the source
//! untouched and no partial copy that opens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use lsmkv::fs::{FaultFs, FaultRule, PowerLossFs, default_fs};
use lsmkv::{Db, Error, Options};

fn opts() -> Options {
    Options {
        memtable_max_size: 16 << 10,
        target_file_size: 16 << 10,
        level_base_size: 64 << 10,
        l0_compaction_trigger: 2,
        max_levels: 4,
        ..Options::default()
    }
}

fn contents(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// The database's files once the inputs of finished compactions are gone: a compaction drops its
/// last handles on them (which unlinks them) just after it reports done, so a listing taken right
/// after `compact()` may still show one. Waits (bounded) until the directory holds exactly the
/// live tables.
fn settled_files(db: &Db, dir: &Path) -> Vec<String> {
    let live = db.stats().sst_files as usize;
    for _ in 0..1000 {
        let f = files(dir);
        if f.iter().filter(|n| n.ends_with(".sst")).count() == live {
            return f;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    files(dir)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Tables, deletes and memtable contents all reach the copy; later writes do not; both stay
/// usable and independent.
#[test]
fn checkpoint_is_an_independent_copy() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("ckpt");
    let db = Db::open(src.path(), opts()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i:05}"), format!("v{i}").repeat(8))
            .unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    for i in (0..2000u32).step_by(7) {
        db.delete(format!("k{i:05}")).unwrap();
    }
    db.flush().unwrap();
    // No background work pending: what changes in the source directory is the checkpoint's doing.
    db.compact().unwrap();
    db.put("mem-only", "in the memtable").unwrap();
    let expected = contents(&db);
    let source_files = settled_files(&db, src.path());

    db.checkpoint(&target).unwrap();
    db.put("after", "not in the copy").unwrap();
    assert_eq!(
        files(src.path()),
        source_files,
        "the source directory changed"
    );

    let copy = Db::open(&target, opts()).unwrap();
    assert_eq!(contents(&copy), expected);
    copy.put("copy-only", "x").unwrap();
    assert!(db.get("copy-only").unwrap().is_none());
    assert!(copy.get("after").unwrap().is_none());
    copy.close().unwrap();
    // The copy reopens (it has its own WAL and manifest now) and the source is unaffected.
    let copy = Db::open(&target, opts()).unwrap();
    assert_eq!(copy.get("copy-only").unwrap().as_deref(), Some(&b"x"[..]));
    drop(copy);
    db.compact().unwrap();
    assert_eq!(
        db.get("after").unwrap().as_deref(),
        Some(&b"not in the copy"[..])
    );
}

#[test]
fn checkpoint_rejects_a_non_empty_directory_and_the_database_itself() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("something"), b"x").unwrap();
    let db = Db::open(src.path(), opts()).unwrap();
    db.put("a", "1").unwrap();
    let err = db.checkpoint(out.path()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = db.checkpoint(src.path()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // An existing empty directory is fine.
    let empty = tempfile::tempdir().unwrap();
    db.checkpoint(empty.path()).unwrap();
}

/// Hard links cannot cross file systems: a clear `InvalidArgument`, not a raw `EXDEV`. Runs only
/// where `/dev/shm` is a different file system from the temporary directory.
#[test]
fn checkpoint_on_another_file_system_is_a_clear_error() {
    use std::os::unix::fs::MetadataExt;
    let src = tempfile::tempdir().unwrap();
    let shm = Path::new("/dev/shm");
    let Ok(shm_meta) = std::fs::metadata(shm) else {
        return;
    };
    if shm_meta.dev() == std::fs::metadata(src.path()).unwrap().dev() {
        return;
    }
    let Ok(out) = tempfile::tempdir_in(shm) else {
        return;
    };
    let db = Db::open(src.path(), opts()).unwrap();
    db.put("a", "1").unwrap();
    db.flush().unwrap();
    let target = out.path().join("ckpt");
    let err = db.checkpoint(&target).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("same file system")),
        "{err}"
    );
    assert!(
        !target.exists(),
        "a failed checkpoint left its directory behind"
    );
}

/// Writers keep writing during the checkpoint. Each writer overwrites and deletes its own keys in
/// a fixed order, so the database at any seqno is, per writer, the model after some prefix of its
/// operations. The copy must be exactly that for every writer, with a prefix between what was
/// acknowledged before the call and after it; and its seqno lies between the seqnos of snapshots
/// taken right before and right after, equal contents when the seqnos are equal.
#[test]
fn checkpoint_during_concurrent_writes_equals_a_snapshot() {
    const WRITERS: u64 = 3;
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let db = Db::open(src.path(), opts()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let op = |t: u64, i: u64| -> (String, Option<String>) {
        let key = format!("w{t}-{:03}", i % 97);
        let val = (i % 5 != 4).then(|| format!("{t}-{i}-").repeat(10));
        (key, val)
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (db, stop, done) = (db.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    match op(t, i) {
                        (k, Some(v)) => db.put(k, v).unwrap(),
                        (k, None) => db.delete(k).unwrap(),
                    }
                    i += 1;
                    done[t as usize].store(i, Ordering::Release);
                }
            })
        })
        .collect();
    let model = |t: u64, n: u64| {
        let mut m = BTreeMap::new();
        for i in 0..n {
            match op(t, i) {
                (k, Some(v)) => m.insert(k.into_bytes(), v.into_bytes()),
                (k, None) => m.remove(k.as_bytes()),
            };
        }
        m
    };
    for round in 0..4 {
        while done.iter().map(|d| d.load(Ordering::Acquire)).sum::<u64>() < 2000 * (round + 1) {
            std::thread::yield_now();
        }
        let target = out.path().join(format!("ckpt{round}"));
        let before: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
        let snap_before = db.snapshot();
        db.checkpoint(&target).unwrap();
        let snap_after = db.snapshot();
        let after: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();

        let copy = Db::open(&target, opts()).unwrap();
        let copy_seqno = copy.snapshot().seqno();
        assert!(snap_before.seqno() <= copy_seqno && copy_seqno <= snap_after.seqno());
        let got = contents(&copy);
        for t in 0..WRITERS {
            let prefix = format!("w{t}-");
            let mine: BTreeMap<_, _> = got
                .iter()
                .filter(|(k, _)| k.starts_with(prefix.as_bytes()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let ti = t as usize;
            let matched = (before[ti]..=after[ti] + 1).any(|n| model(t, n) == mine);
            assert!(
                matched,
                "round {round}: writer {t}'s keys are not a prefix state"
            );
        }
        for (s, name) in [(&snap_before, "before"), (&snap_after, "after")] {
            if s.seqno() == copy_seqno {
                let snap: BTreeMap<_, _> = s
                    .range::<&[u8], _>(..)
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                assert_eq!(
                    snap, got,
                    "round {round}: copy differs from snapshot {name}"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    // With the writers stopped, a checkpoint equals a snapshot exactly.
    let snap = db.snapshot();
    let target = out.path().join("quiet");
    db.checkpoint(&target).unwrap();
    let copy = Db::open(&target, opts()).unwrap();
    assert_eq!(copy.snapshot().seqno(), snap.seqno());
    assert_eq!(contents(&copy), contents(&db));
}

/// A crash (power cut) at every step of a checkpoint: the failing file operation in the target
/// stands for the moment of the cut; the image of the target as of its last fsyncs either does
/// not open, is empty, or is the complete copy. The source is untouched and reopens with all its
/// data.
#[test]
fn crash_during_checkpoint_leaves_no_copy_that_opens() {
    let mut step = 1u64;
    loop {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("ckpt");
        std::fs::create_dir(&target).unwrap();
        let rec = PowerLossFs::new(default_fs(), &target).unwrap();
        let fault = FaultFs::new(rec.clone());
        let db = Db::open(src.path(), opts().with_file_system(fault.clone())).unwrap();
        for i in 0..600u32 {
            db.put(format!("k{i:04}"), format!("v{i}").repeat(20))
                .unwrap();
        }
        db.flush().unwrap();
        db.compact().unwrap();
        for i in 0..50u32 {
            db.put(format!("m{i:04}"), "memtable").unwrap();
        }
        let expected = contents(&db);
        let source_files = settled_files(&db, src.path());

        let guard = fault.inject(FaultRule {
            op: None,
            path_contains: target.canonicalize().unwrap().to_str().unwrap().to_owned(),
            path_ends_with: String::new(),
            after: step - 1,
            errno: 5,
            sticky: true,
        });
        let result = db.checkpoint(&target);
        let fired = guard.fired() > 0;
        drop(guard);
        assert_eq!(result.is_ok(), !fired, "step {step}: {result:?}");

        let image = tempfile::tempdir().unwrap();
        rec.crash_image(image.path()).unwrap();
        let image_files = files(image.path());
        match Db::open(image.path(), opts()) {
            Err(_) => assert!(fired, "step {step}: the finished copy does not open"),
            Ok(copy) if image_files.is_empty() => drop(copy),
            Ok(copy) => assert_eq!(
                contents(&copy),
                expected,
                "step {step}: a partial copy opened"
            ),
        }
        assert_eq!(
            files(src.path()),
            source_files,
            "step {step}: source changed"
        );
        drop(db);
        let reopened = Db::open(src.path(), opts()).unwrap();
        assert_eq!(
            contents(&reopened),
            expected,
            "step {step}: source lost data"
        );
        if !fired {
            assert!(
                step > 3,
                "the checkpoint should take several file operations"
            );
            break;
        }
        step += 1;
        assert!(step < 200, "the checkpoint never finished");
    }
}
