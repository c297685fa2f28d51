//! The uncertainty of a row's corrected median: how far the next invocation
//! of `frontier profile` on the same device may land from it.
//!
//! Three independent sources move a model's corrected median between two
//! invocations, and the interval adds them (on the log scale, where a slower
//! machine multiplies every figure):
//!
//! 1. **Drift within the session.** Each round measures one slice of the
//!    model, and rounds see different phases of the machine. The row reports
//!    a median, which a minority of slow rounds barely moves, so the term is
//!    the standard error of the median of the `R` round medians (each
//!    instance's level divided out) from a robust scale of the rounds:
//!    `1.2533 · σ / √R` with `σ` the larger of `1.4826 · MAD` and
//!    `IQR / 1.349` (the median's asymptotic error under normal scatter;
//!    [`round_scale`]; the sample standard deviation below five rounds,
//!    where both are too coarse). On a machine whose neighbours come
//!    and go, a few rounds land in a busy phase and run twice as long: the
//!    standard deviation then overstated the median's error tenfold
//!    (`docs/BENCHMARKS.md`, "Calibration of the interval"). Rounds close in
//!    time share a phase, which makes any such error too small, so it is
//!    inflated by `(1 + ρ) / (1 - ρ)`, `ρ` the lag-1 autocorrelation of the
//!    rounds pooled over the session's models ([`pooled_autocorrelation`])
//!    and clamped to `[0, 0.8]`. The 95% half-width uses Student's t with
//!    `R - 1` degrees of freedom: three rounds give a wide interval.
//! 2. **Placement.** Each prepared copy of a model keeps a speed of its own
//!    for the life of the process (where its weights landed), and the next
//!    invocation prepares new copies: the median over `K` copies carries
//!    about `σ_p² / K`. One model's three copies say little about `σ_p²`, so
//!    it is pooled over the session's models: per model, the variance of
//!    its copies' log medians in excess of what drift alone puts there
//!    (`(π/2) σ² K / R`), and the median of those excesses, clamped at 0
//!    ([`pooled_placement`]; a median, as a model measured through a busy
//!    phase has an excess that is drift, not placement). With one copy per
//!    model nothing is pooled and the term is 0 (`--instances 1` rows ignore
//!    placement; `docs/BENCHMARKS.md` measured copies up to 5% apart).
//! 3. **The session.** The machine's state over a whole invocation, which
//!    the probe's correction removes only in part and which cannot be seen
//!    from inside one invocation: a fixed relative 95% half-width,
//!    `session_error` (±3.3%), calibrated from test-retest pairs on the
//!    shared VM of `docs/BENCHMARKS.md` ("Calibration of the interval"). In
//!    quadrature with it, what is known to be uncertain about the correction
//!    itself: the session's shift from the device's stored probe reference
//!    is corrected by `(reference / session)^β` with `β` estimated within
//!    the session, so `1.96 · se(β) · |ln(reference / session)|` (the
//!    harness computes it; 0 when `--probe-session-beta` fixes `β`). On the
//!    VM, sessions whose probe ran 4-7% off the reference carried 2-3%
//!    common shifts that this term explains and a constant did not.
//!
//! `half_width = sqrt((t·se)² + (1.96·σ_p/√K)² + session²)`, reported as
//! a relative half-width of the corrected median. For a pair of rows of the
//! same model, `sqrt(h_a² + h_b²)` is the 95% half-width of their relative
//! difference; that is what the calibration benchmark checks.

use crate::stats::t95;

/// Pairs of neighbouring rounds, over all models, from which the session's
/// lag-1 autocorrelation is estimated (fewer give an estimate too noisy to
/// act on).
pub const AUTOCORRELATION_MIN_PAIRS: usize = 10;

/// Largest lag-1 autocorrelation applied: 0.8 already inflates the
/// variance ninefold.
const MAX_RHO: f64 = 0.8;

