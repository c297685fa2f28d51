//! The measurement harness: latency samples that survive a noisy machine.
//!
//! A shared VM's speed drifts by 20-40% within seconds and a board throttles
//! when warm, so a plain "warm up 5, time 30" loop gives medians that do not
//! reproduce. The harness therefore:
//!
//! 1. **Warms up** each model by count and time, then in windows of
//!    `window` runs until two consecutive window medians agree within
//!    `tolerance` (or `max_time` is spent).
//! 2. **Interleaves**: all models are measured in round-robin rounds, one
//!    *slice* (a few runs) per model per round, with the order rotated each
//!    round, so slow and fast phases of the machine are shared by all models
//!    instead of landing on whichever model ran at the time. The first run of
//!    every slice is discarded: switching models evicts caches.
//! 3. **Probes** the machine: a fixed workload ([`crate::probe`]) runs between
//!    slices (one discarded warm-up repetition, then the median of `reps`).
//!    The agent's default workload is a fixed small network run by the
//!    measured backend ([`crate::probe::ModelProbe`]), which slows down as
//!    the models do; a synthetic CPU workload ([`crate::probe::CpuProbe`])
//!    moved about twice as much as the models between invocations.
//!    A slice's speed is the median of the probe points around it (the two
//!    that bracket it and [`ProbeConfig::window`] more on each side): one probe point
//!    is noisier than the drift it tracks, which moves over seconds, not
//!    slices. Corrected samples are
//!    `sample * (reference / session)^beta_s * (session / speed)^beta`:
//!    `session` is the median probe of this session, `reference` is
//!    [`ProbeConfig::reference_ms`] (a device's stored reference, for
//!    comparability across invocations) or else `session`; `beta` is the
//!    models' elasticity to the probe estimated from this session's slices
//!    ([`Correction`], [`elasticity`]), and `beta_s`
//!    [`ProbeConfig::session_elasticity`] or else `beta`. Two elasticities,
//!    because the within-session estimate is biased towards 0 by the noise
//!    of single probe points (errors in the regressor), while the session's
//!    median over hundreds of points is not. But that median carries its own
//!    error of about 2% between invocations (`docs/BENCHMARKS.md`): where
//!    real shifts between invocations are smaller than that, a session
//!    elasticity of 1 adds more error than it removes, so the default is the
//!    estimate.
//! 4. **Stops** a model, after at least `rounds` rounds, `min_runs` runs
//!    and `min_time` of measured time and only after whole cycles over its
//!    instances (point 6), on its **interval**: the 95% interval of its
//!    corrected median for a repeat invocation ([`crate::interval`]: drift
//!    over the rounds, placement over the instances, the session's own
//!    error). The session's error is common to every row of the invocation
//!    and no time spent on one model narrows it, so the rule judges the
//!    row's **own** part (drift and placement, [`Interval::own`]). It stops
//!    `converged` once that is within `target_ci`; `plateau` once more
//!    rounds cannot bring it there within the model's remaining time (the
//!    projection keeps the rounds' variance and adds the rounds that time
//!    allows: drift shrinks with rounds, placement does not); `max_time`
//!    when its time is spent; `budget`
//!    when the session's `budget` is. A stopped model's time goes to the
//!    models still measured, whose rounds come round sooner. The rule uses
//!    the session's estimate so far (correction, elasticity, pooled terms:
//!    [`Harness::estimate`]); once every model has stopped, converged ones
//!    whose interval under the session's final estimate is wider than the
//!    target are measured on while they have time (twice at most). Rounds, not
//!    runs, are the unit: runs of one slice share its phase, so an interval
//!    over runs shrinks with more runs while the phases seen stay few.
//! 5. **Flags** a row `unstable` ("do not trust it") when its own part of
//!    the interval is wider than `max_ci` or the interval is undefined
//!    (fewer than three rounds), with the reason. The full interval is
//!    still the row's `median_ci95_rel`. Nothing is
//!    re-measured and no attempt is chosen over another: keeping the
//!    attempt with the smallest spread favoured the machine's quiet phases
//!    (a biased median) and spent the time of a second attempt on models
//!    whose first one was as good. The spreads of round and instance
//!    medians are still reported.
//!
//! 6. **Spreads placements**: a subject may be several independently
//!    prepared *instances* of one model. Where a network's weights land in
//!    memory changes its speed by a few percent for the life of the process
//!    (up to 5% between instances here, `docs/BENCHMARKS.md`), which a
//!    single-instance measurement reports as the model's latency and the
//!    next invocation contradicts. Round `r` measures instance `r mod K`, and
//!    the stop rule is evaluated only after whole cycles, so every instance
//!    has as many rounds and the median is one over placements. The
//!    stability spread divides each instance's own level out (it judges
//!    drift over time, not placement), and the spread of instance medians is
//!    reported beside it; the interval pools the placement variance over
//!    the session's models. The probe's copies are treated the same way: each
//!    probe point runs the next copy and is divided by that copy's median
//!    level, so the reference is an average over the copies.
//!
//! Time is read only through [`Clock`], so all of this is tested with the
//! scripted machine of [`crate::fake`].

