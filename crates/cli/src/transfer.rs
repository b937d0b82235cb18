//! `lsmkv import` and `lsmkv export`: JSON lines (`{"key": .., "value": ..}`, binary as
//! `key_base64`/`value_base64`, see [`crate::output`]) or CSV (`key,value`, any bytes, an optional
//! `key,value` header row). Both stream: import writes a batch every `batch_size` records (each
//! batch is atomic; a failure leaves the batches before it applied), export walks a snapshot. A
//! progress bar (rate, ETA) is drawn on stderr when it is a terminal.
//!
//! Both act on the [`Backend`]'s keyspace (`--keyspace`). In client mode (`--url`) import sends
//! each batch as one `POST /keys/batch` (also cut at [`REMOTE_BATCH_BYTES`], under the server's
//! JSON body limit) and export pages through `GET /keys` (`/keyspaces/{ks}/keys...` outside
//! `default`): not one snapshot, but every key present throughout is exported once.

use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value as Json};

use lsmkv::WriteBatch;

use crate::backend::Backend;
use crate::failure::{Failure, exit};
use crate::output::{get_json_bytes, json_entry};

/// File format of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// By file extension: `.csv` is CSV, anything else JSON lines.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::JsonLines,
        }
    }
}

/// Records per write batch unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// A batch is also written once its keys and values reach this many bytes.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// In client mode, a batch is sent once its keys and values reach this many bytes (the server's
/// MAX_JSON_PAYLOAD_SIZE is 1 MiB by default, and JSON escaping or base64 makes bytes longer).
pub const REMOTE_BATCH_BYTES: usize = 256 << 10;

/// What `import` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: u64,
    pub batches: u64,
}

fn progress_bar(len: Option<u64>, template: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style);
    }
    pb
}

fn bad_input(line: u64, why: impl std::fmt::Display) -> Failure {
    Failure {
        code: exit::USAGE,
        message: format!("input record {line}: {why}"),
    }
}

/// Accumulates records into batches and writes them.
struct Writer<'a> {
    db: Backend<'a>,
    batch: WriteBatch,
    /// Client mode: the batch's puts and their bytes.
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    put_bytes: usize,
    batch_size: usize,
    summary: ImportSummary,
}

impl Writer<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        self.summary.records += 1;
        let full = match self.db {
            Backend::Local(ks) => {
                self.batch.put_in(ks, key, value);
                self.batch.len() >= self.batch_size || self.batch.encoded_size() >= MAX_BATCH_BYTES
            }
            Backend::Remote(_) => {
                self.puts.push((key.to_vec(), value.to_vec()));
                self.put_bytes += key.len() + value.len();
                self.puts.len() >= self.batch_size || self.put_bytes >= REMOTE_BATCH_BYTES
            }
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        match self.db {
            Backend::Local(ks) if !self.batch.is_empty() => {
                ks.db().write(std::mem::take(&mut self.batch))?;
            }
            Backend::Remote(c) if !self.puts.is_empty() => {
                let refs: Vec<(&[u8], &[u8])> = self
                    .puts
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                c.put_batch(&refs)?;
                self.puts.clear();
                self.put_bytes = 0;
            }
            _ => return Ok(()),
        }
        self.summary.batches += 1;
        Ok(())
    }
}

