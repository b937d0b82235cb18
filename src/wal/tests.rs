#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

use super::*;
use crate::error::Error;
use crate::format::wal::SEAL_RECORD_SIZE;

/// Deterministic filler bytes.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A segment written by `WalWriter` with `payloads`, finished; returns (path, bytes, offsets).
fn write_segment(
    dir: &Path,
    number: u64,
    payloads: &[Vec<u8>],
    preallocate: u64,
) -> (PathBuf, Vec<u8>, Vec<u64>) {
    let mut w = WalWriter::create(dir, number, preallocate).unwrap();
    let mut offsets = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        offsets.push(w.add_record(p));
        if i % 3 == 0 {
            w.flush().unwrap();
        }
    }
    let size = w.size();
    let path = w.path().to_path_buf();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, size);
    (path, bytes, offsets)
}

fn small_payloads() -> Vec<Vec<u8>> {
    vec![b"first".to_vec(), Vec::new(), payload(40, 3)]
}

fn payloads_of<'a>(s: &Segment<'a>) -> Vec<&'a [u8]> {
    s.records.iter().map(|r| r.payload).collect()
}

#[test]
fn round_trip_various_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1, 100, 64 << 10, 16 << 20, 0, 7];
    let payloads: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| payload(n, i as u64))
        .collect();
    let (path, _, offsets) = write_segment(dir.path(), 7, &payloads, 0);
    assert_eq!(path.file_name().unwrap(), "000007.wal");
    let r = WalReader::open(&path).unwrap();
    let seg = r.read().unwrap();
    assert_eq!(seg.number, 7);
    assert_eq!(seg.tail, Tail::Clean);
    assert_eq!(seg.records.len(), payloads.len());
    for ((rec, p), off) in seg.records.iter().zip(&payloads).zip(&offsets) {
        assert_eq!(rec.payload, &p[..]);
        assert_eq!(rec.offset, *off);
        assert_eq!(rec.payload_offset(), off + RECORD_HEADER_SIZE as u64);
    }
    // Streaming replay sees the same records.
    let mut seen = Vec::new();
    let tail = replay(&path, |rec| {
        seen.push((rec.offset, rec.payload.len()));
        Ok(())
    })
    .unwrap();
    assert_eq!(tail, Tail::Clean);
    let want: Vec<_> = offsets.iter().copied().zip(sizes).collect();
    assert_eq!(seen, want);
}

#[test]
fn many_records_with_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(dir.path(), 1, 0).unwrap();
    let mut batches = Vec::new();
    for i in 0..1000u64 {
        let mut b = crate::WriteBatch::new();
        b.put(format!("key{i}"), payload((i % 50) as usize, i));
        if i % 7 == 0 {
            b.delete(format!("gone{i}"));
        }
        let enc = b.seal(i * 2 + 1).to_vec();
        w.add_record(&enc);
        batches.push(enc);
        if i % 10 == 9 {
            w.sync().unwrap();
        }
    }
    w.sync().unwrap();
    let path = w.path().to_path_buf();
    drop(w);
    let r = WalReader::open(&path).unwrap();
    let seg = r.read().unwrap();
    assert_eq!(seg.tail, Tail::Clean);
    assert_eq!(seg.records.len(), 1000);
    for (i, rec) in seg.records.iter().enumerate() {
        assert_eq!(rec.payload, &batches[i][..]);
        let d = crate::batch::decode_batch(rec.payload, &path, rec.payload_offset()).unwrap();
        assert_eq!(d.base_seqno, i as u64 * 2 + 1);
        assert_eq!(d.entries().unwrap().len(), if i % 7 == 0 { 2 } else { 1 });
    }
}

