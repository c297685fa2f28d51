//! A profiling session as library code: prepare independent copies of every
//! (model, backend) pair, prepare the calibration probe, measure everything
//! interleaved with the harness, and turn the results into table rows.
//!
//! `frontier profile` (files, or subnets generated in memory with
//! `--space`) runs one; so can any command that needs measured rows
//! (a search's verification, contention tables, the switcher).
//!
//! The caller chooses the backends and the models and observes the session
//! through an [`Observer`] (progress, warnings); the session never prints
//! and never writes tables. Its only files: generated models are written to a
//! private temporary directory for the backends to load (removed when the
//! session ends), and the probe reference of the device is read from and
//! stored in the state directory ([`probe_ref`]). [`discover`] turns
//! command-line paths into model files and reads what their manifests say.
//!
//! Invariants:
//! - One model's failure never stops the others: it is reported through
//!   [`Outcome::failures`] and gets no row.
//! - Every row carries its content `row_id`, computed last (after the
//!   `fastest` marks), so the same measurement has the same id everywhere.

pub mod discover;
pub mod export_dir;
mod model;
mod observe;
pub mod probe_ref;
pub mod reference_scale;
pub mod stand_in;
pub mod supernet;

pub use model::{interleave, JobModelsError, Model, CANARY_SEED, CANARY_SUBNETS};
pub use observe::{Milestones, Observer, Quiet, Stderr};

use std::path::{Path, PathBuf};
use std::time::Duration;

use frontier_export::rows::{self, ModelFacts, SessionFacts};
use frontier_profiler::backend::{Backend, ModelState, PrepareOptions};
use frontier_profiler::clock::{Clock, MonotonicClock};
use frontier_profiler::fingerprint::{Fingerprint, LoadMonitor, LoadReport};
use frontier_table::{self as table, LatencyRow, OpRow};

use frontier_profiler::harness::{self, Harness, HarnessConfig, OpStat, Progress};
use frontier_profiler::inputs::{self, FillOptions, InputSpec};
use frontier_profiler::memory::{self, PeakTracker};
use frontier_profiler::probe::{CpuProbe, ModelProbe, Probe};
use frontier_profiler::ProfileError;

/// How the probe reference is chosen (`--probe-ref`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeRef {
    /// This device's stored reference, created on first use.
    Auto,
    /// This session's median probe.
    Session,
    /// No probe.
    Off,
    /// A fixed reference in ms.
    Fixed(f64),
}

impl ProbeRef {
    /// `auto`, `session`, `off`, or a positive duration in ms (`12.5`, `12.5ms`).
    pub fn parse(s: &str) -> Result<ProbeRef, String> {
        Ok(match s.trim() {
            "auto" => ProbeRef::Auto,
            "session" => ProbeRef::Session,
            "off" => ProbeRef::Off,
            other => other
                .trim_end_matches("ms")
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0)
                .map(ProbeRef::Fixed)
                .ok_or_else(|| {
                    format!("--probe-ref '{s}': expected auto, session, off or a positive duration in ms")
                })?,
        })
    }
}

/// The calibration workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// The smallest Once-for-All subnet, run by the first backend.
    Network,
    /// A fixed matrix product and memory stream.
    Cpu,
}

/// Everything a session needs besides its backends and models.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The measurement procedure; its `probe.reference_ms` is filled from
    /// the stored reference when `probe_ref` is [`ProbeRef::Auto`].
    pub harness: HarnessConfig,
    pub probe_ref: ProbeRef,
    pub probe: ProbeKind,
    /// Independently prepared copies of each model.
    pub instances: u32,
    /// `--input` specs.
    pub specs: Vec<InputSpec>,
    pub fill: FillOptions,
    /// Session options before per-backend adjustment.
    pub options: PrepareOptions,
    /// Threads recorded in the rows.
    pub threads: u32,
    /// Per-operator profile with this many runs, or none.
    pub per_op_runs: Option<usize>,
    /// Fail when a named `--input` spec matches no model's input. Off when
    /// the caller already dropped models whose inputs were never read.
    pub check_unused_inputs: bool,
    /// Background load the session runs while it measures
    /// (`profile --contention`); recorded in the rows.
    pub contention: Option<Contention>,
    /// When the whole invocation must end (`profile --budget` on files):
    /// what preparing the models left of it becomes the harness's budget.
    pub deadline: Option<std::time::Instant>,
    /// The profiling invocation's id, recorded in every row
    /// ([`new_invocation_id`]); one per `frontier profile` run, shared by
    /// all its sessions.
    pub invocation: Option<String>,
}

