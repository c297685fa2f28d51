//! `frontier profile --space S --budget 15m`: active profiling.
//!
//! The first batch is the space's smallest and largest subnets and the rest
//! stratified by MACs (the whole range of the space is covered); after it, a predictor is trained on everything measured so far
//! and the next batch is the unmeasured candidates (from a seeded pool)
//! whose predicted interval is widest relative to their prediction: where
//! the predictor is least certain. It stops when the next batch would
//! overrun the budget, or when the cross-validated share within ±10% has
//! not improved over three batches. Each batch's rows are written (`--out`)
//! as soon as it is measured, so an interrupted run keeps them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use frontier_export::table::LatencyRow;
use frontier_predictor::{self as predictor, Kind, Predictor, Sample, Space};
use frontier_profiler::backend::Backend;
use frontier_session::{self as session, Observer, Outcome, SessionConfig};

use crate::export_cmd::{candidates, extremes, SampleSpec};

/// Subnets per batch.
const BATCH: usize = 8;
/// Candidates the predictor chooses among.
const POOL: usize = 1000;
/// Batches without a gain in cross-validated ±10% accuracy before stopping.
const PATIENCE: usize = 3;
/// Subnets measured before a plateau may stop the loop: cross-validation
/// on fewer rows is too noisy to call a plateau.
const MIN_FOR_PLATEAU: usize = 48;
/// What the loop did, for the caller's summary.
pub struct ActiveResult {
    pub outcome: Outcome,
    pub trained: Option<predictor::Trained>,
    /// Rows the predictor was trained on (of the first backend).
    pub training_rows: Vec<LatencyRow>,
    pub stop: String,
}

/// Run sessions batch by batch until the budget is spent or accuracy stops
/// improving. `write` receives each batch's outcome as soon as it exists.
pub fn run(
    spec: SampleSpec,
    budget: Duration,
    config: &SessionConfig,
    backends: &[Box<dyn Backend>],
    observer: &mut dyn Observer,
    write: &mut dyn FnMut(&Outcome) -> anyhow::Result<()>,
) -> anyhow::Result<ActiveResult> {
    let start = Instant::now();
    let space = Space::parse(match spec.space {
        crate::cli::Space::OfaMbv3 => "ofa-mbv3",
        crate::cli::Space::Gpt2 => "gpt2",
    })
    .expect("a known space");
    let pool = candidates(
        &SampleSpec {
            sampler: crate::cli::SamplerChoice::Uniform,
            seed: spec.seed ^ 0xAC71_7E00,
            ..spec
        },
        POOL,
    )?;
    // The first batch: the space's smallest and largest subnets, and the
    // rest stratified by MACs in between.
    let mut batch = extremes(&spec);
    batch.extend(candidates(
        &SampleSpec {
            sampler: crate::cli::SamplerChoice::Macs,
            ..spec
        },
        BATCH - batch.len(),
    )?);
    let first_backend = backends.first().map(|b| b.name().to_string());
    let mut measured: HashSet<String> = HashSet::new();
    let mut merged: Option<Outcome> = None;
    let mut training_rows: Vec<LatencyRow> = Vec::new();
    let mut history: Vec<f64> = Vec::new();
    let mut trained: Option<predictor::Trained> = None;
    let mut index = 0usize;
    let stop = loop {
        let models = batch
            .iter()
            .enumerate()
            .map(|(i, c)| c.model(index + i, spec.seed.wrapping_add((index + i) as u64)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        index += batch.len();
        measured.extend(batch.iter().map(|c| c.json.clone()));
        let outcome = session::run(config.clone(), backends, &models, observer)?;
        write(&outcome)?;
        training_rows.extend(
            outcome
                .rows
                .iter()
                .filter(|r| Some(&r.backend) == first_backend.as_ref())
                .cloned(),
        );
        merged = Some(match merged.take() {
            None => outcome,
            Some(mut m) => {
                m.absorb(outcome);
                m
            }
        });
        let samples: Vec<Sample> = training_rows
            .iter()
            .filter_map(crate::train_cmd::sample_of)
            .collect();
        if samples.len() >= Kind::Learned.min_rows() {
            let t = predictor::train(
                space,
                &[Kind::Learned],
                &samples,
                &predictor::Context::default(),
                spec.seed,
            )?;
            eprintln!(
                "active profiling: {} subnets in {:.0} s; cross-validated: {:.1}% within ±10%, MAPE {:.2}%, Kendall τ {:.3}",
                samples.len(),
                start.elapsed().as_secs_f64(),
                t.metrics.within_10pct * 100.0,
                t.metrics.mape * 100.0,
                t.metrics.kendall_tau
            );
            history.push(t.metrics.within_10pct);
            trained = Some(t);
        }
        if history.len() > PATIENCE && samples.len() >= MIN_FOR_PLATEAU {
            let before = history[..history.len() - PATIENCE]
                .iter()
                .fold(0.0f64, |a, b| a.max(*b));
            let recent = history[history.len() - PATIENCE..]
                .iter()
                .fold(0.0f64, |a, b| a.max(*b));
            if recent <= before + 0.005 {
                break format!(
                    "cross-validated ±10% accuracy stopped improving ({:.1}% for {PATIENCE} batches)",
                    before * 100.0
                );
            }
        }
        let per_batch = start.elapsed() / (index / BATCH).max(1) as u32;
        if start.elapsed() + per_batch > budget {
            break format!(
                "budget spent ({:.0} s of {:.0} s; a batch takes about {:.0} s)",
                start.elapsed().as_secs_f64(),
                budget.as_secs_f64(),
                per_batch.as_secs_f64()
            );
        }
        // The next batch: where the predictor is least certain.
        let mut open: Vec<(f64, usize)> = pool
            .iter()
            .enumerate()
            .filter(|(_, c)| !measured.contains(&c.json))
            .map(|(i, c)| {
                let width = trained
                    .as_ref()
                    .and_then(|t| t.fitted.predict(&c.json).ok())
                    .map(|p| (p.interval.1 - p.interval.0) / p.ms)
                    .unwrap_or(0.0);
                (width, i)
            })
            .collect();
        if open.is_empty() {
            break "every candidate of the pool was measured".to_string();
        }
        if trained.is_some() {
            open.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        }
        batch = open
            .iter()
            .take(BATCH)
            .map(|(_, i)| pool[*i].clone())
            .collect();
    };
    eprintln!("active profiling stopped: {stop}");
    Ok(ActiveResult {
        outcome: merged.expect("at least one batch ran"),
        trained,
        training_rows,
        stop,
    })
}
