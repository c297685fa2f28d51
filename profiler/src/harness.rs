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
//! 4. **Stops** a model after at least `rounds` rounds once it has `min_runs`
//!    runs, `min_time` of measured time, a 95% confidence interval of its
//!    median within ±`target_ci`, and a 95% interval by batch means within
//!    ±`target_round_ci`; or when it has spent `max_time`. `max_time` wins
//!    over `min_runs` for very slow models. The first interval treats runs as
//!    independent, which a drifting machine makes them not: runs of one
//!    slice share its phase, so that interval shrinks with more runs while the
//!    phases it has seen stay few. The second takes each round's median as
//!    one observation ([`stats::batch_mean_ci95_rel`]; raw or drift-corrected,
//!    whichever is narrower, each instance's level divided out), so a model
//!    measured through a noisy phase gets more rounds, not more runs of the
//!    same rounds.
//! 5. **Re-measures** models whose round-to-round spread of medians exceeds
//!    `max_spread` both raw and drift-corrected (if either agrees, the row is
//!    stable: the rounds agree, or their disagreement is the machine's drift), up to `retries` times, keeping the attempt with the
//!    smallest spread. A model still above the threshold is flagged
//!    `unstable` with the reason; it is never silently mixed in.
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
//!    reported beside it. The probe's copies are treated the same way: each
//!    probe point runs the next copy and is divided by that copy's median
//!    level, so the reference is an average over the copies.
//!
//! Time is read only through [`Clock`], so all of this is tested with the
//! scripted machine of [`crate::fake`].

use std::time::Duration;

use crate::backend::{ModelState, NodeTime, OutputTensor};
use crate::clock::Clock;
use crate::probe::Probe;
use crate::stats::{self, Summary};
use crate::ProfileError;

/// How warm-up ends.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupConfig {
    pub min_runs: u32,
    pub min_time: Duration,
    /// Runs per stability window.
    pub window: u32,
    /// Relative difference of consecutive window medians that counts as stable.
    pub tolerance: f64,
    pub max_time: Duration,
}

impl Default for WarmupConfig {
    fn default() -> Self {
        WarmupConfig {
            min_runs: 5,
            min_time: Duration::from_millis(200),
            window: 5,
            tolerance: 0.05,
            max_time: Duration::from_secs(3),
        }
    }
}

/// The calibration probe's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    pub enabled: bool,
    /// Probe runs per measurement point; their median is the point's value.
    pub reps: u32,
    /// Reference probe duration of this device. `None`: the session median.
    pub reference_ms: Option<f64>,
    /// Probe points on each side of a slice's bracketing pair that its speed
    /// estimate also uses: larger is smoother but lags a sudden change.
    pub window: usize,
    /// The models' elasticity to the shift of this session's median probe
    /// from `reference_ms`. `None`: the within-session estimate (right for a
    /// probe that moves more than the models, as a synthetic one does).
    pub session_elasticity: Option<f64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            enabled: true,
            reps: 3,
            reference_ms: None,
            window: 1,
            session_elasticity: None,
        }
    }
}

/// All the knobs of one measurement session.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessConfig {
    pub warmup: WarmupConfig,
    pub min_runs: u32,
    pub min_time: Duration,
    pub max_time: Duration,
    /// Interleaved rounds before the stop rule is first evaluated.
    pub rounds: u32,
    /// Target relative half-width of the 95% CI of the median.
    pub target_ci: f64,
    /// Target relative half-width of the 95% CI by batch means (rounds).
    pub target_round_ci: f64,
    /// Round-to-round spread of corrected medians above which a row is re-measured.
    pub max_spread: f64,
    /// Re-measurements of a row whose spread is above `max_spread`.
    pub retries: u32,
    pub probe: ProbeConfig,
}

