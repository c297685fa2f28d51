//! The correction maths: probe points levelled by their copy, the
//! session's probe statistics, the models' elasticity to the probe and the
//! factor that brings a slice to the reference speed. Pure functions of
//! numbers; the procedure that gathers them is in the parent module.

#[allow(unused_imports)]
use super::*;

/// One probe measurement: which copy of the probe ran, and its median.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProbePoint {
    pub(super) instance: usize,
    pub(super) ms: f64,
}

/// Probe points with each copy's level divided out: point `j` of copy `i`
/// becomes `ms * mean_level / level_i`, with `level_i` the median of copy
/// `i`'s points. Raw values while some copy has fewer than two points.
pub(super) fn level_probe_points(points: &[ProbePoint]) -> Vec<f64> {
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

/// What the interval pools over a session's models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SessionStats {
    /// Lag-1 autocorrelation of the rounds.
    pub(super) rho: f64,
    /// Placement variance (log scale).
    pub(super) placement_var: f64,
    /// The session term's 95% half-width: the configured session error and
    /// the uncertainty of the correction of this session's shift from the
    /// reference (`1.96 · se(β) · |ln(reference / session)|`), in quadrature.
    pub(super) session: f64,
}

/// [`SessionStats`] of `subjects` (those with rounds), see
/// [`interval::pooled_autocorrelation`] and [`interval::pooled_placement`].
/// `shift_se`: the standard error (log scale) of the correction of the
/// session's shift from the reference.
pub(super) fn session_stats(
    subjects: &[&Series],
    c: Correction,
    session_error: f64,
    shift_se: f64,
) -> SessionStats {
    let logs: Vec<Vec<f64>> = subjects.iter().map(|a| a.log_rounds(c)).collect();
    let rho = interval::pooled_autocorrelation(&logs);
    let excesses: Vec<f64> = subjects
        .iter()
        .filter_map(|a| a.placement_excess(c, rho))
        .collect();
    SessionStats {
        rho,
        placement_var: interval::pooled_placement(&excesses),
        session: (session_error.powi(2) + (1.959964 * shift_se).powi(2)).sqrt(),
    }
}

/// The standard error of the session-shift correction
/// `(reference / session)^beta_s`: `se(beta_s) · |ln(reference / session)|`;
/// 0 when the elasticity is fixed (`--probe-session-beta`) or there is no
/// reference to shift from.
pub(super) fn shift_se(
    reference: Option<f64>,
    session: Option<f64>,
    fit: Option<(f64, f64)>,
    fixed: bool,
) -> f64 {
    match (reference, session) {
        (Some(r), Some(s)) if !fixed && r > 0.0 && s > 0.0 => {
            fit.map_or(UNKNOWN_ELASTICITY_SE, |(_, se)| se) * (r / s).ln().abs()
        }
        _ => 0.0,
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

    pub(super) fn factor(self, probe_ms: Option<f64>) -> f64 {
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
    elasticity_fit(pairs).map(|(beta, _)| beta)
}

/// [`elasticity`] and the standard error of the slope (residual variance
/// over `n - 1` degrees of freedom, divided by the probe's sum of squares).
pub fn elasticity_fit(pairs: &[(f64, f64)]) -> Option<(f64, f64)> {
    let sxx: f64 = pairs.iter().map(|(x, _)| x * x).sum();
    let sxy: f64 = pairs.iter().map(|(x, y)| x * y).sum();
    if pairs.len() < 10 || sxx / (pairs.len() as f64) < 1e-4 {
        return None;
    }
    let slope = sxy / sxx;
    let rss: f64 = pairs.iter().map(|(x, y)| (y - slope * x).powi(2)).sum();
    let se = (rss / (pairs.len() - 1) as f64 / sxx).sqrt();
    Some((slope.clamp(0.0, 1.0), se))
}

/// The elasticity's standard error assumed when the probe moved too little
/// within a session to estimate it (1 is then applied): the standard
/// deviation of a slope anywhere in [0, 1].
pub const UNKNOWN_ELASTICITY_SE: f64 = 0.29;
