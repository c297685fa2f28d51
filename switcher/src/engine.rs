//! The switcher: variants loaded and warmed, requests on the current one,
//! a controller thread that re-decides every `decide_every`.
//!
//! Concurrency: the request path reads one `ArcSwap` (the active
//! generation and variant) and never waits for the controller; a swap is
//! one atomic store. A generation (the variants of one manifest) is
//! replaced whole by [`Switcher::reload`]; requests in flight keep the
//! `Arc` of the one they started on, so nothing is dropped under them.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use frontier_profiler::backend::{Backend, OutputTensor, PrepareOptions, PreparedModel};
use frontier_profiler::inputs::{self, DType, FillOptions, InputTensor, TensorData};
use frontier_table::frontier::{device_key, Manifest};
use frontier_table::LatencyRow;
use serde::Serialize;

use crate::load::{LoadSnapshot, ProcPaths, Sampler};
use crate::policy::{Observation, Policy, PolicyConfig, Variant};
use crate::resize::resize_bilinear_nchw;

/// What the switcher serves and how.
#[derive(Clone)]
pub struct ServeConfig {
    pub manifest: PathBuf,
    pub slo_ms: f64,
    pub backend: Arc<dyn Backend>,
    /// The manifest's latency key to use (`device/backend/tN` or just a
    /// device id). Default: this backend's first key in the manifest.
    pub device: Option<String>,
    /// Thread counts to consider. Default: the manifest's for the device
    /// and backend, else 1.
    pub threads: Vec<u32>,
    /// Stop loading variants past this much model file size (MB); the
    /// fastest variant always loads.
    pub memory_budget_mb: Option<u64>,
    /// Rows of `frontier profile --contention` for these models (matched by
    /// `arch`, backend and threads): latency per contention level.
    pub contention_rows: Vec<LatencyRow>,
    pub policy: Option<PolicyConfig>,
    pub decide_every: Duration,
    pub proc: ProcPaths,
    /// Warm-up inferences per variant before it can serve.
    pub warmup_runs: usize,
    /// How the serving variant is chosen (the baselines are for comparison).
    pub mode: SwitchMode,
}

/// How the serving variant is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchMode {
    /// [`crate::policy::Policy`]: load-conditioned predictions corrected by
    /// observation, with hysteresis.
    Frontier,
    /// Never switch: the most accurate loaded variant.
    MostAccurate,
    /// Never switch: the fastest loaded variant.
    Fastest,
    /// Dynamic-OFA's rule: after each 20 requests on a variant, step one
    /// level faster when their mean latency exceeds the SLO, one level
    /// slower when the next slower variant's idle latency scaled by the
    /// observed slowdown would fit.
    MeanStep,
}

impl ServeConfig {
    pub fn new(manifest: PathBuf, slo_ms: f64, backend: Arc<dyn Backend>) -> ServeConfig {
        ServeConfig {
            manifest,
            slo_ms,
            backend,
            device: None,
            threads: Vec::new(),
            memory_budget_mb: None,
            contention_rows: Vec::new(),
            policy: None,
            decide_every: Duration::from_millis(100),
            proc: ProcPaths::default(),
            warmup_runs: 3,
            mode: SwitchMode::Frontier,
        }
    }
}

/// Why the switcher could not start (or reload).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Manifest(String),
    #[error("no model of {manifest} could be loaded: {reasons}")]
    NothingLoaded { manifest: String, reasons: String },
}

/// One inference request: the canonical input of the manifest.
#[derive(Debug, Clone)]
pub struct Request {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub model: String,
    pub threads: u32,
    pub latency_ms: f64,
    #[serde(skip)]
    pub outputs: Vec<OutputTensor>,
}

/// Why one request failed (the server keeps serving).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferError {
    #[error("input: {0}")]
    BadInput(String),
    #[error("every model failed on this request: {0}")]
    AllFailed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct SwitchEvent {
    pub at_s: f64,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub contention: f64,
    /// Time of the swap itself (the atomic store), microseconds.
    pub swap_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantStatus {
    pub model: String,
    pub threads: u32,
    pub accuracy: f64,
    pub resolution: Option<usize>,
    pub loaded: bool,
    pub quarantined: Option<String>,
    pub predicted_p95_ms: Option<f64>,
    pub observed_p95_ms: Option<f64>,
    pub observed_ewma_ms: Option<f64>,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub manifest: String,
    pub space: String,
    pub device: String,
    pub backend: String,
    pub slo_ms: f64,
    pub current_model: String,
    pub current_threads: u32,
    pub slo_unreachable: bool,
    pub reason: String,
    pub load: LoadSnapshot,
    pub load_note: Option<String>,
    pub variants: Vec<VariantStatus>,
    pub recent_switches: Vec<SwitchEvent>,
    pub requests: u64,
    pub failed: u64,
    pub slo_misses: u64,
    pub switches: u64,
}

/// Histogram bucket upper bounds, ms.
const BUCKETS_MS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
];
/// Observations older than this do not count for a variant's p95.
const WINDOW: Duration = Duration::from_secs(2);
/// Observations needed before a variant's p95 is trusted.
const MIN_OBSERVED: usize = 5;
/// How long a variant's last observation still corrects its prediction
/// after it stopped serving.
const MEMORY: Duration = Duration::from_secs(10);

