//! Training latency predictors from table rows, as a library: the agent's
//! `frontier train` and active profiling call it, and so can a collector
//! (a server without tract). Pure: rows and structs in, a predictor file
//! and a report out; no tract, no files, no network.
//!
//! - [`rows`]: row selection (one device, backend and thread count),
//!   weighting by interval, the block table, the predictor file's provenance.
//! - [`train`]: one training run ([`Request`] → [`Trained`]): kinds to try,
//!   few-shot split (`shots`), cross-validated and held-out metrics, the
//!   report (`--report`) and the ONNX metadata.
//! - [`planner`]: active profiling's choice of what to measure next.

pub mod align;
pub mod planner;
pub mod rows;

use frontier_predictor::{
    self as predictor, Kind, Metrics, Predictor, PredictorFile, Sample, Space,
};
use frontier_spaces::rng::SplitMix64;
use frontier_table::LatencyRow;

pub use rows::{row_weight, sample_of, Filters, BLOCK_SPACE};

/// Errors a caller branches on: bad input (with the fix), or the
/// predictor's own refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Predict(#[from] predictor::PredictError),
}

/// Which kinds of predictor to fit (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindChoice {
    /// Every kind the data allows; the lowest cross-validated MAPE wins.
    #[default]
    Auto,
    Lut,
    Learned,
    Hybrid,
}

impl KindChoice {
    /// In the order help texts list them.
    pub const ALL: [KindChoice; 4] = [
        KindChoice::Lut,
        KindChoice::Learned,
        KindChoice::Hybrid,
        KindChoice::Auto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KindChoice::Auto => "auto",
            KindChoice::Lut => "lut",
            KindChoice::Learned => "learned",
            KindChoice::Hybrid => "hybrid",
        }
    }

    pub fn parse(s: &str) -> Option<KindChoice> {
        KindChoice::ALL.into_iter().find(|k| k.name() == s)
    }

    /// One line for help texts.
    pub fn describe(self) -> &'static str {
        match self {
            KindChoice::Lut => "Once-for-All's per-block lookup table, calibrated on whole networks (needs rows of `frontier export --blocks` models).",
            KindChoice::Learned => "A bagged linear model over the space's analytic features.",
            KindChoice::Hybrid => "The learned model with the lookup-table sum as one more feature.",
            KindChoice::Auto => "The kind with the lowest cross-validated MAPE.",
        }
    }
}

/// One training run.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub space: Option<Space>,
    pub filters: Filters,
    pub kind: KindChoice,
    /// Another device's predictor to transfer from (`--from`), and the
    /// file it was read from (for messages).
    pub source: Option<PredictorFile>,
    pub source_origin: String,
    /// Adapt on this many rows (a seeded choice) and report on the rest.
    pub shots: Option<u64>,
    pub seed: u64,
    /// Where the rows came from, for error messages (`--tables`).
    pub origin: String,
}

/// What a training run produced.
pub struct Trained {
    pub space: Space,
    pub file: PredictorFile,
    /// How the rows of several invocations were put on one scale.
    pub alignment: align::Alignment,
    pub trained: predictor::Trained,
    /// Metrics on the rows left out with `shots`.
    pub held_out: Option<Metrics>,
    pub samples: usize,
    pub unstable: usize,
    pub block_entries: usize,
}