#[test]
fn preallocated_segment_reads_clean_then_finish_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(dir.path(), 3, 1 << 20).unwrap();
    let path = w.path().to_path_buf();
    for i in 0..10 {
        w.add_record(&payload(100, i));
    }
    w.sync().unwrap();
    let logical = w.size();
    assert_eq!(
        logical,
        (SEGMENT_HEADER_SIZE + 10 * (RECORD_HEADER_SIZE + 100)) as u64
    );
    let on_disk = std::fs::metadata(&path).unwrap().len();
    // 1 MiB where fallocate is supported; the logical size elsewhere.
    assert!(on_disk == 1 << 20 || on_disk == logical, "{on_disk}");
    {
        let r = WalReader::open(&path).unwrap();
        let seg = r.read().unwrap();
        assert_eq!(seg.records.len(), 10);
        assert_eq!(seg.tail, Tail::Clean);
    }
    w.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), logical);
    let r = WalReader::open(&path).unwrap();
    assert_eq!(r.read().unwrap().tail, Tail::Clean);
}

#[test]
fn no_room_to_preallocate_is_not_an_error() {
    use crate::fs::{FaultFs, FaultOp, FaultRule, default_fs};
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new(default_fs());
    let _g = fs.inject(FaultRule::new(FaultOp::Allocate, 28));
    let mut w = WalWriter::create_with_fs(&*fs, dir.path(), 5, 64 << 10).unwrap();
    let path = w.path().to_path_buf();
    for i in 0..100 {
        w.add_record(&payload(1000, i));
    }
    w.sync().unwrap();
    assert!(fs.faults() > 0, "the reservation was attempted");
    let r = WalReader::open(&path).unwrap();
    let seg = r.read().unwrap();
    assert_eq!(seg.records.len(), 100);
    assert_eq!(seg.tail, Tail::Clean);
}

#[test]
fn preallocation_grows_a_chunk_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = 64u64 << 10;
    let mut w = WalWriter::create(dir.path(), 4, chunk).unwrap();
    let path = w.path().to_path_buf();
    for i in 0..2000 {
        w.add_record(&payload(100, i));
        if i % 100 == 99 {
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    let logical = w.size();
    assert!(logical > 3 * chunk);
    let on_disk = std::fs::metadata(&path).unwrap().len();
    // Where fallocate works: the logical size rounded up to the chunk; elsewhere the logical size.
    assert!(
        on_disk == logical.div_ceil(chunk) * chunk || on_disk == logical,
        "{on_disk} vs {logical}"
    );
    {
        let r = WalReader::open(&path).unwrap();
        let seg = r.read().unwrap();
        assert_eq!(seg.records.len(), 2000);
        assert_eq!(seg.tail, Tail::Clean);
    }
    w.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), logical);
}

#[test]
fn create_refuses_existing_segment() {
    let dir = tempfile::tempdir().unwrap();
    WalWriter::create(dir.path(), 5, 0).unwrap();
    let e = WalWriter::create(dir.path(), 5, 0).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn header_only_segment_is_clean_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let w = WalWriter::create(dir.path(), 9, 0).unwrap();
    assert_eq!(w.size(), SEGMENT_HEADER_SIZE as u64);
    assert_eq!(w.number(), 9);
    let path = w.path().to_path_buf();
    w.finish().unwrap();
    let seg_bytes = std::fs::read(&path).unwrap();
    let seg = read_segment(&seg_bytes, &path).unwrap();
    assert_eq!(
        (seg.number, seg.records.len(), seg.tail),
        (9, 0, Tail::Clean)
    );
}

#[test]
fn every_truncation_gives_complete_prefix_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, offsets) = write_segment(dir.path(), 1, &payloads, 0);
    let ends: Vec<usize> = offsets
        .iter()
        .zip(&payloads)
        .map(|(o, p)| *o as usize + RECORD_HEADER_SIZE + p.len())
        .collect();
    for cut in 0..=bytes.len() {
        let seg = read_segment(&bytes[..cut], &path)
            .unwrap_or_else(|e| panic!("cut {cut}: unexpected error {e}"));
        assert_eq!(seg.number, 1);
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(seg.records.len(), complete, "cut {cut}");
        let want: Vec<&[u8]> = payloads[..complete].iter().map(|p| &p[..]).collect();
        assert_eq!(payloads_of(&seg), want, "cut {cut}");
        let want_tail = if cut < SEGMENT_HEADER_SIZE {
            Tail::Torn { offset: 0 }
        } else if cut == SEGMENT_HEADER_SIZE || ends.contains(&cut) {
            Tail::Clean
        } else {
            Tail::Torn {
                offset: offsets[complete],
            }
        };
        assert_eq!(seg.tail, want_tail, "cut {cut}");
    }
}