impl Default for HarnessConfig {
    fn default() -> Self {
        HarnessConfig {
            warmup: WarmupConfig::default(),
            min_runs: 10,
            min_time: Duration::from_secs(1),
            max_time: Duration::from_secs(10),
            rounds: 5,
            target_ci: 0.01,
            target_round_ci: 0.02,
            max_spread: 0.10,
            retries: 1,
            probe: ProbeConfig::default(),
        }
    }
}

impl HarnessConfig {
    /// Check the settings for contradictions; the error names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if self.min_runs == 0 {
            return Err("--min-runs must be at least 1".into());
        }
        if self.max_time < self.min_time {
            return Err(format!(
                "--max-time ({:?}) is shorter than --min-time ({:?}); fix: raise --max-time",
                self.max_time, self.min_time
            ));
        }
        if self.target_ci.is_nan() || self.target_ci <= 0.0 {
            return Err("--target-ci must be positive (e.g. 0.01 for ±1%)".into());
        }
        if self.target_round_ci.is_nan() || self.target_round_ci <= 0.0 {
            return Err("--target-round-ci must be positive (e.g. 0.02 for ±2%)".into());
        }
        if self.max_spread.is_nan() || self.max_spread <= 0.0 {
            return Err("--max-spread must be positive (e.g. 0.1 for 10%)".into());
        }
        if self.warmup.window == 0 {
            return Err("the warm-up window must be at least 1 run".into());
        }
        if self.probe.enabled && self.probe.reps == 0 {
            return Err("probe repetitions must be at least 1".into());
        }
        Ok(())
    }
}

/// Why a model's measurement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The CI of the median reached the target after the minima.
    Converged,
    /// `max_time` was spent before the CI reached the target.
    MaxTime,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Converged => "converged",
            StopReason::MaxTime => "max_time",
        }
    }
}

/// The result of measuring one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Raw samples of the kept attempt, in milliseconds, in measurement order.
    pub samples_ms: Vec<f64>,
    /// The same samples with the machine's drift divided out.
    pub corrected_ms: Vec<f64>,
    pub raw: Summary,
    pub corrected: Summary,
    /// Relative half-width of the 95% CI of the raw median; `None` below 6 samples.
    pub ci95_rel: Option<f64>,
    /// Relative half-width of the 95% CI by batch means over the rounds
    /// (see the module doc); `None` below 3 rounds.
    pub round_ci95_rel: Option<f64>,
    /// Corrected median of each round of the kept attempt.
    pub round_medians_ms: Vec<f64>,
    /// `(max - min) / median` of the rounds' medians, raw or corrected,
    /// whichever is smaller (the figure that decides `unstable`).
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
    /// Rounds of the kept attempt.
    pub rounds: u32,
    /// Attempts made (1 + re-measurements).
    pub attempts: u32,
    pub stop: StopReason,
    pub unstable: bool,
    /// Why the row is unstable.
    pub unstable_reason: Option<String>,
}

/// Events for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    WarmedUp {
        subject: usize,
    },
    SliceDone {
        subject: usize,
        round: u32,
        attempt: u32,
    },
    Remeasuring {
        subjects: Vec<usize>,
    },
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
    pub elapsed: Duration,
}

/// The measurement harness over a clock and an optional probe.
pub struct Harness<'a> {
    config: HarnessConfig,
    clock: &'a dyn Clock,
    probe: Option<&'a mut dyn Probe>,
    probe_points: Vec<ProbePoint>,
    /// Index of the latest probe point of the current attempt.
    last_probe: Option<usize>,
}

/// One probe measurement: which copy of the probe ran, and its median.
#[derive(Debug, Clone, Copy)]
struct ProbePoint {
    instance: usize,
    ms: f64,
}

