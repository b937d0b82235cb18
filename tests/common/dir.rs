//! Temporary directories and what is in a database directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A temporary directory on tmpfs (`/dev/shm`) when there is one, else a plain one: for tests
/// that open many databases, where fsync on a real disk would dominate the run time.
pub fn tmpfs_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("lsmkv-test")
            .tempdir_in(shm)
    {
        return d;
    }
    tempdir()
}

/// The files in `dir` whose extension is `ext` ("sst", "wal", "tmp"), sorted. File names are
/// zero-padded numbers, so this is also the numeric order: `.last()` is the newest.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Copies every file of the database directory `from` into `to`, but its `LOCK`.
pub fn copy_db_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The names of the files in `dir` whose extension is `ext`.
pub fn names_with_ext(dir: &Path, ext: &str) -> BTreeSet<String> {
    files_with_ext(dir, ext)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}