struct Loaded {
    variant: Variant,
    path: PathBuf,
    /// Each model's own input (shape, dtype).
    input: inputs::ResolvedInput,
    prepared: Option<Mutex<Box<dyn PreparedModel>>>,
    quarantined: Mutex<Option<String>>,
    /// (when, latency ms, contention then) of recent requests.
    recent: Mutex<VecDeque<(Instant, f64, f64)>>,
    /// The last trusted observation and when it was made: kept for
    /// [`MEMORY`] after the variant stops serving, so a variant that just
    /// missed is not tried again at the same load.
    last_obs: Mutex<Option<(Instant, Observation)>>,
    ewma_ms: Mutex<Option<f64>>,
    /// EWMA of the request's time outside inference (resizing the input,
    /// binding it): added to predictions, not scaled with them.
    overhead_ms: Mutex<Option<f64>>,
    requests: AtomicU64,
}

struct Generation {
    manifest: Manifest,
    device: String,
    canonical: Vec<usize>,
    variants: Vec<Loaded>,
}

impl Generation {
    /// A variant's latency idle (the first point of its curve).
    fn idle(&self, i: usize) -> f64 {
        self.variants[i]
            .variant
            .curve
            .first()
            .map(|p| p.1)
            .unwrap_or(f64::INFINITY)
    }

    /// The loaded variants, fastest idle first.
    fn loaded_by_latency(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.variants.len())
            .filter(|i| self.variants[*i].prepared.is_some())
            .collect();
        v.sort_by(|a, b| self.idle(*a).total_cmp(&self.idle(*b)));
        v
    }
}

struct Active {
    generation: Arc<Generation>,
    variant: usize,
}

struct Shared {
    config: ServeConfig,
    active: ArcSwap<Active>,
    policy: Mutex<Policy>,
    decision: Mutex<(bool, String, Vec<f64>)>,
    sampler: Sampler,
    switches: Mutex<VecDeque<SwitchEvent>>,
    start: Instant,
    stop: AtomicBool,
    requests: AtomicU64,
    failed: AtomicU64,
    slo_misses: AtomicU64,
    switch_count: AtomicU64,
    /// Per bucket (and +Inf last) counts, and the sum in microseconds.
    histogram: [AtomicU64; BUCKETS_MS.len() + 1],
    latency_sum_us: AtomicU64,
    swap_ns_max: AtomicU64,
    swap_ns_sum: AtomicU64,
    /// The last 10,000 swap times (ns), for quantiles.
    swap_ns: Mutex<VecDeque<u64>>,
    /// Forces a swap on the next `force_swap` (benchmarks, tests).
    forced: Mutex<Option<usize>>,
    /// Requests served when the variant last changed (MeanStep's window).
    served_at_switch: AtomicU64,
    /// The latest others' CPU (f64 bits), for observations on the request path.
    contention_bits: AtomicU64,
}

