//! `frontier search`: the Pareto frontier of a space for one or several
//! devices, from their predictors, into a frontier manifest
//! (`docs/FRONTIER_FORMAT.md`) with the models, a report and a plot; and
//! `--verify`, which measures the frontier's models here.
//!
//! The search itself is `frontier_predictor::search` (pure computation);
//! this module reads predictors and the accuracy source, writes files, and
//! runs the profiling session for `--verify`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use frontier_export::{gpt2, ofa_mbv3};
use frontier_predictor::plot::{frontier_svg, FrontierSeries};
use frontier_predictor::search::{self, Arch, Constraints, Genome, SearchConfig};
use frontier_predictor::{Predictor, PredictorFile};

use crate::cli::SearchArgs;
pub use frontier_export::table::frontier::{
    device_key, AccuracySource, CanonicalInput, FrontierModel, Latency, Manifest, SearchSummary,
    FRONTIER_VERSION,
};

/// `--max-latency-ms X[@DEVICE]` per predictor: a bare limit applies to
/// every device; `@DEVICE` matches a device id, or a whole key.
fn latency_limits(args: &[String], keys: &[String]) -> anyhow::Result<Vec<Option<f64>>> {
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
            .with_context(|| format!("--max-latency-ms {a}: not a positive number of ms"))?;
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
            bail!(
                "--max-latency-ms {a}: no predictor's device is {}; devices: {}",
                device.unwrap_or(""),
                keys.join(", ")
            );
        }
    }
    Ok(limits)
}

/// Accuracy of a batch of architectures (one value each).
type AccuracyEval = Box<dyn FnMut(&[Arch]) -> Result<Vec<f64>, String>>;

/// Accuracy of a batch of architectures, and the pool a table restricts
/// the search to.
struct Accuracy {
    source: AccuracySource,
    pool: Option<Vec<Arch>>,
    eval: AccuracyEval,
}

fn accuracy_source(spec: &str, space: &str) -> anyhow::Result<Accuracy> {
    let source = |description: &str| AccuracySource {
        source: spec.to_string(),
        description: description.to_string(),
    };
    match spec {
        "macs" => Ok(Accuracy {
            source: source(
                "proxy: multiply-accumulates in millions (more is assumed more accurate)",
            ),
            pool: None,
            eval: Box::new(|a: &[Arch]| Ok(a.iter().map(|a| a.macs() as f64 / 1e6).collect())),
        }),
        "params" => Ok(Accuracy {
            source: source("proxy: parameters in millions (more is assumed more accurate)"),
            pool: None,
            eval: Box::new(|a: &[Arch]| Ok(a.iter().map(|a| a.params() as f64 / 1e6).collect())),
        }),
        _ => {
            if let Some(path) = spec.strip_prefix("table:") {
                let (pool, map) = read_accuracy_table(Path::new(path), space)?;
                Ok(Accuracy {
                    source: source("measured accuracy from a table; the search is restricted to its architectures"),
                    pool: Some(pool),
                    eval: Box::new(move |a: &[Arch]| {
                        a.iter()
                            .map(|a| {
                                map.get(&a.json())
                                    .copied()
                                    .ok_or_else(|| format!("{} is not in the table", a.json()))
                            })
                            .collect()
                    }),
                })
            } else if let Some(path) = spec.strip_prefix("onnx:") {
                let eval = onnx_accuracy(Path::new(path), space)?;
                Ok(Accuracy {
                    source: source("an ONNX model's output for the space's encoding"),
                    pool: None,
                    eval,
                })
            } else {
                bail!("--accuracy {spec}: unknown source; fix: onnx:FILE, table:FILE.jsonl, macs or params")
            }
        }
    }
}

/// `{"arch": ..., "accuracy": x}` per line.
fn read_accuracy_table(
    path: &Path,
    space: &str,
) -> anyhow::Result<(Vec<Arch>, HashMap<String, f64>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the accuracy table", path.display()))?;
    let mut pool = Vec::new();
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let arch = match &v["arch"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => bail!("{}: no `arch` field", at()),
            other => other.to_string(),
        };
        let acc = v["accuracy"]
            .as_f64()
            .filter(|a| a.is_finite())
            .with_context(|| format!("{}: `accuracy` must be a number", at()))?;
        let arch = Arch::from_json(space, &arch).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        if map.insert(arch.json(), acc).is_none() {
            pool.push(arch);
        }
    }
    if pool.is_empty() {
        bail!(
            "{}: the accuracy table is empty; fix: one {{\"arch\": ..., \"accuracy\": x}} per line",
            path.display()
        );
    }
    Ok((pool, map))
}