/// Train a predictor of `req.space` on `rows` (whole networks of the
/// space, and block rows for the lookup table). `warn` hears, as soon as
/// they are known, the rows left out and a block table not used.
pub fn train(
    all: &[LatencyRow],
    req: &Request,
    warn: &mut dyn FnMut(&str),
) -> Result<Trained, TrainError> {
    let space = req
        .space
        .ok_or_else(|| TrainError::Input("no space; fix: --space ofa-mbv3 or gpt2".into()))?;
    let (blocks_rows, rest): (Vec<&LatencyRow>, Vec<&LatencyRow>) = all
        .iter()
        .partition(|r| r.space.as_deref() == Some(BLOCK_SPACE));
    let no_arch = rest.iter().filter(|r| r.arch.is_none()).count();
    let all_rows: Vec<&LatencyRow> = all.iter().collect();
    let in_space: Vec<&LatencyRow> = rest
        .into_iter()
        .filter(|r| !r.is_reference())
        .filter(|r| match (&r.space, &r.arch) {
            (_, None) => false,
            (Some(s), _) => s == space.name(),
            // Rows written before 1.3 have no space: the arch decides.
            (None, Some(a)) => space.features(a).is_ok(),
        })
        .collect();
    if in_space.is_empty() {
        return Err(TrainError::Input(format!(
            "no row of the {} space in {} ({} rows, {no_arch} without an arch column); fix: profile subnets with `frontier profile --space {}` or models from `frontier export` (their manifest gives the arch)",
            space.name(),
            req.origin,
            all.len(),
            space.name()
        )));
    }
    let rows = rows::one_setting(in_space, &req.filters)?;
    let first = *rows.first().ok_or_else(|| {
        TrainError::Input("no rows left after --device/--backend/--threads".into())
    })?;
    // Several invocations: each on the scale of the one with most rows, by
    // their reference subnets.
    let alignment = align::align(&rows, &all_rows);
    let mut groups = align::Groups::default();
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
        let Some(sample) = alignment.sample(r, &mut groups) else {
            bad_latency += 1;
            continue;
        };
        unstable += usize::from(r.unstable);
        samples.push(sample);
    }
    if !alignment.offsets.is_empty() {
        let list: Vec<String> = alignment
            .offsets
            .iter()
            .map(|(inv, o)| format!("{inv}: {}", o.describe()))
            .collect();
        warn(&format!(
            "put {} invocations on the scale of invocation {} by their reference subnets: {}",
            alignment.offsets.len(),
            alignment.anchor.as_deref().unwrap_or_default(),
            list.join("; ")
        ));
    }
    if alignment.anchor.is_some() && !alignment.unaligned.is_empty() {
        let n: usize = alignment.unaligned.values().sum();
        warn(&format!(
            "{n} rows of {} invocations have no reference subnets in common with the others and are used as measured (a few percent apart); fix: profile with --references (the default with --space)",
            alignment.unaligned.len()
        ));
    }
    if bad_latency + bad_arch > 0 {
        warn(&format!("left out {bad_latency} rows without a positive latency and {bad_arch} whose arch is outside the {} space", space.name()));
    }
    let blocks = rows::block_table(&blocks_rows, first);
    if !blocks_rows.is_empty() && blocks.is_empty() {
        warn("the block rows are of another device, backend or thread count; the lookup table is not used");
    }
    if let Some(p) = &req.source {
        if p.space != space.name() {
            return Err(TrainError::Input(format!(
                "{}: a predictor of the {} space, not {}; fix: transfer from a predictor of the same space",
                req.source_origin,
                p.space,
                space.name()
            )));
        }
    }
    let kinds: Vec<Kind> = match (req.kind, &req.source) {
        (_, Some(_)) => vec![Kind::Transfer],
        (KindChoice::Lut, _) => vec![Kind::Lut],
        (KindChoice::Learned, _) => vec![Kind::Learned],
        (KindChoice::Hybrid, _) => vec![Kind::Hybrid],
        (KindChoice::Auto, _) if blocks.is_empty() => vec![Kind::Learned],
        (KindChoice::Auto, _) => vec![Kind::Lut, Kind::Learned, Kind::Hybrid],
    };
    // With shots: adapt on N rows (seeded choice), report on the rest.
    let held_out_rows = match req.shots {
        Some(n) if (n as usize) < samples.len() => {
            let mut rng = SplitMix64::new(req.seed ^ 0x5407);
            for i in (1..samples.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                samples.swap(i, j);
            }
            samples.split_off(n as usize)
        }
        Some(n) => {
            return Err(TrainError::Input(format!(
                "--shots {n}: only {} rows; fix: fewer shots, so that some rows are left to evaluate on",
                samples.len()
            )))
        }
        None => Vec::new(),
    };
    let ctx = predictor::Context {
        blocks: (!blocks.is_empty()).then_some(&blocks),
        source: req.source.as_ref().map(|p| &p.fitted),
        later_sigma: Some(alignment.later_sigma()),
    };
    let mut trained = predictor::train(space, &kinds, &samples, &ctx, req.seed)?;
    if req.kind == KindChoice::Auto && blocks.is_empty() && req.source.is_none() {
        trained.reason = format!(
            "{} (auto: lut and hybrid need rows of `frontier export --blocks` models)",
            trained.reason
        );
    }
    let held_out = if held_out_rows.is_empty() {
        None
    } else {
        Some(held_out_metrics(&trained.fitted, &held_out_rows)?)
    };
    let mut file = rows::predictor_file(space, &trained, &rows, samples.len(), unstable);
    file.references = (!alignment.scale.is_empty()).then(|| alignment.scale.clone());
    Ok(Trained {
        space,
        file,
        alignment,
        trained,
        held_out,
        samples: samples.len(),
        unstable,
        block_entries: blocks.len(),
    })
}