/// The switcher. Cloning shares it.
#[derive(Clone)]
pub struct Switcher {
    shared: Arc<Shared>,
    controller: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

fn model_resolution(shape: &[usize]) -> Option<usize> {
    (shape.len() == 4).then(|| shape[2])
}

/// The manifest key this backend's latencies are under.
fn pick_device(m: &Manifest, backend: &str, wanted: Option<&str>) -> Result<String, String> {
    let keys: Vec<String> = m
        .models
        .iter()
        .flat_map(|x| x.latency.keys().cloned())
        .chain(m.devices.iter().cloned())
        .collect();
    let matches = |k: &String| match wanted {
        Some(w) => k == w || k.split('/').next() == Some(w),
        None => k.split('/').nth(1) == Some(backend),
    };
    if let Some(k) = keys.iter().find(|k| matches(k)) {
        return Ok(k.clone());
    }
    match wanted {
        Some(w) => Err(format!(
            "no latency for device {w} in the manifest (devices: {}); fix: --device one of them",
            m.devices.join(", ")
        )),
        None => {
            m.devices.first().cloned().ok_or_else(|| {
                "the manifest lists no device; fix: rerun frontier search".to_string()
            })
        }
    }
}

fn load_generation(config: &ServeConfig) -> Result<(Generation, Vec<String>), StartError> {
    let manifest =
        Manifest::read(&config.manifest).map_err(|e| StartError::Manifest(e.to_string()))?;
    let backend = config.backend.name();
    let key = pick_device(&manifest, backend, config.device.as_deref())
        .map_err(|e| StartError::Manifest(format!("{}: {e}", config.manifest.display())))?;
    let device_id = key.split('/').next().unwrap_or("").to_string();
    let base = config
        .manifest
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut threads = config.threads.clone();
    if threads.is_empty() {
        for m in &manifest.models {
            for k in m.latency.keys() {
                let mut parts = k.split('/');
                if parts.next() == Some(device_id.as_str()) && parts.next() == Some(backend) {
                    if let Some(t) = parts
                        .next()
                        .and_then(|t| t.trim_start_matches('t').parse().ok())
                    {
                        if !threads.contains(&t) {
                            threads.push(t);
                        }
                    }
                }
            }
        }
        if threads.is_empty() {
            threads.push(1);
        }
    }
    threads.sort_unstable();
    let models = manifest.models_for(&key);
    let mut problems = Vec::new();
    let mut variants: Vec<Loaded> = Vec::new();
    for m in models {
        let path = base.join(&m.file);
        if !path.is_file() {
            problems.push(format!(
                "{}: model file {} is missing",
                m.name,
                path.display()
            ));
            continue;
        }
        let info = match config.backend.inspect(&path) {
            Ok(i) => i,
            Err(e) => {
                problems.push(format!("{}: {e}", m.name));
                continue;
            }
        };
        let resolved = match inputs::resolve(&path, &info.inputs, &[]) {
            Ok(r) if r.len() == 1 => r.into_iter().next().expect("one"),
            Ok(r) => {
                problems.push(format!("{}: {} inputs; serve feeds one", m.name, r.len()));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: {e}", m.name));
                continue;
            }
        };
        for &t in &threads {
            let tkey = device_key(&device_id, backend, t);
            let lat = m.latency.get(&tkey).or_else(|| m.latency.get(&key));
            let idle = lat.and_then(|l| l.measured_ms.or(l.predicted_ms));
            let Some(idle) = idle else {
                problems.push(format!("{} has no latency for {tkey}", m.name));
                continue;
            };
            let arch = m.arch.to_string();
            let mut curve: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
            curve.insert(0, (0.0, idle));
            for r in config.contention_rows.iter().filter(|r| {
                r.backend == backend
                    && r.threads == t
                    && r.arch
                        .as_deref()
                        .map(|a| same_arch(a, &arch))
                        .unwrap_or(false)
            }) {
                if let Some(c) = r.contention {
                    // Raw medians: contention rows are measured without the
                    // probe's correction (it would cancel the load).
                    let ms = [r.median_ms, r.median_ms_corrected]
                        .into_iter()
                        .find(|v| v.is_finite() && *v > 0.0);
                    if let Some(ms) = ms {
                        curve.insert((c * 1000.0) as u64, (c, ms));
                    }
                }
            }
            variants.push(Loaded {
                variant: Variant {
                    name: m.name.clone(),
                    threads: t,
                    accuracy: m.accuracy,
                    curve: curve.into_values().collect(),
                },
                path: path.clone(),
                input: resolved.clone(),
                prepared: None,
                quarantined: Mutex::new(None),
                recent: Mutex::new(VecDeque::new()),
                last_obs: Mutex::new(None),
                overhead_ms: Mutex::new(None),
                ewma_ms: Mutex::new(None),
                requests: AtomicU64::new(0),
            });
        }
    }
    // Load the fastest first (the fallback), then by accuracy, within the budget.
    let mut order: Vec<usize> = (0..variants.len()).collect();
    let idle = |v: &Loaded| {
        v.variant
            .curve
            .first()
            .map(|p| p.1)
            .unwrap_or(f64::INFINITY)
    };
    order.sort_by(|a, b| {
        variants[*b]
            .variant
            .accuracy
            .total_cmp(&variants[*a].variant.accuracy)
    });
    if let Some(f) =
        (0..variants.len()).min_by(|a, b| idle(&variants[*a]).total_cmp(&idle(&variants[*b])))
    {
        order.retain(|i| *i != f);
        order.insert(0, f);
    }
    let mut used_mb = 0u64;
    for (n, i) in order.into_iter().enumerate() {
        let v = &mut variants[i];
        let size_mb = std::fs::metadata(&v.path)
            .map(|m| m.len() / (1 << 20))
            .unwrap_or(0)
            + 1;
        if let Some(budget) = config.memory_budget_mb {
            if n > 0 && used_mb + size_mb > budget {
                *v.quarantined.lock().expect("fresh") = Some(format!(
                    "not loaded: the memory budget ({budget} MB) is spent"
                ));
                continue;
            }
        }
        let options = PrepareOptions {
            threads: v.variant.threads as usize,
            ..PrepareOptions::default()
        };
        match prepare_and_warm(config, &v.path, &v.input, &options) {
            Ok(p) => {
                used_mb += size_mb;
                v.prepared = Some(Mutex::new(p));
            }
            Err(e) => {
                problems.push(format!("{} (t{}): {e}", v.variant.name, v.variant.threads));
                *v.quarantined.lock().expect("fresh") = Some(e);
            }
        }
    }
    if variants.iter().all(|v| v.prepared.is_none()) {
        return Err(StartError::NothingLoaded {
            manifest: config.manifest.display().to_string(),
            reasons: if problems.is_empty() {
                "the manifest has no models".into()
            } else {
                problems.join("; ")
            },
        });
    }
    let canonical = manifest.input.shape.clone();
    Ok((
        Generation {
            manifest,
            device: key,
            canonical,
            variants,
        },
        problems,
    ))
}

/// Architectures compare as JSON values (key order and spacing aside).
fn same_arch(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn prepare_and_warm(
    config: &ServeConfig,
    path: &Path,
    input: &inputs::ResolvedInput,
    options: &PrepareOptions,
) -> Result<Box<dyn PreparedModel>, String> {
    let prepared = config
        .backend
        .prepare(path, std::slice::from_ref(input), options)
        .map_err(|e| e.to_string())?;
    let data = inputs::generate(std::slice::from_ref(input), FillOptions::default());
    let mut state = prepared.state(&data).map_err(|e| e.to_string())?;
    for _ in 0..config.warmup_runs.max(1) {
        state.run().map_err(|e| e.to_string())?;
    }
    Ok(prepared)
}

impl Switcher {
    /// Load and warm the manifest's models for this device, then start the
    /// load sampler and the controller. Problems with single models are
    /// returned as warnings (those variants are quarantined).
    pub fn start(config: ServeConfig) -> Result<(Switcher, Vec<String>), StartError> {
        let (generation, warnings) = load_generation(&config)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let policy_config = config
            .policy
            .clone()
            .unwrap_or_else(|| PolicyConfig::new(config.slo_ms));
        let mut policy = Policy::new(
            policy_config,
            generation
                .variants
                .iter()
                .map(|v| v.variant.clone())
                .collect(),
            cores,
        );
        for (i, v) in generation.variants.iter().enumerate() {
            if v.prepared.is_none() {
                policy.quarantine(i);
            }
        }
        let mut initial = policy.decide(0.0, 0.0, &[]);
        if let Some(v) = static_choice(&config.mode, &generation) {
            initial.variant = v;
            initial.reason = format!("{:?} baseline", config.mode);
        }
        let shared = Arc::new(Shared {
            sampler: Sampler::start(config.proc.clone(), config.decide_every),
            active: ArcSwap::from_pointee(Active {
                generation: Arc::new(generation),
                variant: initial.variant,
            }),
            decision: Mutex::new((
                initial.slo_unreachable,
                initial.reason,
                initial.predicted_ms,
            )),
            policy: Mutex::new(policy),
            config,
            switches: Mutex::new(VecDeque::new()),
            start: Instant::now(),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            slo_misses: AtomicU64::new(0),
            switch_count: AtomicU64::new(0),
            histogram: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            swap_ns_max: AtomicU64::new(0),
            swap_ns_sum: AtomicU64::new(0),
            swap_ns: Mutex::new(VecDeque::new()),
            forced: Mutex::new(None),
            served_at_switch: AtomicU64::new(0),
            contention_bits: AtomicU64::new(0f64.to_bits()),
        });
        let s = shared.clone();
        let controller = std::thread::Builder::new()
            .name("frontier-switch".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(s.config.decide_every);
                    control_step(&s);
                }
            })
            .ok();
        Ok((
            Switcher {
                shared,
                controller: Arc::new(Mutex::new(controller)),
            },
            warnings,
        ))
    }

