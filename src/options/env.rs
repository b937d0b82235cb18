//! Options from environment variables: [`Options::from_env`], [`Options::from_lookup`] and the
//! value parsers they share with the front ends ([`Options::parse_size`]).
//!
//! Every field has a variable of the same name in upper case; a variable that is set but invalid
//! is an [`Error::InvalidArgument`] naming it and what it accepts.

use std::path::PathBuf;
use std::str::FromStr;

use super::{BlockRead, CompactionStrategy, Compression, Options, SyncMode, WalRecoveryMode};
use crate::error::{Error, Result};

/// Reads variables by name.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Options {
    /// Options from the process environment, starting from the defaults. A variable that is set
    /// but invalid is an [`Error::InvalidArgument`] naming it and what it accepts.
    pub fn from_env() -> Result<Options> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Like [`Options::from_env`], reading variables through `lookup` (for tests and for callers
    /// that keep configuration elsewhere).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Options> {
        let mut o = Options::default();
        set_wal_and_memtables(lookup, &mut o)?;
        set_tables(lookup, &mut o)?;
        set_compaction(lookup, &mut o)?;
        o.validate()?;
        Ok(o)
    }

    /// Parses a byte size as the `*_SIZE` variables take it: a plain number of bytes, or a
    /// number with a K/M/G suffix (`64MiB`, `64M`, `64mb` are all 64 * 2^20). Front ends use it
    /// for their own size settings.
    ///
    /// # Errors
    /// A message saying what was expected, for a malformed size or one that overflows `u64`.
    pub fn parse_size(s: &str) -> Result<u64, String> {
        parse_size(s)
    }
}

/// The data directory, the WAL and the memtables.
fn set_wal_and_memtables(lookup: Lookup<'_>, o: &mut Options) -> Result<()> {
    set(lookup, "DATA_DIR", |s| Ok(PathBuf::from(s)), &mut o.data_dir)?;
    set(lookup, "WAL_SYNC_MODE", SyncMode::from_str, &mut o.sync_mode)?;
    set(lookup, "WAL_SYNC_INTERVAL_MS", number, &mut o.wal_sync_interval_ms)?;
    let recovery_mode = &mut o.wal_recovery_mode;
    set(lookup, "WAL_RECOVERY_MODE", WalRecoveryMode::from_str, recovery_mode)?;
    set(lookup, "MAX_WAL_SIZE", parse_size, &mut o.max_wal_size)?;
    set(lookup, "MEMTABLE_MAX_SIZE", size_usize, &mut o.memtable_max_size)?;
    let max_imms = &mut o.max_immutable_memtables;
    set(lookup, "MAX_IMMUTABLE_MEMTABLES", number, max_imms)
}

/// Table layout, filters, the block cache, compression, the value size limit and checks.
fn set_tables(lookup: Lookup<'_>, o: &mut Options) -> Result<()> {
    set(lookup, "BLOCK_SIZE", size_usize, &mut o.block_size)?;
    set(lookup, "SPARSE_INDEX_INTERVAL", number, &mut o.sparse_index_interval)?;
    let fp_rate = &mut o.bloom_false_positive_rate;
    set(lookup, "BLOOM_FALSE_POSITIVE_RATE", parse_rate, fp_rate)?;
    set(lookup, "PREFIX_BLOOM_LENGTH", number, &mut o.prefix_bloom_length)?;
    set(lookup, "BLOCK_CACHE_SIZE_MB", number, &mut o.block_cache_size_mb)?;
    set(lookup, "MEMORY_BUDGET", parse_size, &mut o.memory_budget)?;
    set(lookup, "COMPRESSION", Compression::from_str, &mut o.compression)?;
    set(lookup, "MAX_VALUE_SIZE", size_usize, &mut o.max_value_size)?;
    set(lookup, "PARANOID_CHECKS", parse_bool, &mut o.paranoid_checks)?;
    set(lookup, "BLOCK_READ", BlockRead::from_str, &mut o.block_read)
}

