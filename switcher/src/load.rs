//! Load sensing from `/proc`, sampled by a background thread off the
//! request path.
//!
//! Signals: CPU pressure stall information (`/proc/pressure/cpu`: the
//! `some` 10-second average and, for a fast signal, the `total` counter's
//! delta over the last sample), CPU time used by processes other than this
//! one (cores, from `/proc/stat` minus `/proc/self/stat`: the closest
//! reading of "how many busy neighbours", which is what contention-level
//! tables are indexed by), the run queue (`/proc/loadavg`'s running count)
//! and available memory. Where PSI is absent (kernels before 4.20, or
//! containers that hide it) the PSI fields are `None` and `psi_available`
//! says so; the other signals still work.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One reading of the device's load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadSnapshot {
    /// Seconds since the sampler started.
    pub at_s: f64,
    pub psi_available: bool,
    /// `some avg10` of `/proc/pressure/cpu`, percent.
    pub psi_some_avg10: Option<f64>,
    /// Share of the last interval in which some task waited for a CPU
    /// (`total` delta / wall time), 0-1.
    pub psi_some_recent: Option<f64>,
    /// CPU used by other processes, in cores, over the last interval.
    pub others_cpu: f64,
    /// CPU used by this process, in cores.
    pub own_cpu: f64,
    /// Runnable tasks (`/proc/loadavg`), this process's included.
    pub run_queue: Option<u32>,
    pub mem_available_mb: Option<u64>,
    pub cores: usize,
}

/// `some` line of a PSI file: (avg10 percent, total microseconds).
pub fn parse_psi(text: &str) -> Option<(f64, u64)> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let mut avg10 = None;
    let mut total = None;
    for field in line.split_whitespace().skip(1) {
        match field.split_once('=') {
            Some(("avg10", v)) => avg10 = v.parse().ok(),
            Some(("total", v)) => total = v.parse().ok(),
            _ => {}
        }
    }
    Some((avg10?, total?))
}

/// The aggregate `cpu` line of `/proc/stat`: (busy, total) jiffies, where
/// busy excludes idle and iowait.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let (total, idle, _) = frontier_profiler::fingerprint::parse_proc_stat(text)?;
    Some((total - idle, total))
}

/// utime + stime of `/proc/<pid>/stat`, jiffies.
pub fn parse_self_stat(text: &str) -> Option<u64> {
    frontier_profiler::fingerprint::parse_pid_stat_cpu(text)
}

/// Running tasks from `/proc/loadavg` (`0.50 0.40 0.30 3/512 12345`).
pub fn parse_loadavg(text: &str) -> Option<u32> {
    text.split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// `MemAvailable` of `/proc/meminfo`, MB.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Where the files are (a test points this at a fixture tree).
#[derive(Debug, Clone)]
pub struct ProcPaths {
    pub root: PathBuf,
}

impl Default for ProcPaths {
    fn default() -> Self {
        ProcPaths {
            root: PathBuf::from("/proc"),
        }
    }
}

impl ProcPaths {
    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel)).ok()
    }
}

/// Successive raw readings turned into rates.
#[derive(Debug)]
pub struct Reader {
    paths: ProcPaths,
    start: Instant,
    last: Option<Raw>,
    cores: usize,
}

#[derive(Debug, Clone, Copy)]
struct Raw {
    at: Instant,
    busy: u64,
    total: u64,
    own: u64,
    psi_total: Option<u64>,
}