use std::time::Duration;

use crate::backend::{ModelState, NodeTime, OutputTensor};
use crate::clock::Clock;
use crate::interval::{self, Interval};
use crate::probe::Probe;
use crate::stats::{self, Summary};
use crate::ProfileError;
mod config;
mod correction;
mod ops;
mod series;

pub use config::{
    HarnessConfig, ProbeConfig, WarmupConfig, DEFAULT_MAX_CI, DEFAULT_SESSION_ERROR,
    DEFAULT_TARGET_CI,
};
use correction::*;
pub use correction::{elasticity, elasticity_fit, Correction, UNKNOWN_ELASTICITY_SE};
pub use ops::{calibrate_overhead, profile_ops, OpStat};
use series::*;

/// Why a model's measurement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The interval reached the target after the minima.
    Converged,
    /// More rounds within the model's remaining time could not bring the
    /// interval to the target.
    Plateau,
    /// `max_time` was spent before the interval reached the target.
    MaxTime,
    /// The session's `budget` was spent.
    Budget,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Converged => "converged",
            StopReason::Plateau => "plateau",
            StopReason::MaxTime => "max_time",
            StopReason::Budget => "budget",
        }
    }
}

/// The result of measuring one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Raw samples, in milliseconds, in measurement order.
    pub samples_ms: Vec<f64>,
    /// The same samples with the machine's drift divided out.
    pub corrected_ms: Vec<f64>,
    pub raw: Summary,
    pub corrected: Summary,
    /// Relative half-width of the 95% CI of the raw median; `None` below 6 samples.
    pub ci95_rel: Option<f64>,
    /// Relative half-width of the 95% CI by batch means over the rounds
    /// (drift only, the narrower of raw and corrected); `None` below 3 rounds.
    pub round_ci95_rel: Option<f64>,
    /// The interval of the corrected median for a repeat invocation
    /// ([`crate::interval`]); `None` below 3 rounds.
    pub interval: Option<Interval>,
    /// Corrected median of each round.
    pub round_medians_ms: Vec<f64>,
    /// `(max - min) / median` of the rounds' medians, raw or corrected,
    /// whichever is smaller. Reported only: it grows with the number of
    /// rounds, so it decides nothing.
    pub round_spread: f64,
    /// The same of the raw round medians.
    pub round_spread_raw: f64,
    /// Median over the model's slices of probe / reference: > 1 means the
    /// machine was slower than the reference while this model was measured.
    pub probe_ratio: f64,
    /// `(max - min) / median` of the probe ratios of this model's slices.
    pub probe_drift: f64,
    /// Independently prepared instances measured (1: no spread over placements).
    pub instances: u32,
    /// Corrected median of each instance, in instance order.
    pub instance_medians_ms: Vec<f64>,
    /// `(max - min) / median` of the instance medians; `None` with one instance.
    pub instance_spread: Option<f64>,
    pub warmup_runs: u32,
    pub warmup_ms: f64,
    /// Rounds measured.
    pub rounds: u32,
    pub stop: StopReason,
    pub unstable: bool,
    /// Why the row is unstable.
    pub unstable_reason: Option<String>,
}

/// Events for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    WarmedUp { subject: usize },
    SliceDone { subject: usize, round: u32 },
    Stopped { subject: usize, reason: StopReason },
}

