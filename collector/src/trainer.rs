//! The trainer: a background task of every collector replica that keeps a
//! predictor per cohort fresh, without a person.
//!
//! A *cohort* is what one predictor is for: a device, a space, a backend
//! and its version, a thread count and the agent's version
//! ([`CohortKey`]); a new runtime or agent version starts a new cohort. Each
//! [`step`]:
//!
//! 1. **Scans** rows stored since the last scan, in commit order (the
//!    cursor is shared by the replicas), and marks their cohorts changed.
//! 2. **Claims** a changed cohort once it has been quiet for
//!    [`TrainerConfig::quiet`] (or has waited [`TrainerConfig::max_wait`]
//!    while rows kept arriving): one replica at a time, the claim runs out
//!    after [`TrainerConfig::claim`] if that replica dies.
//! 3. **Checks the canaries** of the cohort's device, space, backend and
//!    threads ([`crate::drift`]): a shift is recorded once, marks the
//!    predictors trained on rows before it stale, and queues a re-profiling
//!    job for the board.
//! 4. **Trains** with `frontier-train` (`auto` kind) on the cohort's rows
//!    measured since the last shift, on a thread of its own at a lower
//!    CPU priority (nice 19; ingest is never waited on: it only wrote the
//!    rows), and
//!    stores the predictor version with its metrics and training-data hash
//!    in the transaction that releases the claim. The same data (same row
//!    ids) is never trained twice for a cohort.
//!
//! Freshness ([`stale_reason`]): a predictor is stale when a shift
//! happened after its first training row, or when its device has rows of
//! a newer cohort of the same space, backend and threads (a runtime or
//! agent upgrade).

use std::sync::Arc;
use std::time::{Duration, Instant};

use frontier_spaces::ofa_mbv3::BLOCK_SPACE;
use frontier_spaces::Space;
use frontier_table::jobs::{JobKind, JobSpec};
use frontier_table::{self as table, LatencyRow};

use crate::api::AppState;
use crate::drift;
use crate::store::{
    last_shift, now_us, Claim, Cohort, CohortKey, NewPredictor, PredictorRecord, Shift, StoreError,
};

/// How the trainer runs.
#[derive(Debug, Clone)]
pub struct TrainerConfig {
    /// Between scans.
    pub poll: Duration,
    /// Train a cohort once no rows of it arrived for this long...
    pub quiet: Duration,
    /// ... or once it has waited this long with rows not trained on.
    pub max_wait: Duration,
    /// How long a claim lasts (a replica that dies mid-training holds its
    /// cohort this long).
    pub claim: Duration,
    /// This replica's name in claims and predictor records.
    pub replica: String,
    /// Subnets of the re-profiling job queued after a shift.
    pub reprofile_samples: u32,
    /// The seed of training (bagging, cross-validation folds).
    pub seed: u64,
    /// Rows read per scan query.
    pub scan_rows: i64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            poll: Duration::from_secs(5),
            quiet: Duration::from_secs(20),
            max_wait: Duration::from_secs(120),
            claim: Duration::from_secs(300),
            replica: format!(
                "{}:{}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "collector".into()),
                std::process::id()
            ),
            reprofile_samples: 40,
            seed: 1,
            scan_rows: 5000,
        }
    }
}

/// What one training run did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// A new predictor version.
    Trained { predictor_id: String, rows: usize },
    /// The data was trained on before.
    Unchanged { predictor_id: String },
    /// No predictor (too few rows, ...): the reason is kept on the cohort.
    NotTrained(String),
    /// The claim ran out and another replica took the cohort: nothing was
    /// written.
    ClaimLost,
}

/// What one [`step`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    pub rows_scanned_to: Option<crate::store::RowKey>,
    pub cohorts_changed: usize,
    pub runs: Vec<(String, RunOutcome)>,
    pub shifts: Vec<Shift>,
}