    /// The canonical input shape requests carry.
    pub fn input_shape(&self) -> Vec<usize> {
        self.shared.active.load().generation.canonical.clone()
    }

    /// Run one request on the current variant (its own input size); if that
    /// variant fails, it is quarantined and the request runs on the fastest
    /// healthy one.
    pub fn infer(&self, req: &Request) -> Result<Response, InferError> {
        let s = &self.shared;
        let active = s.active.load_full();
        let g = &active.generation;
        check_input(req, &g.canonical)?;
        let mut tried = Vec::new();
        let mut errors = Vec::new();
        let mut next = Some(active.variant);
        while let Some(i) = next {
            tried.push(i);
            let v = &g.variants[i];
            match run_variant(v, req, &g.canonical) {
                Ok((outputs, ms, infer_ms)) => {
                    self.record(v, ms, infer_ms);
                    return Ok(Response {
                        model: v.variant.name.clone(),
                        threads: v.variant.threads,
                        latency_ms: ms,
                        outputs,
                    });
                }
                Err(e) => {
                    errors.push(format!("{}: {e}", v.variant.name));
                    *v.quarantined.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(format!("failed at run time: {e}"));
                    // Only if the policy still describes this generation
                    // (a reload may have replaced both meanwhile).
                    let mut policy = s.policy.lock().unwrap_or_else(|p| p.into_inner());
                    if Arc::ptr_eq(&s.active.load().generation, &active.generation) {
                        policy.quarantine(i);
                    }
                    next = fastest_healthy(g, &tried);
                }
            }
        }
        s.failed.fetch_add(1, Ordering::Relaxed);
        Err(InferError::AllFailed(errors.join("; ")))
    }