/// The result of a session: one entry per subject, in order.
#[derive(Debug)]
pub struct SessionReport {
    pub results: Vec<Result<Measurement, ProfileError>>,
    /// The probe reference the corrected figures refer to.
    pub probe_reference_ms: Option<f64>,
    /// This session's median probe (leveled over the probe's copies).
    pub probe_session_ms: Option<f64>,
    /// The elasticity applied to the session's shift from the reference.
    pub probe_session_beta: Option<f64>,
    /// The elasticity used for the corrected figures (see [`Correction`]).
    pub probe_beta: Option<f64>,
    /// Whether `probe_beta` was estimated from this session (else the default 1).
    pub probe_beta_estimated: bool,
    /// Every probe measurement point of the session, in order, each divided
    /// by its probe copy's level (see the module doc).
    pub probe_ms: Vec<f64>,
    /// The placement variance (log scale) pooled over the session's models.
    pub placement_var: f64,
    /// The lag-1 autocorrelation of rounds pooled over the session's models.
    pub round_autocorrelation: f64,
    /// With a `budget`: how the minimum rounds fit it, when they did not.
    pub budget_note: Option<String>,
    pub elapsed: Duration,
}

/// The measurement harness over a clock and an optional probe.
pub struct Harness<'a> {
    config: HarnessConfig,
    clock: &'a dyn Clock,
    probe: Option<&'a mut dyn Probe>,
    probe_points: Vec<ProbePoint>,
    /// Index of the latest probe point of the current measurement.
    last_probe: Option<usize>,
}

/// How the session's rounds are sized (see [`Harness::plan`]).
struct Plan {
    /// Timed runs per slice at least.
    runs: usize,
    /// Measured time per slice at least.
    time: Duration,
    /// When the session's budget ends.
    deadline: Option<Duration>,
    note: Option<String>,
}

/// See [`Harness::estimate`].
struct Estimate {
    correction: Correction,
    stats: SessionStats,
    /// The elasticity, when the session could estimate it.
    estimated: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Passes that re-check converged models against the session's final
/// estimate (see [`Harness::measure_all`]).
const MAX_RECHECKS: u32 = 2;

/// Per-slice cap on runs, so a clock that does not advance cannot loop forever.
const MAX_RUNS_PER_SLICE: usize = 1_000_000;

impl<'a> Harness<'a> {
    pub fn new(
        config: HarnessConfig,
        clock: &'a dyn Clock,
        probe: Option<&'a mut dyn Probe>,
    ) -> Self {
        let probe = if config.probe.enabled { probe } else { None };
        Harness {
            config,
            clock,
            probe,
            probe_points: Vec::new(),
            last_probe: None,
        }
    }

    pub fn config(&self) -> &HarnessConfig {
        &self.config
    }

    /// Measure one probe point on the next probe copy; returns its index
    /// in `probe_points`.
    fn probe_point(&mut self) -> Option<usize> {
        let probe = self.probe.as_mut()?;
        let instance = self.probe_points.len() % probe.instances().max(1);
        probe.run(instance); // warm-up: the model just evicted the probe's buffers
        let mut v = Vec::with_capacity(self.config.probe.reps as usize);
        for _ in 0..self.config.probe.reps.max(1) {
            let t0 = self.clock.now();
            probe.run(instance);
            v.push(ms(self.clock.now() - t0));
        }
        let m = stats::median(&v)?;
        self.probe_points.push(ProbePoint { instance, ms: m });
        self.last_probe = Some(self.probe_points.len() - 1);
        self.last_probe
    }

    /// Warm a state up; returns (runs, milliseconds spent).
    pub fn warmup(&self, state: &mut dyn ModelState) -> Result<(u32, f64), ProfileError> {
        let w = &self.config.warmup;
        let start = self.clock.now();
        let mut times = Vec::new();
        loop {
            let t0 = self.clock.now();
            state.run()?;
            let t1 = self.clock.now();
            times.push(ms(t1 - t0));
            let elapsed = t1 - start;
            if elapsed >= w.max_time {
                break;
            }
            let win = w.window as usize;
            if times.len() as u32 >= w.min_runs && elapsed >= w.min_time && times.len() >= 2 * win {
                let n = times.len();
                let last = stats::median(&times[n - win..]).unwrap_or(0.0);
                let prev = stats::median(&times[n - 2 * win..n - win]).unwrap_or(0.0);
                if prev > 0.0 && ((last - prev) / prev).abs() <= w.tolerance {
                    break;
                }
            }
        }
        Ok((times.len() as u32, ms(self.clock.now() - start)))
    }

