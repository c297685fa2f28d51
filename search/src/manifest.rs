//! From a finished search to a frontier manifest (`docs/FRONTIER_FORMAT.md`),
//! and back from a verification session's rows to the manifest's models.

use std::collections::HashMap;
use std::path::Path;

use frontier_predictor::plot::FrontierSeries;
use frontier_spaces::supernet::{Supernet, SupernetError};
use frontier_spaces::{Arch, Space};
use frontier_table::frontier::{
    AccuracySource, CanonicalInput, FrontierModel, Latency, Manifest, SearchSummary, SupernetRef,
    FRONTIER_VERSION,
};
use frontier_table::LatencyRow;

use crate::nsga2::{device_frontier, Candidate, Constraints, Outcome, SearchConfig};

/// `--max-latency-ms X[@DEVICE]` per device key: a bare limit applies to
/// every device; `@DEVICE` matches a device id, or a whole key.
pub fn latency_limits(args: &[String], keys: &[String]) -> Result<Vec<Option<f64>>, String> {
    let mut limits = vec![None; keys.len()];
    for a in args {
        let (value, device) = match a.split_once('@') {
            Some((v, d)) => (v, Some(d)),
            None => (a.as_str(), None),
        };
        let ms: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("--max-latency-ms {a}: not a positive number of ms"))?;
        let mut matched = false;
        for (i, k) in keys.iter().enumerate() {
            let hit = match device {
                None => true,
                Some(d) => k == d || k.split('/').next() == Some(d),
            };
            if hit {
                limits[i] = Some(ms);
                matched = true;
            }
        }
        if !matched {
            return Err(format!(
                "--max-latency-ms {a}: no predictor's device is {}; devices: {}",
                device.unwrap_or(""),
                keys.join(", ")
            ));
        }
    }
    Ok(limits)
}

/// The canonical input of the frontier's models: the largest resolution
/// (OFA; requests are resized down per model) or the sequence (GPT-2).
pub fn canonical_input(models: &[&Candidate]) -> CanonicalInput {
    match models.first().map(|c| &c.arch) {
        Some(Arch::Gpt2(a)) => CanonicalInput {
            name: "input_ids".into(),
            dtype: "i64".into(),
            shape: vec![1, a.seq_len as usize],
        },
        _ => {
            let r = models
                .iter()
                .filter_map(|c| match &c.arch {
                    Arch::Ofa(a) => Some(a.r as usize),
                    _ => None,
                })
                .max()
                .unwrap_or(frontier_spaces::ofa_mbv3::MAX_RES as usize);
            CanonicalInput {
                name: "input".into(),
                dtype: "f32".into(),
                shape: vec![1, 3, r, r],
            }
        }
    }
}

/// What a search was asked, for the manifest's `search` summary.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub space: Space,
    /// Device keys, in predictor order.
    pub keys: &'a [String],
    pub config: &'a SearchConfig,
    pub constraints: &'a Constraints,
    pub accuracy: &'a AccuracySource,
    /// Models per device frontier at most (`--models`).
    pub models_per_device: usize,
    pub seconds: f64,
    pub created_at: String,
    pub frontier_version: &'a str,
    /// The models' weights come from this supernet (`--weights`), else
    /// they are seeded latency twins.
    pub weights: Option<(&'a Supernet, SupernetRef)>,
}