    /// `ms`: the whole request in the server (resizing, binding, inference);
    /// `infer_ms`: the inference alone, what the tables' curves measure.
    fn record(&self, v: &Loaded, ms: f64, infer_ms: f64) {
        let s = &self.shared;
        s.requests.fetch_add(1, Ordering::Relaxed);
        v.requests.fetch_add(1, Ordering::Relaxed);
        if ms > s.config.slo_ms {
            s.slo_misses.fetch_add(1, Ordering::Relaxed);
        }
        let b = BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKETS_MS.len());
        s.histogram[b].fetch_add(1, Ordering::Relaxed);
        s.latency_sum_us
            .fetch_add((ms * 1000.0) as u64, Ordering::Relaxed);
        let now = Instant::now();
        let contention = f64::from_bits(s.contention_bits.load(Ordering::Relaxed));
        {
            let mut r = v.recent.lock().unwrap_or_else(|p| p.into_inner());
            r.push_back((now, infer_ms, contention));
            while r.len() > 512 || r.front().is_some_and(|(t, _, _)| now - *t > WINDOW) {
                r.pop_front();
            }
        }
        for (cell, x) in [(&v.ewma_ms, ms), (&v.overhead_ms, ms - infer_ms)] {
            let mut e = cell.lock().unwrap_or_else(|p| p.into_inner());
            *e = Some(match *e {
                Some(old) => 0.8 * old + 0.2 * x,
                None => x,
            });
        }
    }

    /// Swap back and forth between the two fastest variants every `every`,
    /// for the life of the process, whatever the policy says: the
    /// swap-cost benchmark (with threads `1,1` they are two copies of the
    /// same model, so any latency change is the swap's).
    pub fn alternate_fastest(&self, every: Duration) {
        let sw = self.clone();
        std::thread::spawn(move || {
            let pair: Vec<usize> = sw.variants_by_latency().into_iter().take(2).collect();
            let mut k = 0;
            loop {
                std::thread::sleep(every);
                k += 1;
                if let Some(v) = pair.get(k % pair.len().max(1)) {
                    sw.force_swap(*v);
                }
            }
        });
    }

    /// Make variant `i` current on the next controller step, whatever the
    /// policy says (benchmarks of the swap itself; tests).
    pub fn force_swap(&self, i: usize) {
        *self.shared.forced.lock().unwrap_or_else(|p| p.into_inner()) = Some(i);
    }

    /// Number of variants of the current generation.
    pub fn variant_count(&self) -> usize {
        self.shared.active.load().generation.variants.len()
    }

    /// The loaded variants, fastest (idle) first.
    pub fn variants_by_latency(&self) -> Vec<usize> {
        self.shared
            .active
            .load_full()
            .generation
            .loaded_by_latency()
    }

    /// Re-read the manifest, load and warm its models, then swap the whole
    /// generation (requests in flight finish on the old one).
    pub fn reload(&self) -> Result<Vec<String>, StartError> {
        let s = &self.shared;
        let (generation, warnings) = load_generation(&s.config)?;
        let cores = s.policy.lock().unwrap_or_else(|p| p.into_inner()).cores as usize;
        let mut policy = Policy::new(
            s.policy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .config
                .clone(),
            generation
                .variants
                .iter()
                .map(|v| v.variant.clone())
                .collect(),
            cores,
        );
        for (i, v) in generation.variants.iter().enumerate() {
            if v.prepared.is_none() {
                policy.quarantine(i);
            }
        }
        let variant = policy
            .decide(s.start.elapsed().as_secs_f64(), 0.0, &[])
            .variant;
        let mut p = s.policy.lock().unwrap_or_else(|p| p.into_inner());
        *p = policy;
        s.active.store(Arc::new(Active {
            generation: Arc::new(generation),
            variant,
        }));
        Ok(warnings)
    }

    pub fn status(&self) -> Status {
        let s = &self.shared;
        let active = s.active.load_full();
        let g = &active.generation;
        let (unreachable, reason, predicted) =
            s.decision.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let load = s.sampler.latest();
        let now = Instant::now();
        let variants = g
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| VariantStatus {
                model: v.variant.name.clone(),
                threads: v.variant.threads,
                accuracy: v.variant.accuracy,
                resolution: model_resolution(&v.input.shape),
                loaded: v.prepared.is_some(),
                quarantined: v
                    .quarantined
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
                predicted_p95_ms: predicted.get(i).copied().filter(|x| x.is_finite()),
                observed_p95_ms: p95(&v.recent.lock().unwrap_or_else(|p| p.into_inner()), now)
                    .map(|o| o.p95_ms),
                observed_ewma_ms: *v.ewma_ms.lock().unwrap_or_else(|p| p.into_inner()),
                requests: v.requests.load(Ordering::Relaxed),
            })
            .collect();
        let cur = &g.variants[active.variant].variant;
        Status {
            manifest: s.config.manifest.display().to_string(),
            space: g.manifest.space.clone(),
            device: g.device.clone(),
            backend: s.config.backend.name().to_string(),
            slo_ms: s.config.slo_ms,
            current_model: cur.name.clone(),
            current_threads: cur.threads,
            slo_unreachable: unreachable,
            reason,
            load_note: (!load.psi_available).then(|| {
                "no /proc/pressure/cpu here (kernel before 4.20 or hidden by a container): load from CPU time and the run queue only".to_string()
            }),
            load,
            variants,
            recent_switches: s
                .switches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect(),
            requests: s.requests.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            slo_misses: s.slo_misses.load(Ordering::Relaxed),
            switches: s.switch_count.load(Ordering::Relaxed),
        }
    }

    /// Prometheus text exposition.
    pub fn metrics(&self) -> String {
        use std::fmt::Write;
        let s = &self.shared;
        let st = self.status();
        let mut o = String::new();
        let _ = writeln!(o, "# HELP frontier_serve_requests_total Requests served, by model and threads.\n# TYPE frontier_serve_requests_total counter");
        for v in &st.variants {
            let _ = writeln!(
                o,
                "frontier_serve_requests_total{{model=\"{}\",threads=\"{}\"}} {}",
                v.model, v.threads, v.requests
            );
        }
        let _ = writeln!(o, "# HELP frontier_serve_failed_total Requests that failed on every model.\n# TYPE frontier_serve_failed_total counter\nfrontier_serve_failed_total {}", st.failed);
        let _ = writeln!(o, "# HELP frontier_serve_slo_misses_total Requests slower than the SLO.\n# TYPE frontier_serve_slo_misses_total counter\nfrontier_serve_slo_misses_total {}", st.slo_misses);
        let _ = writeln!(o, "# HELP frontier_serve_switches_total Swaps of the serving model.\n# TYPE frontier_serve_switches_total counter\nfrontier_serve_switches_total {}", st.switches);
        let _ = writeln!(o, "# HELP frontier_serve_latency_seconds Inference latency.\n# TYPE frontier_serve_latency_seconds histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            cum += s.histogram[i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "frontier_serve_latency_seconds_bucket{{le=\"{}\"}} {cum}",
                b / 1000.0
            );
        }
        cum += s.histogram[BUCKETS_MS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "frontier_serve_latency_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            o,
            "frontier_serve_latency_seconds_sum {}",
            s.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "frontier_serve_latency_seconds_count {cum}");
        let _ = writeln!(o, "# HELP frontier_serve_current_model 1 for the model serving now.\n# TYPE frontier_serve_current_model gauge");
        for v in &st.variants {
            let on = v.model == st.current_model && v.threads == st.current_threads;
            let _ = writeln!(
                o,
                "frontier_serve_current_model{{model=\"{}\",threads=\"{}\"}} {}",
                v.model,
                v.threads,
                u8::from(on)
            );
        }
        let _ = writeln!(o, "# HELP frontier_serve_slo_unreachable 1 when no model's predicted p95 fits the SLO.\n# TYPE frontier_serve_slo_unreachable gauge\nfrontier_serve_slo_unreachable {}", u8::from(st.slo_unreachable));
        let n = st.switches.max(1) as f64;
        let p99 = {
            let mut v: Vec<u64> = s
                .swap_ns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect();
            v.sort_unstable();
            v.get(((v.len().max(1) - 1) as f64 * 0.99).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let _ = writeln!(
            o,
            "# HELP frontier_serve_swap_seconds Time of a swap on the controller (the atomic store); requests never wait for it.\n# TYPE frontier_serve_swap_seconds gauge\nfrontier_serve_swap_seconds{{stat=\"max\"}} {}\nfrontier_serve_swap_seconds{{stat=\"mean\"}} {}\nfrontier_serve_swap_seconds{{stat=\"p99\"}} {}",
            s.swap_ns_max.load(Ordering::Relaxed) as f64 / 1e9,
            s.swap_ns_sum.load(Ordering::Relaxed) as f64 / 1e9 / n,
            p99 as f64 / 1e9
        );
        let _ = writeln!(o, "# HELP frontier_serve_others_cpu_cores CPU used by other processes.\n# TYPE frontier_serve_others_cpu_cores gauge\nfrontier_serve_others_cpu_cores {}", st.load.others_cpu);
        if let Some(p) = st.load.psi_some_avg10 {
            let _ = writeln!(o, "# HELP frontier_serve_cpu_pressure_some_avg10 /proc/pressure/cpu some avg10 (percent).\n# TYPE frontier_serve_cpu_pressure_some_avg10 gauge\nfrontier_serve_cpu_pressure_some_avg10 {p}");
        }
        o
    }

    /// Stop the controller (requests still work on the current variant).
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = t.join();
        }
    }
}