impl Default for SessionConfig {
    /// `frontier profile`'s defaults, the one place they are written: the
    /// harness's defaults (5 warm-up runs over 200 ms, at least 10 runs and
    /// 1 s per model, at most 10 s, 5 rounds, stop at ±2%, flag above
    /// ±3.5%, session error ±3.3%), this device's stored probe reference,
    /// the network probe, 3 copies per model, one thread, inputs of seed 0
    /// with integers below 1000, no per-operator profile.
    fn default() -> Self {
        SessionConfig {
            harness: HarnessConfig::default(),
            probe_ref: ProbeRef::Auto,
            probe: ProbeKind::Network,
            instances: 3,
            specs: Vec::new(),
            fill: FillOptions::default(),
            options: PrepareOptions::default(),
            threads: 1,
            per_op_runs: None,
            check_unused_inputs: true,
            contention: None,
            deadline: None,
            invocation: None,
        }
    }
}

/// Runs averaged in a per-operator profile when the caller asks for one
/// without saying how many.
pub const DEFAULT_PER_OP_RUNS: usize = 20;

/// What kind of background load a contention level adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentionKind {
    /// Busy loops: each takes one core's time slices.
    Cpu,
    /// Streaming copies over a 64 MiB buffer per thread: memory bandwidth
    /// and last-level cache, with some CPU.
    Memory,
}

impl ContentionKind {
    pub fn name(self) -> &'static str {
        match self {
            ContentionKind::Cpu => "cpu",
            ContentionKind::Memory => "memory",
        }
    }
}

/// `level` background threads of `kind` while measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contention {
    pub level: u32,
    pub kind: ContentionKind,
}