#[test]
fn damage_in_middle_record_is_corruption_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, offsets) = write_segment(dir.path(), 1, &payloads, 0);
    let mid = offsets[1] as usize;
    // Every byte of the middle record (header and payload; its payload is empty).
    for at in mid..offsets[2] as usize {
        let mut b = bytes.clone();
        b[at] ^= 0x20;
        let e = read_segment(&b, &path).unwrap_err();
        assert!(
            matches!(e, Error::Corruption { offset, .. } if offset == offsets[1]),
            "flip at {at}: {e}"
        );
    }
    // A payload byte of the first record.
    let mut b = bytes.clone();
    b[offsets[0] as usize + RECORD_HEADER_SIZE + 2] ^= 1;
    let e = read_segment(&b, &path).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == offsets[0]),
        "{e}"
    );
}

#[test]
fn dropped_region_counts_intact_records_and_ignores_zero_fill() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = (0..6).map(|i| payload(30, i)).collect();
    let (_, bytes, offsets) = write_segment(dir.path(), 1, &payloads, 0);
    let end = bytes.len() as u64;
    // From a record boundary: that record and every one after it.
    let r = dropped_region(&bytes, offsets[2], 1);
    assert_eq!((r.bytes, r.records), (end - offsets[2], 4));
    // The damaged record is not counted; zero fill after the data is not dropped data.
    let mut b = bytes.clone();
    b[offsets[2] as usize + RECORD_HEADER_SIZE + 1] ^= 0x10;
    b.extend_from_slice(&[0; 4096]);
    let r = dropped_region(&b, offsets[2], 1);
    assert_eq!((r.bytes, r.records), (end - offsets[2], 3));
    // Salted checksums: the records do not validate as another segment's.
    assert_eq!(dropped_region(&bytes, offsets[0], 2).records, 0);
    // At or past the end: nothing.
    assert_eq!(dropped_region(&bytes, end, 1).bytes, 0);
    assert_eq!(dropped_region(&bytes, end + 10, 1).records, 0);
}

#[test]
fn damage_in_last_record_is_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, offsets) = write_segment(dir.path(), 1, &payloads, 0);
    for at in offsets[2] as usize..bytes.len() {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        let seg = read_segment(&b, &path).unwrap();
        assert_eq!(seg.records.len(), 2, "flip at {at}");
        assert_eq!(seg.tail, Tail::Torn { offset: offsets[2] }, "flip at {at}");
    }
}

#[test]
fn zero_gap_before_valid_record_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, mut bytes, offsets) = write_segment(dir.path(), 1, &payloads, 0);
    bytes[offsets[0] as usize..offsets[1] as usize].fill(0);
    let e = read_segment(&bytes, &path).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == offsets[0]),
        "{e}"
    );
    // Zero fill to the end is the clean end of the log.
    bytes[offsets[0] as usize..].fill(0);
    let seg = read_segment(&bytes, &path).unwrap();
    assert_eq!((seg.records.len(), seg.tail), (0, Tail::Clean));
}

#[test]
fn record_from_another_place_does_not_validate() {
    // A record framed for offset X is not valid at offset Y, nor in another segment.
    let mut buf = SegmentHeader::new(1).as_bytes().to_vec();
    frame_record(&mut buf, 1, 1000, b"payload");
    let seg = read_segment(&buf, Path::new("000001.wal")).unwrap();
    assert_eq!(seg.tail, Tail::Torn { offset: 24 });
    let mut buf = SegmentHeader::new(1).as_bytes().to_vec();
    frame_record(&mut buf, 2, 24, b"payload");
    let seg = read_segment(&buf, Path::new("x")).unwrap();
    assert_eq!(seg.tail, Tail::Torn { offset: 24 });
}

