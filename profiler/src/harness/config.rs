//! The harness's settings: warm-up, the probe, the stop rule and the
//! flag thresholds, with their defaults and the checks that name the flag.

use std::time::Duration;

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

/// Default target of a row's own uncertainty (drift and placement): ±2%.
pub const DEFAULT_TARGET_CI: f64 = 0.02;
/// Default flag threshold on a row's own uncertainty: ±3.5%.
pub const DEFAULT_MAX_CI: f64 = 0.035;
/// Default session error (95% half-width), calibrated by the test-retest
/// pairs of `docs/BENCHMARKS.md` ("Calibration of the interval").
pub const DEFAULT_SESSION_ERROR: f64 = 0.033;

/// All the knobs of one measurement session.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessConfig {
    pub warmup: WarmupConfig,
    pub min_runs: u32,
    pub min_time: Duration,
    pub max_time: Duration,
    /// Interleaved rounds before the stop rule is first evaluated.
    pub rounds: u32,
    /// Stop a model once its own uncertainty (the interval's drift and
    /// placement terms, [`Interval::own`]) is within this.
    pub target_ci: f64,
    /// Flag a row `unstable` when its own uncertainty is wider than this.
    pub max_ci: f64,
    /// Relative 95% half-width of the error common to a whole invocation
    /// (see [`crate::interval`]).
    pub session_error: f64,
    /// Wall time for warm-up and measurement of all models together.
    pub budget: Option<Duration>,
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
            target_ci: DEFAULT_TARGET_CI,
            max_ci: DEFAULT_MAX_CI,
            session_error: DEFAULT_SESSION_ERROR,
            budget: None,
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
            return Err("--target-ci must be positive (e.g. 0.02 for ±2%)".into());
        }
        if self.max_ci.is_nan() || self.max_ci < self.target_ci {
            return Err(format!(
                "--max-ci ({}) is below --target-ci ({}): every row that stops short of its target would be flagged; fix: raise --max-ci",
                self.max_ci, self.target_ci
            ));
        }
        if self.session_error.is_nan() || self.session_error < 0.0 {
            return Err(format!(
                "--session-error ({}) must be at least 0 (e.g. 0.033 for ±3.3%)",
                self.session_error
            ));
        }
        if self.budget.is_some_and(|b| b.is_zero()) {
            return Err("--budget must be longer than 0".into());
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