/// The p95 of the last [`WINDOW`] of requests and the mean contention they
/// ran under.
fn p95(recent: &VecDeque<(Instant, f64, f64)>, now: Instant) -> Option<Observation> {
    let window: Vec<(f64, f64)> = recent
        .iter()
        .filter(|(t, _, _)| now - *t <= WINDOW)
        .map(|(_, ms, c)| (*ms, *c))
        .collect();
    if window.len() < MIN_OBSERVED {
        return None;
    }
    let mut v: Vec<f64> = window.iter().map(|x| x.0).collect();
    v.sort_by(f64::total_cmp);
    Some(Observation {
        p95_ms: v[((v.len() - 1) as f64 * 0.95).round() as usize],
        contention: window.iter().map(|x| x.1).sum::<f64>() / window.len() as f64,
    })
}

fn fastest_healthy(g: &Generation, tried: &[usize]) -> Option<usize> {
    g.loaded_by_latency().into_iter().find(|i| {
        !tried.contains(i)
            && g.variants[*i]
                .quarantined
                .lock()
                .map(|q| q.is_none())
                .unwrap_or(false)
    })
}

fn check_input(req: &Request, canonical: &[usize]) -> Result<(), InferError> {
    if req.shape != canonical {
        return Err(InferError::BadInput(format!(
            "shape {:?}; this frontier takes {canonical:?}",
            req.shape
        )));
    }
    let n: usize = canonical.iter().product();
    let (len, finite) = match &req.data {
        TensorData::F32(v) => (v.len(), v.iter().all(|x| x.is_finite())),
        TensorData::I64(v) => (v.len(), true),
        _ => {
            return Err(InferError::BadInput(
                "dtype: this frontier takes f32 images or i64 token ids".into(),
            ))
        }
    };
    if len != n {
        return Err(InferError::BadInput(format!(
            "{len} values for shape {canonical:?} ({n} values)"
        )));
    }
    if !finite {
        return Err(InferError::BadInput("NaN or infinite values".into()));
    }
    Ok(())
}

