//! The admin page in a real browser: Debian's `chromium` driven headless through `chromedriver`
//! (WebDriver's JSON protocol, spoken with ureq). The test loads `/admin` from a running server,
//! signs in with the API token, reads the tree after flushes (of every keyspace, then of one picked
//! in its keyspace selector), browses the keys of another keyspace, then keys by prefix page by
//! page, toggles a flag and checks it on the server. `LSMKV_SCREENSHOT=1` saves the page as
//! `tests/screenshots/admin.png` (the README's picture).
//!
//! Needs `chromium` and `chromedriver` (`apt-get install -y chromium chromium-driver`; `.ci/run`
//! installs them). Without them the test fails and says so. `CHROMEDRIVER` and `CHROMIUM` override
//! the programs' paths.

mod server_common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use server_common::TestServer;

const TOKEN: &str = "admin-test-token";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Longest wait for any one state of the page.
const WAIT: Duration = Duration::from_secs(20);

/// A program on `PATH` (or the path in `var`), or a failure that says how to install it.
fn program(var: &str, names: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "the admin page test needs {} on PATH (or {var}=/path/to/it): install Chromium and its \
         driver with `apt-get update && apt-get install -y chromium chromium-driver` \
         (.ci/run does this)",
        names.join(" or ")
    );
}

