//! Process and file-system measurements: peak RSS (VmHWM), peak anonymous and file-backed
//! resident memory (sampled from `/proc/self/status`), and bytes on disk.
//!
//! The kernel keeps a peak only for the total (VmHWM, resettable through `clear_refs`); the
//! split into anonymous memory (heap, stacks: what the engine allocated) and file-backed
//! resident pages (mapped files: page cache that the kernel may reclaim at will) exists only as
//! current values (RssAnon, RssFile). [`MemSampler`] reads them on a background thread every few
//! milliseconds and keeps the maxima, so a peak shorter than the interval can be missed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Resets the kernel's peak-RSS mark (VmHWM) of this process, so the next reading covers only
/// what ran since. Returns false where the kernel does not allow it (the reading then covers the
/// whole process lifetime).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// VmHWM of this process in bytes (0 if /proc is unavailable).
pub fn peak_rss_bytes() -> u64 {
    proc_status_kib("VmHWM:").map_or(0, |k| k * 1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_kib(&s, field)
}

/// The value of `field` (e.g. `"VmRSS:"`) in the text of a `/proc/<pid>/status`, in KiB.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let mut words = line[field.len()..].split_whitespace();
    let v = words.next()?.parse().ok()?;
    // Every memory field of /proc/<pid>/status is in kB (KiB); refuse anything else.
    match words.next() {
        Some("kB") | None => Some(v),
        Some(_) => None,
    }
}

/// Resident memory of a process at one moment, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemSample {
    /// VmRSS: everything resident (= anon + file + shmem).
    pub rss: u64,
    /// RssAnon: resident anonymous memory (heap, stacks, anonymous mappings).
    pub anon: u64,
    /// RssFile: resident pages of mapped files (memory-mapped tables, the binary itself).
    pub file: u64,
}

impl MemSample {
    /// Parses the text of `/proc/<pid>/status`. `None` if VmRSS, RssAnon or RssFile is missing
    /// (kernels before 4.5 have no RssAnon/RssFile).
    pub fn parse_status(status: &str) -> Option<MemSample> {
        Some(MemSample {
            rss: status_field_kib(status, "VmRSS:")? * 1024,
            anon: status_field_kib(status, "RssAnon:")? * 1024,
            file: status_field_kib(status, "RssFile:")? * 1024,
        })
    }

    /// This process now (`None` without /proc or on an old kernel).
    pub fn current() -> Option<MemSample> {
        Self::parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
    }
}

/// Field-wise maxima, updated by the sampling thread and read by the runner.
#[derive(Default)]
struct Peaks {
    rss: AtomicU64,
    anon: AtomicU64,
    file: AtomicU64,
}

impl Peaks {
    fn observe(&self, s: MemSample) {
        self.rss.fetch_max(s.rss, Ordering::Relaxed);
        self.anon.fetch_max(s.anon, Ordering::Relaxed);
        self.file.fetch_max(s.file, Ordering::Relaxed);
    }
    fn set(&self, s: MemSample) {
        self.rss.store(s.rss, Ordering::Relaxed);
        self.anon.store(s.anon, Ordering::Relaxed);
        self.file.store(s.file, Ordering::Relaxed);
    }
    fn get(&self) -> MemSample {
        MemSample {
            rss: self.rss.load(Ordering::Relaxed),
            anon: self.anon.load(Ordering::Relaxed),
            file: self.file.load(Ordering::Relaxed),
        }
    }
}

/// Samples this process's resident memory on a background thread and keeps the peaks since the
/// last [`MemSampler::reset`]. Stops when dropped.
pub struct MemSampler {
    peaks: Arc<Peaks>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MemSampler {
    /// Starts sampling every `interval`; a zero interval samples only at `reset` and `peaks`.
    pub fn start(interval: Duration) -> MemSampler {
        let peaks = Arc::new(Peaks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!interval.is_zero()).then(|| {
            let (peaks, stop) = (Arc::clone(&peaks), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(s) = MemSample::current() {
                        peaks.observe(s);
                    }
                    std::thread::sleep(interval);
                }
            })
        });
        MemSampler {
            peaks,
            stop,
            thread,
        }
    }

    /// Forgets the peaks so far: the next [`MemSampler::peaks`] covers only what runs from now.
    /// (A sample the thread took just before may still land; it shows the state at this moment.)
    pub fn reset(&self) {
        self.peaks.set(MemSample::current().unwrap_or_default());
    }

    /// The peaks since the last reset, including the state right now.
    pub fn peaks(&self) -> MemSample {
        if let Some(s) = MemSample::current() {
            self.peaks.observe(s);
        }
        self.peaks.get()
    }
}

impl Drop for MemSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                apparent += md.len();
                allocated += md.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

