//! Helpers for the tests that span crates: the `frontier` and
//! `frontier-collector` binaries run as real processes (so that they can be
//! killed with SIGKILL), servers on loopback only, every wait bounded.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this
//! test's executable (`target/<profile>/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A workspace binary built beside the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; fix: cargo build --release -p frontier-agent -p frontier-collector (cargo test --workspace builds it)",
        path.display()
    );
    path
}

pub use frontier_testkit::{scratch, shared};

/// Run `frontier-collector` to completion (token subcommands).
pub fn collector_cmd(args: &[&str]) -> Output {
    Command::new(bin("frontier-collector"))
        .args(args)
        .output()
        .unwrap()
}

/// Create a token in the store of `data`.
pub fn token(data: &Path, role: &str) -> String {
    let out = collector_cmd(&[
        "token",
        "create",
        "--role",
        role,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One test's world: a scratch directory with a collector store (`data`)
/// holding a device and a reader token, and an agent state directory.
pub struct World {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub state: PathBuf,
    pub device: String,
    pub reader: String,
}

impl World {
    pub fn new(name: &str) -> World {
        let dir = scratch(name);
        let (data, state) = (dir.join("collector"), dir.join("agent"));
        let device = token(&data, "device");
        let reader = token(&data, "reader");
        World {
            dir,
            data,
            state,
            device,
            reader,
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `frontier-collector serve` process over a SQLite data directory.
pub struct Collector {
    child: Option<Child>,
    pub url: String,
    pub data: PathBuf,
}

impl Collector {
    /// Start on `listen` (`127.0.0.1:0` for any free port); waits until it
    /// prints its address (at most 30 s).
    pub fn start(data: &Path, listen: &str) -> Collector {
        Collector::start_with(data, listen, &[])
    }

    /// [`Collector::start`] with more `serve` flags.
    pub fn start_with(data: &Path, listen: &str, flags: &[&str]) -> Collector {
        let mut child = Command::new(bin("frontier-collector"))
            .args([
                "serve",
                "--listen",
                listen,
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading to the end: a reader that stops closes the pipe.
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = String::new();
            while reader.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {
                rest.clear();
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the collector printed its address within 30 s");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Collector {
            child: Some(child),
            url,
            data: data.to_path_buf(),
        }
    }

    /// `host:port` it listens on.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every row stored, as JSON lines.
    pub fn rows(&self, reader: &str) -> Vec<String> {
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}/v1/rows", self.url))
            .bearer_auth(reader)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.text().unwrap().lines().map(String::from).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `frontier` command with its state (spool, probe reference) in `state`.
pub fn frontier(state: &Path) -> Command {
    let mut c = Command::new(bin("frontier"));
    c.env("FRONTIER_STATE_DIR", state)
        .env_remove("FRONTIER_COLLECTOR")
        .env_remove("FRONTIER_TOKEN")
        .env("FRONTIER_CONFIG", state.join("no-config.toml"));
    c
}

/// Wait for a child at most `limit`; kill it past that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A deterministic pseudo-random sequence (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A plausible latency row for model `i` of a run named `tag` on `device`
/// (no `row_id`: uploads derive it from the content).
pub fn synthetic_row(device: &str, tag: &str, i: usize) -> frontier_table::LatencyRow {
    use frontier_table::{self as table, LatencyRow};
    LatencyRow {
        schema_version: table::SCHEMA_VERSION.into(),
        device_id: device.into(),
        backend: "tract".into(),
        backend_version: "0.23.9".into(),
        model_path: format!("{tag}/{i}.onnx"),
        model_sha256: format!("{i:064x}"),
        inputs: "input=1,3,160,160:f32".into(),
        threads: 1,
        n_runs: 30,
        mean_ms: 5.0 + i as f64 / 7.0,
        median_ms: 5.0 + i as f64 / 8.0,
        median_ms_corrected: 5.0 + i as f64 / 9.0,
        probe_ratio: 1.0,
        measured_at: table::rfc3339(Duration::from_secs(1_795_000_000 + i as u64)),
        frontier_version: "0.1.0".into(),
        arch: Some(format!("{{\"r\":{}}}", 128 + 4 * (i % 25))),
        space: Some("ofa-mbv3".into()),
        ..LatencyRow::default()
    }
}

/// `n` synthetic rows as a JSON Lines table; returns the ids the rows will
/// get when uploaded.
pub fn write_table(path: &Path, n: usize, tag: &str) -> Vec<String> {
    let rows: Vec<_> = (0..n)
        .map(|i| synthetic_row(&format!("dev-{tag}"), tag, i))
        .collect();
    std::fs::write(path, frontier_table::to_jsonl(&rows)).unwrap();
    rows.iter().map(frontier_table::content_row_id).collect()
}

/// `n` rows of OFA subnets drawn with `seed` for `device` (tract, one
/// thread), whose latency follows MACs and depth: a table a predictor can
/// be trained on (a search needs one); real latencies come from elsewhere.
pub fn ofa_rows(device: &str, n: usize, seed: u64) -> Vec<frontier_table::LatencyRow> {
    let mut rng = frontier_spaces::rng::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let arch = frontier_spaces::ofa_mbv3::sample(&mut rng);
            let blocks: f64 = arch.d.iter().sum::<u32>() as f64;
            let ms = 1.0 + frontier_spaces::ofa_mbv3::macs(&arch) / 1e6 * 0.04 + blocks * 0.1;
            let mut r = frontier_table::LatencyRow {
                schema_version: frontier_table::SCHEMA_VERSION.into(),
                device_id: device.into(),
                backend: "tract".into(),
                backend_version: "0.23.9".into(),
                model_path: format!("m/{i}.onnx"),
                model_sha256: format!("{i:064x}"),
                inputs: format!("input=1,3,{r},{r}:f32", r = arch.r),
                threads: 1,
                n_runs: 30,
                median_ms: ms,
                median_ms_corrected: ms,
                p90_ms: ms * 1.05,
                measured_at: "2026-11-28T00:00:00.000Z".into(),
                frontier_version: "0.1.0".into(),
                arch: Some(arch.to_json()),
                space: Some("ofa-mbv3".into()),
                ..Default::default()
            };
            frontier_table::ensure_row_id(&mut r);
            r
        })
        .collect()
}

/// An example's `--name N` argument, else `default`.
pub fn example_arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