/// Background load threads; they stop when dropped.
struct Hogs {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hogs {
    fn start(c: Contention) -> Hogs {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (0..c.level)
            .filter_map(|i| {
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("frontier-hog-{i}"))
                    .spawn(move || match c.kind {
                        ContentionKind::Cpu => {
                            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
                            while !stop.load(Ordering::Relaxed) {
                                for _ in 0..10_000 {
                                    x ^= x << 13;
                                    x ^= x >> 7;
                                    x ^= x << 17;
                                }
                                std::hint::black_box(x);
                            }
                        }
                        ContentionKind::Memory => {
                            let n = 8 << 20; // 64 MiB of u64
                            let mut a = vec![1u64; n];
                            let mut b = vec![0u64; n];
                            while !stop.load(Ordering::Relaxed) {
                                b.copy_from_slice(&a);
                                std::mem::swap(&mut a, &mut b);
                                std::hint::black_box(&a);
                            }
                        }
                    })
                    .ok()
            })
            .collect();
        Hogs { stop, threads }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What a session produced.
#[derive(Debug)]
pub struct Outcome {
    pub rows: Vec<LatencyRow>,
    pub op_rows: Vec<OpRow>,
    /// Per-operator statistics per (model name, backend), for summaries.
    pub op_stats: Vec<(String, String, Vec<OpStat>)>,
    /// One message per model or backend that got no row.
    pub failures: Vec<String>,
    pub fingerprint: Fingerprint,
    pub load: LoadReport,
    pub overhead_ns: f64,
    pub elapsed: Duration,
}

impl Outcome {
    /// Add a later session's results to this one (batches of active
    /// profiling, contention levels): rows and failures appended, elapsed
    /// time summed, the later load report kept.
    pub fn absorb(&mut self, later: Outcome) {
        self.rows.extend(later.rows);
        self.op_rows.extend(later.op_rows);
        self.op_stats.extend(later.op_stats);
        self.failures.extend(later.failures);
        self.elapsed += later.elapsed;
        self.load = later.load;
    }
}

/// Errors that stop a session (per-model failures do not).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Config(String),
    #[error(
        "--input {name}=...: no profiled model has an input named '{name}'; the inputs are: {seen}"
    )]
    UnusedInput { name: String, seen: String },
    #[error("{path}: cannot write a generated model: {source}; fix: free space in the temporary directory or set TMPDIR")]
    Generated {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Dirty page cache above which the session writes it back before measuring.
const DIRTY_FLUSH_THRESHOLD: u64 = 32 << 20;

/// A prepared (model, backend) pair.
struct Subject {
    backend: usize,
    model: usize,
    path_text: String,
    name: String,
    sha256: String,
    inputs_key: String,
    peak_rss_mb: Option<f64>,
}

struct Ready {
    inputs_key: String,
    peak_rss_mb: Option<f64>,
    /// Independently prepared instances, the first one measured for memory.
    states: Vec<Box<dyn ModelState>>,
}

/// Per-backend options (session options only where the backend has them).
/// A new invocation id: 24 hex digits of SHA-256 over the wall clock in
/// nanoseconds, the process id and the host name, so two invocations on one
/// board or on two boards get different ids.
pub fn new_invocation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let seed = format!("{nanos}/{}/{}", std::process::id(), host.trim());
    sha256_hex(seed.as_bytes())[..24].to_string()
}

pub fn options_for(backend: &dyn Backend, base: &PrepareOptions) -> PrepareOptions {
    if backend.has_session_options() {
        base.clone()
    } else {
        PrepareOptions {
            threads: base.threads,
            execution_provider: base.execution_provider.clone(),
            ..PrepareOptions::default()
        }
    }
}

fn prepare_one(
    backend: &dyn Backend,
    path: &Path,
    config: &SessionConfig,
    options: &PrepareOptions,
    seen_inputs: &mut Vec<String>,
    observer: &mut dyn Observer,
) -> Result<Ready, ProfileError> {
    let info = backend.inspect(path)?;
    seen_inputs.extend(info.inputs.iter().map(|i| i.name.clone()));
    let resolved = inputs::resolve(path, &info.inputs, &config.specs)?;
    let tracker = PeakTracker::start();
    let prepared = backend.prepare(path, &resolved, options)?;
    let data = inputs::generate(&resolved, config.fill);
    let mut state = prepared.state(&data)?;
    // One run before measuring: errors surface here, and the peak includes a run.
    state.run()?;
    let peak_rss_mb = tracker.added_mb();
    let mut states = vec![state];
    let wanted = config.instances.max(1) as usize;
    let fits = match peak_rss_mb {
        // Extra copies may use half of what is available, so that measuring
        // never pushes the device into swap.
        Some(mb) if mb > 0.0 => {
            let avail_mb = memory::available_memory() as f64 / (1 << 20) as f64;
            1 + ((avail_mb / 2.0) / mb).floor() as usize
        }
        _ => wanted,
    };
    drop(prepared); // states own what they run
    while states.len() < wanted.min(fits) {
        let extra = backend.prepare(path, &resolved, options).and_then(|p| {
            let mut s = p.state(&data)?;
            s.run()?;
            Ok(s)
        });
        match extra {
            Ok(s) => states.push(s),
            Err(e) => {
                observer.warn(&format!(
                    "{}: instance {} of {wanted} failed ({e}); measuring {}",
                    path.display(),
                    states.len() + 1,
                    states.len()
                ));
                break;
            }
        }
    }
    if fits < wanted {
        observer.warn(&format!(
            "{}: {} of {wanted} instances (each adds {:.0} MB; half the available memory holds {fits}); fix: --instances {fits}, or free memory",
            path.display(),
            states.len(),
            peak_rss_mb.unwrap_or(0.0),
        ));
    }
    Ok(Ready {
        inputs_key: inputs::inputs_key(&resolved),
        peak_rss_mb,
        states,
    })
}