    /// Warm up a subject's instances: the first until stable (see
    /// [`warmup`](Self::warmup)), the others for the minimum count only, as
    /// the machine and the code are warm by then and what is left cold is
    /// the instance's own memory. Returns (runs, milliseconds) of all.
    fn warm_instances(
        &self,
        instances: &mut [Box<dyn ModelState>],
    ) -> Result<(u32, f64), ProfileError> {
        let Some((first, rest)) = instances.split_first_mut() else {
            return Ok((0, 0.0));
        };
        let (mut runs, mut spent) = self.warmup(first.as_mut())?;
        for state in rest {
            let t0 = self.clock.now();
            for _ in 0..self.config.warmup.min_runs.max(1) {
                state.run()?;
                runs += 1;
            }
            spent += ms(self.clock.now() - t0);
        }
        Ok((runs, spent))
    }

    /// Measure every subject, interleaved. A subject is one or more
    /// independently prepared instances of one model (see the module doc);
    /// an empty one is a caller's bug and panics. Failures of one subject do
    /// not stop the others.
    pub fn run(
        &mut self,
        subjects: &mut [Vec<Box<dyn ModelState>>],
        progress: &mut dyn FnMut(&Progress),
    ) -> SessionReport {
        assert!(
            subjects.iter().all(|s| !s.is_empty()),
            "every subject needs at least one instance"
        );
        let start = self.clock.now();
        let n = subjects.len();
        let mut errors: Vec<Option<ProfileError>> = (0..n).map(|_| None).collect();
        let mut warm = vec![(0u32, 0.0f64); n];
        let mut latency = vec![0.0f64; n];
        for (i, instances) in subjects.iter_mut().enumerate() {
            match self.warm_instances(instances) {
                Ok((runs, spent)) => {
                    warm[i] = (runs, spent);
                    latency[i] = spent / f64::from(runs.max(1));
                }
                Err(e) => errors[i] = Some(e),
            }
            progress(&Progress::WarmedUp { subject: i });
        }
        let todo: Vec<usize> = (0..n).filter(|i| errors[*i].is_none()).collect();
        let plan = self.plan(&todo, &latency, start);
        let mut series: Vec<Option<Series>> = vec![None; n];
        for (i, a) in self.measure_all(subjects, &todo, &plan, &mut errors, progress) {
            series[i] = Some(a);
        }

        let probe_ms = level_probe_points(&self.probe_points);
        let measured_series: Vec<&Series> = series.iter().flatten().collect();
        let Estimate {
            correction,
            stats,
            estimated,
        } = self.estimate(&measured_series);
        let (reference, session) = (correction.reference, correction.session);
        let results = (0..n)
            .map(|i| {
                if let Some(e) = errors[i].take() {
                    return Err(e);
                }
                let a = series[i]
                    .take()
                    .expect("every subject without error has a series");
                Ok(self.summarise(&a, warm[i], correction, stats))
            })
            .collect();
        SessionReport {
            results,
            probe_reference_ms: reference.filter(|_| !self.probe_points.is_empty()),
            probe_session_ms: session,
            probe_session_beta: Some(correction.session_beta).filter(|_| session.is_some()),
            probe_beta: Some(correction.beta).filter(|_| !self.probe_points.is_empty()),
            probe_beta_estimated: estimated.is_some(),
            probe_ms,
            placement_var: stats.placement_var,
            round_autocorrelation: stats.rho,
            budget_note: plan.note,
            elapsed: self.clock.now() - start,
        }
    }