/// Probe points with each copy's level divided out: point `j` of copy `i`
/// becomes `ms * mean_level / level_i`, with `level_i` the median of copy
/// `i`'s points. Raw values while some copy has fewer than two points.
fn level_probe_points(points: &[ProbePoint]) -> Vec<f64> {
    let copies = points.iter().map(|p| p.instance + 1).max().unwrap_or(0);
    let levels: Vec<Option<f64>> = (0..copies)
        .map(|i| {
            let v: Vec<f64> = points
                .iter()
                .filter(|p| p.instance == i)
                .map(|p| p.ms)
                .collect();
            if v.len() >= 2 {
                stats::median(&v)
            } else {
                None
            }
        })
        .collect();
    if copies <= 1 || levels.iter().any(|l| l.is_none_or(|l| l <= 0.0)) {
        return points.iter().map(|p| p.ms).collect();
    }
    let levels: Vec<f64> = levels.into_iter().flatten().collect();
    let mean = levels.iter().sum::<f64>() / levels.len() as f64;
    points
        .iter()
        .map(|p| p.ms * mean / levels[p.instance])
        .collect()
}

/// One slice: runs of one model within one round.
#[derive(Debug, Clone)]
struct Slice {
    round: u32,
    /// Which of the subject's instances ran this slice.
    instance: usize,
    samples: Vec<f64>,
    /// The slice's probe speed estimate, in ms; set once the attempt ends.
    probe_ms: Option<f64>,
    /// Indices of the probe points before and after the slice.
    probe_ix: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct Attempt {
    slices: Vec<Slice>,
    rounds: u32,
    stop: StopReason,
    instances: usize,
}

impl Attempt {
    fn raw(&self) -> Vec<f64> {
        self.slices
            .iter()
            .flat_map(|s| s.samples.iter().copied())
            .collect()
    }

    /// Samples of the slices `keep` selects, each times its slice's
    /// correction factor and `level` of the slice.
    fn scaled(
        &self,
        c: Correction,
        keep: impl Fn(&Slice) -> bool,
        level: impl Fn(&Slice) -> f64,
    ) -> Vec<f64> {
        self.slices
            .iter()
            .filter(|s| keep(s))
            .flat_map(|s| {
                let f = c.factor(s.probe_ms) * level(s);
                s.samples.iter().map(move |x| x * f)
            })
            .collect()
    }

    /// Samples brought to the reference speed (see [`Correction`]).
    fn corrected(&self, c: Correction) -> Vec<f64> {
        self.scaled(c, |_| true, |_| 1.0)
    }

    /// Median of each instance's samples brought to the reference speed.
    fn instance_medians(&self, c: Correction) -> Vec<f64> {
        (0..self.instances)
            .filter_map(|i| stats::median(&self.scaled(c, |s| s.instance == i, |_| 1.0)))
            .collect()
    }

    /// Per instance, the factor that brings its level to the mean level of
    /// all instances (1 for every instance when one has no samples).
    fn instance_levels(&self, c: Correction) -> Vec<f64> {
        let m = self.instance_medians(c);
        if m.len() != self.instances || m.iter().any(|x| *x <= 0.0) {
            return vec![1.0; self.instances];
        }
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        m.iter().map(|x| mean / x).collect()
    }

    /// Corrected median of each round, with each instance's level divided
    /// out, so that the rounds' spread measures drift over time only.
    fn round_medians(&self, c: Correction) -> Vec<f64> {
        let levels = self.instance_levels(c);
        (0..self.rounds)
            .filter_map(|r| {
                stats::median(&self.scaled(c, |s| s.round == r, |s| levels[s.instance]))
            })
            .collect()
    }

    fn raw_spread(&self) -> f64 {
        stats::relative_spread(&self.round_medians(Correction::NONE))
    }