/// Compaction and write backpressure.
fn set_compaction(lookup: Lookup<'_>, o: &mut Options) -> Result<()> {
    let strategy = &mut o.compaction_strategy;
    set(lookup, "COMPACTION_STRATEGY", CompactionStrategy::from_str, strategy)?;
    set(lookup, "COMPACTION_THREADS", number, &mut o.compaction_threads)?;
    set(lookup, "L0_COMPACTION_TRIGGER", number, &mut o.l0_compaction_trigger)?;
    let slowdown = &mut o.l0_slowdown_writes_trigger;
    set(lookup, "L0_SLOWDOWN_WRITES_TRIGGER", number, slowdown)?;
    set(lookup, "L0_STOP_WRITES_TRIGGER", number, &mut o.l0_stop_writes_trigger)?;
    set(lookup, "LEVEL_SIZE_RATIO", number, &mut o.level_size_ratio)?;
    set(lookup, "LEVEL_BASE_SIZE", parse_size, &mut o.level_base_size)?;
    set(lookup, "TARGET_FILE_SIZE", parse_size, &mut o.target_file_size)?;
    set(lookup, "MAX_LEVELS", number, &mut o.max_levels)?;
    set(lookup, "TIERED_MIN_MERGE_WIDTH", number, &mut o.tiered_min_merge_width)?;
    let rate = &mut o.compaction_max_bytes_per_sec;
    set(lookup, "COMPACTION_MAX_BYTES_PER_SEC", parse_size, rate)?;
    let soft = &mut o.soft_pending_compaction_bytes;
    set(lookup, "SOFT_PENDING_COMPACTION_BYTES", parse_size, soft)?;
    let hard = &mut o.hard_pending_compaction_bytes;
    set(lookup, "HARD_PENDING_COMPACTION_BYTES", parse_size, hard)
}

/// Sets `field` from variable `name` when it is set, naming the variable on a parse error.
fn set<T>(
    lookup: Lookup<'_>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    field: &mut T,
) -> Result<()> {
    if let Some(raw) = lookup(name) {
        *field = parse(&raw)
            .map_err(|why| Error::InvalidArgument(format!("{name}={raw:?}: {why}")))?;
    }
    Ok(())
}

/// See [`Options::parse_size`].
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a byte size such as 4096, 64KiB or 64MiB".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err("expected a byte size such as 4096, 64KiB or 64MiB".into()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| "byte size overflows".to_string())
}