impl Reader {
    pub fn new(paths: ProcPaths) -> Reader {
        Reader {
            paths,
            start: Instant::now(),
            last: None,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }

    /// Read the files once; rates cover the time since the previous call.
    pub fn sample(&mut self) -> LoadSnapshot {
        let now = Instant::now();
        let psi = self.paths.read("pressure/cpu").and_then(|t| parse_psi(&t));
        let (busy, total) = self
            .paths
            .read("stat")
            .and_then(|t| parse_stat(&t))
            .unwrap_or((0, 0));
        let own = self
            .paths
            .read("self/stat")
            .and_then(|t| parse_self_stat(&t))
            .unwrap_or(0);
        let raw = Raw {
            at: now,
            busy,
            total,
            own,
            psi_total: psi.map(|p| p.1),
        };
        let mut snap = LoadSnapshot {
            at_s: (now - self.start).as_secs_f64(),
            psi_available: psi.is_some(),
            psi_some_avg10: psi.map(|p| p.0),
            run_queue: self.paths.read("loadavg").and_then(|t| parse_loadavg(&t)),
            mem_available_mb: self.paths.read("meminfo").and_then(|t| parse_meminfo(&t)),
            cores: self.cores,
            ..LoadSnapshot::default()
        };
        if let Some(prev) = self.last {
            let dt = total.saturating_sub(prev.total) as f64;
            if dt > 0.0 {
                let cores = self.cores as f64;
                let all = busy.saturating_sub(prev.busy) as f64 / dt * cores;
                let mine = own.saturating_sub(prev.own) as f64 / dt * cores;
                snap.own_cpu = mine.min(cores);
                snap.others_cpu = (all - mine).clamp(0.0, cores);
            }
            if let (Some(a), Some(b)) = (prev.psi_total, raw.psi_total) {
                let wall = (now - prev.at).as_secs_f64();
                if wall > 0.0 {
                    snap.psi_some_recent =
                        Some((b.saturating_sub(a) as f64 / 1e6 / wall).clamp(0.0, 1.0));
                }
            }
        }
        self.last = Some(raw);
        snap
    }
}

/// A background thread sampling every `interval`; the latest snapshot is
/// read without touching `/proc`.
pub struct Sampler {
    latest: Arc<Mutex<LoadSnapshot>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(paths: ProcPaths, interval: Duration) -> Sampler {
        let latest = Arc::new(Mutex::new(LoadSnapshot::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (latest.clone(), stop.clone());
        // The first reading now, so the snapshot says at once whether PSI is
        // there; rates follow from the thread's next reading.
        let mut r = Reader::new(paths);
        *latest.lock().unwrap_or_else(|e| e.into_inner()) = r.sample();
        let thread = std::thread::Builder::new()
            .name("frontier-load".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    let snap = r.sample();
                    *l.lock().unwrap_or_else(|e| e.into_inner()) = snap;
                }
            })
            .ok();
        Sampler {
            latest,
            stop,
            thread,
        }
    }

    pub fn latest(&self) -> LoadSnapshot {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether this kernel exposes CPU pressure (for `doctor` and status).
pub fn psi_present(root: &Path) -> bool {
    root.join("pressure/cpu").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_read_real_formats() {
        let psi = "some avg10=12.50 avg60=3.10 avg300=0.80 total=123456789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi(psi), Some((12.5, 123456789)));
        assert_eq!(parse_psi("garbage"), None);
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(parse_stat(stat), Some((161, 1181)));
        let me = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 11 0 0 20 0 3 0 5 0";
        assert_eq!(parse_self_stat(me), Some(48));
        assert_eq!(parse_loadavg("0.50 0.40 0.30 3/512 12345\n"), Some(3));
        assert_eq!(
            parse_meminfo("MemTotal: 100 kB\nMemAvailable:   2097152 kB\n"),
            Some(2048)
        );
    }

    #[test]
    fn rates_come_from_deltas_and_psi_may_be_absent() {
        let dir = std::env::temp_dir().join(format!("frontier-proc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("self")).unwrap();
        let write = |busy: u64, idle: u64, own: u64| {
            std::fs::write(
                dir.join("stat"),
                format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n"),
            )
            .unwrap();
            std::fs::write(
                dir.join("self/stat"),
                format!("1 (x) S 1 1 1 0 -1 0 0 0 0 0 {own} 0 0 0 20 0 1 0 1 0"),
            )
            .unwrap();
        };
        write(0, 0, 0);
        let mut r = Reader::new(ProcPaths { root: dir.clone() });
        r.cores = 2;
        let first = r.sample();
        assert!(!first.psi_available && first.psi_some_avg10.is_none());
        // 200 jiffies pass on 2 cores: 150 busy, of which 50 ours.
        write(150, 50, 50);
        let s = r.sample();
        assert!((s.others_cpu - 1.0).abs() < 1e-9, "{s:?}");
        assert!((s.own_cpu - 0.5).abs() < 1e-9, "{s:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