/// A one-line description of the machine, for the JSON metadata.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "{cpu}, {cores} cores, {} GiB RAM, Linux {}",
        mem_kib >> 20,
        kernel.trim()
    )
}

/// The 1-minute load average, to show how busy the machine was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Today's date as YYYY-MM-DD (UTC), from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Bytes of one probe write: about what a write-ahead log appends for one put of the sync
/// workloads (16-byte key, 100-byte value, a record header).
pub const DEVICE_SYNC_RECORD: usize = 128;

/// The device's in-place durable write rate: `n` writes of [`DEVICE_SYNC_RECORD`] bytes, one after
/// the other, into a file whose blocks were written (zeros) and synced beforehand, each followed by
/// `fdatasync`; returns writes per second. Nothing but data reaches the device per sync (the
/// file's size and extents do not change), so this is the rate an engine's synced puts can at
/// best reach one at a time. The file is `path`, removed afterwards.
pub fn device_syncs_per_sec(path: &Path, n: u64) -> std::io::Result<f64> {
    use std::os::unix::fs::FileExt;
    let rec = [0x5au8; DEVICE_SYNC_RECORD];
    let len = (n.max(1) as usize * DEVICE_SYNC_RECORD).div_ceil(4096) * 4096;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let res = (|| {
        f.write_all_at(&vec![0u8; len], 0)?;
        f.sync_all()?;
        let start = std::time::Instant::now();
        for i in 0..n {
            f.write_all_at(&rec, i * DEVICE_SYNC_RECORD as u64)?;
            f.sync_data()?;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64().max(1e-9))
    })();
    drop(f);
    let _ = std::fs::remove_file(path);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_probe_measures_and_cleans_up() {
        let p = std::env::temp_dir().join(format!("compare-probe-test-{}", std::process::id()));
        let rate = device_syncs_per_sec(&p, 20).unwrap();
        assert!(rate.is_finite() && rate > 0.0, "{rate}");
        assert!(!p.exists(), "probe file left behind");
        // A path that cannot be created is an error, not a rate.
        assert!(device_syncs_per_sec(&p.join("no/such/dir"), 1).is_err());
    }

    #[test]
    fn dir_bytes_counts_files() {
        let d = std::env::temp_dir().join(format!("compare-sys-test-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a"), [0u8; 100]).unwrap();
        std::fs::write(d.join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(dir_bytes(&d).0, 123);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A /proc/<pid>/status as Linux 6.x prints it (trimmed).
    const STATUS: &str = "Name:\tcompare\nUmask:\t0022\nState:\tR (running)\n\
        VmPeak:\t 1234568 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\n\
        RssAnon:\t  200000 kB\nRssFile:\t   62000 kB\nRssShmem:\t     144 kB\n\
        VmData:\t  300000 kB\nThreads:\t5\n";

    #[test]
    fn parses_status_memory_fields() {
        let s = MemSample::parse_status(STATUS).unwrap();
        assert_eq!(s.rss, 262_144 * 1024);
        assert_eq!(s.anon, 200_000 * 1024);
        assert_eq!(s.file, 62_000 * 1024);
        assert_eq!(status_field_kib(STATUS, "VmHWM:"), Some(524_288));
        // A count without a unit parses too.
        assert_eq!(status_field_kib(STATUS, "Threads:"), Some(5));
        assert_eq!(status_field_kib(STATUS, "Missing:"), None);
    }

    #[test]
    fn status_without_rss_split_is_none() {
        let old = "Name:\tx\nVmHWM:\t 10 kB\nVmRSS:\t 8 kB\n";
        assert_eq!(MemSample::parse_status(old), None);
        assert_eq!(status_field_kib("VmRSS:\t 8 MB\n", "VmRSS:"), None);
    }

    #[test]
    fn peaks_are_field_wise() {
        let a = MemSample {
            rss: 10,
            anon: 8,
            file: 2,
        };
        let b = MemSample {
            rss: 9,
            anon: 3,
            file: 6,
        };
        let p = Peaks::default();
        p.observe(a);
        p.observe(b);
        // The peaks of each kind, which need not fall at the same moment.
        let m = p.get();
        assert_eq!((m.rss, m.anon, m.file), (10, 8, 6));
        p.set(b);
        assert_eq!(p.get(), b);
    }

    #[test]
    fn sampler_reports_this_process() {
        // Zero interval: no thread, samples only when asked, so nothing depends on timing.
        let s = MemSampler::start(Duration::ZERO);
        s.reset();
        let p = s.peaks();
        if MemSample::current().is_some() {
            assert!(p.rss > 0 && p.anon > 0);
        }
    }

    #[test]
    fn date_format() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"));
    }
}
