//! Loading a generation: the manifest's models for this device and
//! backend, each at each thread count, prepared and warmed (fastest first,
//! then by accuracy, within the memory budget) before any of them serves.

#[allow(unused_imports)]
use super::*;
use frontier_spaces::supernet::Supernet;
use frontier_spaces::{Arch, Space};
use frontier_table::frontier::FrontierModel;

pub(super) fn model_resolution(shape: &[usize]) -> Option<usize> {
    (shape.len() == 4).then(|| shape[2])
}

/// The manifest key this backend's latencies are under.
pub(super) fn pick_device(
    m: &Manifest,
    backend: &str,
    wanted: Option<&str>,
) -> Result<String, String> {
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

pub(super) fn load_generation(
    config: &ServeConfig,
) -> Result<(Generation, Vec<String>), StartError> {
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
    // A user's own export standing in for a model must be its architecture.
    if config.weights.is_none() {
        frontier_session::stand_in::check_manifest(&manifest, &base, None)
            .map_err(|e| StartError::Manifest(format!("{}: {e}", config.manifest.display())))?;
    }
    let models = manifest.models_for(&key);
    let mut problems = Vec::new();
    let mut variants: Vec<Loaded> = Vec::new();
    let mut builder = Builder::new(config, &manifest, &base);
    for m in models {
        let file = base.join(&m.file);
        let path = if config.weights.is_some() || !file.is_file() {
            match builder.build(m) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    problems.push(format!(
                        "{}: model file {} is missing (and the manifest names no supernet to build it from; fix: copy the file, or give --weights SUPERNET)",
                        m.name,
                        file.display()
                    ));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{}: {e}", m.name));
                    continue;
                }
            }
        } else {
            file
        };
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
    let built = builder.into_dir();
    Ok((
        Generation {
            manifest,
            device: key,
            source: config.manifest.clone(),
            wanted_device: config.device.clone(),
            canonical,
            variants,
            _built: built,
        },
        problems,
    ))
}

/// Architectures compare as JSON values (key order and spacing aside).
pub(super) fn same_arch(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub(super) fn prepare_and_warm(
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

/// A private directory of models built from a supernet, removed with the
/// generation that serves them.
pub(super) struct BuiltDir(PathBuf);

impl Drop for BuiltDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a manifest's models from its supernet (or `--weights`), reading
/// the supernet once, on first need.
struct Builder<'a> {
    config: &'a ServeConfig,
    manifest: &'a Manifest,
    base: &'a Path,
    net: Option<Result<Supernet, String>>,
    dir: Option<BuiltDir>,
}

impl<'a> Builder<'a> {
    fn new(config: &'a ServeConfig, manifest: &'a Manifest, base: &'a Path) -> Self {
        Builder {
            config,
            manifest,
            base,
            net: None,
            dir: None,
        }
    }

    fn supernet(&mut self) -> Option<Result<&Supernet, String>> {
        if self.net.is_none() {
            let read = match (&self.config.weights, &self.manifest.supernet) {
                (Some(p), Some(r)) => frontier_session::supernet::read_expected(p, r),
                (Some(p), None) => frontier_session::supernet::read(p).map(|(n, _)| n),
                (None, Some(r)) => {
                    let p = self.base.join(&r.file);
                    if !p.is_file() {
                        return Some(Err(format!(
                            "the manifest's supernet {} is not beside it; fix: copy it there, or give --weights SUPERNET",
                            p.display()
                        )));
                    }
                    frontier_session::supernet::read_expected(&p, r)
                }
                (None, None) => return None,
            };
            self.net = Some(read.map_err(|e| e.to_string()));
        }
        self.net.as_ref().map(|r| r.as_ref().map_err(|e| e.clone()))
    }

    /// The model of `m` built from the supernet into the private directory;
    /// `None` when there is no supernet to build from.
    fn build(&mut self, m: &FrontierModel) -> Result<Option<PathBuf>, String> {
        if self.manifest.space != frontier_spaces::ofa_mbv3::SPACE {
            return match self.supernet() {
                None => Ok(None),
                Some(_) => Err(format!(
                    "the {} space has no supernet weights; fix: serve it from its model files",
                    self.manifest.space
                )),
            };
        }
        let arch = Arch::parse(Space::OfaMbv3, &m.arch.to_string()).map_err(|e| e.to_string())?;
        let bytes = match self.supernet() {
            None => return Ok(None),
            Some(net) => {
                arch.generate_from(Some(net?), 0)
                    .map_err(|e| e.to_string())?
                    .onnx
            }
        };
        if self.dir.is_none() {
            let d = std::env::temp_dir().join(format!(
                "frontier-serve-{}-{}",
                std::process::id(),
                BUILT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            self.dir = Some(BuiltDir(d));
        }
        let dir = &self.dir.as_ref().expect("made above").0;
        let path = dir.join(format!("{}.onnx", m.name));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(path))
    }

    fn into_dir(self) -> Option<BuiltDir> {
        self.dir
    }
}

/// Numbers the generations' private directories within the process.
static BUILT: AtomicU64 = AtomicU64::new(0);