#[test]
fn header_damage_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes, _) = write_segment(dir.path(), 7, &small_payloads(), 0);
    for at in 0..SEGMENT_HEADER_SIZE {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            let e = read_segment(&b, &path).unwrap_err();
            assert!(
                matches!(e, Error::Corruption { offset: 0, .. }),
                "flip {mask:#x} at {at}: {e}"
            );
        }
    }
    // A valid header whose number disagrees with the file name.
    let other = dir.path().join("000008.wal");
    let e = read_segment(&bytes, &other).unwrap_err();
    assert!(matches!(e, Error::Corruption { offset: 12, .. }), "{e}");
    // A zeroed header in front of data.
    let mut b = bytes.clone();
    b[..SEGMENT_HEADER_SIZE].fill(0);
    let e = read_segment(&b, &path).unwrap_err();
    assert!(matches!(e, Error::Corruption { offset: 0, .. }), "{e}");
}

#[test]
fn unknown_version_is_unsupported() {
    let mut h = SegmentHeader::new(4);
    h.format_version = zerocopy::little_endian::U32::new(4);
    h.crc = zerocopy::little_endian::U32::new(h.compute_crc());
    let e = read_segment(h.as_bytes(), Path::new("000004.wal")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedVersion {
                found: 4,
                supported: 3,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn empty_and_zero_files_are_empty_segments() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("000011.wal");
    std::fs::write(&empty, b"").unwrap();
    let r = WalReader::open(&empty).unwrap();
    assert!(r.data().is_empty());
    let seg = r.read().unwrap();
    assert_eq!(seg.number, 11);
    assert_eq!(seg.tail, Tail::Torn { offset: 0 });
    assert!(seg.records.is_empty());

    let zeros = dir.path().join("000012.wal");
    std::fs::write(&zeros, vec![0u8; 4096]).unwrap();
    let r = WalReader::open(&zeros).unwrap();
    let seg = r.read().unwrap();
    assert_eq!((seg.number, seg.tail), (12, Tail::Torn { offset: 0 }));
    assert_eq!(
        replay(&zeros, |_| Ok(())).unwrap(),
        Tail::Torn { offset: 0 }
    );

    let garbage = read_segment(b"garbage", Path::new("x")).unwrap_err();
    assert!(matches!(garbage, Error::Corruption { offset: 0, .. }));
}

#[test]
fn replay_stops_on_callback_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = write_segment(dir.path(), 1, &small_payloads(), 0);
    let mut n = 0;
    let e = replay(&path, |_| {
        n += 1;
        Err(Error::InvalidArgument("stop".into()))
    })
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert_eq!(n, 1);
}

/// Every single-byte change of a small segment gives either a prefix of the records or
/// Corruption, never a panic or other records.
#[test]
fn byte_flip_sweep_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = vec![b"a".to_vec(), payload(30, 1), Vec::new(), payload(5, 2)];
    let (path, bytes, _) = write_segment(dir.path(), 2, &payloads, 0);
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x10, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            match read_segment(&b, &path) {
                Ok(seg) => {
                    let got = payloads_of(&seg);
                    assert!(got.len() < payloads.len(), "flip at {at} went unnoticed");
                    for (g, p) in got.iter().zip(&payloads) {
                        assert_eq!(*g, &p[..]);
                    }
                    assert!(matches!(seg.tail, Tail::Torn { .. }));
                }
                Err(e) => assert!(e.is_corruption(), "flip at {at}: {e}"),
            }
        }
    }
}

/// The worked example in format-spec/wal.md is exactly what the writer produces.
#[test]
fn golden_example_matches_spec() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(dir.path(), 1, 0).unwrap();
    let mut b = crate::WriteBatch::new();
    b.put(b"k", b"v");
    b.delete(b"x");
    w.add_record(b.seal(1));
    w.seal(2).unwrap();
    let path = w.path().to_path_buf();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let seg = read_segment(&bytes, &path).unwrap();
    assert_eq!(
        seg.tail,
        Tail::Sealed {
            offset: 69,
            records: 1,
            last_seqno: 2
        }
    );
    let got = hex_dump(&bytes);

    let spec = include_str!("../../format-spec/wal.md");
    let start = spec.find("```hexdump\n").expect("hexdump block in wal.md") + 11;
    let len = spec[start..].find("```").unwrap();
    let want = &spec[start..start + len];
    if std::env::var_os("LSMKV_BLESS").is_some() && want != got {
        eprintln!("new example:\n{got}");
    }
    assert_eq!(want, got, "format-spec/wal.md example is stale");
}

