//! `frontier agent`: this board in a fleet. It enrols once (the credential
//! is kept in `$FRONTIER_STATE_DIR/board.json`, mode 600), then runs the
//! collector's profiling jobs with the profiling session and uploads their
//! rows through the spool; `frontier_uplink::fleet::run_jobs` is the loop
//! (it also sends a heartbeat every minute: idle or busy and why, the job,
//! the spool; a new process start makes the collector queue the canaries).
//!
//! A job's models are measured a few at a time ([`MODELS_PER_BATCH`]);
//! between batches the agent waits while the board is busy (others' CPU or
//! CPU pressure over the thresholds: it never measures through production
//! load) and stops on SIGTERM or SIGINT: the rows measured so far are
//! uploaded and the job goes back to the collector's queue.

use std::sync::atomic::Ordering;
use std::time::Duration;

use frontier_session::{self as session, Model, Stderr};
use frontier_spaces::{Arch, SampleSpec, Space};
use frontier_table::jobs::{BatchRequest, Lease};
use frontier_table::LatencyRow;
use frontier_uplink::fleet::{self, Board, JobIo, Measured, RunOptions};
use frontier_uplink::Spool;

use crate::backends;
use crate::cli::{AgentArgs, BackendChoice};
use crate::settings::{self, Settings};
use crate::upload_cmd;

/// Models measured in one session between two checks of the board's load
/// and of SIGTERM: a few, so that a stop or a pause comes soon, and more
/// than one, so that the session still interleaves models against drift.
const MODELS_PER_BATCH: usize = 4;

