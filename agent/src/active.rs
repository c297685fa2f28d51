//! `frontier profile --space S --budget 15m`: active profiling, the wiring.
//!
//! The planner (`frontier_train::planner`) chooses each batch; this loop
//! measures it with a profiling session, hands the caller its rows at once
//! (`--out` is appended batch by batch, so an interrupted run keeps them),
//! and stops when the planner sees a plateau, the pool is spent, or the
//! next batch would overrun the budget.
//!
//! The invocation's reference subnets are measured twice: among the first
//! batch and again after the last, in time the budget keeps for them. A
//! run of several minutes drifts by a percent or two; its scale (what a
//! later invocation is aligned to) is the middle of the two measurements,
//! not its first minute's.

use std::time::{Duration, Instant};

use frontier_predictor as predictor;
use frontier_profiler::backend::Backend;
use frontier_session::{self as session, Model, Observer, Outcome, SessionConfig};
use frontier_spaces::{Arch, SampleSpec};
use frontier_table::LatencyRow;
use frontier_train::planner::{Planner, BATCH};

/// What the loop did, for the caller's summary.
pub struct ActiveResult {
    pub outcome: Outcome,
    pub trained: Option<predictor::Trained>,
    /// Rows the predictor was trained on (of the first backend), and the
    /// invocation's reference rows of that backend.
    pub training_rows: Vec<LatencyRow>,
    pub stop: String,
}

/// Run sessions batch by batch until the budget is spent or accuracy stops
/// improving. `write` receives each batch's outcome as soon as it exists.
pub fn run(
    spec: SampleSpec,
    budget: Duration,
    mut references: Vec<Model>,
    config: &SessionConfig,
    backends: &[Box<dyn Backend>],
    observer: &mut dyn Observer,
    write: &mut dyn FnMut(&Outcome) -> anyhow::Result<()>,
) -> anyhow::Result<ActiveResult> {
    let start = Instant::now();
    let mut planner = Planner::new(spec)?;
    let mut batch: Vec<Arch> = planner.first_batch()?;
    let first_backend = backends.first().map(|b| b.name().to_string());
    let mut merged: Option<Outcome> = None;
    let mut training_rows: Vec<LatencyRow> = Vec::new();
    let mut index = 0usize;
    let closing = references.clone();
    // Time kept for measuring the references again, from their share of
    // the first batch.
    let mut reserve = Duration::ZERO;
    let stop = loop {
        let models = batch
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Model::generated(a, index + i, spec.seed.wrapping_add((index + i) as u64))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The invocation's references go with the first batch.
        let models = session::interleave(models, std::mem::take(&mut references));
        index += batch.len();
        let first = merged.is_none();
        let batch_start = Instant::now();
        let outcome = session::run(config.clone(), backends, &models, observer)?;
        if first && !closing.is_empty() {
            reserve = batch_start.elapsed() * closing.len() as u32 / models.len() as u32;
        }
        write(&outcome)?;
        let (references, rows): (Vec<LatencyRow>, Vec<LatencyRow>) = outcome
            .rows
            .iter()
            .filter(|r| Some(&r.backend) == first_backend.as_ref())
            .cloned()
            .partition(|r| r.is_reference());
        training_rows.extend(references);
        merged = Some(match merged.take() {
            None => outcome,
            Some(mut m) => {
                m.absorb(outcome);
                m
            }
        });
        if let Some(m) = planner.observe(&rows)? {
            eprintln!(
                "active profiling: {} subnets in {:.0} s; expected on a later invocation: {:.1}% within ±10%, {:.1}% within ±5%, MAPE {:.2}%, Kendall τ {:.3}",
                planner.samples(),
                start.elapsed().as_secs_f64(),
                m.within_10pct * 100.0,
                m.within_5pct * 100.0,
                m.mape * 100.0,
                m.kendall_tau
            );
        }
        training_rows.extend(rows);
        if let Some(why) = planner.plateau() {
            break why;
        }
        let per_batch = start.elapsed() / (index / BATCH).max(1) as u32;
        if start.elapsed() + per_batch + reserve > budget {
            break format!(
                "budget spent ({:.0} s of {:.0} s; a batch takes about {:.0} s)",
                start.elapsed().as_secs_f64(),
                budget.as_secs_f64(),
                per_batch.as_secs_f64()
            );
        }
        match planner.next_batch() {
            Some(b) => batch = b,
            None => break "every candidate of the pool was measured".to_string(),
        }
    };
    eprintln!("active profiling stopped: {stop}");
    if !closing.is_empty() {
        eprintln!(
            "active profiling: measuring the {} reference subnets again (the invocation's scale is the middle of both measurements)",
            closing.len()
        );
        let outcome = session::run(config.clone(), backends, &closing, observer)?;
        write(&outcome)?;
        training_rows.extend(
            outcome
                .rows
                .iter()
                .filter(|r| Some(&r.backend) == first_backend.as_ref())
                .cloned(),
        );
        if let Some(m) = merged.as_mut() {
            m.absorb(outcome);
        }
    }
    Ok(ActiveResult {
        outcome: merged.expect("at least one batch ran"),
        trained: planner.into_trained(),
        training_rows,
        stop,
    })
}
