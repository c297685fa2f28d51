//! `frontier profile --space S --budget 15m`: active profiling, the wiring.
//!
//! The planner (`frontier_train::planner`) chooses each batch; this loop
//! measures it with a profiling session, hands the caller its rows at once
//! (`--out` is appended batch by batch, so an interrupted run keeps them),
//! and stops when the planner sees a plateau, the pool is spent, or the
//! next batch would overrun the budget.

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
    let stop = loop {
        let models = batch
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Model::generated(a, index + i, spec.seed.wrapping_add((index + i) as u64))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The invocation's references go with the first batch.
        let models = crate::profile::interleave(models, std::mem::take(&mut references));
        index += batch.len();
        let outcome = session::run(config.clone(), backends, &models, observer)?;
        write(&outcome)?;
        let (references, rows): (Vec<LatencyRow>, Vec<LatencyRow>) = outcome
            .rows
            .iter()
            .filter(|r| Some(&r.backend) == first_backend.as_ref())
            .cloned()
            .partition(|r| r.reference == Some(true));
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
        if start.elapsed() + per_batch > budget {
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
    Ok(ActiveResult {
        outcome: merged.expect("at least one batch ran"),
        trained: planner.into_trained(),
        training_rows,
        stop,
    })
}