/// Rounds from which the scale is the MAD rather than the standard deviation.
pub const ROBUST_MIN_ROUNDS: usize = 5;

/// The 95% interval of a corrected median, as relative half-widths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The whole interval: the components added in quadrature.
    pub half_width: f64,
    /// Drift within the session (rounds).
    pub drift: f64,
    /// Placement (instances).
    pub placement: f64,
    /// Error common to the whole invocation.
    pub session: f64,
    /// Rounds the drift term is over.
    pub rounds: usize,
}

impl Interval {
    /// The row's own part: drift and placement, without the error common
    /// to the whole invocation. What time spent on the model can change,
    /// and what tells its row from the others of the session.
    pub fn own(&self) -> f64 {
        (self.drift * self.drift + self.placement * self.placement).sqrt()
    }

    /// A short account for messages: `±3.1% (drift ±2.5% over 9 rounds, placement ±1.0%, session ±1.5%)`.
    pub fn describe(&self) -> String {
        format!(
            "±{:.1}% (drift ±{:.1}% over {} rounds, placement ±{:.1}%, session ±{:.1}%)",
            self.half_width * 100.0,
            self.drift * 100.0,
            self.rounds,
            self.placement * 100.0,
            self.session * 100.0
        )
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

fn median(v: &[f64]) -> f64 {
    crate::stats::median(v).unwrap_or(0.0)
}

/// The rounds' scale: the larger of `1.4826 · MAD` and `IQR / 1.349` (each
/// the standard deviation of normal scatter; the MAD is unmoved by up to
/// half the rounds lying apart, which also hides a machine that flips
/// between two speeds in two rounds of five, while the interquartile range
/// sets aside a quarter at most and sees the flip), or the sample standard
/// deviation below [`ROBUST_MIN_ROUNDS`] rounds. `None` below two.
pub fn round_scale(log_rounds: &[f64]) -> Option<f64> {
    if log_rounds.len() < 2 || log_rounds.iter().any(|x| !x.is_finite()) {
        return None;
    }
    if log_rounds.len() < ROBUST_MIN_ROUNDS {
        return Some(variance(log_rounds).sqrt());
    }
    let m = median(log_rounds);
    let dev: Vec<f64> = log_rounds.iter().map(|x| (x - m).abs()).collect();
    let mut sorted = log_rounds.to_vec();
    sorted.sort_by(f64::total_cmp);
    let iqr = crate::stats::percentile_sorted(&sorted, 75.0)
        - crate::stats::percentile_sorted(&sorted, 25.0);
    Some((1.4826 * median(&dev)).max(iqr / 1.349))
}

/// Lag-1 autocorrelation of the rounds of every model of a session
/// (each series centred on its own mean), clamped to `[0, MAX_RHO]`; 0 with
/// fewer than [`AUTOCORRELATION_MIN_PAIRS`] neighbouring pairs in all.
pub fn pooled_autocorrelation(series: &[Vec<f64>]) -> f64 {
    let (mut num, mut den, mut pairs) = (0.0, 0.0, 0usize);
    for v in series.iter().filter(|v| v.len() >= 3) {
        let m = mean(v);
        den += v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
        num += v.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>();
        pairs += v.len() - 1;
    }
    if pairs < AUTOCORRELATION_MIN_PAIRS || den <= 0.0 || !num.is_finite() {
        return 0.0;
    }
    (num / den).clamp(0.0, MAX_RHO)
}

/// The drift term's variance per round: `(π/2) σ²` inflated by the
/// autocorrelation `rho`, so that dividing by `R` gives the variance of
/// the median of `R` rounds, and by more rounds, a projection. `None` below
/// three rounds.
pub fn median_variance(log_rounds: &[f64], rho: f64) -> Option<f64> {
    if log_rounds.len() < 3 {
        return None;
    }
    let s = round_scale(log_rounds)?;
    let rho = rho.clamp(0.0, MAX_RHO);
    Some(std::f64::consts::FRAC_PI_2 * s * s * (1.0 + rho) / (1.0 - rho))
}

/// One model's placement variance in excess of drift: the variance of its
/// copies' log medians minus what drift (per-round variance `round_var`
/// from [`median_variance`], over `rounds` rounds spread evenly over the
/// copies) puts there. May be negative (pool before clamping). `None` with
/// fewer than two copies.
pub fn placement_excess(
    instance_log_medians: &[f64],
    round_var: f64,
    rounds: usize,
) -> Option<f64> {
    let k = instance_log_medians.len();
    if k < 2 || rounds < k || instance_log_medians.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(variance(instance_log_medians) - round_var * k as f64 / rounds as f64)
}

/// The session's placement variance: the median of the models' excesses,
/// clamped at 0; 0 when no model had two copies.
pub fn pooled_placement(excesses: &[f64]) -> f64 {
    if excesses.is_empty() {
        0.0
    } else {
        median(excesses).max(0.0)
    }
}

/// The interval of a model measured over `rounds` rounds whose median has
/// per-round variance `round_var` (from [`median_variance`]), on `instances` copies,
/// with the session's pooled placement variance and session error.
pub fn combine(
    round_var: f64,
    rounds: usize,
    placement_var: f64,
    instances: usize,
    session: f64,
) -> Interval {
    let drift = t95(rounds.saturating_sub(1)) * (round_var / rounds.max(1) as f64).sqrt();
    let placement = 1.959964 * (placement_var / instances.max(1) as f64).sqrt();
    let half_width = (drift * drift + placement * placement + session * session).sqrt();
    Interval {
        half_width,
        drift,
        placement,
        session,
        rounds,
    }
}

/// The interval of `log_rounds` (see [`combine`]) with the session's
/// autocorrelation `rho`; `None` below three rounds.
pub fn interval(
    log_rounds: &[f64],
    rho: f64,
    placement_var: f64,
    instances: usize,
    session: f64,
) -> Option<Interval> {
    let v = median_variance(log_rounds, rho)?;
    Some(combine(
        v,
        log_rounds.len(),
        placement_var,
        instances,
        session,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b}");
    }

    #[test]
    fn interval_by_hand() {
        // Log rounds 0, 0.02, -0.02, 0.01, -0.01: median 0, |deviations|
        // 0, 0.02, 0.02, 0.01, 0.01 -> MAD 0.01, sigma 0.014826; five rounds,
        // t(4) = 2.776: drift = 2.776 * 1.2533 * 0.014826 / sqrt(5).
        let rounds = [0.0, 0.02, -0.02, 0.01, -0.01];
        let drift = 2.776 * (std::f64::consts::FRAC_PI_2).sqrt() * 0.014826 / 5f64.sqrt();
        let i = interval(&rounds, 0.0, 0.0, 3, 0.0).unwrap();
        close(i.drift, drift, 1e-9);
        close(i.half_width, i.drift, 1e-12);
        // Placement variance 3e-4 over 3 copies: 1.96 * 0.01 = 0.0196;
        // session 0.015; all three in quadrature.
        let i = interval(&rounds, 0.0, 3e-4, 3, 0.015).unwrap();
        close(i.placement, 0.0196, 1e-6);
        close(
            i.half_width,
            (drift.powi(2) + 0.0196f64.powi(2) + 0.015f64.powi(2)).sqrt(),
            1e-6,
        );
        assert_eq!(i.rounds, 5);
        // Autocorrelation 0.5 triples the variance: drift times sqrt(3).
        close(
            interval(&rounds, 0.5, 0.0, 1, 0.0).unwrap().drift,
            drift * 3f64.sqrt(),
            1e-9,
        );
        // The projection to more rounds divides the per-round variance.
        let v = median_variance(&rounds, 0.0).unwrap();
        close(combine(v, 5, 0.0, 1, 0.0).drift, drift, 1e-9);
        assert!(combine(v, 20, 0.0, 1, 0.0).drift < drift / 1.5);
    }

    #[test]
    fn fewer_than_three_rounds_have_no_interval() {
        assert!(interval(&[0.0, 0.1], 0.0, 0.0, 1, 0.01).is_none());
        assert!(interval(&[0.0, f64::NAN, 0.1], 0.0, 0.0, 1, 0.01).is_none());
        // Three or four: the standard deviation (a MAD of so few is coarse).
        close(round_scale(&[0.0, 0.01, 0.02]).unwrap(), 0.01, 1e-12);
    }

    #[test]
    fn two_speeds_in_the_rounds_are_not_set_aside() {
        // Five rounds, two of them 25% slow: the MAD of the three that
        // agree is 0, the interquartile range is the gap (0.22 / 1.349);
        // a repeat could well have three slow ones. One slow round in five
        // is set aside.
        let v = [0.0, 0.0, 0.0, 0.22, 0.22];
        close(round_scale(&v).unwrap(), 0.22 / 1.349, 1e-9);
        close(round_scale(&[0.0, 0.0, 0.0, 0.0, 0.22]).unwrap(), 0.0, 0.0);
        close(round_scale(&[0.1; 6]).unwrap(), 0.0, 0.0);
    }

    #[test]
    fn a_minority_of_slow_rounds_barely_moves_the_drift_term() {
        // 12 rounds, 2 of them 30% slow (a neighbour's busy phase): the
        // standard deviation is large, the robust scale is the fast rounds'.
        let mut v = vec![
            0.0, 0.004, -0.003, 0.002, -0.001, 0.003, -0.002, 0.001, 0.0, 0.002,
        ];
        v.extend([0.26, 0.27]);
        let sd = variance(&v).sqrt();
        let robust = round_scale(&v).unwrap();
        assert!(robust < sd / 10.0, "{robust} vs {sd}");
    }

    #[test]
    fn rounds_that_share_a_phase_widen_the_interval() {
        // Slow waves sampled 12 times by each of three models: neighbours
        // agree, so the rounds are far from independent; shuffled, not.
        let wave = |phase: f64| -> Vec<f64> {
            (0..12)
                .map(|i| 0.03 * (i as f64 / 4.0 + phase).sin())
                .collect()
        };
        let series = vec![wave(0.0), wave(1.0), wave(2.0)];
        let rho = pooled_autocorrelation(&series);
        assert!(rho > 0.5, "{rho}");
        let order = [0, 6, 3, 9, 1, 7, 4, 10, 2, 8, 5, 11];
        let shuffled: Vec<Vec<f64>> = series
            .iter()
            .map(|w| order.iter().map(|&i| w[i]).collect())
            .collect();
        assert!(pooled_autocorrelation(&shuffled) < 0.2);
        // Too few pairs: no estimate.
        assert_eq!(pooled_autocorrelation(&[wave(0.0)[..5].to_vec()]), 0.0);
    }

    #[test]
    fn placement_is_what_drift_does_not_explain() {
        // Three copies at 0, 0.02, 0.04 (variance 4e-4) over 9 rounds whose
        // per-round variance is 9e-4: drift puts 9e-4 * 3 / 9 = 3e-4 there,
        // so placement's excess is 1e-4.
        close(
            placement_excess(&[0.0, 0.02, 0.04], 9e-4, 9).unwrap(),
            1e-4,
            1e-12,
        );
        assert!(placement_excess(&[0.0], 1e-4, 9).is_none());
        // Pooled by the median: one model measured through a busy phase
        // does not set everyone's placement; clamped at 0.
        close(
            pooled_placement(&[1e-4, -3e-4, 5e-4, 2e-4, 0.05]),
            2e-4,
            1e-12,
        );
        close(pooled_placement(&[-1e-4]), 0.0, 0.0);
        close(pooled_placement(&[]), 0.0, 0.0);
    }
}
