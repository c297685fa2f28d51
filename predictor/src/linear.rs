//! Weighted ridge regression with non-negative coefficients, fitted for
//! relative error, and a bagged ensemble of it.
//!
//! Why this and not a tree ensemble or an MLP: the features
//! (`features.rs`) are costs that add up, so latency is close to linear in
//! them with non-negative weights, and a linear model extrapolates to
//! architectures larger or smaller than any it was trained on, where trees
//! are flat and an MLP on 30-100 rows is unconstrained. It trains in
//! microseconds, predicts with one dot product, and cross-compiles with no
//! dependency. Bagging (bootstrap resamples) gives the spread of the
//! coefficients, which the predictor turns into an interval.
//!
//! Each row is weighted by `w / y²`, so that least squares minimizes the
//! squared *relative* error (what ±10% accuracy measures); non-negativity
//! is enforced by projected coordinate descent.

use serde::{Deserialize, Serialize};

/// A fitted linear model: `intercept + Σ coef[i] · x[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub intercept: f64,
    pub coef: Vec<f64>,
}

impl Linear {
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }
}

/// Fit `y ≈ b + Σ c_i x_i` with `c_i ≥ 0` (and `b ≥ 0`), minimizing
/// `Σ w_j (y_j - ŷ_j)² / y_j² + λ Σ (c_i s_i)²` where `s_i` is the feature's
/// scale. Coordinate descent to convergence (at most `max_iter` sweeps).
pub fn fit_nonneg_ridge(x: &[Vec<f64>], y: &[f64], w: &[f64], lambda: f64) -> Linear {
    fit_toward(x, y, w, lambda, None)
}

/// [`fit_nonneg_ridge`] with the penalty pulling each coefficient toward
/// `prior`'s instead of toward zero (`λ Σ ((c_i - p_i) s_i)²`): a model of
/// another device, rescaled, that a few rows of this one adjust
/// coefficient by coefficient. The intercept is not penalized.
pub fn fit_toward(
    x: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    lambda: f64,
    prior: Option<&Linear>,
) -> Linear {
    let n = y.len();
    let p = x.first().map(|r| r.len()).unwrap_or(0);
    // Columns: intercept first, then the features.
    let col = |j: usize, i: usize| if i == 0 { 1.0 } else { x[j][i - 1] };
    let weights: Vec<f64> = (0..n).map(|j| w[j] / (y[j] * y[j]).max(1e-12)).collect();
    let mut sq = vec![0.0; p + 1];
    for (i, s) in sq.iter_mut().enumerate() {
        *s = (0..n).map(|j| weights[j] * col(j, i) * col(j, i)).sum();
    }
    let scale_penalty: Vec<f64> = sq.iter().map(|s| lambda * s / n.max(1) as f64).collect();
    let mut beta = vec![0.0; p + 1];
    let mut resid: Vec<f64> = y.to_vec();
    for _sweep in 0..2000 {
        let mut change = 0.0f64;
        for i in 0..=p {
            if sq[i] <= 0.0 {
                continue;
            }
            // Partial fit of coordinate i against the residual with it added back.
            let rho: f64 = (0..n)
                .map(|j| weights[j] * col(j, i) * (resid[j] + beta[i] * col(j, i)))
                .sum();
            let penalty = if i == 0 { 0.0 } else { scale_penalty[i] };
            let target = match (i, prior) {
                (0, _) | (_, None) => 0.0,
                (_, Some(p)) => p.coef.get(i - 1).copied().unwrap_or(0.0),
            };
            let new = ((rho + penalty * target) / (sq[i] + penalty)).max(0.0);
            let delta = new - beta[i];
            if delta != 0.0 {
                for (j, r) in resid.iter_mut().enumerate() {
                    *r -= delta * col(j, i);
                }
                change = change.max((delta.abs() * sq[i].sqrt()).abs());
                beta[i] = new;
            }
        }
        if change < 1e-10 {
            break;
        }
    }
    Linear {
        intercept: beta[0],
        coef: beta[1..].to_vec(),
    }
}

/// A bagged ensemble: members fitted on bootstrap resamples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bagged {
    pub members: Vec<Linear>,
}

/// Deterministic resampling: the spaces' SplitMix64.
pub use frontier_spaces::rng::SplitMix64 as Rng;

