//! `frontier search`: the Pareto frontier of a space for one or several
//! devices, from their predictors, into a frontier manifest
//! (`docs/FRONTIER_FORMAT.md`) with the models, a report and a plot; and
//! `--verify`, which measures the frontier's models here.
//!
//! The search itself is `frontier_predictor::search` (pure computation);
//! this module reads predictors and the accuracy source, writes files, and
//! runs the profiling session for `--verify`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use frontier_predictor::plot::frontier_svg;
use frontier_predictor::{Predictor, PredictorFile};
use frontier_search::accuracy::{self, Accuracy, Spec};
use frontier_search::manifest::{self as assembly, Request};
use frontier_search::{Candidate, Constraints, SearchConfig};
use frontier_spaces::{Genome, Space};
use frontier_table::frontier::{device_key, AccuracySource, Manifest};

use crate::cli::SearchArgs;

fn accuracy_source(spec: &str, space: Space) -> anyhow::Result<Accuracy> {
    let parsed = Spec::parse(spec)?;
    if let Some(a) = accuracy::proxy(&parsed) {
        return Ok(a);
    }
    match parsed {
        Spec::Table(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: cannot read the accuracy table", path.display()))?;
            Ok(accuracy::table(&path, &text, space)?)
        }
        Spec::Onnx(path) => onnx_accuracy(&path, space),
        Spec::Macs | Spec::Params => unreachable!("proxies are handled above"),
    }
}

#[cfg(feature = "tract")]
fn onnx_accuracy(path: &Path, space: Space) -> anyhow::Result<Accuracy> {
    let tract = frontier_profiler::tract_backend::TractBackend::default();
    Ok(accuracy::onnx(path, space, &tract)?)
}

#[cfg(not(feature = "tract"))]
fn onnx_accuracy(path: &Path, _space: Space) -> anyhow::Result<Accuracy> {
    bail!(
        "--accuracy onnx:{}: this build has no tract; fix: build with --features tract",
        path.display()
    )
}

