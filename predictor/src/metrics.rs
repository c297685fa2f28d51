//! Accuracy metrics of predicted against measured latencies: the ones users
//! of nn-Meter, HAT and HELP asked for (relative, not only absolute, and
//! ranking).

use serde::{Deserialize, Serialize};

/// Metrics over a set of (measured, predicted) pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    /// Root mean squared error, ms.
    pub rmse_ms: f64,
    /// Mean absolute percentage error, as a fraction.
    pub mape: f64,
    /// Share of predictions within ±5% and ±10% of the measurement.
    pub within_5pct: f64,
    pub within_10pct: f64,
    /// Rank agreement (Kendall's τ-b and Spearman's ρ, ties averaged).
    pub kendall_tau: f64,
    pub spearman: f64,
    /// Share of measurements inside their predicted interval.
    #[serde(default)]
    pub interval_coverage: Option<f64>,
}

/// Metrics of `pred` against `truth` (same length, truth > 0).
pub fn metrics(truth: &[f64], pred: &[f64]) -> Metrics {
    let n = truth.len();
    if n == 0 {
        return Metrics::default();
    }
    let rel: Vec<f64> = truth.iter().zip(pred).map(|(t, p)| (p - t) / t).collect();
    let within = |lim: f64| rel.iter().filter(|r| r.abs() <= lim + 1e-12).count() as f64 / n as f64;
    Metrics {
        n,
        rmse_ms: (truth
            .iter()
            .zip(pred)
            .map(|(t, p)| (p - t) * (p - t))
            .sum::<f64>()
            / n as f64)
            .sqrt(),
        mape: rel.iter().map(|r| r.abs()).sum::<f64>() / n as f64,
        within_5pct: within(0.05),
        within_10pct: within(0.10),
        kendall_tau: kendall_tau(truth, pred),
        spearman: spearman(truth, pred),
        interval_coverage: None,
    }
}

/// Kendall's τ-b (ties in either variable handled), O(n²).
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..n {
        for j in i + 1..n {
            let da = (a[i] - a[j]).signum() * f64::from(a[i] != a[j]);
            let db = (b[i] - b[j]).signum() * f64::from(b[i] != b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if da == db {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    let denom = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (concordant - discordant) / denom
    }
}

/// Ranks 1..n with ties given their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].partial_cmp(&v[j]).unwrap_or(std::cmp::Ordering::Equal));
    let mut r = vec![0.0; v.len()];
    let mut k = 0;
    while k < idx.len() {
        let mut end = k;
        while end + 1 < idx.len() && v[idx[end + 1]] == v[idx[k]] {
            end += 1;
        }
        let avg = (k + end) as f64 / 2.0 + 1.0;
        for &i in &idx[k..=end] {
            r[i] = avg;
        }
        k = end + 1;
    }
    r
}

/// Spearman's ρ: Pearson's correlation of the ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb) * (y - mb)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_cases() {
        let t = [10.0, 20.0, 30.0, 40.0];
        let p = [10.4, 19.0, 33.5, 40.0];
        let m = metrics(&t, &p);
        // relative errors: 4%, -5%, 11.67%, 0%
        assert!((m.mape - (0.04 + 0.05 + 0.116_666_666 + 0.0) / 4.0).abs() < 1e-6);
        assert_eq!(m.within_5pct, 0.75);
        assert_eq!(m.within_10pct, 0.75);
        assert_eq!(m.kendall_tau, 1.0);
        assert!((m.spearman - 1.0).abs() < 1e-12);
        let rmse = ((0.16 + 1.0 + 12.25 + 0.0) / 4.0f64).sqrt();
        assert!((m.rmse_ms - rmse).abs() < 1e-12);
    }

    #[test]
    fn ranking_with_ties_and_reversals() {
        // One swapped pair out of 6: tau = (5 - 1) / 6.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 3.0, 2.0, 4.0];
        assert!((kendall_tau(&a, &b) - 4.0 / 6.0).abs() < 1e-12);
        // rho = 1 - 6 Σd² / (n(n²-1)) = 1 - 6·2/60 = 0.8
        assert!((spearman(&a, &b) - 0.8).abs() < 1e-12);
        assert_eq!(kendall_tau(&a, &[4.0, 3.0, 2.0, 1.0]), -1.0);
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }
}