    /// Slice sizes and deadline. Without a budget, `min_runs` and `min_time`
    /// are spread over `rounds` slices. With one, the minimum rounds of all
    /// models must fit what the warm-up left of it (estimated from the
    /// warm-up latencies, probe points included): where they do not, the
    /// slices shrink to fit (one timed run at least), and the note says so.
    fn plan(&mut self, todo: &[usize], latency_ms: &[f64], start: Duration) -> Plan {
        let cfg = self.config.clone();
        let mut plan = Plan {
            runs: cfg.min_runs.div_ceil(cfg.rounds).max(1) as usize,
            time: cfg.min_time / cfg.rounds,
            deadline: cfg.budget.map(|b| start + b),
            note: None,
        };
        let Some(deadline) = plan.deadline else {
            return plan;
        };
        if self.probe_points.is_empty() {
            // One point to know what the probe between slices costs.
            self.probe_point();
        }
        let left_ms = ms(deadline.saturating_sub(self.clock.now()));
        let probe_ms = self
            .probe_points
            .last()
            .map_or(0.0, |p| p.ms * f64::from(cfg.probe.reps + 1));
        let slice_ms = |runs: usize, time_ms: f64, lat: f64| {
            // The discarded first run, then runs until both minima are met.
            lat + (runs as f64 * lat).max(time_ms) + probe_ms
        };
        let needed: f64 = todo
            .iter()
            .map(|&i| slice_ms(plan.runs, ms(plan.time), latency_ms[i]))
            .sum::<f64>()
            * f64::from(cfg.rounds);
        if needed > left_ms {
            let scale = (left_ms / needed).max(0.0);
            plan.runs = ((plan.runs as f64 * scale).floor() as usize).max(1);
            plan.time = plan.time.mul_f64(scale);
            plan.note = Some(format!(
                "the budget leaves {:.1} s after warm-up, and {} rounds of {} models need about {:.1} s: slices shortened to {} run(s); rows that do not reach their target are flagged",
                left_ms / 1e3,
                cfg.rounds,
                todo.len(),
                needed / 1e3,
                plan.runs
            ));
        }
        plan
    }

    fn summarise(
        &self,
        a: &Series,
        (warmup_runs, warmup_ms): (u32, f64),
        correction: Correction,
        stats: SessionStats,
    ) -> Measurement {
        let reference = correction.reference;
        let samples_ms = a.raw();
        let corrected_ms = a.corrected(correction);
        let raw = Summary::of(&samples_ms).expect("a series has at least one sample");
        let corrected = Summary::of(&corrected_ms).expect("same length as raw");
        let round_medians_ms = a.round_medians(correction);
        let round_spread = a.spread(correction);
        let round_spread_raw = a.raw_spread();
        let ratios: Vec<f64> = a
            .slices
            .iter()
            .filter_map(|s| Some(s.probe_ms? / reference?))
            .collect();
        let probe_ratio = stats::median(&ratios).unwrap_or(1.0);
        let probe_drift = stats::relative_spread(&ratios);
        let instance_medians_ms = a.instance_medians(correction);
        let instance_spread = (a.instances > 1 && instance_medians_ms.len() > 1)
            .then(|| stats::relative_spread(&instance_medians_ms));
        let interval = a.interval(correction, stats);
        let unstable_reason = match interval {
            None => Some(format!(
                "{} round(s) give no interval (3 needed; stopped: {}); fix: raise {}",
                a.rounds,
                a.stop.name(),
                if a.stop == StopReason::Budget {
                    "--budget"
                } else {
                    "--max-time"
                }
            )),
            Some(i) if i.own() > self.config.max_ci => Some(format!(
                "its own 95% uncertainty ±{:.1}% is wider than --max-ci ±{:.1}%: interval {} (stopped: {})",
                i.own() * 100.0,
                self.config.max_ci * 100.0,
                i.describe(),
                a.stop.name()
            )),
            Some(_) => None,
        };
        Measurement {
            ci95_rel: stats::median_ci95_rel(&samples_ms),
            round_ci95_rel: a.round_ci(correction),
            interval,
            samples_ms,
            corrected_ms,
            raw,
            corrected,
            round_medians_ms,
            round_spread,
            round_spread_raw,
            probe_ratio,
            probe_drift,
            instances: a.instances as u32,
            instance_medians_ms,
            instance_spread,
            warmup_runs,
            warmup_ms,
            rounds: a.rounds,
            stop: a.stop,
            unstable: unstable_reason.is_some(),
            unstable_reason,
        }
    }

    /// The correction and the pooled terms of the interval from what the
    /// session has measured so far (slices with their probe estimates set).
    /// The stop rule, the re-check of converged models and the final
    /// figures all use this, so a model stops on the figures it is reported
    /// with, as far as the data then allowed.
    fn estimate(&self, series: &[&Series]) -> Estimate {
        let points = level_probe_points(&self.probe_points);
        let session = stats::median(&points);
        let reference = self.config.probe.reference_ms.or(session);
        let pairs: Vec<(f64, f64)> = series.iter().flat_map(|a| a.log_pairs()).collect();
        let fit = elasticity_fit(&pairs);
        let beta = fit.map_or(1.0, |(b, _)| b);
        let correction = Correction {
            reference,
            session,
            beta,
            session_beta: self.config.probe.session_elasticity.unwrap_or(beta),
        };
        let stats = session_stats(
            series,
            correction,
            self.config.session_error,
            shift_se(
                self.config.probe.reference_ms,
                session,
                fit,
                self.config.probe.session_elasticity.is_some(),
            ),
        );
        Estimate {
            correction,
            stats,
            estimated: fit.map(|(b, _)| b),
        }
    }

