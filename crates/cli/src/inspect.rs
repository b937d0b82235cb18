//! Text rendering of the read-only dumps in [`lsmkv::debug`] (`lsmkv inspect`, `lsmkv verify`).
//! JSON output serializes the dumps directly.

use std::fmt::Write as _;

use lsmkv::debug::Problem;
use lsmkv::debug::manifest::{EditInfo, ManifestDump, StateInfo, TableEntry};
use lsmkv::debug::sst::{BlockInfo, DataSummary, EntryInfo, MetaInfo, SstDump};
use lsmkv::debug::verify::VerifyReport;
use lsmkv::debug::wal::WalDump;

use crate::output::human_bytes;

fn problems_text(s: &mut String, problems: &[Problem]) {
    if problems.is_empty() {
        s.push_str("problems: none\n");
        return;
    }
    let _ = writeln!(s, "problems: {}", problems.len());
    for p in problems {
        let _ = writeln!(s, "  {p}");
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `... (N bytes)` after a value preview cut short, else nothing.
fn truncated(is_truncated: bool, len: impl std::fmt::Display) -> String {
    if is_truncated {
        format!("... ({len} bytes)")
    } else {
        String::new()
    }
}

/// `lsmkv inspect sst`.
pub fn sst_text(d: &SstDump) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "file: {} ({} bytes)", d.file.display(), d.file_size);
    if let Some(f) = &d.footer {
        let _ = writeln!(
            s,
            "footer at {}: format version {}; filter @{}+{}, index @{}+{}, meta @{}+{}",
            f.offset,
            f.format_version,
            f.filter.offset,
            f.filter.len,
            f.index.offset,
            f.index.len,
            f.meta.offset,
            f.meta.len
        );
    }
    if let Some(m) = &d.meta {
        sst_meta(&mut s, m);
    }
    if let Some(f) = &d.filter {
        let _ = writeln!(
            s,
            "filter: {} ({} bytes on disk), {} hashes, {} bits, {} bits/key",
            f.format_name,
            f.on_disk_bytes,
            opt(f.num_hashes),
            opt(f.bits),
            f.bits_per_key
                .map_or_else(|| "-".to_string(), |b| format!("{b:.2}"))
        );
    }
    if let Some(i) = &d.index {
        let _ = writeln!(
            s,
            "index: {} entries ({} bytes on disk)",
            i.entries, i.on_disk_bytes
        );
    }
    if let Some(sum) = &d.data {
        sst_data(&mut s, sum);
    }
    sst_blocks(&mut s, &d.blocks);
    sst_entries(&mut s, &d.keys);
    problems_text(&mut s, &d.problems);
    s
}

/// The three `meta:` lines of an SSTable.
fn sst_meta(s: &mut String, m: &MetaInfo) {
    let _ = writeln!(
        s,
        "meta: {} entries ({} tombstones, {} distinct keys), seqno {}..{}, {} data blocks",
        m.entries, m.tombstones, m.distinct_user_keys, m.min_seqno, m.max_seqno, m.data_blocks
    );
    let _ = writeln!(
        s,
        "      raw keys {}, raw values {}, data on disk {}; block size {}, restart interval {}",
        human_bytes(m.raw_key_bytes),
        human_bytes(m.raw_value_bytes),
        human_bytes(m.data_bytes),
        m.block_size,
        m.restart_interval
    );
    let _ = writeln!(
        s,
        "      keys \"{}\" (seqno {}) .. \"{}\" (seqno {})",
        m.smallest_key.as_deref().unwrap_or(""),
        opt(m.smallest_seqno),
        m.largest_key.as_deref().unwrap_or(""),
        opt(m.largest_seqno)
    );
}

/// The `data:` line: block counts, sizes and compression of the data blocks.
fn sst_data(s: &mut String, sum: &DataSummary) {
    let _ = writeln!(
        s,
        "data: {} blocks ({} lz4, {} raw), {} on disk / {} decoded (ratio {:.3}), {} entries",
        sum.blocks,
        sum.lz4_blocks,
        sum.raw_blocks,
        human_bytes(sum.on_disk_bytes),
        human_bytes(sum.uncompressed_bytes),
        sum.compression_ratio,
        sum.entries
    );
}

/// `--blocks`: a table with one line per data block.
fn sst_blocks(s: &mut String, blocks: &[BlockInfo]) {
    if blocks.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{:>6} {:>10} {:>8} {:>5} {:>9} {:>6} {:>7} {:>8}  last key",
        "block", "offset", "on disk", "comp", "decoded", "ratio", "entries", "restarts"
    );
    for b in blocks {
        let _ = writeln!(
            s,
            "{:>6} {:>10} {:>8} {:>5} {:>9} {:>6} {:>7} {:>8}  \"{}\" @{}{}",
            b.block,
            b.offset,
            b.on_disk_bytes,
            b.compression,
            opt(b.uncompressed_bytes),
            b.ratio.map_or_else(|| "-".into(), |r| format!("{r:.3}")),
            opt(b.entries),
            opt(b.restarts),
            b.last_key.as_deref().unwrap_or("?"),
            opt(b.last_seqno),
            if b.ok { "" } else { "  DAMAGED" }
        );
    }
}

/// `--keys`: every entry of the table.
fn sst_entries(s: &mut String, keys: &[EntryInfo]) {
    if keys.is_empty() {
        return;
    }
    s.push_str("entries (block, seqno, kind, key, value):\n");
    for e in keys {
        let _ = writeln!(
            s,
            "  {:>4} {:>8} {:<6} \"{}\" \"{}\"{}",
            e.block,
            e.seqno,
            e.kind,
            e.key,
            e.value,
            truncated(e.value_truncated, e.value_len)
        );
    }
}