    /// The batch-means interval of the rounds, raw or corrected, whichever is narrower.
    fn round_ci(&self, c: Correction) -> Option<f64> {
        let raw = stats::batch_mean_ci95_rel(&self.round_medians(Correction::NONE));
        let corrected = stats::batch_mean_ci95_rel(&self.round_medians(c));
        match (raw, corrected) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The spread that decides stability: the smaller of raw and corrected.
    /// Scale-free, so it does not depend on the reference.
    fn spread(&self, c: Correction) -> f64 {
        self.raw_spread()
            .min(stats::relative_spread(&self.round_medians(c)))
    }

    /// Centred (log probe, log slice median) pairs of this attempt's slices.
    fn log_pairs(&self) -> Vec<(f64, f64)> {
        let pts: Vec<(f64, f64)> = self
            .slices
            .iter()
            .filter_map(|s| Some((s.probe_ms?.ln(), stats::median(&s.samples)?.ln())))
            .collect();
        if pts.len() < 3 {
            return Vec::new();
        }
        let n = pts.len() as f64;
        let (mx, my) = pts
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
        pts.into_iter().map(|(x, y)| (x - mx, y - my)).collect()
    }

    /// Estimate each slice's speed from the probe points around it.
    fn smooth_probes(&mut self, points: &[f64], window: usize) {
        for s in &mut self.slices {
            s.probe_ms = s.probe_ix.and_then(|(b, a)| {
                let lo = b.saturating_sub(window);
                let hi = (a + window + 1).min(points.len());
                stats::median(points.get(lo..hi)?)
            });
        }
    }
}

/// How samples are brought to the reference speed: a slice measured while
/// the probe took `p` ms is multiplied by
/// `(reference / session)^session_beta * (session / p)^beta`, or by
/// `(reference / p)^beta` when the session's median probe is unknown.
///
/// `beta` is the models' elasticity to the probe: how many percent a model
/// slows down when the probe slows down by one percent. It is estimated per
/// session ([`elasticity`]) because no fixed probe slows down exactly like
/// every network: on the shared VM of `docs/BENCHMARKS.md` the probe moved
/// about twice as much as the models between invocations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correction {
    pub reference: Option<f64>,
    /// This session's median probe.
    pub session: Option<f64>,
    pub beta: f64,
    pub session_beta: f64,
}

impl Correction {
    pub const NONE: Correction = Correction {
        reference: None,
        session: None,
        beta: 0.0,
        session_beta: 0.0,
    };

    /// Full correction against a unit reference: for scale-free figures
    /// (spreads, relative intervals) while the elasticity is not known yet.
    fn provisional(beta: f64) -> Correction {
        Correction {
            reference: Some(1.0),
            session: None,
            beta,
            session_beta: beta,
        }
    }

