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

/// Metrics expected on a *later* profiling invocation of the same device:
/// each relative residual `r` (pred/meas − 1, out of fold) meets a
/// measurement of that invocation scaled by `1 + e`, where `e` is the
/// invocation's error of scale with standard deviation `sigma` (after
/// aligning by reference subnets, what the references could not correct;
/// without, the invocation's whole offset). The ±5/±10% shares and MAPE are
/// their expectations over `e` (normal, integrated on a grid of ±4σ); Kendall
/// τ and Spearman ρ are those of `truth`/`pred`, since one factor shared by
/// an invocation leaves the order unchanged.
/// With `intervals`, `interval_coverage` is the expected share of later
/// measurements inside them.
pub fn later_invocation(
    truth: &[f64],
    pred: &[f64],
    intervals: Option<&[(f64, f64)]>,
    sigma: f64,
) -> Metrics {
    let mut m = metrics(truth, pred);
    let sigma = sigma.max(0.0);
    // Grid of e with normal weights (one point without an error of scale).
    const STEPS: usize = 81;
    let grid: Vec<(f64, f64)> = if sigma == 0.0 {
        vec![(0.0, 1.0)]
    } else {
        (0..STEPS)
            .map(|i| {
                let z = -4.0 + 8.0 * i as f64 / (STEPS - 1) as f64;
                (z * sigma, (-0.5 * z * z).exp())
            })
            .collect()
    };
    let total: f64 = grid.iter().map(|(_, w)| w).sum();
    let (mut w5, mut w10, mut mape, mut inside) = (0.0, 0.0, 0.0, 0.0);
    for (i, (t, p)) in truth.iter().zip(pred).enumerate() {
        for (e, w) in &grid {
            // The later measurement is t·(1 + e).
            let later = t * (1.0 + e);
            let r = p / later - 1.0;
            let w = w / total;
            w5 += w * f64::from(r.abs() <= 0.05 + 1e-12);
            w10 += w * f64::from(r.abs() <= 0.10 + 1e-12);
            mape += w * r.abs();
            if let Some(iv) = intervals {
                inside += w * f64::from(later >= iv[i].0 && later <= iv[i].1);
            }
        }
    }
    let n = truth.len().max(1) as f64;
    m.within_5pct = w5 / n;
    m.within_10pct = w10 / n;
    m.mape = mape / n;
    m.interval_coverage = intervals.map(|_| inside / n);
    m
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
    fn a_later_invocation_spreads_the_residuals() {
        // Every prediction 8% high: all within ±10% and none within ±5%
        // in-sample; on a later invocation with a 2% sd of scale, those
        // measured 1.8% faster fall past 10% (Φ(-0.91) = 18%) and those
        // measured 2.9% slower come within 5% (Φ(-1.43) = 7.6%).
        let t = vec![10.0; 100];
        let p = vec![10.8; 100];
        let same = later_invocation(&t, &p, None, 0.0);
        assert_eq!(same.within_10pct, 1.0);
        let later = later_invocation(&t, &p, Some(&vec![(9.0, 11.0); 100]), 0.02);
        assert!((later.within_10pct - 0.82).abs() < 0.03, "{later:?}");
        assert!((later.within_5pct - 0.076).abs() < 0.02, "{later:?}");
        assert!(later.mape > 0.079 && later.mape < 0.085, "{later:?}");
        assert_eq!(later.kendall_tau, same.kendall_tau);
        // 10·(1 + e) inside [9, 11] unless |e| > 10%: always, at 2% sd.
        assert!(later.interval_coverage.unwrap() > 0.999, "{later:?}");
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