/// `offset  hex bytes` lines of 16 bytes, as in the spec.
fn hex_dump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&format!("{:08x}  {}\n", i * 16, hex.join(" ")));
    }
    s
}

/// Rows `| offset | size | type | field | meaning |` of the table after `heading` in wal.md.
fn spec_table(heading: &str) -> Vec<(usize, usize, String)> {
    let spec = include_str!("../../format-spec/wal.md");
    let at = spec.find(heading).expect(heading);
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in spec[at..].lines().skip(1) {
        let line = line.trim();
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Ok(off), Ok(size)) = (cells[0].parse(), cells[1].parse()) else {
            continue;
        };
        rows.push((off, size, cells[3].trim_matches('`').to_string()));
    }
    rows
}

#[test]
fn spec_tables_match_structs() {
    let seg = spec_table("### Segment header");
    let want = vec![
        (offset_of!(SegmentHeader, magic), 8, "magic".to_string()),
        (
            offset_of!(SegmentHeader, format_version),
            4,
            "format_version".into(),
        ),
        (offset_of!(SegmentHeader, number), 8, "number".into()),
        (offset_of!(SegmentHeader, crc), 4, "crc".into()),
    ];
    assert_eq!(seg, want);
    assert_eq!(
        seg.iter().map(|r| r.1).sum::<usize>(),
        size_of::<SegmentHeader>()
    );
    let rec = spec_table("### Record header");
    let want = vec![
        (offset_of!(RecordHeader, magic), 4, "magic".to_string()),
        (offset_of!(RecordHeader, crc), 4, "crc".into()),
        (offset_of!(RecordHeader, length), 4, "length".into()),
        (offset_of!(RecordHeader, header_crc), 4, "header_crc".into()),
    ];
    assert_eq!(rec, want);
    let seal = spec_table("### Seal payload");
    let want = vec![
        (offset_of!(SealPayload, records), 8, "records".to_string()),
        (offset_of!(SealPayload, last_seqno), 8, "last_seqno".into()),
    ];
    assert_eq!(seal, want);
    assert_eq!(size_of::<SealPayload>(), SEAL_PAYLOAD_SIZE);
    let spec = include_str!("../../format-spec/wal.md");
    assert!(spec.contains("`d1 53 45 4c`"), "seal magic");
    assert_eq!(SEAL_MAGIC, [0xd1, 0x53, 0x45, 0x4c]);
    assert!(spec.contains(&format!(
        "seals from format_version = {WAL_SEAL_VERSION}"
    )));
    assert!(spec.contains("`4c 53 4d 4b 56 57 41 4c`"), "segment magic");
    assert_eq!(&SEGMENT_MAGIC, b"LSMKVWAL");
    assert!(spec.contains("`d1 57 41 4c`"), "record magic");
    assert_eq!(RECORD_MAGIC, [0xd1, 0x57, 0x41, 0x4c]);
    assert!(spec.contains(&format!("format_version = {WAL_FORMAT_VERSION}")));
}

/// A sealed segment: `payloads`, then the seal; returns (path, bytes, seal offset).
fn write_sealed(dir: &Path, number: u64, payloads: &[Vec<u8>], last: u64) -> (PathBuf, Vec<u8>, u64) {
    let mut w = WalWriter::create(dir, number, 4096).unwrap();
    for p in payloads {
        w.add_record(p);
    }
    let seal_at = w.size();
    w.seal(last).unwrap();
    assert_eq!(w.records(), payloads.len() as u64);
    let path = w.path().to_path_buf();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, seal_at + SEAL_RECORD_SIZE as u64, "preallocation trimmed");
    (path, bytes, seal_at)
}