/// Run [`step`] every `cfg.poll` until `stop` turns true.
pub async fn run(
    state: Arc<AppState>,
    cfg: TrainerConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match step(&state, &cfg).await {
            Ok(r) => {
                for (cohort, outcome) in &r.runs {
                    eprintln!("frontier-collector: trainer: cohort {cohort}: {outcome:?}");
                }
                for s in &r.shifts {
                    eprintln!(
                        "frontier-collector: trainer: canaries of {} ({} {} threads={}) shifted by x{:.3}; re-profiling job {}",
                        s.device_id,
                        s.space,
                        s.backend,
                        s.threads,
                        s.ratio,
                        s.job_id.as_deref().unwrap_or("-")
                    );
                }
            }
            Err(e) => {
                crate::metrics::Metrics::add(&state.metrics.db_errors, 1);
                eprintln!("frontier-collector: trainer: {e}; trying again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One scan, then every cohort ready to train.
pub async fn step(state: &AppState, cfg: &TrainerConfig) -> Result<StepReport, StoreError> {
    let store = &state.store;
    let mut report = StepReport::default();
    loop {
        let cursor = store.trainer_cursor().await?;
        let horizon = store.row_horizon().await?;
        let (keys, last) = store
            .scan_cohorts(
                cursor,
                horizon,
                cfg.scan_rows,
                (BLOCK_SPACE, Space::OfaMbv3.name()),
            )
            .await?;
        let Some(last) = last else { break };
        if !keys.is_empty() {
            store.touch_cohorts(&keys, now_us()).await?;
            report.cohorts_changed += keys.len();
        }
        // Another replica may have moved the cursor meanwhile: its scan
        // marked the same cohorts.
        store.advance_trainer_cursor(cursor, last).await?;
        report.rows_scanned_to = Some(last);
    }
    let us = |d: Duration| d.as_micros() as i64;
    while let Some(claim) = store
        .claim_cohort(
            now_us(),
            us(cfg.quiet),
            us(cfg.max_wait),
            us(cfg.claim),
            &cfg.replica,
        )
        .await?
    {
        let id = claim.cohort.id.clone();
        let outcome = train_cohort(state, cfg, &claim, &mut report.shifts).await?;
        state.metrics.observe_training(&outcome);
        report.runs.push((id, outcome));
    }
    Ok(report)
}

/// The canary points of a cohort's device, space, backend and threads.
async fn canary_points(
    state: &AppState,
    key: &CohortKey,
) -> Result<Option<Vec<drift::Point>>, StoreError> {
    let Some(space) = Space::parse(&key.space) else {
        return Ok(None);
    };
    let archs: Vec<String> = frontier_spaces::canary_archs(space)
        .iter()
        .map(|a| a.row_json())
        .collect();
    let rows = state.store.canary_rows(&key.canary_group(), &archs).await?;
    Ok(Some(
        rows.into_iter()
            .filter_map(|c| {
                let row: LatencyRow = table::parse_line(&c.row_json).ok()?;
                Some(drift::Point {
                    arch: c.arch,
                    at_us: c.measured_at_us,
                    ms: row.latency_ms()?,
                    rel_ci: row
                        .median_ci95_rel
                        .filter(|h| h.is_finite() && *h > 0.0)
                        .unwrap_or(drift::DEFAULT_REL_CI),
                })
            })
            .collect(),
    ))
}

/// Check the canaries, then train one claimed cohort.
async fn train_cohort(
    state: &AppState,
    cfg: &TrainerConfig,
    claim: &Claim,
    found: &mut Vec<Shift>,
) -> Result<RunOutcome, StoreError> {
    let store = &state.store;
    let key = &claim.cohort.key;
    let mut shifts = store.shifts(Some(&key.device_id)).await?;
    if let Some(points) = canary_points(state, key).await? {
        if let Some(f) = drift::detect(&points, last_shift(&shifts, key)) {
            let job_id = crate::auth::random_hex(12);
            let shift = Shift {
                device_id: key.device_id.clone(),
                space: key.space.clone(),
                backend: key.backend.clone(),
                threads: key.threads,
                at_us: f.at_us,
                detected_at_us: now_us(),
                ratio: f.ratio,
                evidence: f.evidence,
                job_id: Some(job_id.clone()),
            };
            if store.insert_shift(&shift).await? {
                let spec = JobSpec {
                    kind: JobKind::Profile,
                    space: key.space.clone(),
                    samples: Some(cfg.reprofile_samples),
                    archs: None,
                    active: None,
                    backend: Some(key.backend.clone()),
                    threads: Some(key.threads),
                };
                store
                    .create_job(&job_id, &key.device_id, &spec, crate::jobs::COLLECTOR)
                    .await?;
                state.jobs_queued.notify_waiters();
                found.push(shift.clone());
            }
            shifts.push(shift);
        }
    }
    let rows_from = last_shift(&shifts, key);
    let lines = store.cohort_rows(key, BLOCK_SPACE, rows_from).await?;
    let rows: Vec<LatencyRow> = lines
        .iter()
        .filter_map(|l| table::parse_line(l).ok())
        .collect();
    let data_sha256 = data_hash(&rows);
    if let Some(existing) = store
        .predictor_of_data(&claim.cohort.id, &data_sha256)
        .await?
    {
        return Ok(if store.finish_claim(claim, None, None).await? {
            RunOutcome::Unchanged {
                predictor_id: existing,
            }
        } else {
            RunOutcome::ClaimLost
        });
    }
    let newest_row_us = rows
        .iter()
        .filter_map(|r| table::parse_rfc3339(&r.measured_at))
        .map(|d| d.as_micros() as i64)
        .max();
    let whole = rows
        .iter()
        .filter(|r| r.space.as_deref() == Some(key.space.as_str()) && r.arch.is_some())
        .count();
    let source = if whole < TRANSFER_BELOW {
        transfer_source(state, key).await?
    } else {
        None
    };
    let started = Instant::now();
    let trained = train_niced(rows, key.clone(), cfg.seed, source).await;
    let train_ms = started.elapsed().as_millis() as i64;
    let (predictor, error) = match trained {
        Ok((t, from)) => (
            Some(NewPredictor {
                id: format!("p{}", crate::auth::random_hex(12)),
                rows_used: t.samples as i64,
                data_sha256,
                rows_from_us: rows_from,
                newest_row_us,
                kind: t.file.kind.name().to_string(),
                metrics_json: t.report(from, None).to_string(),
                file_json: t.file.to_json(),
                trained_by: cfg.replica.clone(),
                train_ms,
            }),
            None,
        ),
        Err(e) => (
            None,
            Some(match rows_from {
                Some(at) => format!(
                    "{e} (rows measured since the canaries' shift at {} only)",
                    rfc3339_us(at)
                ),
                None => e,
            }),
        ),
    };
    if !store
        .finish_claim(claim, predictor.as_ref(), error.as_deref())
        .await?
    {
        return Ok(RunOutcome::ClaimLost);
    }
    Ok(match (predictor, error) {
        (Some(p), _) => RunOutcome::Trained {
            predictor_id: p.id,
            rows: p.rows_used as usize,
        },
        (None, e) => RunOutcome::NotTrained(e.unwrap_or_default()),
    })
}

/// µs since the epoch as RFC 3339.
pub fn rfc3339_us(us: i64) -> String {
    table::rfc3339(Duration::from_micros(us.max(0) as u64))
}

/// SHA-256 over the sorted row ids (content ids for rows without one).
fn data_hash(rows: &[LatencyRow]) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r.row_id.clone().unwrap_or_else(|| table::content_row_id(r)))
        .collect();
    ids.sort();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Train on a thread of its own at nice 19, so that on a small server the
/// request handlers keep the CPU when both want it (training is background
/// work: a predictor a few seconds later costs nothing).
async fn train_niced(
    rows: Vec<LatencyRow>,
    key: CohortKey,
    seed: u64,
    source: Option<(String, frontier_predictor::PredictorFile)>,
) -> Result<(frontier_train::Trained, Option<String>), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("frontier-trainer".into())
        .spawn(move || {
            // Linux: the nice value is per thread; 0 names the caller.
            // SAFETY: setpriority has no memory effects.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            }
            let req = frontier_train::Request {
                space: Space::parse(&key.space),
                filters: frontier_train::Filters {
                    device: Some(key.device_id.clone()),
                    backend: Some(key.backend.clone()),
                    threads: Some(key.threads),
                },
                kind: frontier_train::KindChoice::Auto,
                seed,
                origin: format!("the collector's rows of cohort {}", key.id()),
                ..Default::default()
            };
            let own = frontier_train::train(&rows, &req, &mut |_| {}).map_err(|e| e.to_string());
            // With few rows, also a transfer of the most similar board's
            // predictor; the lower cross-validated MAPE wins.
            let out = match source {
                None => own.map(|t| (t, None)),
                Some((id, file)) => {
                    let transfer = frontier_train::train(
                        &rows,
                        &frontier_train::Request {
                            source_origin: format!("predictor {id}"),
                            source: Some(file),
                            ..req.clone()
                        },
                        &mut |_| {},
                    );
                    match (own, transfer) {
                        (Ok(a), Ok(b)) if b.trained.metrics.mape < a.trained.metrics.mape => {
                            Ok((b, Some(id)))
                        }
                        (Ok(a), _) => Ok((a, None)),
                        (Err(_), Ok(b)) => Ok((b, Some(id))),
                        (Err(e), Err(_)) => Err(e),
                    }
                }
            };
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start a training thread: {e}"))?;
    rx.await
        .map_err(|_| "the training thread ended without a result".to_string())?
}

/// Below this many rows a cohort's predictor is also fitted as a transfer
/// of the most similar board's fresh predictor (few-shot), and the fit
/// that cross-validates better is kept.
pub const TRANSFER_BELOW: usize = 30;

/// How alike two boards are, for choosing a transfer source: the same CPU
/// model counts most, then the same device class, CPU architecture, core
/// count and top frequency.
pub(crate) fn similarity(a: &crate::store::Fingerprint, b: &crate::store::Fingerprint) -> u32 {
    let same = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
    4 * u32::from(same(&a.cpu_model, &b.cpu_model))
        + 2 * u32::from(same(&a.device_class_id, &b.device_class_id))
        + 2 * u32::from(same(&a.cpu_arch, &b.cpu_arch))
        + u32::from(a.logical_cores.is_some() && a.logical_cores == b.logical_cores)
        + u32::from(a.cpu_max_freq_mhz.is_some() && a.cpu_max_freq_mhz == b.cpu_max_freq_mhz)
}

/// The fresh predictor of another board, of the same space and backend,
/// whose board is most like this one (ties: more training rows), to
/// transfer from while this cohort's rows are few.
pub async fn transfer_source(
    state: &AppState,
    key: &CohortKey,
) -> Result<Option<(String, frontier_predictor::PredictorFile)>, StoreError> {
    let store = &state.store;
    let filter = crate::store::PredictorFilter {
        space: Some(key.space.clone()),
        backend: Some(key.backend.clone()),
        ..Default::default()
    };
    let listed = store.predictors(&filter, 500).await?;
    let others: Vec<&PredictorRecord> = listed
        .iter()
        .filter(|p| p.cohort.key.device_id != key.device_id)
        .collect();
    if others.is_empty() {
        return Ok(None);
    }
    let (shifts, cohorts) = (store.shifts(None).await?, store.cohorts(None).await?);
    let fingerprints = store.fingerprints().await?;
    let none = crate::store::Fingerprint::default();
    let here = fingerprints.get(&key.device_id).unwrap_or(&none);
    let mut best: Option<(u32, i64, &PredictorRecord)> = None;
    let mut seen = std::collections::HashSet::new();
    // Newest first: the first fresh one of each device is its newest.
    for p in others {
        if !seen.insert(p.cohort.key.device_id.clone())
            || stale_reason(p, &shifts, &cohorts).is_some()
        {
            continue;
        }
        let there = fingerprints.get(&p.cohort.key.device_id).unwrap_or(&none);
        let score = similarity(here, there) + u32::from(p.cohort.key.threads == key.threads);
        if best
            .as_ref()
            .is_none_or(|(s, rows, _)| (score, p.rows_used) > (*s, *rows))
        {
            best = Some((score, p.rows_used, p));
        }
    }
    let Some((_, _, p)) = best else {
        return Ok(None);
    };
    let Some((_, json)) = store.predictor(&p.id).await? else {
        return Ok(None);
    };
    Ok(frontier_predictor::PredictorFile::from_json(&json)
        .ok()
        .map(|f| (p.id.clone(), f)))
}

/// Why a predictor is not fresh, if it is not: a canary shift after its
/// first training row, or a newer cohort of the same device, space,
/// backend and threads (`cohorts` of its device).
pub fn stale_reason(p: &PredictorRecord, shifts: &[Shift], cohorts: &[Cohort]) -> Option<String> {
    let key = &p.cohort.key;
    if let Some(s) = shifts
        .iter()
        .filter(|s| s.is_of(key) && p.rows_from_us.is_none_or(|from| s.at_us > from))
        .max_by_key(|s| s.at_us)
    {
        return Some(format!(
            "the board's canaries shifted by x{:.3} at {} (after this predictor's rows began); re-profiling job {}",
            s.ratio,
            rfc3339_us(s.at_us),
            s.job_id.as_deref().unwrap_or("-")
        ));
    }
    let newer = cohorts
        .iter()
        .filter(|c| {
            c.id != p.cohort.id
                && c.key.device_id == key.device_id
                && c.key.space == key.space
                && c.key.backend == key.backend
                && c.key.threads == key.threads
                && c.first_seen_us > p.cohort.changed_at_us
        })
        .max_by_key(|c| c.first_seen_us)?;
    Some(format!(
        "the board now runs {} {} with agent {} (rows since {}); this predictor is of {} {} with agent {}",
        newer.key.backend,
        newer.key.backend_version,
        newer.key.agent_version,
        rfc3339_us(newer.first_seen_us),
        key.backend,
        key.backend_version,
        key.agent_version
    ))
}