pub fn run(args: AgentArgs) -> anyhow::Result<i32> {
    let credential = crate::board::credential(&crate::board::Enrol {
        collector: args.collector.as_deref(),
        token_file: args.token_file.as_deref(),
        device_name: args.device_name.clone(),
        ort: &args.ort,
    })?;
    let Settings {
        config,
        memory_budget,
    } = settings::resolve(&args.measure, 0, Vec::new(), false)?;
    // Fail now on a backend this board cannot run, not at the first job.
    backends::selected(args.backend, &args.ort, memory_budget)?;
    let stop = fleet::stop_on_signals();
    let board = Board::new(credential, args.poll)?;
    let mut spool = Spool::open(&upload_cmd::spool_dir()?)?;
    let runtimes: std::collections::BTreeMap<String, String> = backends::compiled(&args.ort, None)
        .iter()
        .map(|b| (b.name().to_string(), b.version()))
        .collect();
    let started_at_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let opts = RunOptions {
        poll: args.poll,
        max_jobs: args.max_jobs,
        drain_wait: Duration::from_secs(60),
        stop,
        not_ready_retry: Duration::from_secs(3),
        heartbeat: Duration::from_secs(60),
        hello: serde_json::json!({
            "started_at_us": started_at_us,
            "agent_version": env!("CARGO_PKG_VERSION"),
            "runtimes": runtimes,
        }),
    };
    // Idle enough: others' CPU and CPU pressure over 2 s, under the flags.
    let ready_check = || {
        frontier_profiler::fingerprint::idle_enough(
            Duration::from_secs(2),
            args.idle_others,
            args.idle_pressure,
        )
    };
    let mut ready = ready_check;
    eprintln!(
        "frontier agent: board {} taking jobs from {}",
        board.credential().device_id,
        board.credential().collector
    );
    // Between batches of models: wait while the board is busy (never
    // measure through production load), stop on SIGTERM.
    let gate = || -> Result<(), String> {
        let mut said: Option<String> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err("stopped by a signal".into());
            }
            match ready_check() {
                Ok(()) => {
                    if said.is_some() {
                        eprintln!("idle again: resuming");
                    }
                    return Ok(());
                }
                Err(why) => {
                    if said.as_deref() != Some(why.as_str()) {
                        eprintln!("pausing between models: {why}");
                    }
                    said = Some(why);
                    std::thread::sleep(Duration::from_secs(3));
                }
            }
        }
    };
    let mut measure = |lease: &Lease, io: &mut dyn JobIo| -> Result<Measured, String> {
        let spec = &lease.job.spec;
        let choice = match spec.backend.as_deref() {
            Some("ort") => BackendChoice::Ort,
            Some("tract") => BackendChoice::Tract,
            _ => args.backend,
        };
        let backends =
            backends::selected(choice, &args.ort, memory_budget).map_err(|e| format!("{e:#}"))?;
        let mut config = config.clone();
        if let Some(t) = spec.threads {
            config.threads = t;
            config.options.threads = t as usize;
        }
        // Each job is one invocation: its rows share an id.
        config.invocation = Some(frontier_session::new_invocation_id());
        let seed = lease.job.seed();
        let mut observer = Stderr { warnings: true };
        let mut rows: Vec<LatencyRow> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let mut interrupted: Option<String> = None;
        match &spec.active {
            Some(active) => {
                let space = Space::parse(&spec.space).ok_or("unknown space")?;
                let job = ActiveJob {
                    lease,
                    space,
                    seed,
                    budget: Duration::from_secs(active.budget_s),
                };
                let planned = run_active(&job, &config, &backends, &gate, io, &mut observer)?;
                match planned {
                    Planned::ByCollector(stop) => interrupted = stop,
                    // An older collector plans no batches: this board's
                    // own planner picks them within the budget.
                    Planned::Here => {
                        let references = Model::references(space).map_err(|e| e.to_string())?;
                        let result = crate::active::run(
                            SampleSpec::new(space, seed),
                            job.budget,
                            references,
                            &config,
                            &backends,
                            &mut observer,
                            &mut |outcome| {
                                rows.extend(outcome.rows.iter().cloned());
                                failures.extend(outcome.failures.iter().cloned());
                                gate().map_err(|why| {
                                    interrupted = Some(why.clone());
                                    anyhow::anyhow!(why)
                                })
                            },
                        );
                        if let (Err(e), None) = (result, &interrupted) {
                            return Err(format!("{e:#}"));
                        }
                    }
                }
                if rows.is_empty() && interrupted.is_none() {
                    // Everything went up batch by batch.
                    return Ok(Measured::default());
                }
            }
            None => {
                let mut models = Model::for_job(spec, seed).map_err(|e| e.to_string())?;
                // A profile job's rows are one invocation: its references
                // beside them put it on the scale of the device's others
                // (a canary job is the reference set itself).
                if spec.kind == frontier_table::jobs::JobKind::Profile && !models.is_empty() {
                    let space = Space::parse(&spec.space).ok_or("unknown space")?;
                    let references = Model::references(space).map_err(|e| e.to_string())?;
                    models = session::interleave(models, references);
                }
                for (i, batch) in models.chunks(MODELS_PER_BATCH).enumerate() {
                    if let Err(why) = gate() {
                        interrupted = Some(why);
                        break;
                    }
                    let first = i * MODELS_PER_BATCH;
                    eprintln!(
                        "job {}: measuring models {}-{} of {}",
                        lease.job.id,
                        first + 1,
                        first + batch.len(),
                        models.len()
                    );
                    let outcome = session::run(config.clone(), &backends, batch, &mut observer)
                        .map_err(|e| format!("{e:#}"))?;
                    rows.extend(outcome.rows);
                    failures.extend(outcome.failures);
                }
            }
        }
        if rows.is_empty() && interrupted.is_none() {
            return Err(format!(
                "nothing could be profiled: {}",
                failures.join("; ")
            ));
        }
        Ok(Measured { rows, interrupted })
    };
    let reports = fleet::run_jobs(
        &board,
        &mut spool,
        &opts,
        &mut ready,
        &mut measure,
        &mut |m| eprintln!("{m}"),
    )?;
    // A job given back on SIGTERM (queued again) is a clean stop.
    Ok(
        if reports
            .iter()
            .all(|r| r.counted || r.state == frontier_table::jobs::JobState::Queued)
        {
            0
        } else {
            1
        },
    )
}

/// An `active` job as the board runs it.
struct ActiveJob<'a> {
    lease: &'a Lease,
    space: Space,
    seed: u64,
    budget: Duration,
}