/// `lsmkv inspect wal`.
pub fn wal_text(d: &WalDump) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "file: {} ({} bytes), segment {}, format version {}",
        d.file.display(),
        d.file_size,
        opt(d.number),
        opt(d.format_version)
    );
    let _ = writeln!(
        s,
        "records: {}, entries: {}, seqno {}..{}",
        d.record_count,
        d.entry_count,
        opt(d.min_seqno),
        opt(d.max_seqno)
    );
    for r in &d.records {
        let _ = writeln!(
            s,
            "record @{} ({} bytes): seqno {} count {}{}",
            r.offset,
            r.payload_bytes,
            opt(r.base_seqno),
            opt(r.count),
            r.error
                .as_deref()
                .map(|e| format!("  BAD BATCH: {e}"))
                .unwrap_or_default()
        );
        for e in &r.entries {
            let value = if e.kind == "put" {
                format!(
                    " \"{}\"{}",
                    e.value,
                    truncated(e.value_truncated, e.value_len)
                )
            } else {
                String::new()
            };
            let _ = writeln!(s, "  {:>8} {:<6} \"{}\"{value}", e.seqno, e.kind, e.key);
        }
    }
    let _ = match d.tail.kind.as_str() {
        "clean" => writeln!(s, "tail: clean"),
        "sealed" => writeln!(
            s,
            "tail: sealed at offset {} (a finished segment; the seal counts its {} records)",
            opt(d.tail.offset),
            d.record_count
        ),
        "torn" => writeln!(
            s,
            "tail: torn write at offset {} ({} bytes; recovery drops them)",
            opt(d.tail.offset),
            opt(d.tail.bytes_after)
        ),
        other => writeln!(s, "tail: {other} at offset {}", opt(d.tail.offset)),
    };
    problems_text(&mut s, &d.problems);
    s
}

fn table_line(s: &mut String, t: &TableEntry) {
    let _ = writeln!(
        s,
        "    {:06}.sst {:>10} {:>8} entries {:>6} tombstones  \"{}\" .. \"{}\"  seqno {}..{}",
        t.number,
        human_bytes(t.file_size),
        t.entries,
        t.tombstones,
        t.smallest_key,
        t.largest_key,
        t.min_seqno,
        t.max_seqno
    );
}

/// `lsmkv inspect manifest`.
pub fn manifest_text(d: &ManifestDump) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "directory: {}", d.dir.display());
    let _ = writeln!(
        s,
        "CURRENT: {}",
        d.current.as_deref().unwrap_or("(unreadable)")
    );
    if let Some(m) = &d.manifest {
        let _ = writeln!(s, "manifest: {} ({} bytes)", m.display(), d.file_size);
    }
    if !d.other_manifests.is_empty() {
        let _ = writeln!(s, "other manifests: {}", d.other_manifests.join(", "));
    }
    let _ = writeln!(s, "version history ({} edits):", d.edits.len());
    for e in &d.edits {
        manifest_edit(&mut s, e);
    }
    if let Some(o) = d.torn_at {
        let _ = writeln!(s, "torn last record at offset {o} (dropped at open)");
    }
    if let Some(st) = &d.state {
        manifest_state(&mut s, st);
    }
    problems_text(&mut s, &d.problems);
    s
}

/// One edit of the version history: its fields, then the tables it adds.
fn manifest_edit(s: &mut String, e: &EditInfo) {
    let mut parts = Vec::new();
    if let Some(n) = e.next_file_number {
        parts.push(format!("next_file={n}"));
    }
    if let Some(n) = e.last_seqno {
        parts.push(format!("last_seqno={n}"));
    }
    if let Some(n) = e.log_number {
        parts.push(format!("log={n}"));
    }
    if !e.added.is_empty() {
        parts.push(format!("+{} tables", e.added.len()));
    }
    if !e.deleted.is_empty() {
        let del: Vec<String> = e
            .deleted
            .iter()
            .map(|d| format!("L{}#{}", d.level, d.number))
            .collect();
        parts.push(format!("-[{}]", del.join(" ")));
    }
    let _ = writeln!(s, "  @{:<8} {}", e.offset, parts.join(" "));
    for t in &e.added {
        let _ = write!(s, "    L{}", t.level);
        table_line(s, t);
    }
}

/// The live state the manifest replays to: counters and the tables of each level.
fn manifest_state(s: &mut String, st: &StateInfo) {
    let _ = writeln!(
        s,
        "live state: next_file_number {}, last_seqno {}, log_number {}",
        st.next_file_number, st.last_seqno, st.log_number
    );
    if st.levels.iter().all(|l| l.files == 0) {
        s.push_str("  no live tables\n");
    }
    for l in st.levels.iter().filter(|l| l.files > 0) {
        let _ = writeln!(
            s,
            "  L{}: {} files, {}",
            l.level,
            l.files,
            human_bytes(l.bytes)
        );
        for t in &l.tables {
            table_line(s, t);
        }
    }
}

/// `lsmkv verify`.
pub fn verify_text(r: &VerifyReport) -> String {
    let mut s = String::new();
    for f in &r.files {
        let _ = writeln!(
            s,
            "{} {} ({}): {}",
            if f.ok { "ok     " } else { "CORRUPT" },
            f.file.display(),
            f.kind,
            f.detail
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if r.ok() {
        let _ = writeln!(s, "verified {} files: no problems", r.files.len());
    } else {
        problems_text(&mut s, &r.problems);
    }
    s
}