/// A manifest and its models' ONNX bytes (file name relative to the
/// manifest's directory, bytes).
pub struct Assembled {
    pub manifest: Manifest,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Each device's frontier (at most `models_per_device`, thinned evenly
/// over latency); the manifest holds their union, sorted by the first
/// device's predicted latency, models named `<space>_fNN` with the
/// supernet's weights (`weights`) or seeded ones (seed `config.seed + NN`).
pub fn assemble(req: &Request, outcome: &Outcome) -> Result<Assembled, SupernetError> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut frontier_of: HashMap<usize, Vec<String>> = HashMap::new();
    for (d, key) in req.keys.iter().enumerate() {
        for i in device_frontier(&outcome.evaluated, d, req.models_per_device) {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
            frontier_of.entry(i).or_default().push(key.clone());
        }
    }
    let lat0 = |i: &usize| {
        outcome.evaluated[*i].latency[0]
            .map(|p| p.ms)
            .unwrap_or(f64::INFINITY)
    };
    chosen.sort_by(|a, b| lat0(a).total_cmp(&lat0(b)));
    let prefix = req.space.file_prefix();
    let mut models = Vec::new();
    let mut files = Vec::new();
    for (n, &i) in chosen.iter().enumerate() {
        let c = &outcome.evaluated[i];
        let name = format!("{prefix}_f{n:02}");
        let file = format!("models/{name}.onnx");
        let net = req.weights.as_ref().map(|(net, _)| *net);
        let seed = req.config.seed.wrapping_add(n as u64);
        files.push((file.clone(), c.arch.generate_from(net, seed)?.onnx));
        let latency = req
            .keys
            .iter()
            .zip(&c.latency)
            .map(|(k, p)| {
                (
                    k.clone(),
                    Latency {
                        predicted_ms: p.map(|p| p.ms),
                        interval_ms: p.map(|p| p.interval),
                        measured_ms: None,
                    },
                )
            })
            .collect();
        models.push(FrontierModel {
            name,
            file,
            arch: serde_json::from_str(&c.json).expect("arch JSON"),
            accuracy: c.accuracy,
            params: c.params,
            macs: c.macs,
            frontier_of: frontier_of.remove(&i).unwrap_or_default(),
            latency,
        });
    }
    let chosen_refs: Vec<&Candidate> = chosen.iter().map(|i| &outcome.evaluated[*i]).collect();
    let (_, hv) = *outcome.history.last().expect("generation 0");
    let (_, rhv) = *outcome.random_history.last().expect("generation 0");
    let manifest = Manifest {
        schema_version: FRONTIER_VERSION.into(),
        space: req.space.name().into(),
        accuracy: req.accuracy.clone(),
        input: canonical_input(&chosen_refs),
        devices: req.keys.to_vec(),
        search: SearchSummary {
            algorithm: "nsga2".into(),
            population: req.config.population,
            generations: req.config.generations,
            seed: req.config.seed,
            evaluations: outcome.evaluated.len(),
            hypervolume: hv,
            random_search_hypervolume: rhv,
            constraints: req.constraints.clone(),
            seconds: req.seconds,
        },
        created_at: req.created_at.clone(),
        frontier_version: req.frontier_version.into(),
        supernet: req.weights.as_ref().map(|(_, r)| r.clone()),
        models,
    };
    Ok(Assembled { manifest, files })
}

/// The search report (`search.json`): settings, and the hypervolume of
/// NSGA-II and of the random search after each generation.
pub fn report(req: &Request, outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "space": req.space.name(),
        "accuracy": req.accuracy,
        "devices": req.keys,
        "config": req.config,
        "constraints": req.constraints,
        "seconds": req.seconds,
        "evaluations": outcome.evaluated.len(),
        "hypervolume_normalization": outcome.bounds,
        "nsga2_hypervolume": outcome.history.iter().enumerate().map(|(g, (calls, hv))| serde_json::json!({"generation": g, "evaluations": calls, "hypervolume": hv})).collect::<Vec<_>>(),
        "random_search_hypervolume": outcome.random_history.iter().map(|(calls, hv)| serde_json::json!({"evaluations": calls, "hypervolume": hv})).collect::<Vec<_>>(),
    })
}

/// The predictor of device `here` among `files`, or why there is none.
pub fn predictor_of<'a>(
    files: &'a [frontier_predictor::PredictorFile],
    here: &str,
) -> Result<&'a frontier_predictor::PredictorFile, String> {
    files.iter().find(|f| f.device_id == here).ok_or_else(|| {
        let known: Vec<&str> = files.iter().map(|f| f.device_id.as_str()).collect();
        format!(
            "--verify: no predictor is of this device ({here}; predictors: {}); fix: verify on the device a predictor was trained on",
            known.join(", ")
        )
    })
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verified {
    /// Models with a measurement and a prediction.
    pub measured: usize,
    /// Of those, within their interval or ±10%.
    pub inside: usize,
    /// One line per model measured outside its predicted interval.
    pub misses: Vec<String>,
}

