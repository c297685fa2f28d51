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
use crate::policy::{Observation, Policy, PolicyConfig, Prediction, Remembered, Variant};
use crate::resize::resize_bilinear_nchw;

mod controller;
mod field;
mod generation;
mod request;
mod telemetry;

use controller::*;
use field::FieldAcc;
pub use field::{FieldStats, FieldWindow};
use generation::*;
use request::*;

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
    /// Build every model from this supernet (`serve --weights`); without
    /// it, models whose files are absent are built from the manifest's
    /// supernet, found beside the manifest.
    pub weights: Option<PathBuf>,
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
            weights: None,
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
    /// The corrected p95 prediction at the current load (inference plus
    /// the request's time outside it).
    pub predicted_p95_ms: Option<f64>,
    /// What corrects that prediction: its own observation at this load
    /// (with its age and load), the median ratio of the variants observed
    /// at this load, or the table alone; and a floor from its own
    /// observation at a lighter load when that set the prediction.
    pub correction: Option<VariantCorrection>,
    /// Its observations kept by load (the policy's memory), oldest first.
    pub observations: Vec<ObservationStatus>,
    /// The p95 of its requests in the last 2 s, at any load.
    pub observed_p95_ms: Option<f64>,
    pub observed_ewma_ms: Option<f64>,
    pub requests: u64,
}

/// [`crate::policy::Correction`] with ages instead of clock times.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VariantCorrection {
    Observed {
        ratio: f64,
        p95_ms: f64,
        contention: f64,
        age_s: f64,
        floor: Option<ObservationStatus>,
    },
    Borrowed {
        ratio: f64,
        from: Vec<String>,
        floor: Option<ObservationStatus>,
    },
    Table {
        floor: Option<ObservationStatus>,
    },
}

/// One remembered observation of a variant.
#[derive(Debug, Clone, Serialize)]
pub struct ObservationStatus {
    pub p95_ms: f64,
    pub contention: f64,
    pub ratio: f64,
    pub age_s: f64,
    /// Misses in a row at this load (0: it fitted).
    pub misses: u32,
    /// For a miss: seconds until the variant may be probed at this load
    /// again (0: it may be now).
    pub retry_in_s: Option<f64>,
}

impl ObservationStatus {
    fn new(r: &Remembered, now_s: f64) -> ObservationStatus {
        ObservationStatus {
            p95_ms: r.p95_ms,
            contention: r.contention,
            ratio: r.ratio,
            age_s: (now_s - r.at_s).max(0.0),
            misses: r.misses,
            retry_in_s: r.retry_at_s().map(|t| (t - now_s).max(0.0)),
        }
    }
}

