//! Descriptive statistics of latency samples.
//!
//! Everything here is pure computation over `f64` samples (milliseconds by
//! convention, but the functions are unit-free).
//!
//! Definitions and references:
//! - Percentiles use linear interpolation between closest ranks (Hyndman & Fan
//!   1996, definition 7; the default of NumPy and R), so `p50 == median`.
//! - `std` is the sample standard deviation (Bessel's correction, `n - 1`);
//!   `cv = std / mean`.
//! - `mad` is the raw median absolute deviation `median(|x - median(x)|)`,
//!   not scaled by 1.4826.
//! - Outliers use the modified z-score of Iglewicz & Hoaglin (1993),
//!   `M = 0.6745 (x - median) / MAD`, with `|M| > 3.5` an outlier. When the MAD
//!   is zero (more than half of the samples identical) the score falls back to
//!   the mean absolute deviation, `M = (x - median) / (1.253314 * MeanAD)`
//!   (IBM SPSS's convention); when that is zero as well no sample is an outlier.
//! - The confidence interval of the median is distribution-free: the order
//!   statistics at ranks `n/2 -/+ z*sqrt(n)/2` (normal approximation to the
//!   binomial; Conover 1999, "Practical Nonparametric Statistics", §3.2).
//! - Samples of a drifting machine are autocorrelated, so an interval computed
//!   as if they were independent is too narrow. [`batch_mean_ci95_rel`] is the
//!   method of batch means (Law & Kelton, "Simulation Modeling and Analysis",
//!   5th ed., §9.5.3): the per-round medians are the batches, taken as
//!   independent, and the interval is Student's t on their mean. Quantiles of
//!   t are tabulated to 30 degrees of freedom and beyond use the Cornish-Fisher
//!   term `z + (z^3 + z) / (4 df)` (within 0.2% of the exact value there).
//!
//! Degenerate cases: an empty slice has no summary (`None`); one sample has
//! `std`, `cv` and the confidence interval undefined (`None`) and a MAD of 0;
//! a zero mean gives an undefined `cv`.

/// The summary of one set of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation; `None` for fewer than two samples.
    pub std: Option<f64>,
    pub mad: f64,
    /// Coefficient of variation `std / mean`; `None` when `std` is undefined or the mean is 0.
    pub cv: Option<f64>,
    /// Samples whose modified z-score exceeds [`OUTLIER_Z`].
    pub outliers: usize,
}

/// Threshold on the modified z-score above which a sample is an outlier.
pub const OUTLIER_Z: f64 = 3.5;

impl Summary {
    /// Summarise `samples`. Returns `None` for an empty slice. NaN samples are a
    /// caller bug (timings are never NaN) and are ordered last.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let sorted = sorted(samples);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let median = percentile_sorted(&sorted, 50.0);
        let std = if n > 1 {
            let var = sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            Some(var.sqrt())
        } else {
            None
        };
        let cv = std.and_then(|s| if mean != 0.0 { Some(s / mean) } else { None });
        Some(Summary {
            n,
            mean,
            median,
            p10: percentile_sorted(&sorted, 10.0),
            p90: percentile_sorted(&sorted, 90.0),
            p95: percentile_sorted(&sorted, 95.0),
            p99: percentile_sorted(&sorted, 99.0),
            min: sorted[0],
            max: sorted[n - 1],
            std,
            mad: mad_sorted(&sorted, median),
            cv,
            outliers: outliers(&sorted, median),
        })
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Percentile `p` (0..=100) of already sorted samples, Hyndman & Fan definition 7.
/// Panics on an empty slice (callers check).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let p = p.clamp(0.0, 100.0);
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median of unsorted samples; `None` when empty.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        None
    } else {
        Some(percentile_sorted(&sorted(samples), 50.0))
    }
}

fn mad_sorted(sorted: &[f64], median: f64) -> f64 {
    let dev: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
    percentile_sorted(&self::sorted(&dev), 50.0)
}