/// Imports records from `input`. `total_bytes` (the file size, if known) sizes the progress bar.
///
/// # Errors
/// A malformed record (exit status 2, naming the record) or the engine's error; batches written
/// before it stay applied.
pub fn import<'a>(
    db: impl Into<Backend<'a>>,
    input: impl Read,
    total_bytes: Option<u64>,
    format: Format,
    batch_size: usize,
) -> Result<ImportSummary, Failure> {
    let db: Backend<'a> = db.into();
    let pb = progress_bar(
        total_bytes,
        "{spinner} import [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    );
    let reader = BufReader::with_capacity(1 << 16, pb.wrap_read(input));
    let mut w = Writer {
        db,
        batch: WriteBatch::new(),
        puts: Vec::new(),
        put_bytes: 0,
        batch_size: batch_size.max(1),
        summary: ImportSummary::default(),
    };
    match format {
        Format::JsonLines => import_json(reader, &mut w)?,
        Format::Csv => import_csv(reader, &mut w)?,
    }
    w.flush()?;
    pb.finish_and_clear();
    Ok(w.summary)
}

fn import_json(reader: impl BufRead, w: &mut Writer<'_>) -> Result<(), Failure> {
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i as u64 + 1;
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let obj: Map<String, Json> = serde_json::from_slice(&line)
            .map_err(|e| bad_input(n, format!("not a JSON object: {e}")))?;
        let key = get_json_bytes(&obj, "key")
            .map_err(|e| bad_input(n, e))?
            .ok_or_else(|| bad_input(n, "no \"key\" (or \"key_base64\")"))?;
        let value = get_json_bytes(&obj, "value")
            .map_err(|e| bad_input(n, e))?
            .ok_or_else(|| bad_input(n, "no \"value\" (or \"value_base64\")"))?;
        w.put(&key, &value)?;
    }
    Ok(())
}

fn import_csv(reader: impl Read, w: &mut Writer<'_>) -> Result<(), Failure> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    loop {
        let more = csv
            .read_byte_record(&mut record)
            .map_err(|e| bad_input(n + 1, format!("bad CSV: {e}")))?;
        if !more {
            return Ok(());
        }
        n += 1;
        let (Some(key), Some(value), 2) = (record.get(0), record.get(1), record.len()) else {
            return Err(bad_input(
                n,
                format!("expected 2 fields (key,value), found {}", record.len()),
            ));
        };
        if n == 1 && key == b"key" && value == b"value" {
            continue;
        }
        w.put(key, value)?;
    }
}

/// Writes every live key (or those starting with `prefix`) to `out`; returns how many.
///
/// # Errors
/// I/O errors of `out` and the engine's read errors.
pub fn export<'a>(
    db: impl Into<Backend<'a>>,
    out: impl Write,
    prefix: Option<&[u8]>,
    format: Format,
) -> Result<u64, Failure> {
    let db: Backend<'a> = db.into();
    const TEMPLATE: &str = "{spinner} export [{elapsed_precise}] {wide_bar} {human_pos}/~{human_len} keys {per_sec} ETA {eta}";
    match db {
        Backend::Local(ks) => {
            let pb = progress_bar(Some(ks.len_estimate()), TEMPLATE);
            let it = match prefix {
                Some(p) => ks.prefix(p),
                None => ks.range::<&[u8], _>(..),
            };
            write_records(it, out, format, pb)
        }
        Backend::Remote(c) => {
            let pb = progress_bar(
                None,
                "{spinner} export [{elapsed_precise}] {human_pos} keys {per_sec}",
            );
            let it = match prefix {
                Some(p) => c.prefix(p, false)?,
                None => c.range(None, None, false)?,
            };
            write_records(it, out, format, pb)
        }
    }
}

/// Writes the entries of `it` to `out` as `format`; returns how many.
fn write_records<I, K, V, E>(
    it: I,
    out: impl Write,
    format: Format,
    pb: ProgressBar,
) -> Result<u64, Failure>
where
    I: Iterator<Item = Result<(K, V), E>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
    Failure: From<E>,
{
    let mut n = 0u64;
    match format {
        Format::JsonLines => {
            let mut out = io::BufWriter::with_capacity(1 << 16, out);
            for kv in it {
                let (k, v) = kv?;
                writeln!(out, "{}", json_entry(k.as_ref(), Some(v.as_ref())))?;
                n += 1;
                if n.is_multiple_of(1024) {
                    pb.set_position(n);
                }
            }
            out.flush()?;
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            let csv_err = |e: csv::Error| match e.kind() {
                csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
                    Failure::closed_output()
                }
                _ => Failure::other(format!("writing CSV: {e}")),
            };
            csv.write_record([&b"key"[..], b"value"]).map_err(csv_err)?;
            for kv in it {
                let (k, v) = kv?;
                csv.write_record([k.as_ref(), v.as_ref()])
                    .map_err(csv_err)?;
                n += 1;
                if n.is_multiple_of(1024) {
                    pb.set_position(n);
                }
            }
            csv.flush()?;
        }
    }
    pb.finish_and_clear();
    Ok(n)
}