/// Adapt the canonical input to the variant's own and run it.
fn run_variant(
    v: &Loaded,
    req: &Request,
    canonical: &[usize],
) -> Result<(Vec<OutputTensor>, f64, f64), String> {
    let Some(prepared) = &v.prepared else {
        return Err("not loaded".into());
    };
    let want = &v.input.shape;
    let start = Instant::now();
    let data = match (&req.data, v.input.dtype) {
        (TensorData::F32(x), DType::F32) => {
            if canonical.len() == 4 && want.len() == 4 && canonical != want.as_slice() {
                TensorData::F32(resize_bilinear_nchw(
                    x,
                    [canonical[0], canonical[1], canonical[2], canonical[3]],
                    want[2],
                    want[3],
                ))
            } else {
                TensorData::F32(x.clone())
            }
        }
        (TensorData::I64(x), DType::I64) if canonical == want.as_slice() => {
            TensorData::I64(x.clone())
        }
        (_, d) => {
            return Err(format!(
                "the model takes {} {want:?}; the request does not match",
                d.name()
            ))
        }
    };
    let tensor = InputTensor {
        name: v.input.name.clone(),
        shape: want.clone(),
        data,
    };
    let mut state = prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .state(std::slice::from_ref(&tensor))
        .map_err(|e| e.to_string())?;
    let infer_start = Instant::now();
    let outputs = state.outputs().map_err(|e| e.to_string())?;
    let infer_ms = infer_start.elapsed().as_secs_f64() * 1e3;
    Ok((outputs, start.elapsed().as_secs_f64() * 1e3, infer_ms))
}