/// The controller's last judgement, read by [`Switcher::status`].
#[derive(Debug, Clone, Default)]
struct Judged {
    unreachable: bool,
    reason: String,
    predictions: Vec<Prediction>,
    /// Per variant, the policy's observations by load.
    remembered: Vec<Vec<Remembered>>,
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
    /// A request's time in the server outside inference and resizing (the
    /// HTTP layer: parsing, hand-off, encoding; EWMA, ms), added to every
    /// prediction.
    pub transport_ms: Option<f64>,
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

struct Loaded {
    variant: Variant,
    path: PathBuf,
    /// Each model's own input (shape, dtype).
    input: inputs::ResolvedInput,
    prepared: Option<Mutex<Box<dyn PreparedModel>>>,
    quarantined: Mutex<Option<String>>,
    /// (when, latency ms, contention then) of recent requests.
    recent: Mutex<VecDeque<(Instant, f64, f64)>>,
    ewma_ms: Mutex<Option<f64>>,
    /// EWMA of the request's time outside inference (resizing the input,
    /// binding it): added to predictions, not scaled with them.
    overhead_ms: Mutex<Option<f64>>,
    requests: AtomicU64,
}

struct Generation {
    manifest: Manifest,
    /// The manifest's latency key served by.
    device: String,
    /// The manifest file, and the device asked for (`--device`, or the
    /// collector's key for this board): what a reload reads again.
    source: PathBuf,
    wanted_device: Option<String>,
    canonical: Vec<usize>,
    variants: Vec<Loaded>,
    /// Models built from the supernet live here while the generation does.
    _built: Option<BuiltDir>,
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
    decision: Mutex<Judged>,
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
    /// EWMA of a request's time in the server outside `infer` (the HTTP
    /// layer's parsing, hand-off and response encoding), ms: added to every
    /// prediction, since the SLO is about the whole request.
    transport_ms: Mutex<Option<f64>>,
    /// The controller's last steps (when, others' CPU then), newest last:
    /// a request is labelled with the load read before it ran, so the
    /// reading after it confirms or refutes the label.
    steps: Mutex<VecDeque<(Instant, f64)>>,
    /// The field window in progress ([`Switcher::take_field`]).
    field: Mutex<FieldAcc>,
}

/// The switcher. Cloning shares it.
#[derive(Clone)]
pub struct Switcher {
    shared: Arc<Shared>,
    controller: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}
/// The policy over a generation's variants, those that failed to load
/// quarantined (the same set-up for start and reload).
fn new_policy(config: PolicyConfig, generation: &Generation, cores: usize) -> Policy {
    let variants = generation
        .variants
        .iter()
        .map(|v| v.variant.clone())
        .collect();
    let mut policy = Policy::new(config, variants, cores);
    for (i, v) in generation.variants.iter().enumerate() {
        if v.prepared.is_none() {
            policy.quarantine(i);
        }
    }
    policy
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
        let mut policy = new_policy(policy_config, &generation, cores);
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
            decision: Mutex::new(Judged {
                unreachable: initial.slo_unreachable,
                reason: initial.reason,
                predictions: initial.predictions,
                remembered: Vec::new(),
            }),
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
            transport_ms: Mutex::new(None),
            steps: Mutex::new(VecDeque::new()),
            swap_ns: Mutex::new(VecDeque::new()),
            forced: Mutex::new(None),
            served_at_switch: AtomicU64::new(0),
            contention_bits: AtomicU64::new(0f64.to_bits()),
            field: Mutex::new(FieldAcc::default()),
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

    /// Re-read the manifest served now, load and warm its models, then
    /// swap the whole generation (requests in flight finish on the old one).
    pub fn reload(&self) -> Result<Vec<String>, StartError> {
        let g = self.shared.active.load_full().generation.clone();
        self.reload_from(g.source.clone(), g.wanted_device.clone())
    }

    /// Load and warm another manifest's models (a new version pulled from
    /// the collector; `device`: its latency key for this board), then swap
    /// the whole generation. On an error nothing changes: the old
    /// generation keeps serving.
    pub fn reload_from(
        &self,
        manifest: PathBuf,
        device: Option<String>,
    ) -> Result<Vec<String>, StartError> {
        let s = &self.shared;
        let mut config = s.config.clone();
        config.manifest = manifest;
        config.device = device;
        let (generation, warnings) = load_generation(&config)?;
        if generation.manifest.input.shape != s.active.load().generation.manifest.input.shape {
            return Err(StartError::Manifest(format!(
                "{}: its input {:?} is not the served one's {:?}; requests of the old shape would fail; fix: publish it under another name (or restart serve)",
                config.manifest.display(),
                generation.manifest.input.shape,
                s.active.load().generation.manifest.input.shape
            )));
        }
        let (config, cores) = {
            let p = s.policy.lock().unwrap_or_else(|p| p.into_inner());
            (p.config.clone(), p.cores as usize)
        };
        let mut policy = new_policy(config, &generation, cores);
        let mut p = s.policy.lock().unwrap_or_else(|p| p.into_inner());
        // The same models keep what was observed of them, by load.
        policy.adopt_memory(&p);
        let contention = s.sampler.latest().others_cpu;
        let variant = policy
            .decide(s.start.elapsed().as_secs_f64(), contention, &[])
            .variant;
        *p = policy;
        s.active.store(Arc::new(Active {
            generation: Arc::new(generation),
            variant,
        }));
        Ok(warnings)
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