/// A port free a moment ago, for chromedriver (which cannot report a port it chose itself).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One chromedriver process and one headless Chromium session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: ureq::Agent,
    _profile: tempfile::TempDir,
    log: PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let chromedriver = program("CHROMEDRIVER", &["chromedriver"]);
        let chromium = program("CHROMIUM", &["chromium", "chromium-browser"]);
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http,
            _profile: profile,
            log,
        };
        let ready = wait_for(
            "chromedriver to answer /status",
            Duration::from_secs(20),
            || {
                let r = b.http.get(format!("{}/status", b.base)).call().ok()?;
                let v: Value = serde_json::from_reader(r.into_body().into_reader()).ok()?;
                v["value"]["ready"].as_bool().filter(|r| *r)
            },
        );
        assert!(ready);
        let user_data = b._profile.path().join("user-data");
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium.display().to_string(),
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        format!("--user-data-dir={}", user_data.display()),
                    ],
                },
            }},
        });
        let v = b.raw("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b.cmd(
            "POST",
            "/timeouts",
            Some(json!({ "pageLoad": 30_000, "script": 10_000, "implicit": 0 })),
        );
        b
    }

    /// Makes the page's viewport exactly `w` x `h` CSS pixels at scale 1 (Chromium's device
    /// metrics override, through chromedriver's DevTools passthrough: the window's own size would
    /// include the browser's frame and apply asynchronously).
    fn viewport(&self, w: i64, h: i64) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": w, "height": h, "deviceScaleFactor": 1, "mobile": false },
            })),
        );
        let mut last = Value::Null;
        let ok = poll(WAIT, || {
            last = self.js("return [window.innerWidth, window.innerHeight];", json!([]));
            last == json!([w, h])
        });
        assert!(ok, "the viewport is {last}, not [{w}, {h}]");
    }

    /// A WebDriver command outside any session; the `value` of the answer.
    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let r = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            (_, b) => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or_else(|| json!({})).to_string()),
        };
        let r = r.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let ok = r.status().is_success();
        let v: Value = serde_json::from_reader(r.into_body().into_reader())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"));
        if !ok {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            panic!(
                "WebDriver {method} {path} failed: {v}\nchromedriver log (end, reversed):\n{tail}"
            );
        }
        v["value"].clone()
    }

    /// A command of this session.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page with `args`; its return value.
    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), None);
    }

    /// Clears a field and types `text` into it as keystrokes.
    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), None);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// The text of `css` (trimmed), or None when there is no such element.
    fn text(&self, css: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;",
            json!([css]),
        )
        .as_str()
        .map(str::to_string)
    }

    fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
            json!([css, name]),
        )
        .as_str()
        .map(str::to_string)
    }

    /// The texts of every element matching `css`.
    fn texts(&self, css: &str) -> Vec<String> {
        let v = self.js(
            "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim());",
            json!([css]),
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls until `css`'s attribute `name` is `want`; fails with the last value after [`WAIT`].
    fn wait_attr(&self, css: &str, name: &str, want: &str) {
        let mut last = None;
        let ok = poll(WAIT, || {
            last = self.attr(css, name);
            last.as_deref() == Some(want)
        });
        assert!(
            ok,
            "waited {WAIT:?} for {css} [{name}] = {want:?}; it is {last:?}; status: {:?}",
            self.text("#status")
        );
    }

    /// Polls until `css`'s text satisfies `f`.
    fn wait_text(&self, what: &str, css: &str, f: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        let ok = poll(WAIT, || {
            last = self.text(css);
            last.as_deref().is_some_and(&f)
        });
        assert!(
            ok,
            "waited {WAIT:?} for {what} ({css}); its text is {last:?}; status: {:?}",
            self.text("#status")
        );
        last.unwrap_or_default()
    }

    /// Polls until the key browser's rows are `want`.
    fn wait_keys(&self, want: &[String]) {
        let mut last = Vec::new();
        let ok = poll(WAIT, || {
            last = self.texts("#keys-body td.key");
            last == want
        });
        assert!(
            ok,
            "waited {WAIT:?} for keys {want:?}; the page lists {last:?}"
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("valid base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Calls `f` every 50 ms until it is true or `limit` passes.
fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls `f` until it gives a value; fails after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let mut out = None;
    poll(limit, || {
        out = f();
        out.is_some()
    });
    out.unwrap_or_else(|| panic!("waited {limit:?} for {what}"))
}

/// Writes, reads and flushes from a thread until stopped.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(s: &TestServer) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let base = s.url("");
        let auth = format!("Bearer {TOKEN}");
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let http = server_common::agent();
            let mut round = 0u32;
            while !flag.load(Ordering::Relaxed) {
                let n = 20 + (round * 7) % 30;
                let batch: Vec<Value> = (0..n)
                    .map(|i| json!({ "key": format!("load:{round:04}:{i:02}"), "value": "x".repeat(300) }))
                    .collect();
                let r = http
                    .post(format!("{base}/keys/batch"))
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(Value::Array(batch).to_string());
                assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
                for i in 0..(round % 6 + 1) * 4 {
                    let r = http
                        .get(format!("{base}/keys/user:{:03}", i % 30 + 1))
                        .header("Authorization", &auth)
                        .call();
                    assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
                }
                if round % 6 == 5 {
                    let r = http
                        .post(format!("{base}/admin/flush"))
                        .header("Authorization", &auth)
                        .send("");
                    assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(60));
            }
        });
        Load {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the load thread failed");
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn keys(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("user:{i:03}")).collect()
}

fn write_users(s: &TestServer, range: std::ops::RangeInclusive<u32>) {
    let batch: Vec<Value> = range
        .map(|i| json!({ "key": format!("user:{i:03}"), "value": format!("{{\"name\":\"user {i}\",\"plan\":\"{}\"}}", if i % 3 == 0 { "pro" } else { "free" }) }))
        .collect();
    let r = s.post("/keys/batch", &Value::Array(batch).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
}

fn table_count(s: &TestServer) -> usize {
    let r = s.get("/admin/tables");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["tables"].as_array().expect("tables").len()
}

#[test]
fn admin_page_in_headless_chromium() {
    // First, so that a missing browser fails the test at once, saying what to install.
    let b = Browser::start();
    let s = TestServer::start(&[("API_TOKEN", TOKEN)]);

    // The page itself needs no token; the data it shows does.
    let anon = server_common::agent();
    let mut page = anon.get(s.url("/admin")).call().expect("GET /admin");
    assert_eq!(page.status(), 200);
    let ct = page.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = page.body_mut().read_to_string().expect("page");
    assert!(html.contains("lsmkv admin"));
    let r = anon.get(s.url("/admin/tables")).call().expect("GET");
    assert_eq!(r.status(), 401);
    let r = anon.post(s.url("/admin/flush")).send("").expect("POST");
    assert_eq!(r.status(), 401);

    // Data: users 1-20, a few other keys, two flags; one flush through the API.
    write_users(&s, 1..=20);
    for k in ["order:1", "order:2", "session:9"] {
        let r = s.post("/keys", &json!({ "key": k, "value": "x" }).to_string());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s.post("/features/dark-mode", r#"{"enabled": false, "version": 0}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post(
        "/features/new-checkout",
        r#"{"enabled": false, "version": 0}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The flush writes a table per keyspace: the user keys' (`default`) and the flags'.
    let r = s.post("/admin/flush", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tables"], 2);
    let tables = s.get("/admin/tables").json();
    let t = &tables["tables"][0];
    assert_eq!(
        (t["keyspace"].as_str(), t["level"].as_u64()),
        (Some("default"), Some(0))
    );
    assert_eq!(
        t["smallest"],
        json!({ "namespace": "key", "key": "order:1" })
    );
    assert_eq!(
        t["largest"],
        json!({ "namespace": "key", "key": "user:020" })
    );
    let t = &tables["tables"][1];
    assert_eq!(t["keyspace"], "flags");
    assert_eq!(
        (t["smallest"].clone(), t["largest"].clone()),
        (
            json!({ "namespace": "flag", "key": "dark-mode" }),
            json!({ "namespace": "flag", "key": "new-checkout" })
        )
    );
    // A keyspace of its own, not flushed yet.
    assert_eq!(s.request("PUT", "/keyspaces/logs", &[], b"").status, 201);
    let r = s.post(
        "/keyspaces/logs/keys/batch",
        r#"[{"key": "log:1", "value": "boot"}, {"key": "log:2", "value": "ready"}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    b.goto(&s.url("/admin?interval=300"));
    b.viewport(1280, 800);
    // Without the token the page says what it needs.
    b.wait_text("the token request", "#status", |t| t.contains("API_TOKEN"));
    b.type_into("#token", TOKEN);
    b.click("#token-save");
    b.wait_attr("body", "data-loaded", "true");
    // Every keyspace's tables first: two at L0, the flags' table tagged with its keyspace.
    b.wait_attr("#tables-count", "data-count", "2");
    b.wait_text(
        "two tables at L0",
        "#levels-body tr[data-level='0'] td.files",
        |t| t == "2",
    );
    b.wait_text("the L0 card", "#l0-count", |t| t == "2");
    b.wait_text(
        "the flags table",
        "#tables-body tr[data-keyspace='flags'] td",
        |t| t.ends_with("flags"),
    );
    // The tree of `default` alone.
    b.wait_text("the keyspaces", "#tree-ks", |t| t.contains("logs"));
    b.click("#tree-ks option[value='default']");
    b.wait_attr("#tables-count", "data-count", "1");
    b.wait_text(
        "one table of default at L0",
        "#levels-body tr[data-level='0'] td.files",
        |t| t == "1",
    );

    // More writes, then the page's own Flush button (every keyspace): the tree of `default`
    // shows a second L0 table, and `logs` has its first.
    write_users(&s, 21..=30);
    b.click("#flush-btn");
    b.wait_attr("#tables-count", "data-count", "2");
    b.wait_text(
        "two tables at L0",
        "#levels-body tr[data-level='0'] td.files",
        |t| t == "2",
    );
    assert_eq!(b.texts("#tables-body tr").len(), 2);
    assert_eq!(table_count(&s), 4);
    // The newest table's key range, as the page shows it.
    let ranges = b.texts("#tables-body .range");
    assert!(
        ranges
            .iter()
            .any(|r| r.contains("user:021") && r.contains("user:030")),
        "{ranges:?}"
    );
    b.click("#tree-ks option[value='logs']");
    b.wait_attr("#tables-count", "data-count", "1");
    let ranges = b.texts("#tables-body .range");
    assert!(
        ranges.len() == 1 && ranges[0].contains("log:1") && ranges[0].contains("log:2"),
        "{ranges:?}"
    );
    b.click("#tree-ks option[value='default']");
    b.wait_attr("#tables-count", "data-count", "2");

    // Traffic for the rate charts and the tree: paced writes, reads and flushes in the
    // background (so compactions run) while the rest of the test goes on.
    let load = Load::start(&s);
    b.wait_text("the puts chart", "#chart-puts .axis", |t| {
        t.starts_with("last")
    });

    // Key browser: another keyspace's keys, then back to `default` for a prefix search, 10 per
    // page, forward to the last page and back.
    b.click("#keys-ks option[value='logs']");
    b.wait_keys(&["log:1".to_string(), "log:2".to_string()]);
    b.click("#keys-ks option[value='default']");
    b.type_into("#prefix", "order:");
    b.click("#search-btn");
    b.wait_keys(&["order:1".to_string(), "order:2".to_string()]);
    b.click("#page-size option:nth-child(1)");
    b.type_into("#prefix", "user:");
    b.click("#search-btn");
    b.wait_keys(&keys(1..=10));
    b.wait_attr("#page-info", "data-page", "1");
    assert_eq!(b.attr("#prev-btn", "disabled").as_deref(), Some(""));
    b.click("#next-btn");
    b.wait_keys(&keys(11..=20));
    b.click("#next-btn");
    b.wait_keys(&keys(21..=30));
    b.wait_attr("#page-info", "data-page", "3");
    assert_eq!(b.attr("#next-btn", "disabled").as_deref(), Some(""));
    b.click("#prev-btn");
    b.wait_keys(&keys(11..=20));
    let values = b.texts("#keys-body td.val");
    assert_eq!(values[0], r#"{"name":"user 11","plan":"free"}"#);

    // Toggle a flag in the page: the server has it on, one version later.
    let before = s.get("/features/dark-mode").json();
    assert_eq!(before["enabled"], false);
    assert_eq!(before["version"], 1);
    b.wait_attr("li[data-flag='dark-mode'] .ver", "data-version", "1");
    b.click("li[data-flag='dark-mode'] label.switch");
    b.wait_attr("li[data-flag='dark-mode'] .ver", "data-version", "2");
    b.wait_text("the flag message", "#flag-msg", |t| t.contains("now on"));
    let after = s.get("/features/dark-mode").json();
    assert_eq!(after["enabled"], true);
    assert_eq!(after["version"], 2);
    let checked = b.js(
        "return document.querySelector(\"input[data-flag='dark-mode']\").checked;",
        json!([]),
    );
    assert_eq!(checked, true);
    // The other flag is untouched.
    assert_eq!(s.get("/features/new-checkout").json()["version"], 1);

    // Readable at 1280x800: nothing wider than the window.
    let fits = b.js(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        json!([]),
    );
    let (w, inner) = (fits[0].as_u64().unwrap_or(0), fits[1].as_u64().unwrap_or(0));
    assert!(
        inner >= 1200 && w <= inner,
        "page {w} px wide in a {inner} px window"
    );

    // The load has run long enough for the charts and a compaction or two.
    b.wait_text("a compaction", "#pending-sub", |t| !t.ends_with(" 0 runs"));
    b.wait_text("a level-0 table after it", "#l0-count", |t| t != "0");
    b.wait_text("a few seconds of rates", "#chart-puts .axis", |t| {
        t.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 6)
    });
    let png = b.screenshot();
    load.stop();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    if std::env::var("LSMKV_SCREENSHOT").as_deref() == Ok("1") {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        std::fs::write(dir.join("admin.png"), &png).expect("write screenshot");
    }

    // The optimistic version at work: the page reloaded without polling (the token is still in
    // the tab's sessionStorage) shows version 2; the flag moves on behind its back; the page's
    // toggle is refused (409), nothing is written, and the page shows the flag as it now is.
    b.goto(&s.url("/admin?interval=600000"));
    b.wait_attr("body", "data-loaded", "true");
    b.wait_attr("li[data-flag='dark-mode'] .ver", "data-version", "2");
    let r = s.post("/features/dark-mode", r#"{"enabled": false, "version": 2}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    b.click("li[data-flag='dark-mode'] label.switch");
    b.wait_text("the conflict message", "#flag-msg", |t| {
        t.contains("changed elsewhere")
    });
    b.wait_attr("li[data-flag='dark-mode'] .ver", "data-version", "3");
    let now = s.get("/features/dark-mode").json();
    assert_eq!(
        (now["enabled"].clone(), now["version"].clone()),
        (json!(false), json!(3))
    );
    let checked = b.js(
        "return document.querySelector(\"input[data-flag='dark-mode']\").checked;",
        json!([]),
    );
    assert_eq!(checked, false);
}

/// The admin routes over plain HTTP (no browser): headers of the page, escaping of key bounds,
/// a flush of an empty memtable.
#[test]
fn admin_routes() {
    let s = TestServer::start(&[]);
    let page = s.get("/admin");
    assert_eq!(page.status, 200);
    let csp = &page.headers["content-security-policy"];
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let head = server_common::agent()
        .head(s.url("/admin"))
        .call()
        .expect("HEAD /admin");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().ok(),
        Some(page.body.len().to_string().as_str())
    );

    assert_eq!(s.get("/admin/tables").json(), json!({ "tables": [] }));
    let r = s.put_raw("/keys/%FFbin%5C", b"v");
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.put_raw("/keys/zz%0A", b"v");
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.post("/admin/flush", "").json()["tables"], 1);
    let t = &s.get("/admin/tables").json()["tables"][0];
    assert_eq!(
        t["smallest"],
        json!({ "namespace": "key", "key": "zz\\x0a" })
    );
    assert_eq!(
        t["largest"],
        json!({ "namespace": "key", "key": "\\xffbin\\\\" })
    );
    assert_eq!(t["entries"], 2);
    // Nothing to flush: still one table.
    assert_eq!(s.post("/admin/flush", "").json()["tables"], 1);
    assert_eq!(s.get("/admin/flush").status, 405);
}