    /// Interleaved rounds over `subjects` until each one stops.
    fn measure_all(
        &mut self,
        states: &mut [Vec<Box<dyn ModelState>>],
        subjects: &[usize],
        plan: &Plan,
        errors: &mut [Option<ProfileError>],
        progress: &mut dyn FnMut(&Progress),
    ) -> Vec<(usize, Series)> {
        let cfg = self.config.clone();
        let max_time_ms = ms(cfg.max_time);
        let mut series: Vec<Series> = subjects
            .iter()
            .map(|&i| Series {
                slices: Vec::new(),
                rounds: 0,
                stop: StopReason::MaxTime,
                instances: states[i].len(),
            })
            .collect();
        let mut spent_ms = vec![0.0f64; subjects.len()];
        let mut stop: Vec<Option<StopReason>> = vec![None; subjects.len()];
        let mut failed = vec![false; subjects.len()];
        let mut round = 0u32;
        self.last_probe = None;
        let out_of_budget = |clock: &dyn Clock| plan.deadline.is_some_and(|d| clock.now() >= d);
        let mut rechecks = 0;
        'rounds: loop {
            let active: Vec<usize> = (0..subjects.len())
                .filter(|k| stop[*k].is_none() && !failed[*k])
                .collect();
            if active.is_empty() {
                // Models stopped on the estimate of their time; with every
                // model measured, the estimate may have moved. Converged
                // models whose interval is now wider than the target are
                // measured on while they have time (twice at most).
                if rechecks >= MAX_RECHECKS || out_of_budget(self.clock) {
                    break;
                }
                rechecks += 1;
                let points = level_probe_points(&self.probe_points);
                for a in &mut series {
                    a.smooth_probes(&points, cfg.probe.window);
                }
                let measured: Vec<&Series> = series.iter().filter(|a| a.rounds > 0).collect();
                let est = self.estimate(&measured);
                let again: Vec<usize> = (0..subjects.len())
                    .filter(|&k| {
                        stop[k] == Some(StopReason::Converged)
                            && !failed[k]
                            && spent_ms[k] < max_time_ms
                            && series[k]
                                .interval(est.correction, est.stats)
                                .is_some_and(|i| i.half_width > cfg.target_ci)
                    })
                    .collect();
                if again.is_empty() {
                    break;
                }
                for k in again {
                    stop[k] = None;
                }
                continue;
            }
            let round_start = self.clock.now();
            let rot = round as usize % active.len();
            for &k in active[rot..].iter().chain(&active[..rot]) {
                // Every model gets its first round: a row needs a sample.
                if round > 0 && out_of_budget(self.clock) {
                    for &k in &active {
                        stop[k] = Some(StopReason::Budget);
                        progress(&Progress::Stopped {
                            subject: subjects[k],
                            reason: StopReason::Budget,
                        });
                    }
                    break 'rounds;
                }
                let i = subjects[k];
                // The subject's own round: after a re-check it has sat out
                // rounds, and its cycles over the instances stay whole.
                let own = series[k].rounds;
                let instance = own as usize % states[i].len();
                let before = match self.last_probe {
                    Some(p) => Some(p),
                    None => self.probe_point(),
                };
                match self.slice(
                    states[i][instance].as_mut(),
                    plan.runs,
                    plan.time,
                    max_time_ms - spent_ms[k],
                ) {
                    Ok(samples) => {
                        spent_ms[k] += samples.iter().sum::<f64>();
                        let after = self.probe_point();
                        series[k].slices.push(Slice {
                            round: own,
                            instance,
                            samples,
                            probe_ms: None,
                            probe_ix: before.zip(after),
                        });
                        series[k].rounds += 1;
                    }
                    Err(e) => {
                        errors[i] = Some(e);
                        failed[k] = true;
                    }
                }
                progress(&Progress::SliceDone { subject: i, round });
            }
            round += 1;
            let round_wall_ms = ms(self.clock.now() - round_start);
            if round < cfg.rounds {
                continue;
            }
            let points = level_probe_points(&self.probe_points);
            for a in &mut series {
                a.smooth_probes(&points, cfg.probe.window);
            }
            let measured: Vec<&Series> = series.iter().filter(|a| a.rounds > 0).collect();
            let Estimate {
                correction: c,
                stats,
                ..
            } = self.estimate(&measured);
            // Rounds the session's budget still allows every active model.
            let budget_rounds = plan.deadline.map(|d| {
                let left = ms(d.saturating_sub(self.clock.now()));
                (left / round_wall_ms.max(1e-9)).floor()
            });
            for &k in &active {
                if failed[k] {
                    continue;
                }
                let a = &series[k];
                let reason = self.stop_rule(
                    a,
                    spent_ms[k],
                    c,
                    stats,
                    budget_rounds,
                    // Only whole cycles over the instances, so that each
                    // has as many rounds in the pooled median.
                    (a.rounds as usize).is_multiple_of(a.instances),
                );
                if let Some(reason) = reason {
                    stop[k] = Some(reason);
                    progress(&Progress::Stopped {
                        subject: subjects[k],
                        reason,
                    });
                }
            }
        }
        let points = level_probe_points(&self.probe_points);
        subjects
            .iter()
            .zip(series)
            .enumerate()
            .filter(|(k, _)| !failed[*k])
            .map(|(k, (&i, mut a))| {
                a.stop = stop[k].expect("loop ends when every subject stopped or failed");
                a.smooth_probes(&points, self.config.probe.window);
                (i, a)
            })
            .collect()
    }