fn outliers(sorted: &[f64], median: f64) -> usize {
    let mad = mad_sorted(sorted, median);
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        let mean_ad = sorted.iter().map(|x| (x - median).abs()).sum::<f64>() / sorted.len() as f64;
        1.253314 * mean_ad
    };
    if scale <= 0.0 {
        return 0;
    }
    sorted
        .iter()
        .filter(|x| ((*x - median) / scale).abs() > OUTLIER_Z)
        .count()
}

/// Distribution-free 95% confidence interval of the median, as `(low, high)`.
///
/// `None` for fewer than 6 samples, where the interval would span the whole
/// sample (with 5 samples the extreme order statistics only cover 94%).
pub fn median_ci95(samples: &[f64]) -> Option<(f64, f64)> {
    let n = samples.len();
    if n < 6 {
        return None;
    }
    let s = sorted(samples);
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let mid = n as f64 / 2.0;
    // 1-based ranks, rounded outwards so the coverage is at least 95%.
    let lo = ((mid - half).floor() as isize).max(1) as usize;
    let hi = ((mid + half).ceil() as usize + 1).min(n);
    Some((s[lo - 1], s[hi - 1]))
}

/// Half-width of [`median_ci95`] relative to the median: `(high - low) / 2 / median`.
/// `None` when the interval is undefined or the median is not positive.
pub fn median_ci95_rel(samples: &[f64]) -> Option<f64> {
    let (lo, hi) = median_ci95(samples)?;
    let m = median(samples)?;
    if m > 0.0 {
        Some((hi - lo) / 2.0 / m)
    } else {
        None
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom (`df >= 1`).
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        _ => {
            let z = 1.959964;
            z + (z * z * z + z) / (4.0 * df as f64)
        }
    }
}

/// Half-width of the 95% confidence interval of the mean of `batches`
/// (per-round medians), relative to that mean: the method of batch means.
/// `None` below three batches, where the interval says nothing useful, or
/// when the mean is not positive. Zero when every batch is equal.
pub fn batch_mean_ci95_rel(batches: &[f64]) -> Option<f64> {
    let k = batches.len();
    if k < 3 {
        return None;
    }
    let mean = batches.iter().sum::<f64>() / k as f64;
    if mean <= 0.0 || !mean.is_finite() {
        return None;
    }
    let var = batches.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    Some(t95(k - 1) * (var / k as f64).sqrt() / mean)
}