fn encoding_len(space: &str) -> usize {
    if space == gpt2::SPACE {
        gpt2::ENCODING_LEN
    } else {
        ofa_mbv3::ENCODING_LEN
    }
}

#[cfg(feature = "tract")]
fn onnx_accuracy(path: &Path, space: &str) -> anyhow::Result<AccuracyEval> {
    use frontier_profiler::backend::Backend;
    use frontier_profiler::inputs::Dim;
    use tract_onnx::prelude::*;
    const BATCH: usize = 256;
    let len = encoding_len(space);
    let info = frontier_profiler::tract_backend::TractBackend::default()
        .inspect(path)
        .map_err(|e| anyhow::anyhow!("--accuracy onnx:{}: {e}", path.display()))?;
    let fix = format!("fix: an accuracy model takes one input [batch, {len}] (the {space} encoding) and returns [batch] or [batch, 1]");
    let [input] = &info.inputs[..] else {
        bail!(
            "{}: the accuracy model has {} inputs; {fix}",
            path.display(),
            info.inputs.len()
        );
    };
    if let Some(dims) = &input.dims {
        let width_ok = matches!(dims.get(1), Some(Dim::Fixed(w)) if *w == len)
            || matches!(dims.get(1), Some(Dim::Symbolic(_) | Dim::Unknown));
        if dims.len() != 2 || !width_ok {
            let shown: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            bail!(
                "{}: input `{}` is [{}], not [batch, {len}]; {fix}",
                path.display(),
                input.name,
                shown.join(", ")
            );
        }
    }
    let plan = tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.with_input_fact(0, f32::fact([BATCH, len]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot load the accuracy model: {e:#}; {fix}",
                path.display()
            )
        })?;
    let name = path.display().to_string();
    Ok(Box::new(move |archs: &[Arch]| {
        let mut out = Vec::with_capacity(archs.len());
        for chunk in archs.chunks(BATCH) {
            let mut flat = vec![0f32; BATCH * len];
            for (i, a) in chunk.iter().enumerate() {
                flat[i * len..(i + 1) * len].copy_from_slice(&a.encode());
            }
            let x = Tensor::from_shape(&[BATCH, len], &flat).map_err(|e| e.to_string())?;
            let y = plan
                .run(tvec![x.into()])
                .map_err(|e| format!("{name}: {e:#}"))?;
            let y = y[0]
                .cast_to::<f32>()
                .map_err(|e| format!("{name}: output is not numeric: {e}"))?;
            let shape = y.shape().to_vec();
            if !(shape == [BATCH] || shape == [BATCH, 1]) {
                return Err(format!(
                    "{name}: output shape {shape:?} for a batch of {BATCH}; an accuracy model returns [batch] or [batch, 1]"
                ));
            }
            let v = y
                .try_as_plain_ram()
                .and_then(|p| p.as_slice::<f32>().map(|s| s.to_vec()))
                .map_err(|e| format!("{name}: {e}"))?;
            out.extend(v[..chunk.len()].iter().map(|x| *x as f64));
        }
        Ok(out)
    }))
}

#[cfg(not(feature = "tract"))]
fn onnx_accuracy(path: &Path, _space: &str) -> anyhow::Result<AccuracyEval> {
    bail!(
        "--accuracy onnx:{}: this build has no tract; fix: build with --features tract",
        path.display()
    )
}

fn generate(arch: &Arch, seed: u64) -> anyhow::Result<Vec<u8>> {
    Ok(match arch {
        Arch::Ofa(a) => ofa_mbv3::generate(a, seed)?.onnx,
        Arch::Gpt2(a) => gpt2::generate(a, seed)?.onnx,
    })
}

/// The canonical input of the frontier's models: the largest resolution
/// (OFA; requests are resized down per model) or the sequence (GPT-2).
fn canonical_input(models: &[&search::Candidate]) -> CanonicalInput {
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
                .unwrap_or(ofa_mbv3::MAX_RES as usize);
            CanonicalInput {
                name: "input".into(),
                dtype: "f32".into(),
                shape: vec![1, 3, r, r],
            }
        }
    }
}