    fn factor(self, probe_ms: Option<f64>) -> f64 {
        match (probe_ms, self.reference, self.session) {
            (Some(p), Some(r), Some(s)) if p > 0.0 && r > 0.0 && s > 0.0 => {
                (r / s).powf(self.session_beta) * (s / p).powf(self.beta)
            }
            (Some(p), Some(r), _) if p > 0.0 && r > 0.0 => (r / p).powf(self.beta),
            _ => 1.0,
        }
    }
}

/// Least-squares slope of log slice median on log probe, pooled over models
/// with one intercept each, clamped to [0, 1]. Noise in the probe biases it
/// towards 0, i.e. towards less correction. `None` (then 1 is used) when the
/// probe moved too little within the session to tell: RMS below 1%.
pub fn elasticity(pairs: &[(f64, f64)]) -> Option<f64> {
    let sxx: f64 = pairs.iter().map(|(x, _)| x * x).sum();
    let sxy: f64 = pairs.iter().map(|(x, y)| x * y).sum();
    if pairs.len() < 10 || sxx / (pairs.len() as f64) < 1e-4 {
        return None;
    }
    Some((sxy / sxx).clamp(0.0, 1.0))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

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
        for (i, instances) in subjects.iter_mut().enumerate() {
            match self.warm_instances(instances) {
                Ok(w) => warm[i] = w,
                Err(e) => errors[i] = Some(e),
            }
            progress(&Progress::WarmedUp { subject: i });
        }

        let mut best: Vec<Option<(Attempt, u32)>> = vec![None; n];
        let mut todo: Vec<usize> = (0..n).filter(|i| errors[*i].is_none()).collect();
        let max_tries = self.config.retries + 1;
        // Each pass measures `todo` once more; a subject is in it at most
        // `max_tries` times, so the loop ends.
        let mut pass = 0u32;
        while !todo.is_empty() {
            if pass > 0 {
                progress(&Progress::Remeasuring {
                    subjects: todo.clone(),
                });
            }
            let done = self.attempt(subjects, &todo, pass, &mut errors, progress);
            pass += 1;
            // Choose between attempts with the elasticity the session shows
            // so far (a unit reference: spreads are scale-free).
            let pairs: Vec<(f64, f64)> = best
                .iter()
                .flatten()
                .map(|(a, _)| a)
                .chain(done.iter().map(|(_, a)| a))
                .flat_map(|a| a.log_pairs())
                .collect();
            let provisional = Correction::provisional(elasticity(&pairs).unwrap_or(1.0));
            for (i, a) in done {
                let tries = best[i].as_ref().map_or(0, |(_, t)| *t) + 1;
                let keep = match &best[i] {
                    Some((b, _)) => a.spread(provisional) < b.spread(provisional),
                    None => true,
                };
                if keep {
                    best[i] = Some((a, tries));
                } else if let Some((_, t)) = &mut best[i] {
                    *t = tries;
                }
            }
            // Decide what to re-measure with exactly the elasticity the final
            // figures will use if nothing more is measured (that of the kept
            // attempts), over every row with tries left, not only those just
            // measured: the elasticity moves as rows are re-measured, and a
            // row must never be flagged `unstable` without its re-measurements.
            let kept: Vec<(f64, f64)> = best
                .iter()
                .flatten()
                .flat_map(|(a, _)| a.log_pairs())
                .collect();
            let judged = Correction::provisional(elasticity(&kept).unwrap_or(1.0));
            todo = (0..n)
                .filter(|&i| {
                    errors[i].is_none()
                        && best[i].as_ref().is_some_and(|(a, t)| {
                            *t < max_tries && a.spread(judged) > self.config.max_spread
                        })
                })
                .collect();
        }

        let probe_ms = level_probe_points(&self.probe_points);
        let session = stats::median(&probe_ms);
        let reference = self.config.probe.reference_ms.or(session);
        let pairs: Vec<(f64, f64)> = best
            .iter()
            .flatten()
            .flat_map(|(a, _)| a.log_pairs())
            .collect();
        let estimated = elasticity(&pairs);
        let beta = estimated.unwrap_or(1.0);
        let correction = Correction {
            reference,
            session,
            beta,
            session_beta: self.config.probe.session_elasticity.unwrap_or(beta),
        };
        let results = (0..n)
            .map(|i| {
                if let Some(e) = errors[i].take() {
                    return Err(e);
                }
                let (a, attempts) = best[i]
                    .take()
                    .expect("every subject without error has an attempt");
                Ok(self.summarise(&a, attempts, warm[i], correction))
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
            elapsed: self.clock.now() - start,
        }
    }

    fn summarise(
        &self,
        a: &Attempt,
        attempts: u32,
        (warmup_runs, warmup_ms): (u32, f64),
        correction: Correction,
    ) -> Measurement {
        let reference = correction.reference;
        let samples_ms = a.raw();
        let corrected_ms = a.corrected(correction);
        let raw = Summary::of(&samples_ms).expect("an attempt has at least one sample");
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
        let (unstable, unstable_reason) = if round_spread > self.config.max_spread {
            (
                true,
                Some(format!(
                    "round-to-round spread {:.1}% > {:.1}% after {} attempt(s)",
                    round_spread * 100.0,
                    self.config.max_spread * 100.0,
                    attempts
                )),
            )
        } else {
            (false, None)
        };
        Measurement {
            ci95_rel: stats::median_ci95_rel(&samples_ms),
            round_ci95_rel: a.round_ci(correction),
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
            attempts,
            stop: a.stop,
            unstable,
            unstable_reason,
        }
    }

    /// One attempt over `subjects`: interleaved rounds until each one stops.
    fn attempt(
        &mut self,
        states: &mut [Vec<Box<dyn ModelState>>],
        subjects: &[usize],
        attempt: u32,
        errors: &mut [Option<ProfileError>],
        progress: &mut dyn FnMut(&Progress),
    ) -> Vec<(usize, Attempt)> {
        let cfg = self.config.clone();
        let per_round_runs = cfg.min_runs.div_ceil(cfg.rounds).max(1) as usize;
        let per_round_time = cfg.min_time / cfg.rounds;
        let max_time_ms = ms(cfg.max_time);
        let mut slices: Vec<Vec<Slice>> = vec![Vec::new(); subjects.len()];
        let mut spent_ms = vec![0.0f64; subjects.len()];
        let mut stop: Vec<Option<StopReason>> = vec![None; subjects.len()];
        let mut failed = vec![false; subjects.len()];
        let mut round = 0u32;
        self.last_probe = None;
        loop {
            let active: Vec<usize> = (0..subjects.len())
                .filter(|k| stop[*k].is_none() && !failed[*k])
                .collect();
            if active.is_empty() {
                break;
            }
            let rot = round as usize % active.len();
            for &k in active[rot..].iter().chain(&active[..rot]) {
                let i = subjects[k];
                let instance = round as usize % states[i].len();
                let before = match self.last_probe {
                    Some(p) => Some(p),
                    None => self.probe_point(),
                };
                match self.slice(
                    states[i][instance].as_mut(),
                    per_round_runs,
                    per_round_time,
                    max_time_ms - spent_ms[k],
                ) {
                    Ok(samples) => {
                        spent_ms[k] += samples.iter().sum::<f64>();
                        let after = self.probe_point();
                        slices[k].push(Slice {
                            round,
                            instance,
                            samples,
                            probe_ms: None,
                            probe_ix: before.zip(after),
                        });
                    }
                    Err(e) => {
                        errors[i] = Some(e);
                        failed[k] = true;
                    }
                }
                progress(&Progress::SliceDone {
                    subject: i,
                    round,
                    attempt,
                });
            }
            round += 1;
            if round >= cfg.rounds {
                let points = level_probe_points(&self.probe_points);
                for &k in &active {
                    // Only whole cycles over the instances, so that each
                    // has as many rounds in the pooled median.
                    if failed[k] || !(round as usize).is_multiple_of(states[subjects[k]].len()) {
                        if !failed[k] && spent_ms[k] >= max_time_ms {
                            stop[k] = Some(StopReason::MaxTime);
                        }
                        continue;
                    }
                    let raw: Vec<f64> = slices[k]
                        .iter()
                        .flat_map(|s| s.samples.iter().copied())
                        .collect();
                    let ci = stats::median_ci95_rel(&raw);
                    if raw.len() >= cfg.min_runs as usize
                        && spent_ms[k] >= ms(cfg.min_time)
                        && ci.is_some_and(|c| c <= cfg.target_ci)
                        && self
                            .rounds_so_far(&slices[k], states[subjects[k]].len(), &points)
                            .is_some_and(|c| c <= cfg.target_round_ci)
                    {
                        stop[k] = Some(StopReason::Converged);
                    } else if spent_ms[k] >= max_time_ms {
                        stop[k] = Some(StopReason::MaxTime);
                    }
                }
            }
        }
        subjects
            .iter()
            .enumerate()
            .filter(|(k, _)| !failed[*k])
            .map(|(k, &i)| {
                let slices = std::mem::take(&mut slices[k]);
                let mut a = Attempt {
                    // One slice per round the subject took part in.
                    rounds: slices.len() as u32,
                    slices,
                    stop: stop[k].expect("loop ends when every subject stopped or failed"),
                    instances: states[i].len(),
                };
                a.smooth_probes(
                    &level_probe_points(&self.probe_points),
                    self.config.probe.window,
                );
                (i, a)
            })
            .collect()
    }

    /// The batch-means interval of a subject's slices so far, with the
    /// leveled probe points so far (raw, or fully corrected: the elasticity
    /// is estimated only when the attempt ends).
    fn rounds_so_far(&self, slices: &[Slice], instances: usize, points: &[f64]) -> Option<f64> {
        let mut a = Attempt {
            slices: slices.to_vec(),
            rounds: slices.len() as u32,
            stop: StopReason::Converged,
            instances,
        };
        a.smooth_probes(points, self.config.probe.window);
        a.round_ci(Correction::provisional(1.0))
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

/// A state that does nothing: the harness overhead is the time to "run" it.
struct NoopState;

impl ModelState for NoopState {
    #[inline(never)]
    fn run(&mut self) -> Result<(), ProfileError> {
        std::hint::black_box(());
        Ok(())
    }

    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        Ok(Vec::new())
    }
}

/// The cost the harness adds to each timed run: two clock reads, a dynamic
/// call and the sample's bookkeeping, measured on an empty state exactly as
/// models are measured. Returns the median per-run cost in nanoseconds.
pub fn calibrate_overhead(clock: &dyn Clock, runs: usize) -> f64 {
    let mut state: Box<dyn ModelState> = Box::new(NoopState);
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t0 = clock.now();
        let _ = std::hint::black_box(state.as_mut()).run();
        let t1 = clock.now();
        samples.push((t1 - t0).as_secs_f64() * 1e9);
    }
    stats::median(&samples).unwrap_or(0.0)
}

/// One operator's time in a per-operator profile.
#[derive(Debug, Clone, PartialEq)]
pub struct OpStat {
    pub node_id: usize,
    pub name: String,
    pub op_type: String,
    pub runs: usize,
    pub median_ms: f64,
    pub mean_ms: f64,
    /// This node's median over the sum of all nodes' medians.
    pub share: f64,
}

/// Profile a state per operator over `runs` runs. `None` when the backend has no
/// per-operator profile. Nodes are returned in descending order of median time.
///
/// Per-node timing adds dispatch overhead, so its sum exceeds the whole-graph
/// latency: use it for shares, and whole-graph rows for latency.
pub fn profile_ops(
    state: &mut dyn ModelState,
    runs: usize,
) -> Option<Result<Vec<OpStat>, ProfileError>> {
    let mut per_node: Vec<(NodeTime, Vec<f64>)> = Vec::new();
    let all = match state.run_per_op(runs.max(1))? {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    for times in all {
        for t in times {
            match per_node.iter_mut().find(|(n, _)| n.node_id == t.node_id) {
                Some((_, v)) => v.push(t.seconds * 1e3),
                None => {
                    let s = t.seconds * 1e3;
                    per_node.push((t, vec![s]));
                }
            }
        }
    }
    let medians: Vec<f64> = per_node
        .iter()
        .map(|(_, v)| stats::median(v).unwrap_or(0.0))
        .collect();
    let total: f64 = medians.iter().sum();
    let mut out: Vec<OpStat> = per_node
        .into_iter()
        .zip(medians)
        .map(|((n, v), median_ms)| OpStat {
            node_id: n.node_id,
            name: n.name,
            op_type: n.op_type,
            runs: v.len(),
            mean_ms: v.iter().sum::<f64>() / v.len() as f64,
            median_ms,
            share: if total > 0.0 { median_ms / total } else { 0.0 },
        })
        .collect();
    out.sort_by(|a, b| {
        b.median_ms
            .total_cmp(&a.median_ms)
            .then(a.node_id.cmp(&b.node_id))
    });
    Some(Ok(out))
}
