//! One seed source and one PRNG for every randomized test.
//!
//! `LSMKV_SEED=<n>` replaces a test's default seed. [`seed`] prints the seed at the start (shown
//! with a failing test's output) and again when the test panics, so any failure can be replayed.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// The seed of a test run: `LSMKV_SEED` if set, else `default`. Printed now, and again with a
/// replay hint if the test panics while the returned guard is alive.
pub fn seed(label: &str, default: u64) -> Seed {
    let value = env_u64("LSMKV_SEED").unwrap_or(default);
    eprintln!("{label}: LSMKV_SEED={value}");
    Seed {
        label: label.to_string(),
        value,
    }
}

/// A test's seed; see [`seed`].
pub struct Seed {
    label: String,
    value: u64,
}

impl Seed {
    pub fn value(&self) -> u64 {
        self.value
    }

    /// A generator for one part of the test (`salt` tells the parts apart).
    pub fn rng(&self, salt: u64) -> Rng {
        Rng::salted(self.value, salt)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}: replay with LSMKV_SEED={}", self.label, self.value);
        }
    }
}

/// A whole number from the environment variable `name`, if it is set and parses.
pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
    )
}

/// splitmix64: any seed (zero too) gives a full-period, well-mixed sequence; the sequence depends
/// on nothing but the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for `salt` under the same seed.
    pub fn salted(seed: u64, salt: u64) -> Rng {
        Rng(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        self.next_u64() % n
    }

    /// An index into a collection of `len` elements.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True once in `n` times on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// `len` bytes that do not compress.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Runs `test` on values of `strategy`, a `proptest` run seeded by [`seed`]: `LSMKV_SEED` and
/// `PROPTEST_CASES` (default `default_cases`) choose it, no regression files are written. Panics
/// with the shrunk failure and the seed to replay.
pub fn run_proptest<S: Strategy>(
    label: &str,
    default_seed: u64,
    default_cases: u32,
    strategy: &S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let seed = seed(label, default_seed);
    let cases = env_u64("PROPTEST_CASES").map_or(default_cases, |c| c as u32);
    eprintln!("{label}: PROPTEST_CASES={cases}");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed.value()),
        // Shrinking re-runs whole databases; bound it so a failure reports in reasonable time.
        max_shrink_iters: 2000,
        // The seed is fixed, so replaying is by seed; no regression files.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(strategy, test) {
        panic!("{e}\nreplay with LSMKV_SEED={}", seed.value());
    }
}

/// Fails the case (without a panic, so shrinking stays quiet) with `what` and the error.
pub fn ok<T>(r: lsmkv::Result<T>, what: impl FnOnce() -> String) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{}: {e}", what())))
}