/// Record each model's measured latency for device `key` from the rows of
/// a verification session over the manifest's files in `dir` (a row is a
/// model's when its path is the model's file), and compare it with the
/// prediction.
/// `scale`: the verifying invocation's offset from the predictor's scale
/// (its reference subnets' ratio, 1.0 when unknown): measurements are
/// recorded as measured and compared with predictions on the predictor's
/// scale (measured / scale).
pub fn record_verification(
    manifest: &mut Manifest,
    key: &str,
    rows: &[LatencyRow],
    dir: &Path,
    scale: f64,
) -> Verified {
    let mut v = Verified::default();
    for m in manifest.models.iter_mut() {
        let path = dir.join(&m.file);
        let Some(row) = rows
            .iter()
            .find(|r| Path::new(&r.model_path) == path || r.model_path.ends_with(&m.file))
        else {
            continue;
        };
        let ms = row.latency_ms();
        let entry = m.latency.entry(key.to_string()).or_default();
        entry.measured_ms = ms;
        let (Some(ms), Some(pred), Some((lo, hi))) = (ms, entry.predicted_ms, entry.interval_ms)
        else {
            continue;
        };
        v.measured += 1;
        let ms = ms / scale;
        let in_interval = ms >= lo && ms <= hi;
        let in_10 = (pred / ms - 1.0).abs() <= 0.10;
        if in_interval || in_10 {
            v.inside += 1;
        }
        if !in_interval {
            v.misses.push(format!(
                "outside its interval: {} measured {ms:.3} ms, predicted {pred:.3} ms [{lo:.3}, {hi:.3}] ({:+.1}%{})",
                m.name,
                (pred / ms - 1.0) * 100.0,
                if in_10 { ", within ±10%" } else { "" }
            ));
        }
    }
    v
}

/// The frontier plot's series (per device: everything evaluated and
/// feasible, the device's frontier by prediction, and measured points),
/// its title and the accuracy axis' label.
pub fn plot_series(
    manifest: &Manifest,
    evaluated: &[Candidate],
    source: &AccuracySource,
) -> (Vec<FrontierSeries>, String, String) {
    let series: Vec<FrontierSeries> = manifest
        .devices
        .iter()
        .enumerate()
        .map(|(d, key)| {
            let on_it = |m: &&FrontierModel| m.frontier_of.contains(key);
            FrontierSeries {
                label: key.clone(),
                evaluated: evaluated
                    .iter()
                    .filter(|c| c.feasible())
                    .filter_map(|c| c.latency[d].map(|p| (p.ms, c.accuracy)))
                    .collect(),
                frontier: {
                    let mut v: Vec<(f64, f64)> = manifest
                        .models
                        .iter()
                        .filter(on_it)
                        .filter_map(|m| {
                            let ms = m.latency.get(key)?.predicted_ms?;
                            Some((ms, m.accuracy))
                        })
                        .collect();
                    v.sort_by(|a, b| a.0.total_cmp(&b.0));
                    v
                },
                measured: manifest
                    .models
                    .iter()
                    .filter_map(|m| Some((m.latency.get(key)?.measured_ms?, m.accuracy)))
                    .collect(),
            }
        })
        .collect();
    let title = format!(
        "{}: {} evaluated, {} on the frontier",
        manifest.space,
        evaluated.len(),
        manifest.models.len()
    );
    let label = match source.source.as_str() {
        "macs" => "MACs (M), accuracy proxy",
        "params" => "parameters (M), accuracy proxy",
        _ => "accuracy",
    };
    (series, title, label.to_string())
}

/// The manifest as the table `frontier search` prints: per model its
/// accuracy and per device the predicted latency, interval and measured
/// latency (`*`: on that device's frontier).
pub fn render(m: &Manifest) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>10}  latency per device: predicted [interval] (measured)",
        "model", "accuracy"
    );
    for model in &m.models {
        let lat: Vec<String> = m
            .devices
            .iter()
            .map(|k| {
                let l = model.latency.get(k).cloned().unwrap_or_default();
                let mut s = match (l.predicted_ms, l.interval_ms) {
                    (Some(p), Some((lo, hi))) => format!("{p:.2} [{lo:.2}, {hi:.2}]"),
                    _ => "-".into(),
                };
                if let Some(ms) = l.measured_ms {
                    s += &format!(" ({ms:.2})");
                }
                let star = if model.frontier_of.contains(k) {
                    "*"
                } else {
                    ""
                };
                format!("{k}{star}: {s}")
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<16} {:>10.3}  {}",
            model.name,
            model.accuracy,
            lat.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "* on that device's frontier; wrote {} models",
        m.models.len()
    );
    out
}
