//! `frontier train` and `frontier predict`: latency predictors from latency
//! tables (local files, or `collector:URL`), and predictions from them.
//!
//! Row selection is strict: rows of several devices, backends or thread
//! counts are not mixed unless the filters say which, rows without an
//! `arch` or with no usable latency are counted and left out, and rows
//! weigh by their interval ([`row_weight`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_export::table::{self, LatencyRow};
use frontier_predictor::{self as predictor, Kind, Predictor, PredictorFile, Sample, Space};

use crate::cli::{KindChoice, PredictArgs, TrainArgs};

/// Weight of a row flagged `unstable` relative to a stable one, for rows
/// without an interval (tables before 1.5).
const UNSTABLE_WEIGHT: f64 = 0.25;

/// A row's weight: inverse to its interval's variance, relative to the
/// profiler's default target (±2%) and at most 1, since below that the
/// predictor's own error dominates; a row with no interval weighs 1, or
/// [`UNSTABLE_WEIGHT`] when flagged.
pub fn row_weight(r: &LatencyRow) -> f64 {
    let target = frontier_profiler::harness::DEFAULT_TARGET_CI;
    match r.median_ci95_rel.filter(|h| h.is_finite() && *h > 0.0) {
        Some(h) => (target / h).powi(2).min(1.0),
        None if r.unstable => UNSTABLE_WEIGHT,
        None => 1.0,
    }
}
/// The `space` of `frontier export --blocks` rows.
const BLOCK_SPACE: &str = "ofa-mbv3-block";

/// A row as a training sample: its arch, its latency, its weight.
pub fn sample_of(r: &LatencyRow) -> Option<Sample> {
    Some(Sample {
        arch: r.arch.clone()?,
        ms: latency(r)?,
        weight: row_weight(r),
    })
}

fn latency(r: &LatencyRow) -> Option<f64> {
    [r.median_ms_corrected, r.median_ms]
        .into_iter()
        .find(|v| v.is_finite() && *v > 0.0)
}

fn read_rows(source: &str, token: Option<&str>) -> anyhow::Result<Vec<LatencyRow>> {
    if let Some(url) = source.strip_prefix("collector:") {
        return crate::upload_cmd::fetch(url, token)
            .with_context(|| format!("{source}: cannot read rows"));
    }
    Ok(table::read::<LatencyRow>(Path::new(source))?)
}

/// Keep the rows of one device, backend and thread count; say which
/// filter to add when there are several.
fn one_setting<'a>(
    rows: Vec<&'a LatencyRow>,
    args: &TrainArgs,
) -> anyhow::Result<Vec<&'a LatencyRow>> {
    let rows: Vec<&LatencyRow> = rows
        .into_iter()
        .filter(|r| args.device.as_ref().is_none_or(|d| &r.device_id == d))
        .filter(|r| args.backend.as_ref().is_none_or(|b| &r.backend == b))
        .filter(|r| args.threads.is_none_or(|t| r.threads == t))
        .collect();
    let distinct = |f: &dyn Fn(&LatencyRow) -> String| -> BTreeSet<String> {
        rows.iter().map(|r| f(r)).collect()
    };
    for (what, flag, values) in [
        ("devices", "--device", distinct(&|r| r.device_id.clone())),
        ("backends", "--backend", distinct(&|r| r.backend.clone())),
        (
            "thread counts",
            "--threads",
            distinct(&|r| r.threads.to_string()),
        ),
    ] {
        if values.len() > 1 {
            let list: Vec<&str> = values.iter().map(String::as_str).collect();
            bail!(
                "the rows come from {} {what} ({}); a predictor is for one; fix: add {flag} {}",
                values.len(),
                list.join(", "),
                list[0]
            );
        }
    }
    Ok(rows)
}