/// The calibration probe and the key of its stored reference. The network
/// probe is the smallest Once-for-All subnet (kernel 3, expand 3, depth 2,
/// resolution 128), generated in memory and prepared by `backend` with the
/// run's threads; if that fails, the CPU probe stands in, with a warning.
fn make_probe(
    config: &SessionConfig,
    backend: &dyn Backend,
    observer: &mut dyn Observer,
) -> (Box<dyn Probe>, String) {
    if config.probe == ProbeKind::Network {
        let options = options_for(backend, &config.options);
        match network_probe(backend, &options, config.instances) {
            Ok(p) => {
                // The copy count is in the key: a reference averaged over
                // several copies and one copy's level differ by its luck.
                let copies = p.instances();
                return (
                    Box::new(p),
                    format!(
                        "net-{}-{}-t{}-i{copies}",
                        backend.name(),
                        backend.version(),
                        config.threads
                    ),
                );
            }
            Err(e) => observer.warn(&format!(
                "network probe unavailable ({e}); using --probe cpu"
            )),
        }
    }
    (Box::new(CpuProbe::new()), "cpu".into())
}

fn network_probe(
    backend: &dyn Backend,
    options: &PrepareOptions,
    copies: u32,
) -> Result<ModelProbe, String> {
    use frontier_spaces::ofa_mbv3;
    let arch = ofa_mbv3::Arch {
        ks: vec![3; 20],
        e: vec![3; 20],
        d: vec![2; 5],
        r: 128,
    };
    let g = ofa_mbv3::generate(&arch, 0).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!("frontier-probe-{}.onnx", std::process::id()));
    std::fs::write(&path, &g.onnx).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    let fill = FillOptions {
        seed: 0,
        int_max: 1,
    };
    let result = (0..copies.max(1))
        .map(|_| {
            let (_, mut state) =
                frontier_profiler::backend::ready_state(backend, &path, &[], fill, options)?;
            state.run()?;
            Ok(state)
        })
        .collect::<Result<Vec<_>, ProfileError>>();
    let _ = std::fs::remove_file(&path);
    Ok(ModelProbe::new(result.map_err(|e| e.to_string())?))
}

/// SHA-256 of bytes, in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One session per contention level (`profile --contention`; none: one
/// ordinary session), each
/// handed to `write` as soon as it ends, merged into one outcome. The
/// probe would see the background load and correct it away, so these
/// sessions run without it and their rows are not probe-corrected.
pub fn run_contention<E: From<SessionError>>(
    config: &SessionConfig,
    levels: &[u32],
    kind: ContentionKind,
    backends: &[Box<dyn Backend>],
    models: &[Model],
    observer: &mut dyn Observer,
    write: &mut dyn FnMut(&Outcome) -> Result<(), E>,
) -> Result<Outcome, E> {
    let mut merged: Option<Outcome> = None;
    for &level in levels {
        let mut c = config.clone();
        c.probe_ref = ProbeRef::Off;
        c.contention = Some(Contention { level, kind });
        observer.note(&format!(
            "contention level {level}: {level} background thread(s)"
        ));
        let o = run(c, backends, models, observer)?;
        write(&o)?;
        merged = Some(match merged.take() {
            None => o,
            Some(mut m) => {
                m.absorb(o);
                m
            }
        });
    }
    match merged {
        Some(m) => Ok(m),
        // No level: an ordinary session.
        None => {
            let o = run(config.clone(), backends, models, observer)?;
            write(&o)?;
            Ok(o)
        }
    }
}

