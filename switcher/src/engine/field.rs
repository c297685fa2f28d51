//! Field telemetry: what each model did in the field since the last
//! [`Switcher::take_field`] (requests, failures, SLO misses, the times it
//! became the serving model, inference and end-to-end latencies, the load
//! it ran under). `frontier serve` turns each window into field rows for
//! the collector; the window is taken whole and starts again empty.

#[allow(unused_imports)]
use super::*;
use std::time::SystemTime;

/// Latencies kept per model and window; past it only the counts grow
/// (a window of a minute at 1,600 requests a second).
const MAX_SAMPLES: usize = 100_000;

/// One model (at one thread count) over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldStats {
    pub model: String,
    pub threads: u32,
    pub requests: u64,
    pub failed: u64,
    pub slo_misses: u64,
    pub switches_in: u64,
    /// Sorted, ms.
    pub inference_ms: Vec<f64>,
    /// The whole request in the server (the HTTP layer's time when it
    /// reports it, else the switcher's: resizing, binding, inference);
    /// sorted, ms.
    pub e2e_ms: Vec<f64>,
    /// Others' busy cores while it served: mean and max over its requests.
    pub load_mean: Option<f64>,
    pub load_max: Option<f64>,
}

/// What every model did over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldWindow {
    pub start: SystemTime,
    pub seconds: f64,
    pub slo_ms: f64,
    /// The manifest and device key served at the window's end.
    pub manifest: PathBuf,
    pub device_key: String,
    /// Models with requests, failures or switches in the window.
    pub models: Vec<FieldStats>,
}

#[derive(Debug, Default)]
struct Acc {
    requests: u64,
    failed: u64,
    slo_misses: u64,
    switches_in: u64,
    inference: Vec<f64>,
    serve: Vec<f64>,
    e2e: Vec<f64>,
    load_sum: f64,
    load_n: u64,
    load_max: Option<f64>,
}

#[derive(Debug)]
pub(super) struct FieldAcc {
    start: SystemTime,
    started: Instant,
    /// By model name, then thread count: a request finds its entry by
    /// `&str`, so the request path allocates only a model's first time.
    per: BTreeMap<String, BTreeMap<u32, Acc>>,
}

impl Default for FieldAcc {
    fn default() -> Self {
        FieldAcc {
            start: SystemTime::now(),
            started: Instant::now(),
            per: BTreeMap::new(),
        }
    }
}

impl FieldAcc {
    fn entry(&mut self, v: &Variant) -> &mut Acc {
        if !self.per.contains_key(v.name.as_str()) {
            self.per.insert(v.name.clone(), BTreeMap::new());
        }
        self.per
            .get_mut(v.name.as_str())
            .expect("inserted above")
            .entry(v.threads)
            .or_default()
    }

    /// `v` became the serving model.
    pub(super) fn switched_to(&mut self, v: &Variant) {
        self.entry(v).switches_in += 1;
    }
}

fn push(v: &mut Vec<f64>, x: f64) {
    if v.len() < MAX_SAMPLES && x.is_finite() {
        v.push(x);
    }
}

impl Switcher {
    fn field_entry<R>(&self, v: &Variant, f: impl FnOnce(&mut Acc) -> R) -> R {
        let mut acc = self.shared.field.lock().unwrap_or_else(|p| p.into_inner());
        f(acc.entry(v))
    }

    /// A served request: `ms` in the switcher, `infer_ms` the inference.
    pub(super) fn field_served(&self, v: &Variant, ms: f64, infer_ms: f64, contention: f64) {
        let slo = self.shared.config.slo_ms;
        self.field_entry(v, |a| {
            a.requests += 1;
            if ms > slo {
                a.slo_misses += 1;
            }
            push(&mut a.inference, infer_ms);
            push(&mut a.serve, ms);
            if contention.is_finite() {
                a.load_sum += contention;
                a.load_n += 1;
                a.load_max = Some(a.load_max.map_or(contention, |m: f64| m.max(contention)));
            }
        })
    }

    pub(super) fn field_failed(&self, v: &Variant) {
        self.field_entry(v, |a| a.failed += 1)
    }

    /// The whole request's time as the HTTP layer saw it (parsing the
    /// body to encoding the answer), for the model that served it.
    pub fn record_end_to_end(&self, model: &str, threads: u32, ms: f64) {
        let mut acc = self.shared.field.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = acc.per.get_mut(model).and_then(|m| m.get_mut(&threads)) {
            push(&mut a.e2e, ms);
        }
    }

    /// The window since the last call (or the start), and a new one begun.
    pub fn take_field(&self) -> FieldWindow {
        let taken = {
            let mut acc = self.shared.field.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *acc)
        };
        let (manifest, device_key) = {
            let a = self.shared.active.load();
            (a.generation.source.clone(), a.generation.device.clone())
        };
        let models = taken
            .per
            .into_iter()
            .flat_map(|(model, by_threads)| {
                by_threads
                    .into_iter()
                    .map(move |(threads, a)| (model.clone(), threads, a))
            })
            .map(|(model, threads, mut a)| {
                a.inference.sort_by(f64::total_cmp);
                let mut e2e = if a.e2e.is_empty() { a.serve } else { a.e2e };
                e2e.sort_by(f64::total_cmp);
                FieldStats {
                    model,
                    threads,
                    requests: a.requests,
                    failed: a.failed,
                    slo_misses: a.slo_misses,
                    switches_in: a.switches_in,
                    inference_ms: a.inference,
                    e2e_ms: e2e,
                    load_mean: (a.load_n > 0).then(|| a.load_sum / a.load_n as f64),
                    load_max: a.load_max,
                }
            })
            .collect();
        FieldWindow {
            start: taken.start,
            seconds: taken.started.elapsed().as_secs_f64(),
            slo_ms: self.shared.config.slo_ms,
            manifest,
            device_key,
            models,
        }
    }
}