    /// Whether a model stops after this round, and why (module doc, point 4).
    fn stop_rule(
        &self,
        a: &Series,
        spent_ms: f64,
        c: Correction,
        stats: SessionStats,
        budget_rounds: Option<f64>,
        whole_cycle: bool,
    ) -> Option<StopReason> {
        let cfg = &self.config;
        let max_time_ms = ms(cfg.max_time);
        if !whole_cycle {
            return (spent_ms >= max_time_ms).then_some(StopReason::MaxTime);
        }
        let runs: usize = a.slices.iter().map(|s| s.samples.len()).sum();
        let minima = runs >= cfg.min_runs as usize && spent_ms >= ms(cfg.min_time);
        let interval = a.interval(c, stats);
        if minima && interval.is_some_and(|i| i.own() <= cfg.target_ci) {
            return Some(StopReason::Converged);
        }
        if spent_ms >= max_time_ms {
            return Some(StopReason::MaxTime);
        }
        // A plateau is judged from twice the minimum rounds on: fewer
        // rounds estimate their own variance too poorly to give up on.
        let rounds = a.rounds as usize;
        let judged_from = (2 * cfg.rounds as usize).max(2 * a.instances);
        if !minima || rounds < judged_from {
            return None;
        }
        let var = interval::median_variance(&a.log_rounds(c), stats.rho)?;
        let per_round_ms = spent_ms / rounds as f64;
        let mut more = ((max_time_ms - spent_ms) / per_round_ms.max(1e-9)).floor();
        if let Some(b) = budget_rounds {
            more = more.min(b);
        }
        let reachable = interval::combine(
            var,
            rounds + more.max(0.0) as usize,
            stats.placement_var,
            a.instances,
            stats.session,
        );
        (reachable.own() > cfg.target_ci).then_some(StopReason::Plateau)
    }

    /// One slice: a discarded run, then runs until both the per-round count
    /// and time are met, or the model's remaining budget is spent.
    fn slice(
        &self,
        state: &mut dyn ModelState,
        min_runs: usize,
        min_time: Duration,
        budget_ms: f64,
    ) -> Result<Vec<f64>, ProfileError> {
        state.run()?;
        let start = self.clock.now();
        let mut samples = Vec::with_capacity(min_runs);
        let mut spent = 0.0;
        while samples.len() < MAX_RUNS_PER_SLICE {
            let t0 = self.clock.now();
            state.run()?;
            let t1 = self.clock.now();
            let s = ms(t1 - t0);
            samples.push(s);
            spent += s;
            if spent >= budget_ms {
                break;
            }
            if samples.len() >= min_runs && t1 - start >= min_time {
                break;
            }
        }
        Ok(samples)
    }
}