/// The architectures of lines `{"arch": ...}` (manifest lines too; an
/// arch given as a string is taken as it is), for predictions.
pub fn archs_of_lines(text: &str, origin: &str) -> Result<Vec<String>, TrainError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).map_err(|e| {
                TrainError::Input(format!("{origin}, line {}: not JSON: {e}", i + 1))
            })?;
            match v.get("arch") {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(a) => Ok(a.to_string()),
                None => Err(TrainError::Input(format!(
                    "{origin}, line {}: no \"arch\"; fix: one {{\"arch\": ...}} per line",
                    i + 1
                ))),
            }
        })
        .collect()
}

/// One prediction as `frontier predict` prints it: a JSON line
/// `{"arch", "predicted_ms", "interval_ms"}`, or `ms [low, high] arch`.
/// What `predict --archs FILE` predicts: the architectures of the file, and
/// when it is a latency table whose invocations measured reference
/// subnets, each invocation's offset from the predictor's scale (its
/// reference rows themselves are not predicted).
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Architecture JSON and, for a table's row, its invocation.
    pub archs: Vec<(String, Option<String>)>,
    /// Offsets of the table's invocations from the predictor's references.
    pub offsets: std::collections::BTreeMap<String, align::Offset>,
    /// Invocations with reference rows that could not be put on the
    /// predictor's scale (it has no references, or too few in common).
    pub unaligned: Vec<String>,
}

impl Targets {
    /// The factor a prediction for `invocation` is multiplied by to be on
    /// that invocation's scale.
    pub fn factor(&self, invocation: Option<&str>) -> Option<&align::Offset> {
        invocation.and_then(|i| self.offsets.get(i))
    }
}

/// [`Targets`] of a file's text: table rows (JSON lines with the table's
/// columns) or `{"arch": ...}` / manifest lines.
pub fn targets_of_lines(
    text: &str,
    origin: &str,
    scale: Option<&align::References>,
) -> Result<Targets, TrainError> {
    let rows: Option<Vec<LatencyRow>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| frontier_table::parse_line(l).ok())
        .collect();
    let Some(rows) = rows.filter(|r| !r.is_empty() && r.iter().all(|r| r.arch.is_some())) else {
        return Ok(Targets {
            archs: archs_of_lines(text, origin)?
                .into_iter()
                .map(|a| (a, None))
                .collect(),
            ..Targets::default()
        });
    };
    let refs = align::references_by_invocation(&rows);
    let mut t = Targets::default();
    for (inv, r) in &refs {
        match scale.and_then(|s| align::offset(r, s)) {
            Some(o) => {
                t.offsets.insert(inv.clone(), o);
            }
            None => t.unaligned.push(inv.clone()),
        }
    }
    t.archs = rows
        .into_iter()
        .filter(|r| !r.is_reference())
        .map(|r| (r.arch.expect("checked above"), r.invocation))
        .collect();
    Ok(t)
}

pub fn prediction_line(arch: &str, p: &frontier_predictor::Prediction, json: bool) -> String {
    prediction_line_on(arch, p, None, json)
}

/// [`prediction_line`] with the invocation whose scale the prediction is on.
pub fn prediction_line_on(
    arch: &str,
    p: &frontier_predictor::Prediction,
    on: Option<(&str, &align::Offset)>,
    json: bool,
) -> String {
    if json {
        let arch: serde_json::Value = serde_json::from_str(arch).unwrap_or(serde_json::Value::Null);
        let mut v = serde_json::json!({
            "arch": arch,
            "predicted_ms": p.ms,
            "interval_ms": [p.interval.0, p.interval.1],
        });
        if let Some((inv, o)) = on {
            v["invocation"] = inv.into();
            v["invocation_offset"] = (o.factor - 1.0).into();
        }
        v.to_string()
    } else {
        format!(
            "{:>10.3} ms  [{:.3}, {:.3}]  {arch}",
            p.ms, p.interval.0, p.interval.1
        )
    }
}