/// One controller step: read the load, decide, swap if the decision changed.
fn control_step(s: &Shared) {
    // Held for the whole step: `reload` swaps the generation and the policy
    // together under this lock, so the two always describe the same variants.
    let mut policy = s.policy.lock().unwrap_or_else(|p| p.into_inner());
    let active = s.active.load_full();
    let g = &active.generation;
    let load = s.sampler.latest();
    s.contention_bits
        .store(load.others_cpu.to_bits(), Ordering::Relaxed);
    let now = Instant::now();
    let observed: Vec<Option<Observation>> = g
        .variants
        .iter()
        .map(|v| {
            let fresh = p95(&v.recent.lock().unwrap_or_else(|p| p.into_inner()), now);
            let mut last = v.last_obs.lock().unwrap_or_else(|p| p.into_inner());
            match fresh {
                Some(o) => {
                    *last = Some((now, o));
                    Some(o)
                }
                None => last.filter(|(t, _)| now - *t <= MEMORY).map(|(_, o)| o),
            }
        })
        .collect();
    let own: Vec<Option<f64>> = g
        .variants
        .iter()
        .map(|v| *v.overhead_ms.lock().unwrap_or_else(|p| p.into_inner()))
        .collect();
    let known: Vec<f64> = own.iter().flatten().copied().collect();
    let shared_overhead = if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let forced = s.forced.lock().unwrap_or_else(|p| p.into_inner()).take();
    let (target, reason, unreachable, predicted) = {
        policy.overhead_ms = own.iter().map(|o| o.unwrap_or(shared_overhead)).collect();
        let d = policy.decide(s.start.elapsed().as_secs_f64(), load.others_cpu, &observed);
        let forced = forced.filter(|f| *f < g.variants.len() && g.variants[*f].prepared.is_some());
        if let Some(f) = forced {
            (f, "forced".to_string(), d.slo_unreachable, d.predicted_ms)
        } else {
            match &s.config.mode {
                SwitchMode::Frontier => (d.variant, d.reason, d.slo_unreachable, d.predicted_ms),
                SwitchMode::MostAccurate | SwitchMode::Fastest => (
                    active.variant,
                    format!("{:?} baseline", s.config.mode),
                    false,
                    d.predicted_ms,
                ),
                SwitchMode::MeanStep => {
                    let (v, why) = mean_step(s, g, active.variant);
                    (v, why, false, d.predicted_ms)
                }
            }
        }
    };
    *s.decision.lock().unwrap_or_else(|p| p.into_inner()) =
        (unreachable, reason.clone(), predicted);
    if target == active.variant || g.variants[target].prepared.is_none() {
        return;
    }
    let next = Arc::new(Active {
        generation: active.generation.clone(),
        variant: target,
    });
    let t0 = Instant::now();
    s.active.store(next);
    s.served_at_switch
        .store(s.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    let ns = t0.elapsed().as_nanos() as u64;
    s.swap_ns_max.fetch_max(ns, Ordering::Relaxed);
    s.swap_ns_sum.fetch_add(ns, Ordering::Relaxed);
    {
        let mut q = s.swap_ns.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(ns);
        if q.len() > 10_000 {
            q.pop_front();
        }
    }
    s.switch_count.fetch_add(1, Ordering::Relaxed);
    let mut sw = s.switches.lock().unwrap_or_else(|p| p.into_inner());
    sw.push_back(SwitchEvent {
        at_s: s.start.elapsed().as_secs_f64(),
        from: format!(
            "{}/t{}",
            g.variants[active.variant].variant.name, g.variants[active.variant].variant.threads
        ),
        to: format!(
            "{}/t{}",
            g.variants[target].variant.name, g.variants[target].variant.threads
        ),
        reason,
        contention: load.others_cpu,
        swap_us: ns as f64 / 1e3,
    });
    while sw.len() > 20 {
        sw.pop_front();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The variant a static baseline serves.
fn static_choice(mode: &SwitchMode, g: &Generation) -> Option<usize> {
    let loaded = g.loaded_by_latency();
    match mode {
        SwitchMode::MostAccurate => loaded.into_iter().rev().max_by(|a, b| {
            g.variants[*a]
                .variant
                .accuracy
                .total_cmp(&g.variants[*b].variant.accuracy)
        }),
        SwitchMode::Fastest => loaded.first().copied(),
        _ => None,
    }
}

/// Requests per Dynamic-OFA decision window.
const MEAN_WINDOW: usize = 20;

/// Dynamic-OFA's rule over the loaded variants ordered by idle latency.
fn mean_step(s: &Shared, g: &Generation, cur: usize) -> (usize, String) {
    let served = s.requests.load(Ordering::Relaxed) - s.served_at_switch.load(Ordering::Relaxed);
    let recent: Vec<f64> = {
        let r = g.variants[cur]
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        r.iter()
            .rev()
            .take(MEAN_WINDOW)
            .map(|(_, ms, _)| *ms)
            .collect()
    };
    if (served as usize) < MEAN_WINDOW || recent.len() < MEAN_WINDOW {
        return (cur, "collecting 20 requests".into());
    }
    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
    let idle = |i: usize| g.idle(i);
    let order = g.loaded_by_latency();
    let Some(pos) = order.iter().position(|i| *i == cur) else {
        return (cur, "not loaded".into());
    };
    let slo = s.config.slo_ms;
    if mean > slo && pos > 0 {
        return (
            order[pos - 1],
            format!("mean of 20 {mean:.2} ms > {slo} ms: one step faster"),
        );
    }
    if pos + 1 < order.len() {
        let next = order[pos + 1];
        let scaled = mean * idle(next) / idle(cur);
        if scaled <= slo {
            return (
                next,
                format!(
                    "mean of 20 {mean:.2} ms; the next scaled {scaled:.2} ms fits: one step slower"
                ),
            );
        }
    }
    (cur, format!("mean of 20 {mean:.2} ms"))
}
