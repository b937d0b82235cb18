//! `lsmkv import` / `lsmkv export`: a 100,000-key round trip through JSON lines, binary keys and
//! values through base64 fields and CSV, `--prefix`, and malformed input (exit status 2, the
//! batches before it applied).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;

use common::{lsmkv_without, output_in_temp_dir, output_with_stdin};

fn lsmkv(dir: &Path, args: &[&str]) -> Output {
    output_in_temp_dir(
        lsmkv_without(&["DATA_DIR"])
            .env("WAL_SYNC_MODE", "none")
            .arg("--data-dir")
            .arg(dir)
            .args(args),
    )
}

fn ok(o: &Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "status {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout.clone()
}

/// Parses JSON-lines export output into a map of raw bytes.
fn parse_jsonl(data: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |v: &serde_json::Value, name: &str| -> Vec<u8> {
        match v.get(name) {
            Some(s) => s.as_str().unwrap().as_bytes().to_vec(),
            None => b64
                .decode(v[format!("{name}_base64")].as_str().unwrap())
                .unwrap(),
        }
    };
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (field(&v, "key"), field(&v, "value"))
        })
        .collect()
}

#[test]
fn round_trip_of_100k_keys_through_json_lines() {
    const N: usize = 100_000;
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.jsonl");
    let mut expected = BTreeMap::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..N {
            let key = format!("key{i:07}");
            let value = format!("value-{i}-\"quoted\"\t\u{e9}");
            writeln!(f, "{}", serde_json::json!({"key": key, "value": value})).unwrap();
            expected.insert(key.into_bytes(), value.into_bytes());
        }
        // Binary key and value, in base64 fields; and a blank line, which is skipped.
        writeln!(f, "\n{{\"key_base64\":\"AP8=\",\"value_base64\":\"gA==\"}}").unwrap();
        expected.insert(vec![0x00, 0xff], vec![0x80]);
    }
    let db = d.path().join("db");
    let started = std::time::Instant::now();
    let o = lsmkv(&db, &["import", input.to_str().unwrap()]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("imported {} records in 101 batches", N + 1)),
        "{err}"
    );

    let exported = ok(&lsmkv(&db, &["export"]));
    let got = parse_jsonl(&exported);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "exported data differs from the imported data"
    );
    eprintln!("100k import + export: {:?}", started.elapsed());

    // Exported JSON lines (base64 fields included) import again into an identical database;
    // a slice keeps the test fast.
    let lines: Vec<&[u8]> = exported
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut slice = lines[..1000].join(&b'\n');
    slice.push(b'\n');
    slice.extend_from_slice(lines[0]); // the binary key sorts first
    slice.push(b'\n');
    let again = d.path().join("again.jsonl");
    std::fs::write(&again, &slice).unwrap();
    let db2 = d.path().join("db2");
    ok(&lsmkv(
        &db2,
        &["import", again.to_str().unwrap(), "--batch-size", "300"],
    ));
    let out = d.path().join("out2.jsonl");
    ok(&lsmkv(&db2, &["export", "-o", out.to_str().unwrap()]));
    let mut want = lines[..1000].join(&b'\n');
    want.push(b'\n');
    assert_eq!(std::fs::read(&out).unwrap(), want);
    assert!(want.starts_with(b"{\"key_base64\":\"AP8=\""));

    // --prefix exports a slice.
    let some = parse_jsonl(&ok(&lsmkv(&db, &["export", "--prefix", "key000012"])));
    assert_eq!(some.len(), 10);
    assert!(some.keys().all(|k| k.starts_with(b"key000012")));
}

#[test]
fn csv_round_trip_keeps_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let input = d.path().join("in.csv");
    std::fs::write(
        &input,
        b"key,value\nplain,1\n\"with,comma\",\"multi\nline\"\n\"q\"\"uote\",\xff\x00\n".as_slice(),
    )
    .unwrap();
    ok(&lsmkv(&db, &["import", input.to_str().unwrap()]));
    assert_eq!(
        ok(&lsmkv(&db, &["--raw", "get", "with,comma"])),
        b"multi\nline"
    );
    assert_eq!(ok(&lsmkv(&db, &["--raw", "get", "q\"uote"])), b"\xff\x00");

    let out = d.path().join("out.csv");
    ok(&lsmkv(&db, &["export", "--output", out.to_str().unwrap()]));
    let db2 = d.path().join("db2");
    ok(&lsmkv(&db2, &["import", out.to_str().unwrap()]));
    let a = ok(&lsmkv(&db, &["--json", "scan"]));
    let b = ok(&lsmkv(&db2, &["--json", "scan"]));
    assert_eq!(a, b);
    assert_eq!(parse_jsonl(&a).len(), 3);

    // CSV to stdout with --format.
    let csv = ok(&lsmkv(
        &db,
        &["export", "--format", "csv", "--prefix", "plain"],
    ));
    assert_eq!(csv, b"key,value\nplain,1\n");
}

#[test]
fn import_from_stdin() {
    let d = tempfile::tempdir().unwrap();
    let mut cmd = lsmkv_without(&["DATA_DIR"]);
    cmd.arg("--data-dir").arg(d.path()).args(["import", "-"]);
    ok(&output_with_stdin(
        &mut cmd,
        b"{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"b\",\"value\":\"2\"}\n",
    ));
    assert_eq!(ok(&lsmkv(d.path(), &["--raw", "get", "b"])), b"2");
}

#[test]
fn malformed_input_stops_with_status_2_naming_the_record() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let input = d.path().join("bad.jsonl");
    let mut text = String::new();
    for i in 0..5 {
        text.push_str(&format!("{{\"key\":\"k{i}\",\"value\":\"v\"}}\n"));
    }
    text.push_str("{\"key\":\"k5\"}\n{\"key\":\"k6\",\"value\":\"v\"}\n");
    std::fs::write(&input, text).unwrap();
    let o = lsmkv(
        &db,
        &["import", input.to_str().unwrap(), "--batch-size", "2"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("input record 6") && err.contains("\"value\""),
        "{err}"
    );
    // Batches before the bad record were applied; the record after it was not.
    assert_eq!(ok(&lsmkv(&db, &["--raw", "get", "k3"])), b"v");
    assert_eq!(lsmkv(&db, &["get", "k6"]).status.code(), Some(1));

    std::fs::write(&input, "not json\n").unwrap();
    assert_eq!(
        lsmkv(&db, &["import", input.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let csv = d.path().join("bad.csv");
    std::fs::write(&csv, "a,b,c\n").unwrap();
    assert_eq!(
        lsmkv(&db, &["import", csv.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let o = lsmkv(
        &db,
        &["import", d.path().join("absent.jsonl").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(4));
}