pub fn run(args: SearchArgs) -> anyhow::Result<i32> {
    let genome = Genome::for_space(&args.space)?;
    let space = genome.space();
    let mut files = Vec::new();
    for p in &args.predictor {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("{}: cannot read the predictor", p.display()))?;
        let f =
            PredictorFile::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if f.space != space {
            bail!(
                "{}: a predictor of {}, not {space}; fix: train one with `frontier train ... --space {space}`",
                p.display(),
                f.space
            );
        }
        files.push(f);
    }
    let keys: Vec<String> = files
        .iter()
        .map(|f| device_key(&f.device_id, &f.backend, f.threads))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            bail!("two predictors for {k}; fix: give one per device, backend and thread count");
        }
    }
    let constraints = Constraints {
        max_latency_ms: latency_limits(&args.max_latency_ms, &keys)?,
        max_params: args.max_params,
    };
    let mut acc = accuracy_source(&args.accuracy, space)?;
    let config = SearchConfig {
        population: args.population,
        generations: args.generations,
        seed: args.seed,
        ..SearchConfig::default()
    };
    let predictors: Vec<&dyn Predictor> = files.iter().map(|f| f as &dyn Predictor).collect();
    let start = Instant::now();
    let outcome = search::search(
        &genome,
        acc.pool.as_deref(),
        &config,
        &constraints,
        &predictors,
        &mut *acc.eval,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let (_, hv) = *outcome.history.last().expect("generation 0");
    let (_, rhv) = *outcome.random_history.last().expect("generation 0");
    eprintln!(
        "searched {} architectures in {seconds:.2} s: hypervolume {hv:.4} (random search with as many predictor calls: {rhv:.4})",
        outcome.evaluated.len()
    );

    // Each device's frontier; the manifest holds their union.
    let mut chosen: Vec<usize> = Vec::new();
    let mut frontier_of: HashMap<usize, Vec<String>> = HashMap::new();
    for (d, key) in keys.iter().enumerate() {
        for i in search::device_frontier(&outcome.evaluated, d, args.models) {
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
    std::fs::create_dir_all(args.out.join("models"))
        .with_context(|| format!("{}: cannot create", args.out.join("models").display()))?;
    let prefix = space.replace('-', "_");
    let mut models = Vec::new();
    for (n, &i) in chosen.iter().enumerate() {
        let c = &outcome.evaluated[i];
        let name = format!("{prefix}_f{n:02}");
        let file = format!("models/{name}.onnx");
        let bytes = generate(&c.arch, args.seed.wrapping_add(n as u64))?;
        let path = args.out.join(&file);
        std::fs::write(&path, bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        let latency = keys
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
    let chosen_refs: Vec<&search::Candidate> =
        chosen.iter().map(|i| &outcome.evaluated[*i]).collect();
    let mut manifest = Manifest {
        schema_version: FRONTIER_VERSION.into(),
        space: space.into(),
        accuracy: acc.source.clone(),
        input: canonical_input(&chosen_refs),
        devices: keys.clone(),
        search: SearchSummary {
            algorithm: "nsga2".into(),
            population: config.population,
            generations: config.generations,
            seed: config.seed,
            evaluations: outcome.evaluated.len(),
            hypervolume: hv,
            random_search_hypervolume: rhv,
            constraints: constraints.clone(),
            seconds,
        },
        created_at: frontier_export::table::now_rfc3339(),
        frontier_version: env!("CARGO_PKG_VERSION").into(),
        models,
    };
    let report = serde_json::json!({
        "space": space,
        "accuracy": acc.source,
        "devices": keys,
        "config": config,
        "constraints": constraints,
        "seconds": seconds,
        "evaluations": outcome.evaluated.len(),
        "hypervolume_normalization": outcome.bounds,
        "nsga2_hypervolume": outcome.history.iter().enumerate().map(|(g, (calls, hv))| serde_json::json!({"generation": g, "evaluations": calls, "hypervolume": hv})).collect::<Vec<_>>(),
        "random_search_hypervolume": outcome.random_history.iter().map(|(calls, hv)| serde_json::json!({"evaluations": calls, "hypervolume": hv})).collect::<Vec<_>>(),
    });
    let report_path = args.out.join("search.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", report_path.display()))?;

    if args.verify {
        verify(&args, &files, &mut manifest)?;
    }
    write_outputs(&args.out, &manifest, &outcome.evaluated, &acc.source)?;
    print_frontier(&manifest);
    Ok(0)
}

fn write_outputs(
    dir: &Path,
    manifest: &Manifest,
    evaluated: &[search::Candidate],
    source: &AccuracySource,
) -> anyhow::Result<()> {
    let path = dir.join("frontier.json");
    std::fs::write(&path, serde_json::to_vec_pretty(manifest)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
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
    let label = if source.source == "macs" {
        "MACs (M), accuracy proxy".to_string()
    } else if source.source == "params" {
        "parameters (M), accuracy proxy".to_string()
    } else {
        "accuracy".to_string()
    };
    let svg = dir.join("frontier.svg");
    std::fs::write(&svg, frontier_svg(&series, &title, &label))
        .with_context(|| format!("{}: cannot write", svg.display()))?;
    Ok(())
}

fn print_frontier(m: &Manifest) {
    println!(
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
        println!(
            "{:<16} {:>10.3}  {}",
            model.name,
            model.accuracy,
            lat.join("; ")
        );
    }
    println!(
        "* on that device's frontier; wrote {} models",
        m.models.len()
    );
}

/// Profile the frontier's models here with profile's defaults, on the
/// backend and thread count of the predictor of this device, and record
/// `measured_ms`; say where the prediction missed.
fn verify(
    args: &SearchArgs,
    files: &[PredictorFile],
    manifest: &mut Manifest,
) -> anyhow::Result<()> {
    let here = frontier_profiler::fingerprint::Fingerprint::collect().device_id;
    let Some(p) = files.iter().find(|f| f.device_id == here) else {
        let known: Vec<String> = files.iter().map(|f| f.device_id.clone()).collect();
        bail!(
            "--verify: no predictor is of this device ({here}; predictors: {}); fix: verify on the device a predictor was trained on",
            known.join(", ")
        );
    };
    let key = device_key(&p.device_id, &p.backend, p.threads);
    let threads = p.threads.to_string();
    let mut extra = vec![
        "--backend",
        p.backend.as_str(),
        "--threads",
        threads.as_str(),
        "-q",
    ];
    let policy;
    if let Some(class) = &args.policy {
        policy = class.clone();
        extra.extend(["--policy", policy.as_str()]);
    }
    let ort_lib;
    if let Some(lib) = &args.ort.ort_lib {
        ort_lib = lib.display().to_string();
        extra.extend(["--ort-lib", ort_lib.as_str()]);
    }
    let (pargs, memory_budget) = crate::profile::parse_args(&extra)?;
    let backends = crate::backends::selected(pargs.backend, &pargs.ort, memory_budget)?;
    let probe_ref =
        frontier_session::ProbeRef::parse(&pargs.probe_ref).map_err(anyhow::Error::msg)?;
    let config = crate::profile::session_config(&pargs, &backends, Vec::new(), probe_ref);
    let models: Vec<frontier_session::Model> = manifest
        .models
        .iter()
        .map(|m| frontier_session::Model::File {
            path: args.out.join(&m.file),
            arch: Some(m.arch.to_string()),
            space: Some(manifest.space.clone()),
        })
        .collect();
    eprintln!(
        "verifying {} frontier models on {key} ({} backend, {} thread(s))",
        models.len(),
        p.backend,
        p.threads
    );
    let mut observer = VerifyObserver {
        tty: std::io::stderr().is_terminal(),
    };
    let outcome = frontier_session::run(config, &backends, &models, &mut observer)?;
    for f in &outcome.failures {
        eprintln!("error: {f}");
    }
    let table = args.out.join("verify.jsonl");
    std::fs::write(&table, frontier_export::table::to_jsonl(&outcome.rows))
        .with_context(|| format!("{}: cannot write", table.display()))?;
    let mut inside = 0;
    let mut measured = 0;
    for m in manifest.models.iter_mut() {
        let path = args.out.join(&m.file);
        let Some(row) = outcome
            .rows
            .iter()
            .find(|r| Path::new(&r.model_path) == path || r.model_path.ends_with(&m.file))
        else {
            continue;
        };
        let ms = [row.median_ms_corrected, row.median_ms]
            .into_iter()
            .find(|v| v.is_finite() && *v > 0.0);
        let entry = m.latency.entry(key.clone()).or_default();
        entry.measured_ms = ms;
        let (Some(ms), Some(pred), Some((lo, hi))) = (ms, entry.predicted_ms, entry.interval_ms)
        else {
            continue;
        };
        measured += 1;
        let in_interval = ms >= lo && ms <= hi;
        let in_10 = (pred / ms - 1.0).abs() <= 0.10;
        if in_interval || in_10 {
            inside += 1;
        }
        if !in_interval {
            eprintln!(
                "outside its interval: {} measured {ms:.3} ms, predicted {pred:.3} ms [{lo:.3}, {hi:.3}] ({:+.1}%{})",
                m.name,
                (pred / ms - 1.0) * 100.0,
                if in_10 { ", within ±10%" } else { "" }
            );
        }
    }
    eprintln!(
        "verified {measured} models on {key}: {inside} within their interval or ±10% (rows in {})",
        table.display()
    );
    Ok(())
}

struct VerifyObserver {
    tty: bool,
}

impl frontier_session::Observer for VerifyObserver {
    fn warn(&mut self, message: &str) {
        if self.tty {
            eprintln!("warning: {message}");
        }
    }
    fn error(&mut self, message: &str) {
        eprintln!("error: {message}");
    }
}