/// Relative spread `(max - min) / median` of a set of positive values, used for
/// the round-to-round spread of per-round medians. 0 for fewer than two values.
pub fn relative_spread(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = median(values).unwrap_or(0.0);
    if m <= 0.0 {
        return 0.0;
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
    (hi - lo) / m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn hand_computed_summary() {
        // Values chosen so every figure can be checked by hand.
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(s.n, 5);
        close(s.mean, 3.0);
        close(s.median, 3.0);
        close(s.min, 1.0);
        close(s.max, 5.0);
        // h = 4 * 0.1 = 0.4 -> 1 + 0.4 * (2 - 1)
        close(s.p10, 1.4);
        // h = 3.6 -> 4 + 0.6
        close(s.p90, 4.6);
        close(s.p95, 4.8);
        close(s.p99, 4.96);
        // variance = (4+1+0+1+4)/4 = 2.5
        close(s.std.unwrap(), 2.5f64.sqrt());
        close(s.cv.unwrap(), 2.5f64.sqrt() / 3.0);
        // |x-3| = 2,1,0,1,2 -> median 1
        close(s.mad, 1.0);
        assert_eq!(s.outliers, 0);
    }

    #[test]
    fn even_count_median_interpolates() {
        let s = Summary::of(&[10.0, 20.0, 30.0, 40.0]).unwrap();
        close(s.median, 25.0);
        // |x-25| = 15,5,5,15 -> 10
        close(s.mad, 10.0);
    }

    #[test]
    fn one_sample() {
        let s = Summary::of(&[7.5]).unwrap();
        close(s.median, 7.5);
        close(s.p99, 7.5);
        assert_eq!(s.std, None);
        assert_eq!(s.cv, None);
        close(s.mad, 0.0);
        assert_eq!(s.outliers, 0);
        assert_eq!(median_ci95(&[7.5]), None);
    }

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(median_ci95_rel(&[]), None);
        close(relative_spread(&[]), 0.0);
    }

    #[test]
    fn outlier_by_modified_z_score() {
        // median 10, |dev| = 0,0,1,1,1,1,90 -> MAD 1; M(100) = 0.6745*90 = 60.7
        let s = Summary::of(&[10.0, 10.0, 9.0, 11.0, 9.0, 11.0, 100.0]).unwrap();
        assert_eq!(s.outliers, 1);
    }

    #[test]
    fn zero_mad_falls_back_to_mean_absolute_deviation() {
        // More than half identical: MAD = 0. MeanAD = 50/6, scale = 10.44,
        // M(60) = 50 / 10.44 = 4.8 > 3.5: an outlier, not a division by zero.
        let s = Summary::of(&[10.0, 10.0, 10.0, 10.0, 10.0, 60.0]).unwrap();
        close(s.mad, 0.0);
        assert_eq!(s.outliers, 1);
        // All identical: no outliers, CV 0.
        let s = Summary::of(&[3.0; 8]).unwrap();
        assert_eq!(s.outliers, 0);
        close(s.cv.unwrap(), 0.0);
    }

    #[test]
    fn zero_mean_has_no_cv() {
        let s = Summary::of(&[-1.0, 1.0]).unwrap();
        assert_eq!(s.cv, None);
    }

    #[test]
    fn median_confidence_interval_ranks() {
        // n = 100: ranks 50 -/+ 9.8 -> 40 and 61 (1-based), values 40 and 61.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let (lo, hi) = median_ci95(&v).unwrap();
        close(lo, 40.0);
        close(hi, 61.0);
        close(median_ci95_rel(&v).unwrap(), (61.0 - 40.0) / 2.0 / 50.5);
        // n = 6: ranks 3 -/+ 2.4 -> 1 and 6: the whole sample.
        let (lo, hi) = median_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        close(lo, 1.0);
        close(hi, 6.0);
        assert_eq!(median_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
    }

    #[test]
    fn constant_samples_have_zero_width_interval() {
        close(median_ci95_rel(&[2.0; 50]).unwrap(), 0.0);
    }

    #[test]
    fn spread_of_round_medians() {
        close(relative_spread(&[9.0, 10.0, 11.0]), 0.2);
        close(relative_spread(&[5.0]), 0.0);
    }

    #[test]
    fn batch_means_interval_by_hand() {
        // Batches 9, 10, 11: mean 10, s = 1, t(2) = 4.303, half-width
        // 4.303 * 1 / sqrt(3) = 2.4843 -> 0.24843 of the mean.
        let h = batch_mean_ci95_rel(&[9.0, 10.0, 11.0]).unwrap();
        assert!((h - 0.248434).abs() < 1e-5, "{h}");
        // Equal batches: zero width. Too few batches or a zero mean: none.
        assert_eq!(batch_mean_ci95_rel(&[5.0; 4]), Some(0.0));
        assert_eq!(batch_mean_ci95_rel(&[5.0, 6.0]), None);
        assert_eq!(batch_mean_ci95_rel(&[0.0, 0.0, 0.0]), None);
    }

    #[test]
    fn t_quantiles_join_the_table_smoothly() {
        close(t95(1), 12.706);
        close(t95(30), 2.042);
        // Exact values: t(31) = 2.0395, t(60) = 2.0003, t(120) = 1.9799.
        for (df, exact) in [(31, 2.0395), (60, 2.0003), (120, 1.9799)] {
            assert!(
                (t95(df) - exact).abs() / exact < 0.002,
                "t95({df}) = {}",
                t95(df)
            );
        }
        assert!(t95(0).is_infinite());
    }
}