/// Metrics (and interval coverage) of `fitted` on rows it did not see.
pub fn held_out_metrics(
    fitted: &dyn Predictor,
    rows: &[Sample],
) -> Result<Metrics, predictor::PredictError> {
    let truth: Vec<f64> = rows.iter().map(|s| s.ms).collect();
    let preds = rows
        .iter()
        .map(|s| fitted.predict(&s.arch))
        .collect::<Result<Vec<_>, _>>()?;
    let pm: Vec<f64> = preds.iter().map(|p| p.ms).collect();
    let mut m = predictor::metrics::metrics(&truth, &pm);
    let inside = rows
        .iter()
        .zip(&preds)
        .filter(|(s, p)| s.ms >= p.interval.0 && s.ms <= p.interval.1)
        .count();
    m.interval_coverage = Some(inside as f64 / rows.len() as f64);
    Ok(m)
}

impl Trained {
    /// The `--report` JSON; `from` names the source predictor's file.
    pub fn report(&self, from: Option<String>, shots: Option<u64>) -> serde_json::Value {
        let t = &self.trained;
        serde_json::json!({
            "space": self.space.name(),
            "device_id": self.file.device_id,
            "backend": self.file.backend,
            "threads": self.file.threads,
            "rows": self.samples,
            "unstable_rows": self.unstable,
            "block_table_entries": self.block_entries,
            "kind": t.kind,
            "reason": t.reason,
            "metrics": t.metrics,
            "validation": t.validation,
            "cv_metrics": t.cv_metrics,
            "unaligned_metrics": t.unaligned,
            "candidates": t.candidates,
            "learning_curve": t.learning_curve,
            "from": from,
            "shots": shots,
            "held_out_metrics": self.held_out,
            "alignment": self.alignment,
            "sum_of_parts_ratio": t.sum_of_parts_ratio.map(|(m, lo, hi)| serde_json::json!({"median": m, "min": lo, "max": hi})),
        })
    }

    /// The metadata an exported ONNX predictor carries.
    pub fn onnx_metadata(&self) -> Vec<(&'static str, String)> {
        let f = &self.file;
        vec![
            ("frontier_predictor_version", f.schema_version.clone()),
            ("frontier_kind", f.kind.name().to_string()),
            ("frontier_device_id", f.device_id.clone()),
            ("frontier_backend", f.backend.clone()),
            ("frontier_threads", f.threads.to_string()),
            (
                "frontier_training_data_sha256",
                f.training_data_sha256.clone(),
            ),
        ]
    }

    /// The table `frontier train` prints: each kind's cross-validated
    /// metrics, the choice and why, held-out metrics with shots, and the
    /// sum-of-parts ratio with a block table.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let (file, trained, t) = (&self.file, &self.trained, self);
        let mut out = String::new();
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9}",
            "kind", "MAPE", "±5%", "±10%", "tau", "rho", "interval"
        );
        for (k, m) in &trained.candidates {
            let _ = writeln!(
                out,
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
        let _ = writeln!(
            out,
            "{} ({} rows of {} on {}, {} thread(s))",
            trained.reason, t.samples, file.backend, file.device_id, file.threads,
        );
        let cv = &trained.cv_metrics;
        let _ = writeln!(
            out,
            "the figures above are what to expect on a later invocation: {}; on the training rows' own scale {} within ±10%, {} within ±5%; on a later table without reference subnets {} within ±10%, {} within ±5%",
            trained.validation,
            pct(cv.within_10pct),
            pct(cv.within_5pct),
            pct(trained.unaligned.within_10pct),
            pct(trained.unaligned.within_5pct),
        );
        if t.alignment.invocations() > 1 {
            let _ = writeln!(
                out,
                "{} invocations: {} put on one scale by reference subnets, {} rows as measured",
                t.alignment.invocations(),
                t.alignment.offsets.len() + usize::from(t.alignment.anchor.is_some()),
                t.alignment.unaligned.values().sum::<usize>()
            );
        }
        if let Some(m) = &t.held_out {
            let _ = writeln!(
                out,
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
            let _ = writeln!(
                out,
                "whole network / sum of its blocks: {m:.3} (range {lo:.3}-{hi:.3})"
            );
        }
        out
    }

    /// The learning curve's title.
    pub fn curve_title(&self) -> String {
        format!(
            "{} on {} ({}, {} thread(s)): learning curve",
            self.trained.kind.name(),
            self.file.device_id,
            self.file.backend,
            self.file.threads
        )
    }
}