#[test]
fn sealed_segment_reads_back_with_its_seal() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, seal_at) = write_sealed(dir.path(), 3, &payloads, 41);
    let seg = read_segment(&bytes, &path).unwrap();
    assert_eq!(payloads_of(&seg), payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(
        seg.tail,
        Tail::Sealed {
            offset: seal_at,
            records: 3,
            last_seqno: 41
        }
    );
    // Zero fill after the seal (a trim that did not reach the disk) is still sealed.
    let mut padded = bytes.clone();
    padded.resize(bytes.len() + 4096, 0);
    assert!(matches!(read_segment(&padded, &path).unwrap().tail, Tail::Sealed { .. }));
    // An empty segment seals too.
    let (p0, b0, at0) = write_sealed(dir.path(), 4, &[], 9);
    assert_eq!(at0, SEGMENT_HEADER_SIZE as u64);
    let seg = read_segment(&b0, &p0).unwrap();
    assert_eq!(seg.tail, Tail::Sealed { offset: at0, records: 0, last_seqno: 9 });
}

#[test]
fn seal_that_miscounts_or_is_followed_by_data_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, seal_at) = write_sealed(dir.path(), 3, &payloads, 41);
    // The seal counts one record more than precede it: a whole record vanished before it.
    let mut b = bytes[..seal_at as usize].to_vec();
    frame_seal(&mut b, 3, seal_at, 4, 41);
    let e = read_segment(&b, &path).unwrap_err();
    assert!(matches!(e, Error::Corruption { offset, .. } if offset == seal_at), "{e}");
    // A record framed after the seal.
    let mut b = bytes.clone();
    frame_record(&mut b, 3, bytes.len() as u64, b"late");
    let e = read_segment(&b, &path).unwrap_err();
    assert!(
        matches!(e, Error::Corruption { offset, .. } if offset == bytes.len() as u64),
        "{e}"
    );
    // A stray non-zero byte after the seal.
    let mut b = bytes.clone();
    b.extend_from_slice(&[0, 0, 7]);
    assert!(read_segment(&b, &path).unwrap_err().is_corruption());
    // A seal of another segment number, or at another offset, is not a seal here.
    let mut b = bytes[..seal_at as usize].to_vec();
    frame_seal(&mut b, 4, seal_at, 3, 41);
    assert!(matches!(read_segment(&b, &path).unwrap().tail, Tail::Torn { offset } if offset == seal_at));
}

#[test]
fn damage_before_a_seal_is_corruption_and_cuts_lose_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = small_payloads();
    let (path, bytes, seal_at) = write_sealed(dir.path(), 3, &payloads, 41);
    // A flipped byte in the last record: the valid seal after it shows it is damage.
    let mut b = bytes.clone();
    b[seal_at as usize - 1] ^= 0x40;
    assert!(read_segment(&b, &path).unwrap_err().is_corruption());
    // Any cut removes the seal: the segment reads as unsealed (clean at a record boundary,
    // else torn), which recovery refuses for every segment but the newest.
    for cut in SEGMENT_HEADER_SIZE..bytes.len() {
        let seg = read_segment(&bytes[..cut], &path).unwrap();
        assert!(!matches!(seg.tail, Tail::Sealed { .. }), "cut at {cut}");
    }
}

#[test]
fn version_2_segments_have_no_seals() {
    let mut h = SegmentHeader::new(5);
    h.format_version = zerocopy::little_endian::U32::new(2);
    h.crc = zerocopy::little_endian::U32::new(h.compute_crc());
    let mut b = h.as_bytes().to_vec();
    let at = b.len() as u64;
    frame_record(&mut b, 5, at, b"batch");
    let seal_at = b.len() as u64;
    frame_seal(&mut b, 5, seal_at, 1, 1);
    // In version 2 the seal marker is no record marker: a torn tail where the seal is.
    let seg = read_segment(&b, Path::new("000005.wal")).unwrap();
    assert_eq!(seg.records.len(), 1);
    assert_eq!(seg.tail, Tail::Torn { offset: seal_at });
    assert_eq!(header_version(&b), Some(2));
}