/// The predictor file of a training run on `rows` (all of one device,
/// backend and thread count).
pub fn predictor_file(
    space: Space,
    trained: &predictor::Trained,
    rows: &[&LatencyRow],
    training_rows: usize,
    unstable_rows: usize,
) -> PredictorFile {
    let first = rows[0];
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r.row_id.clone().unwrap_or_else(|| table::content_row_id(r)))
        .collect();
    ids.sort();
    let data_sha = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for id in &ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut device = BTreeMap::new();
    for (k, v) in [
        ("cpu_model", first.cpu_model.clone()),
        ("cpu_arch", first.cpu_arch.clone()),
        ("hostname", first.hostname.clone()),
        ("device_class_id", first.device_class_id.clone()),
        ("logical_cores", first.logical_cores.map(|c| c.to_string())),
    ] {
        if let Some(v) = v {
            device.insert(k.to_string(), v);
        }
    }
    PredictorFile {
        schema_version: predictor::PREDICTOR_VERSION.into(),
        space: space.name().into(),
        kind: trained.kind,
        device_id: first.device_id.clone(),
        device,
        backend: first.backend.clone(),
        backend_version: first.backend_version.clone(),
        threads: first.threads,
        training_data_sha256: data_sha,
        training_rows,
        unstable_rows,
        metrics: trained.metrics.clone(),
        reason: trained.reason.clone(),
        fitted: trained.fitted.clone(),
    }
}