/// Where a session measures: the clock the harness reads and the device's
/// facts the rows record. [`run`] uses this machine's; tests pass a
/// scripted one (`frontier_profiler::fake`).
pub struct Machine<'a> {
    pub clock: &'a dyn Clock,
    pub fingerprint: Fingerprint,
}

/// Run a session on this machine: every model on every backend.
pub fn run(
    config: SessionConfig,
    backends: &[Box<dyn Backend>],
    models: &[Model],
    observer: &mut dyn Observer,
) -> Result<Outcome, SessionError> {
    let clock = MonotonicClock::new();
    let machine = Machine {
        clock: &clock,
        fingerprint: Fingerprint::collect(),
    };
    run_on(&machine, config, backends, models, observer)
}

/// Run a session on `machine`: every model on every backend.
pub fn run_on(
    machine: &Machine,
    mut config: SessionConfig,
    backends: &[Box<dyn Backend>],
    models: &[Model],
    observer: &mut dyn Observer,
) -> Result<Outcome, SessionError> {
    let fingerprint = machine.fingerprint.clone();
    observer.milestone("fingerprint");
    // No probe with --probe-ref off: preparing the network probe costs a
    // model optimization (seconds under emulation) for nothing.
    let (mut probe, probe_kind) = match (config.probe_ref, backends.first()) {
        (ProbeRef::Off, _) | (_, None) => (None, String::new()),
        (_, Some(b)) => {
            let (p, kind) = make_probe(&config, b.as_ref(), observer);
            (Some(p), kind)
        }
    };
    observer.milestone("probe prepared");
    let stored_ref = match config.probe_ref {
        ProbeRef::Auto => probe_ref::load(&fingerprint.device_id, &probe_kind),
        _ => None,
    };
    config.harness.probe.enabled = config.probe_ref != ProbeRef::Off;
    config.harness.probe.reference_ms = match config.probe_ref {
        ProbeRef::Fixed(v) => Some(v),
        ProbeRef::Auto => stored_ref,
        _ => None,
    };
    config.harness.validate().map_err(SessionError::Config)?;

    // Generated models are written where the backends can load them.
    let generated = models
        .iter()
        .any(|m| matches!(m, Model::Generated { .. }))
        .then(|| {
            let dir = std::env::temp_dir().join(format!("frontier-session-{}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .map(|_| TempDir(dir.clone()))
                .map_err(|e| SessionError::Generated {
                    path: dir,
                    source: e,
                })
        })
        .transpose()?;

    let clock = machine.clock;
    let overhead_ns = harness::calibrate_overhead(clock, 20_000);
    observer.milestone("overhead calibrated");
    let load = LoadMonitor::start();
    let mut failures = Vec::new();
    let mut subjects: Vec<Subject> = Vec::new();
    let mut states: Vec<Vec<Box<dyn ModelState>>> = Vec::new();
    let mut seen_inputs = Vec::new();
    let mut inspected_all = true;
    for (mix, model) in models.iter().enumerate() {
        let (path, path_text, sha256) = match model {
            Model::File { path, .. } => {
                let hashed = std::fs::read(path).map(|b| sha256_hex(&b));
                match hashed {
                    Ok(h) => (path.clone(), path.display().to_string(), h),
                    Err(e) => {
                        // Its inputs are unknown, so unmatched --input names prove nothing.
                        inspected_all = false;
                        let msg = format!("{}: cannot read: {e}", path.display());
                        observer.error(&msg);
                        failures.push(msg);
                        continue;
                    }
                }
            }
            Model::Generated {
                name, onnx, space, ..
            } => {
                let dir = &generated.as_ref().expect("made above").0;
                let path = dir.join(format!("{name}.onnx"));
                std::fs::write(&path, onnx).map_err(|e| SessionError::Generated {
                    path: path.clone(),
                    source: e,
                })?;
                (path, format!("{space}/{name}.onnx"), sha256_hex(onnx))
            }
        };
        for (bix, backend) in backends.iter().enumerate() {
            let options = options_for(backend.as_ref(), &config.options);
            match prepare_one(
                backend.as_ref(),
                &path,
                &config,
                &options,
                &mut seen_inputs,
                observer,
            ) {
                Ok(ready) => {
                    subjects.push(Subject {
                        backend: bix,
                        model: mix,
                        path_text: path_text.clone(),
                        name: model.name(),
                        sha256: sha256.clone(),
                        inputs_key: ready.inputs_key,
                        peak_rss_mb: ready.peak_rss_mb,
                    });
                    states.push(ready.states);
                }
                Err(e) => {
                    if matches!(
                        e,
                        ProfileError::NotOnnx { .. }
                            | ProfileError::NotFound { .. }
                            | ProfileError::Unreadable { .. }
                    ) {
                        inspected_all = false;
                    }
                    observer.error(&e.to_string());
                    failures.push(e.to_string());
                }
            }
        }
    }
    if inspected_all && config.check_unused_inputs {
        for s in &config.specs {
            if let Some(name) = &s.name {
                if !seen_inputs.iter().any(|n| n == name) {
                    return Err(SessionError::UnusedInput {
                        name: name.clone(),
                        seen: if seen_inputs.is_empty() {
                            "(none)".to_string()
                        } else {
                            seen_inputs.join(", ")
                        },
                    });
                }
            }
        }
    }
    let empty = |failures, fingerprint, load| Outcome {
        rows: Vec::new(),
        op_rows: Vec::new(),
        op_stats: Vec::new(),
        failures,
        fingerprint,
        load,
        overhead_ns,
        elapsed: Duration::ZERO,
    };
    if subjects.is_empty() {
        return Ok(empty(failures, fingerprint, load.finish()));
    }

    let names: Vec<String> = subjects.iter().map(|s| s.name.clone()).collect();
    observer.measuring(&names, config.harness.rounds);
    let probe: Option<&mut dyn Probe> = match probe.as_mut() {
        Some(p) => Some(p.as_mut()),
        None => None,
    };
    // Models just exported would otherwise be written back during the first
    // minute of measurement (profiler/src/memory.rs).
    if let Some(bytes) = memory::flush_dirty(DIRTY_FLUSH_THRESHOLD) {
        observer.warn(&format!(
            "wrote back {:.0} MB of dirty page cache before measuring",
            bytes as f64 / (1 << 20) as f64
        ));
    }
    let hogs = config.contention.filter(|c| c.level > 0).map(Hogs::start);
    let mut harness_config = config.harness.clone();
    if let Some(deadline) = config.deadline {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            observer.warn("the budget was spent preparing the models: each is still warmed up and measured for one round, and flagged");
        }
        harness_config.budget = Some(left.max(Duration::from_millis(1)));
    }
    let mut h = Harness::new(harness_config, clock, probe);
    let report = h.run(&mut states, &mut |p: &Progress| observer.progress(p));
    if let Some(note) = &report.budget_note {
        observer.warn(note);
    }
    drop(hogs);
    let mut outcome = empty(failures, fingerprint, load.finish());
    outcome.elapsed = report.elapsed;

    if let (Some(stored), Some(session)) = (
        stored_ref,
        frontier_profiler::stats::median(&report.probe_ms),
    ) {
        let ratio = session / stored;
        if !(0.5..=2.0).contains(&ratio) {
            observer.warn(&format!(
                "the probe ran {ratio:.2}x its stored reference for this device ({stored:.3} ms); \
                 if the hardware or its settings changed, remove {} so a new reference is stored",
                probe_ref::state_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ));
        }
    }
    if config.probe_ref == ProbeRef::Auto && stored_ref.is_none() {
        if let Some(r) = report.probe_reference_ms {
            if let Err(w) = probe_ref::store(&outcome.fingerprint.device_id, &probe_kind, r) {
                observer.warn(&format!("cannot store the probe reference ({w}); corrected medians of later runs use their own session median"));
            }
        }
    }

    let measured_at = table::now_rfc3339();
    for ((subject, state), result) in subjects.iter().zip(states.iter_mut()).zip(report.results) {
        let backend = &backends[subject.backend];
        let options = options_for(backend.as_ref(), &config.options);
        let session_options = backend.has_session_options();
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                observer.error(&e.to_string());
                outcome.failures.push(e.to_string());
                continue;
            }
        };
        let session = SessionFacts {
            fingerprint: &outcome.fingerprint,
            load: &outcome.load,
            backend: backend.name(),
            backend_version: &backend.version(),
            threads: config.threads,
            inter_threads: session_options.then_some(options.inter_threads as u32),
            graph_opt: session_options.then_some(options.graph_opt.as_str()),
            execution_provider: &options.execution_provider,
            seed: config.fill.seed,
            overhead_ns: Some(overhead_ns),
            probe_ref_ms: report.probe_reference_ms,
            probe_session_ms: report.probe_session_ms,
            probe_session_beta: report.probe_session_beta,
            probe_beta: report.probe_beta,
            probe: (config.probe_ref != ProbeRef::Off).then_some(probe_kind.as_str()),
            measured_at: &measured_at,
        };
        let (arch, space) = match &models[subject.model] {
            Model::File { arch, space, .. } => (arch.as_deref(), space.as_deref()),
            Model::Generated { arch, space, .. } => (Some(arch.as_str()), Some(space.as_str())),
        };
        let stem = subject.name.trim_end_matches(".onnx").to_string();
        let facts = ModelFacts {
            path: &subject.path_text,
            name: &stem,
            sha256: &subject.sha256,
            inputs: &subject.inputs_key,
            arch,
            space,
            peak_rss_mb: subject.peak_rss_mb,
        };
        if m.unstable {
            observer.warn(&format!(
                "{}: unstable on {}: {}",
                subject.path_text,
                backend.name(),
                m.unstable_reason.as_deref().unwrap_or("")
            ));
        }
        let mut row = rows::latency_row(&session, &facts, &m);
        row.invocation = config.invocation.clone();
        row.reference = models[subject.model].is_reference().then_some(true);
        outcome.rows.push(row);
        if let Some(runs) = config.per_op_runs {
            match harness::profile_ops(state[0].as_mut(), runs) {
                Some(Ok(ops)) => {
                    outcome
                        .op_rows
                        .extend(rows::op_rows(&session, &facts, &ops));
                    outcome
                        .op_stats
                        .push((stem.clone(), backend.name().to_string(), ops));
                }
                Some(Err(e)) => observer.warn(&format!("per-operator profile failed: {e}")),
                None => observer.warn(&format!("{} has no per-operator profile", backend.name())),
            }
        }
    }
    if backends.len() > 1 {
        rows::mark_fastest(&mut outcome.rows);
    }
    if let Some(c) = config.contention {
        for row in &mut outcome.rows {
            row.contention = Some(c.level as f64);
            row.contention_kind = Some(c.kind.name().to_string());
        }
    }
    // Ids last: a row's id is the hash of its final content.
    for row in &mut outcome.rows {
        table::ensure_row_id(row);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ref_values() {
        assert_eq!(ProbeRef::parse("auto"), Ok(ProbeRef::Auto));
        assert_eq!(ProbeRef::parse("off"), Ok(ProbeRef::Off));
        assert_eq!(ProbeRef::parse("session"), Ok(ProbeRef::Session));
        assert_eq!(ProbeRef::parse("12.5ms"), Ok(ProbeRef::Fixed(12.5)));
        assert!(ProbeRef::parse("-3").is_err());
        assert!(ProbeRef::parse("soon").is_err());
    }
}