/// A byte size for a `usize` field; sizes beyond `usize` saturate (validation rejects them).
fn size_usize(s: &str) -> Result<usize, String> {
    parse_size(s).map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| "expected a number in [0, 1)".to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn number<T: FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a non-negative whole number".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{BlockRead, CompactionStrategy, Compression, SyncMode, WalRecoveryMode};
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Options> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_validate() {
        Options::default().validate().unwrap();
        let o = with(&[]).unwrap();
        assert_eq!(o.memtable_max_size, 64 << 20);
        assert_eq!(o.write_buffer_budget(), None);
        assert_eq!(o.initial_cache_bytes(), 64 << 20);
        assert_eq!(o.block_size, 4096);
    }

    #[test]
    fn env_values_are_wired() {
        let o = with(&[
            ("MEMTABLE_MAX_SIZE", "1MiB"),
            ("BLOCK_SIZE", "8192"),
            ("SPARSE_INDEX_INTERVAL", "4"),
            ("BLOOM_FALSE_POSITIVE_RATE", "0.05"),
            ("WAL_SYNC_MODE", "always"),
            ("DATA_DIR", "/tmp/x"),
            ("BLOCK_CACHE_SIZE_MB", "8"),
            ("COMPRESSION", "none"),
            ("MAX_VALUE_SIZE", "1k"),
            ("MAX_WAL_SIZE", "1G"),
            ("WAL_SYNC_INTERVAL_MS", "5"),
            ("MAX_IMMUTABLE_MEMTABLES", "3"),
            ("PARANOID_CHECKS", "true"),
            ("BLOCK_READ", "mmap"),
            ("COMPACTION_STRATEGY", "lazy_leveling"),
            ("WAL_RECOVERY_MODE", "point_in_time"),
            ("PREFIX_BLOOM_LENGTH", "6"),
            ("COMPACTION_THREADS", "2"),
            ("L0_COMPACTION_TRIGGER", "3"),
            ("L0_SLOWDOWN_WRITES_TRIGGER", "8"),
            ("L0_STOP_WRITES_TRIGGER", "12"),
            ("LEVEL_SIZE_RATIO", "8"),
            ("LEVEL_BASE_SIZE", "1MiB"),
            ("TARGET_FILE_SIZE", "512KiB"),
            ("MAX_LEVELS", "5"),
            ("TIERED_MIN_MERGE_WIDTH", "3"),
            ("COMPACTION_MAX_BYTES_PER_SEC", "10MiB"),
            ("SOFT_PENDING_COMPACTION_BYTES", "1GiB"),
            ("HARD_PENDING_COMPACTION_BYTES", "2GiB"),
            ("MEMORY_BUDGET", "512MiB"),
        ])
        .unwrap();
        assert_eq!(o.memtable_max_size, 1 << 20);
        assert_eq!(o.block_size, 8192);
        assert_eq!(o.sparse_index_interval, 4);
        assert_eq!(o.bloom_false_positive_rate, 0.05);
        assert_eq!(o.sync_mode, SyncMode::Always);
        assert_eq!(o.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(o.block_cache_size_mb, 8);
        assert_eq!(o.compression, Compression::None);
        assert_eq!(o.max_value_size, 1024);
        assert_eq!(o.max_wal_size, 1 << 30);
        assert_eq!(o.wal_sync_interval_ms, 5);
        assert_eq!(o.max_immutable_memtables, 3);
        assert!(o.paranoid_checks);
        assert_eq!(o.block_read, BlockRead::Mmap);
        assert_eq!(o.compaction_strategy, CompactionStrategy::LazyLeveling);
        assert_eq!(o.compaction_threads, 2);
        assert_eq!(o.wal_recovery_mode, WalRecoveryMode::PointInTime);
        assert_eq!(o.prefix_bloom_length, 6);
        assert_eq!(o.l0_compaction_trigger, 3);
        assert_eq!(o.l0_slowdown_writes_trigger, 8);
        assert_eq!(o.l0_stop_writes_trigger, 12);
        assert_eq!(o.level_size_ratio, 8);
        assert_eq!(o.level_base_size, 1 << 20);
        assert_eq!(o.target_file_size, 512 << 10);
        assert_eq!(o.max_levels, 5);
        assert_eq!(o.tiered_min_merge_width, 3);
        assert_eq!(o.compaction_max_bytes_per_sec, 10 << 20);
        assert_eq!(o.soft_pending_compaction_bytes, 1 << 30);
        assert_eq!(o.hard_pending_compaction_bytes, 2 << 30);
        assert_eq!(o.memory_budget, 512 << 20);
        assert_eq!(o.write_buffer_budget(), Some(256 << 20));
        assert_eq!(o.initial_cache_bytes(), 256 << 20);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = with(&[("WAL_SYNC_MODE", "sometimes")]).unwrap_err();
        assert!(e.to_string().contains("WAL_SYNC_MODE"), "{e}");
        assert!(e.to_string().contains("always"), "{e}");
        let e = with(&[("BLOCK_SIZE", "big")]).unwrap_err();
        assert!(e.to_string().contains("BLOCK_SIZE"), "{e}");
        let e = with(&[("BLOOM_FALSE_POSITIVE_RATE", "2")]).unwrap_err();
        assert!(e.to_string().contains("BLOOM_FALSE_POSITIVE_RATE"), "{e}");
        let e = with(&[("MEMTABLE_MAX_SIZE", "10")]).unwrap_err();
        assert!(e.to_string().contains("MEMTABLE_MAX_SIZE"), "{e}");
        let e = with(&[("MEMORY_BUDGET", "1000")]).unwrap_err();
        assert!(e.to_string().contains("MEMORY_BUDGET"), "{e}");
        let e = with(&[("MEMORY_BUDGET", "lots")]).unwrap_err();
        assert!(e.to_string().contains("MEMORY_BUDGET"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
    }
}