pub fn train(args: TrainArgs) -> anyhow::Result<i32> {
    let space = Space::parse(&args.space)
        .with_context(|| format!("--space {}: unknown; fix: use ofa-mbv3 or gpt2", args.space))?;
    let mut all = Vec::new();
    for t in &args.tables {
        all.extend(read_rows(t, args.token.as_deref())?);
    }
    let (blocks_rows, rest): (Vec<&LatencyRow>, Vec<&LatencyRow>) = all
        .iter()
        .partition(|r| r.space.as_deref() == Some(BLOCK_SPACE));
    let no_arch = rest.iter().filter(|r| r.arch.is_none()).count();
    let in_space: Vec<&LatencyRow> = rest
        .into_iter()
        .filter(|r| match (&r.space, &r.arch) {
            (_, None) => false,
            (Some(s), _) => s == space.name(),
            // Rows written before 1.3 have no space: the arch decides.
            (None, Some(a)) => space.features(a).is_ok(),
        })
        .collect();
    if in_space.is_empty() {
        bail!(
            "no row of the {} space in {} ({} rows, {no_arch} without an arch column); fix: profile subnets with `frontier profile --space {}` or models from `frontier export` (their manifest gives the arch)",
            space.name(),
            args.tables.join(", "),
            all.len(),
            space.name()
        );
    }
    let rows = one_setting(in_space, &args)?;
    let first = *rows
        .first()
        .context("no rows left after --device/--backend/--threads")?;
    let mut samples: Vec<Sample> = Vec::new();
    let (mut bad_latency, mut bad_arch, mut unstable) = (0, 0, 0);
    for r in &rows {
        if space
            .features(r.arch.as_deref().expect("filtered above"))
            .is_err()
        {
            bad_arch += 1;
            continue;
        }
        let Some(sample) = sample_of(r) else {
            bad_latency += 1;
            continue;
        };
        unstable += usize::from(r.unstable);
        samples.push(sample);
    }
    if bad_latency + bad_arch > 0 {
        eprintln!("warning: left out {bad_latency} rows without a positive latency and {bad_arch} whose arch is outside the {} space", space.name());
    }
    // The block table, of the same device, backend and threads.
    let mut per_key: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in blocks_rows.iter().filter(|r| {
        r.device_id == first.device_id && r.backend == first.backend && r.threads == first.threads
    }) {
        let key = r
            .arch
            .as_deref()
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(String::from));
        if let (Some(key), Some(ms)) = (key, latency(r)) {
            per_key.entry(key).or_default().push(ms);
        }
    }
    if !blocks_rows.is_empty() && per_key.is_empty() {
        eprintln!("warning: the block rows are of another device, backend or thread count; the lookup table is not used");
    }
    let blocks: BTreeMap<String, f64> = per_key
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            (k, v[v.len() / 2])
        })
        .collect();
    let source = match &args.from {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            let p = PredictorFile::from_json(&text).with_context(|| path.display().to_string())?;
            if p.space != space.name() {
                bail!(
                    "{}: a predictor of the {} space, not {}; fix: transfer from a predictor of the same space",
                    path.display(),
                    p.space,
                    space.name()
                );
            }
            Some(p)
        }
        None => None,
    };
    let kinds: Vec<Kind> = match (args.kind, &source) {
        (_, Some(_)) => vec![Kind::Transfer],
        (KindChoice::Lut, _) => vec![Kind::Lut],
        (KindChoice::Learned, _) => vec![Kind::Learned],
        (KindChoice::Hybrid, _) => vec![Kind::Hybrid],
        (KindChoice::Auto, _) if blocks.is_empty() => vec![Kind::Learned],
        (KindChoice::Auto, _) => vec![Kind::Lut, Kind::Learned, Kind::Hybrid],
    };
    // With --shots N: adapt on N rows (seeded choice), report on the rest.
    let held_out = match args.shots {
        Some(n) if (n as usize) < samples.len() => {
            let mut rng = frontier_profiler::inputs::SplitMix64::new(args.seed ^ 0x5407);
            for i in (1..samples.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                samples.swap(i, j);
            }
            samples.split_off(n as usize)
        }
        Some(n) => bail!(
            "--shots {n}: only {} rows; fix: fewer shots, so that some rows are left to evaluate on",
            samples.len()
        ),
        None => Vec::new(),
    };
    let ctx = predictor::Context {
        blocks: (!blocks.is_empty()).then_some(&blocks),
        source: source.as_ref().map(|p| &p.fitted),
    };
    let mut trained = predictor::train(space, &kinds, &samples, &ctx, args.seed)?;
    if args.kind == KindChoice::Auto && blocks.is_empty() && source.is_none() {
        trained.reason = format!(
            "{} (auto: lut and hybrid need rows of `frontier export --blocks` models)",
            trained.reason
        );
    }
    let held_out_metrics = (!held_out.is_empty())
        .then(|| -> anyhow::Result<predictor::Metrics> {
            let truth: Vec<f64> = held_out.iter().map(|s| s.ms).collect();
            let preds = held_out
                .iter()
                .map(|s| trained.fitted.predict(&s.arch))
                .collect::<Result<Vec<_>, _>>()?;
            let pm: Vec<f64> = preds.iter().map(|p| p.ms).collect();
            let mut m = predictor::metrics::metrics(&truth, &pm);
            let inside = held_out
                .iter()
                .zip(&preds)
                .filter(|(s, p)| s.ms >= p.interval.0 && s.ms <= p.interval.1)
                .count();
            m.interval_coverage = Some(inside as f64 / held_out.len() as f64);
            Ok(m)
        })
        .transpose()?;

    let file = predictor_file(space, &trained, &rows, samples.len(), unstable);
    std::fs::write(&args.out, file.to_json())
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    if let Some(path) = &args.onnx {
        let threads = file.threads.to_string();
        let bytes = predictor::onnx::to_onnx(
            &file.fitted,
            &[
                ("frontier_predictor_version", &file.schema_version),
                ("frontier_kind", file.kind.name()),
                ("frontier_device_id", &file.device_id),
                ("frontier_backend", &file.backend),
                ("frontier_threads", &threads),
                ("frontier_training_data_sha256", &file.training_data_sha256),
            ],
        )?;
        std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if let Some(report) = &args.report {
        let v = serde_json::json!({
            "space": space.name(),
            "device_id": first.device_id,
            "backend": first.backend,
            "threads": first.threads,
            "rows": samples.len(),
            "unstable_rows": unstable,
            "block_table_entries": blocks.len(),
            "kind": trained.kind,
            "reason": trained.reason,
            "metrics": trained.metrics,
            "candidates": trained.candidates,
            "learning_curve": trained.learning_curve,
            "from": args.from.as_ref().map(|p| p.display().to_string()),
            "shots": args.shots,
            "held_out_metrics": held_out_metrics,
            "sum_of_parts_ratio": trained.sum_of_parts_ratio.map(|(m, lo, hi)| serde_json::json!({"median": m, "min": lo, "max": hi})),
        });
        std::fs::write(report, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("{}: cannot write", report.display()))?;
        let svg = report.with_extension("svg");
        let title = format!(
            "{} on {} ({}, {} thread(s)): learning curve",
            trained.kind.name(),
            first.device_id,
            first.backend,
            first.threads
        );
        std::fs::write(
            &svg,
            predictor::plot::learning_curve_svg(&trained.learning_curve, &title),
        )
        .with_context(|| format!("{}: cannot write", svg.display()))?;
    }
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    println!(
        "{:<8} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9}",
        "kind", "MAPE", "±5%", "±10%", "tau", "rho", "interval"
    );
    for (k, m) in &trained.candidates {
        println!(
            "{:<8} {:>7} {:>7} {:>7} {:>6.3} {:>6.3} {:>9}",
            k.name(),
            pct(m.mape),
            pct(m.within_5pct),
            pct(m.within_10pct),
            m.kendall_tau,
            m.spearman,
            m.interval_coverage.map(pct).unwrap_or_default()
        );
    }
    println!(
        "{} ({} rows of {} on {}, {} thread(s); {}-fold cross-validation)",
        trained.reason,
        samples.len(),
        first.backend,
        first.device_id,
        first.threads,
        5.min(samples.len())
    );
    if let Some(m) = &held_out_metrics {
        println!(
            "{:<8} {:>7} {:>7} {:>7} {:>6.3} {:>6.3} {:>9}  (the {} held-out rows)",
            "held-out",
            pct(m.mape),
            pct(m.within_5pct),
            pct(m.within_10pct),
            m.kendall_tau,
            m.spearman,
            m.interval_coverage.map(pct).unwrap_or_default(),
            m.n
        );
    }
    if let Some((m, lo, hi)) = trained.sum_of_parts_ratio {
        println!("whole network / sum of its blocks: {m:.3} (range {lo:.3}-{hi:.3})");
    }
    eprintln!("wrote {}", args.out.display());
    Ok(0)
}

