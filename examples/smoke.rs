fn main() -> lsmkv::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or("/tmp/lsmkv-smoke".into());
    let _ = std::fs::remove_dir_all(&dir);
    let mut o = lsmkv::Options::default();
    o.memtable_max_size = 1 << 20;
    let db = lsmkv::Db::open(&dir, o.clone())?;
    let n = 200_000u64;
    let t = std::time::Instant::now();
    for i in 0..n {
        db.put(format!("{:016}", (i * 7919) % n), [b'v'; 100])?;
    }
    println!("put {n}: {:?} ({:.0}/s)", t.elapsed(), n as f64 / t.elapsed().as_secs_f64());
    db.flush()?;
    let t = std::time::Instant::now();
    for i in 0..n {
        assert!(db.get(format!("{:016}", i))?.is_some(), "missing {i}");
    }
    println!("get {n}: {:?} ({:.0}/s)", t.elapsed(), n as f64 / t.elapsed().as_secs_f64());
    let c = db.range::<&[u8], _>(..).count();
    assert_eq!(c as u64, n);
    let r: Vec<_> = db.range::<&[u8], _>(..).rev().take(2).map(|r| r.unwrap().0.to_vec()).collect();
    println!("rev first: {:?}", r.iter().map(|k| String::from_utf8_lossy(k).to_string()).collect::<Vec<_>>());
    db.delete(format!("{:016}", 5))?;
    println!("{}", serde_json::to_string(&db.stats()).unwrap_or_default());
    drop(db);
    let db = lsmkv::Db::open(&dir, o)?;
    assert!(db.get(format!("{:016}", 5))?.is_none());
    assert!(db.get(format!("{:016}", 6))?.is_some());
    println!("reopen ok; stats sst_files={}", db.stats().sst_files);
    Ok(())
}