/// Who planned an active job's batches.
enum Planned {
    /// The collector; `Some(why)` when a stop signal ended it early.
    ByCollector(Option<String>),
    /// Nobody yet: the collector plans no batches.
    Here,
}

/// An active job with the collector choosing each batch: ask, measure it
/// (the gate between sessions), upload it at once (the next plan needs
/// it), until the collector says done or the budget is spent. The space's
/// reference subnets go with the first batch and are measured again at the
/// end (as `frontier profile --budget` does), so that the collector can
/// put the job's rows on the scale of the device's other jobs.
fn run_active(
    job: &ActiveJob,
    config: &frontier_session::SessionConfig,
    backends: &[Box<dyn frontier_profiler::Backend>],
    gate: &dyn Fn() -> Result<(), String>,
    io: &mut dyn JobIo,
    observer: &mut Stderr,
) -> Result<Planned, String> {
    let backend = backends.first().ok_or("no backend")?;
    let request = BatchRequest {
        lease_token: job.lease.lease_token.clone(),
        backend: backend.name().to_string(),
        backend_version: backend.version(),
        threads: config.threads,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let id = &job.lease.job.id;
    let started = std::time::Instant::now();
    let mut index = 0usize;
    let mut batches = 0u32;
    let references = Model::references(job.space).map_err(|e| e.to_string())?;
    // Time kept for measuring the references again, from their share of
    // the first batch.
    let mut reserve = Duration::ZERO;
    // Measures the references again once the job's last batch is in.
    let closing =
        |measured: bool, io: &mut dyn JobIo, observer: &mut Stderr| -> Result<Planned, String> {
            if measured {
                if let Err(why) = gate() {
                    return Ok(Planned::ByCollector(Some(why)));
                }
                eprintln!("job {id}: measuring the reference subnets again");
                let outcome = session::run(config.clone(), backends, &references, observer)
                    .map_err(|e| format!("{e:#}"))?;
                let mut rows = outcome.rows;
                io.upload(&mut rows)?;
            }
            Ok(Planned::ByCollector(None))
        };
    loop {
        let spent = started.elapsed();
        if batches > 0 && spent + spent / batches + reserve >= job.budget {
            eprintln!(
                "job {id}: budget spent ({:.0} s of {:.0} s)",
                spent.as_secs_f64(),
                job.budget.as_secs_f64()
            );
            return closing(batches > 0, io, observer);
        }
        if let Err(why) = gate() {
            return Ok(Planned::ByCollector(Some(why)));
        }
        let Some(reply) = io.batch(&request)? else {
            return Ok(Planned::Here);
        };
        let fit = reply
            .within_10pct
            .map(|w| format!(", cross-validated {:.1}% within ±10%", w * 100.0))
            .unwrap_or_default();
        let from = reply
            .source
            .as_deref()
            .map(|s| format!(", transferred from predictor {s}"))
            .unwrap_or_default();
        if let Some(done) = reply.done {
            eprintln!("job {id}: {done} ({} rows{fit}{from})", reply.rows);
            return closing(batches > 0, io, observer);
        }
        eprintln!(
            "job {id}: the collector planned {} subnets from {} rows{fit}{from}",
            reply.archs.len(),
            reply.rows
        );
        let models = reply
            .archs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let arch = Arch::parse(job.space, &a.to_string()).map_err(|e| e.to_string())?;
                let n = index + i;
                Model::generated(&arch, n, job.seed.wrapping_add(n as u64))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        index += models.len();
        let models = if batches == 0 {
            session::interleave(models, references.clone())
        } else {
            models
        };
        let batch_start = std::time::Instant::now();
        for chunk in models.chunks(MODELS_PER_BATCH) {
            if let Err(why) = gate() {
                return Ok(Planned::ByCollector(Some(why)));
            }
            let outcome = session::run(config.clone(), backends, chunk, observer)
                .map_err(|e| format!("{e:#}"))?;
            for f in &outcome.failures {
                eprintln!("job {id}: {f}");
            }
            let mut rows = outcome.rows;
            io.upload(&mut rows)?;
        }
        if batches == 0 {
            reserve = batch_start.elapsed() * references.len() as u32 / models.len() as u32;
        }
        batches += 1;
    }
}