/// A uniform index below `n`.
pub fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

impl Bagged {
    /// `members` fits by `fit`: the first on every row, the others on
    /// bootstrap resamples (seeded).
    fn bag(
        x: &[Vec<f64>],
        y: &[f64],
        w: &[f64],
        members: usize,
        seed: u64,
        fit: impl Fn(&[Vec<f64>], &[f64], &[f64]) -> Linear,
    ) -> Bagged {
        let n = y.len();
        let mut rng = Rng::new(seed);
        let members = (0..members)
            .map(|m| {
                if m == 0 {
                    return fit(x, y, w);
                }
                let idx: Vec<usize> = (0..n).map(|_| below(&mut rng, n)).collect();
                let bx: Vec<Vec<f64>> = idx.iter().map(|j| x[*j].clone()).collect();
                let by: Vec<f64> = idx.iter().map(|j| y[*j]).collect();
                let bw: Vec<f64> = idx.iter().map(|j| w[*j]).collect();
                fit(&bx, &by, &bw)
            })
            .collect();
        Bagged { members }
    }

    pub fn fit(
        x: &[Vec<f64>],
        y: &[f64],
        w: &[f64],
        lambda: f64,
        members: usize,
        seed: u64,
    ) -> Bagged {
        Bagged::bag(x, y, w, members, seed, |x, y, w| {
            fit_nonneg_ridge(x, y, w, lambda)
        })
    }

    /// Members fitted toward `prior` (see [`fit_toward`]).
    pub fn fit_toward(
        x: &[Vec<f64>],
        y: &[f64],
        w: &[f64],
        lambda: f64,
        prior: &Linear,
        members: usize,
        seed: u64,
    ) -> Bagged {
        Bagged::bag(x, y, w, members, seed, |x, y, w| {
            fit_toward(x, y, w, lambda, Some(prior))
        })
    }

    /// Each member's prediction.
    pub fn predict_all(&self, x: &[f64]) -> Vec<f64> {
        self.members.iter().map(|m| m.predict(x)).collect()
    }

    /// The full-data member's prediction (the point estimate).
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.members[0].predict(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_additive_costs() {
        // y = 2 + 3 a + 0.5 b, exactly.
        let x: Vec<Vec<f64>> = (0..40)
            .map(|i| {
                vec![
                    (i % 7) as f64 + 1.0,
                    (i * 3 % 11) as f64 + 2.0,
                    (i % 5) as f64,
                ]
            })
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 + 3.0 * r[0] + 0.5 * r[1]).collect();
        let w = vec![1.0; x.len()];
        let m = fit_nonneg_ridge(&x, &y, &w, 0.0);
        assert!((m.intercept - 2.0).abs() < 1e-6, "{m:?}");
        assert!(
            (m.coef[0] - 3.0).abs() < 1e-6 && (m.coef[1] - 0.5).abs() < 1e-6,
            "{m:?}"
        );
        assert!(m.coef[2].abs() < 1e-6);
    }

    #[test]
    fn coefficients_stay_non_negative() {
        // y decreases with the feature: the best non-negative fit is flat.
        let x: Vec<Vec<f64>> = (1..20).map(|i| vec![i as f64]).collect();
        let y: Vec<f64> = (1..20).map(|i| 100.0 - i as f64).collect();
        let m = fit_nonneg_ridge(&x, &y, &[1.0; 19], 0.0);
        assert_eq!(m.coef[0], 0.0);
        assert!(m.intercept > 80.0 && m.intercept < 100.0);
    }

    #[test]
    fn bagging_is_deterministic_and_spreads() {
        let x: Vec<Vec<f64>> = (0..30).map(|i| vec![i as f64 + 1.0]).collect();
        let y: Vec<f64> = (0..30)
            .map(|i| (i as f64 + 1.0) * 2.0 * if i % 3 == 0 { 1.1 } else { 0.95 })
            .collect();
        let w = vec![1.0; 30];
        let a = Bagged::fit(&x, &y, &w, 1e-3, 16, 7);
        let b = Bagged::fit(&x, &y, &w, 1e-3, 16, 7);
        assert_eq!(a, b);
        let p = a.predict_all(&[10.0]);
        let (lo, hi) = p
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        assert!(hi > lo);
    }
}