/// The architectures of an `--archs` file: `{"arch": ...}` or manifest lines.
fn archs_of(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .with_context(|| format!("{}, line {}: not JSON", path.display(), i + 1))?;
            match v.get("arch") {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(a) => Ok(a.to_string()),
                None => bail!(
                    "{}, line {}: no \"arch\"; fix: one {{\"arch\": ...}} per line",
                    path.display(),
                    i + 1
                ),
            }
        })
        .collect()
}

pub fn predict(args: PredictArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.predictor)
        .with_context(|| format!("{}: cannot read", args.predictor.display()))?;
    let p =
        PredictorFile::from_json(&text).with_context(|| format!("{}", args.predictor.display()))?;
    let archs = match (&args.arch, &args.archs) {
        (Some(a), None) => vec![a.clone()],
        (None, Some(f)) => archs_of(f)?,
        _ => bail!("give --arch JSON or --archs FILE.jsonl"),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (i, a) in archs.iter().enumerate() {
        match p.predict(a) {
            Ok(pr) => {
                if args.json {
                    let arch: serde_json::Value =
                        serde_json::from_str(a).unwrap_or(serde_json::Value::Null);
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({
                            "arch": arch,
                            "predicted_ms": pr.ms,
                            "interval_ms": [pr.interval.0, pr.interval.1],
                        }),
                    )?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(
                        out,
                        "{:>10.3} ms  [{:.3}, {:.3}]  {a}",
                        pr.ms, pr.interval.0, pr.interval.1
                    )?;
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: architecture {}: {e}", i + 1);
            }
        }
    }
    out.flush()?;
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_weigh_by_their_interval() {
        // (interval, unstable, weight): within the default target a row
        // weighs 1; twice as wide, a quarter; older rows by their flag.
        for (ci, unstable, want) in [
            (Some(0.01), false, 1.0),
            (Some(0.02), false, 1.0),
            (Some(0.04), true, 0.25),
            (Some(0.10), true, 0.04),
            (None, false, 1.0),
            (None, true, UNSTABLE_WEIGHT),
            (Some(f64::NAN), true, UNSTABLE_WEIGHT),
        ] {
            let r = LatencyRow {
                median_ci95_rel: ci,
                unstable,
                ..Default::default()
            };
            assert!((row_weight(&r) - want).abs() < 1e-12, "{ci:?} {unstable}");
        }
    }
}