pub fn run(args: SearchArgs) -> anyhow::Result<i32> {
    let space = Space::parse(&args.space).with_context(|| {
        format!(
            "unknown space {}; fix: --space ofa-mbv3 or --space gpt2",
            args.space
        )
    })?;
    let genome = Genome::of(space);
    let mut files = Vec::new();
    for p in &args.predictor {
        let (f, origin) = crate::train_cmd::read_predictor(p)?;
        if f.space != space.name() {
            bail!(
                "{origin}: a predictor of {}, not {space}; fix: train one with `frontier train ... --space {space}`",
                f.space
            );
        }
        if p.starts_with("collector:") {
            eprintln!("using {origin}");
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
        max_latency_ms: assembly::latency_limits(&args.max_latency_ms, &keys)
            .map_err(anyhow::Error::msg)?,
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
    let outcome = frontier_search::search(
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
    let weights = match &args.weights {
        Some(p) => Some(frontier_session::supernet::read(p)?),
        None => None,
    };
    let req = Request {
        space,
        keys: &keys,
        config: &config,
        constraints: &constraints,
        accuracy: &acc.source,
        models_per_device: args.models,
        seconds,
        created_at: frontier_table::now_rfc3339(),
        frontier_version: env!("CARGO_PKG_VERSION"),
        weights: weights.as_ref().map(|(net, r)| (net, r.clone())),
    };
    let assembled = assembly::assemble(&req, &outcome)?;
    let models_dir = args.out.join("models");
    std::fs::create_dir_all(&models_dir)
        .with_context(|| format!("{}: cannot create", models_dir.display()))?;
    for (file, bytes) in &assembled.files {
        let path = args.out.join(file);
        std::fs::write(&path, bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    let mut manifest = assembled.manifest;
    let report_path = args.out.join("search.json");
    std::fs::write(
        &report_path,
        serde_json::to_vec_pretty(&assembly::report(&req, &outcome))?,
    )
    .with_context(|| format!("{}: cannot write", report_path.display()))?;

    if args.verify {
        verify(&args, &files, &mut manifest)?;
    }
    write_outputs(&args.out, &manifest, &outcome.evaluated, &acc.source)?;
    print!("{}", assembly::render(&manifest));
    if let Some(target) = &args.publish {
        publish(&args, target)?;
    }
    Ok(0)
}

/// `--publish collector:URL --name NAME`: the written directory as a new
/// version at the collector.
#[cfg(feature = "upload")]
fn publish(args: &SearchArgs, target: &str) -> anyhow::Result<()> {
    let url = target.strip_prefix("collector:").with_context(|| {
        format!("--publish {target}: not collector:URL; fix: e.g. --publish collector:http://collector:8787")
    })?;
    let name = args
        .name
        .as_deref()
        .context("--publish needs --name NAME")?;
    let t = crate::upload_cmd::target(Some(url), None)?;
    let policy = frontier_table::rollout::RolloutPolicy {
        canary_percent: args.canary_percent,
        canary_boards: args.canary_boards.clone(),
        tolerance: args.tolerance,
        hold_s: args.hold.as_secs_f64(),
        min_requests: args.min_requests,
    };
    policy
        .check()
        .map_err(|e| anyhow::anyhow!("--publish: {e}"))?;
    let p = frontier_uplink::frontiers::publish(
        &t.url,
        &t.token,
        &args.out,
        name,
        args.weights.as_deref(),
        Some(policy),
    )
    .with_context(|| format!("--publish {target} --name {name}"))?;
    eprintln!(
        "published {} version {} to {} ({} blobs uploaded, {:.1} MB): {}",
        p.name,
        p.version,
        t.url,
        p.uploaded.len(),
        p.bytes_uploaded as f64 / 1e6,
        if p.state == "canary" {
            format!("canary on {}", p.canary.join(", "))
        } else {
            "promoted to every board".to_string()
        }
    );
    for n in &p.notes {
        eprintln!("note: {n}");
    }
    Ok(())
}

#[cfg(not(feature = "upload"))]
fn publish(_args: &SearchArgs, _target: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "--publish: this frontier was built without the `upload` feature; fix: use a build with it"
    )
}

fn write_outputs(
    dir: &Path,
    manifest: &Manifest,
    evaluated: &[Candidate],
    source: &AccuracySource,
) -> anyhow::Result<()> {
    let path = dir.join("frontier.json");
    std::fs::write(&path, serde_json::to_vec_pretty(manifest)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    let (series, title, label) = assembly::plot_series(manifest, evaluated, source);
    let svg = dir.join("frontier.svg");
    std::fs::write(&svg, frontier_svg(&series, &title, &label))
        .with_context(|| format!("{}: cannot write", svg.display()))?;
    Ok(())
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
    let p = assembly::predictor_of(files, &here).map_err(anyhow::Error::msg)?;
    let key = device_key(&p.device_id, &p.backend, p.threads);
    // profile's defaults (and --policy), on this predictor's backend and
    // thread count.
    let measure = crate::cli::MeasureArgs {
        threads: Some(p.threads),
        policy: args.policy.clone(),
        ..Default::default()
    };
    let crate::settings::Settings {
        config,
        memory_budget,
    } = crate::settings::resolve(&measure, 0, Vec::new(), false)?;
    let backend = crate::cli::BackendChoice::from_name(&p.backend).with_context(|| {
        format!(
            "--verify: the predictor of {key} is for backend {}, which this build does not know",
            p.backend
        )
    })?;
    let backends = crate::backends::selected(backend, &args.ort, memory_budget)?;
    frontier_session::stand_in::check_manifest(manifest, &args.out, None)
        .map_err(|e| anyhow::anyhow!("--verify: {e}"))?;
    let mut models = frontier_session::Model::frontier(manifest, &args.out);
    let n = models.len();
    // The space's reference subnets beside them: this invocation's offset
    // from the predictor's scale.
    if let (Some(space), Some(_)) = (Space::parse(&manifest.space), &p.references) {
        models.extend(frontier_session::Model::references(space)?);
    }
    eprintln!(
        "verifying {n} frontier models on {key} ({} backend, {} thread(s))",
        p.backend, p.threads
    );
    let mut config = config;
    config.invocation = Some(frontier_session::new_invocation_id());
    let mut observer = frontier_session::Stderr {
        warnings: std::io::stderr().is_terminal(),
    };
    let outcome = frontier_session::run(config, &backends, &models, &mut observer)?;
    for f in &outcome.failures {
        eprintln!("error: {f}");
    }
    let table = args.out.join("verify.jsonl");
    std::fs::write(&table, frontier_table::to_jsonl(&outcome.rows))
        .with_context(|| format!("{}: cannot write", table.display()))?;
    let offset = p.references.as_ref().and_then(|scale| {
        frontier_train::align::references_by_invocation(&outcome.rows)
            .into_values()
            .next()
            .and_then(|refs| frontier_train::align::offset(&refs, scale))
    });
    if let Some(o) = &offset {
        eprintln!(
            "this invocation: {} from the predictor's scale; measurements compared on that scale",
            o.describe()
        );
    }
    let rows: Vec<_> = outcome
        .rows
        .iter()
        .filter(|r| !r.is_reference())
        .cloned()
        .collect();
    let scale = offset.map(|o| o.factor).unwrap_or(1.0);
    let v = assembly::record_verification(manifest, &key, &rows, &args.out, scale);
    for miss in &v.misses {
        eprintln!("{miss}");
    }
    let (measured, inside) = (v.measured, v.inside);
    eprintln!(
        "verified {measured} models on {key}: {inside} within their interval or ±10% (rows in {})",
        table.display()
    );
    Ok(())
}
