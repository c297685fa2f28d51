//! Drift: has a board's canary set moved beyond its history?
//!
//! Each board measures the same few subnets (`frontier_spaces::canary_archs`)
//! when its agent starts and every few hours. A canary *run* is the canary
//! rows of one device, space, backend and thread count measured close
//! together (no gap over [`RUN_GAP_US`]). The newest run is compared with
//! the runs since the last recorded shift (its baseline): per canary, the
//! ratio of its latency to the baseline's median, and the interval of that
//! ratio from the rows' own intervals (`median_ci95_rel`, the interval a
//! repeat invocation is expected in; [`DEFAULT_REL_CI`] for rows without
//! one), combined in quadrature.
//!
//! A run has shifted when all but at most one of its canaries lie beyond
//! their intervals on the same side, and the canaries' median ratio lies
//! beyond their median interval. One slow canary (a hiccup) does not make
//! a shift; a board that got uniformly 5% slower with ±2% rows does.
//!
//! Pure: points in, a finding out.

/// Canary rows further apart than this belong to different runs.
pub const RUN_GAP_US: i64 = 15 * 60 * 1_000_000;

/// The interval of a row without one: the profiler's default target.
pub const DEFAULT_REL_CI: f64 = 0.02;

/// Canaries a run needs before it is compared.
pub const MIN_CANARIES: usize = 3;

/// One canary measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub arch: String,
    pub at_us: i64,
    pub ms: f64,
    /// Relative half-width of the row's 95% interval.
    pub rel_ci: f64,
}

/// A shift found in the newest run.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The newest run's first row.
    pub at_us: i64,
    /// The canaries' median ratio to their baseline.
    pub ratio: f64,
    /// Per canary: ratio, interval, baseline size; and the runs compared.
    pub evidence: serde_json::Value,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Split points (any order) into runs, oldest first.
pub fn runs(points: &[Point]) -> Vec<Vec<Point>> {
    let mut sorted: Vec<Point> = points.to_vec();
    sorted.sort_by_key(|p| p.at_us);
    let mut out: Vec<Vec<Point>> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some(run) if p.at_us - run.last().expect("non-empty").at_us <= RUN_GAP_US => {
                run.push(p)
            }
            _ => out.push(vec![p]),
        }
    }
    out
}

/// Whether the newest run shifted from the runs since `last_shift_us`.
pub fn detect(points: &[Point], last_shift_us: Option<i64>) -> Option<Finding> {
    let runs = runs(points);
    let (newest, before) = runs.split_last()?;
    let start = newest.first()?.at_us;
    if last_shift_us.is_some_and(|s| start <= s) {
        // Already the baseline of a recorded shift.
        return None;
    }
    let baseline: Vec<&Vec<Point>> = before
        .iter()
        .filter(|r| last_shift_us.is_none_or(|s| r[0].at_us >= s))
        .collect();
    if baseline.is_empty() {
        return None;
    }
    let archs: std::collections::BTreeSet<&str> = newest.iter().map(|p| p.arch.as_str()).collect();
    let mut compared = Vec::new();
    for arch in archs {
        let mut now: Vec<f64> = newest
            .iter()
            .filter(|p| p.arch == arch)
            .map(|p| p.ms)
            .collect();
        let mut now_ci: Vec<f64> = newest
            .iter()
            .filter(|p| p.arch == arch)
            .map(|p| p.rel_ci)
            .collect();
        let base: Vec<&Point> = baseline
            .iter()
            .flat_map(|r| r.iter())
            .filter(|p| p.arch == arch)
            .collect();
        if base.is_empty() {
            continue;
        }
        let mut base_ms: Vec<f64> = base.iter().map(|p| p.ms).collect();
        let mut base_ci: Vec<f64> = base.iter().map(|p| p.rel_ci).collect();
        let ratio = median(&mut now) / median(&mut base_ms);
        let h = (median(&mut now_ci).powi(2) + median(&mut base_ci).powi(2)).sqrt();
        compared.push((arch.to_string(), ratio, h, base.len()));
    }
    if compared.len() < MIN_CANARIES {
        return None;
    }
    let beyond = |up: bool| {
        compared
            .iter()
            .filter(|(_, r, h, _)| {
                if up {
                    r.ln() > h.ln_1p()
                } else {
                    -r.ln() > h.ln_1p()
                }
            })
            .count()
    };
    let (up, down) = (beyond(true), beyond(false));
    let needed = compared.len() - 1;
    let mut ratios: Vec<f64> = compared.iter().map(|c| c.1).collect();
    let mut hs: Vec<f64> = compared.iter().map(|c| c.2).collect();
    let (m, mh) = (median(&mut ratios), median(&mut hs));
    let shifted = (up >= needed && m.ln() > mh.ln_1p()) || (down >= needed && -m.ln() > mh.ln_1p());
    if !shifted {
        return None;
    }
    Some(Finding {
        at_us: start,
        ratio: m,
        evidence: serde_json::json!({
            "median_ratio": m,
            "median_interval": mh,
            "baseline_runs": baseline.len(),
            "canaries": compared.iter().map(|(a, r, h, n)| serde_json::json!({
                "arch": a, "ratio": r, "interval": h, "baseline_rows": n,
            })).collect::<Vec<_>>(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    /// Canary runs `hours` apart: run i's latencies are `base[k] * scale[i]`
    /// times a small deterministic wobble.
    fn history(scales: &[f64], wobble: f64) -> Vec<Point> {
        let base = [3.1, 4.7, 6.2, 8.9, 12.5];
        let mut out = Vec::new();
        for (i, s) in scales.iter().enumerate() {
            for (k, b) in base.iter().enumerate() {
                // A fixed pattern in [-1, 1].
                let w = (((i * 7 + k * 3) % 5) as f64 - 2.0) / 2.0;
                out.push(Point {
                    arch: format!("a{k}"),
                    at_us: i as i64 * 6 * HOUR + k as i64 * 20_000_000,
                    ms: b * s * (1.0 + wobble * w),
                    rel_ci: 0.02,
                });
            }
        }
        out
    }

    #[test]
    fn a_uniform_slowdown_beyond_the_intervals_is_a_shift() {
        let points = history(&[1.0, 1.0, 1.0, 1.08], 0.01);
        let f = detect(&points, None).expect("shift");
        assert!((f.ratio - 1.08).abs() < 0.02, "{f:?}");
        assert_eq!(f.at_us, 3 * 6 * HOUR);
        assert_eq!(f.evidence["baseline_runs"], 3);
        // And a speed-up.
        let f = detect(&history(&[1.0, 1.0, 0.9], 0.01), None).expect("shift");
        assert!(f.ratio < 0.95);
    }

    #[test]
    fn noise_within_the_intervals_and_one_slow_canary_are_not() {
        assert_eq!(
            detect(&history(&[1.0, 1.0, 1.01, 0.99, 1.0], 0.01), None),
            None
        );
        let mut points = history(&[1.0, 1.0, 1.0], 0.005);
        // The newest run's largest canary alone 30% slower.
        let last = points.len() - 1;
        points[last].ms *= 1.3;
        assert_eq!(detect(&points, None), None);
    }

    #[test]
    fn a_recorded_shift_starts_a_new_baseline() {
        let points = history(&[1.0, 1.0, 1.1, 1.1], 0.005);
        let shift_at = 2 * 6 * HOUR;
        // The run after the shift agrees with the shifted run: no new shift.
        assert_eq!(detect(&points, Some(shift_at)), None);
        // The shifted run itself is not found twice.
        let upto: Vec<Point> = points
            .iter()
            .filter(|p| p.at_us < 3 * 6 * HOUR)
            .cloned()
            .collect();
        assert_eq!(detect(&upto, Some(shift_at)), None);
        // Without the record, the newest run is compared with all three before.
        assert!(detect(&points, None).is_none_or(|f| f.at_us == 3 * 6 * HOUR));
    }

    #[test]
    fn one_run_or_too_few_canaries_decide_nothing() {
        assert_eq!(detect(&history(&[1.3], 0.0), None), None);
        let two: Vec<Point> = history(&[1.0, 1.3], 0.0)
            .into_iter()
            .filter(|p| p.arch == "a0" || p.arch == "a1")
            .collect();
        assert_eq!(detect(&two, None), None);
    }

    #[test]
    fn wider_rows_need_a_larger_move() {
        let mut points = history(&[1.0, 1.0, 1.05], 0.0);
        assert!(detect(&points, None).is_some());
        for p in &mut points {
            p.rel_ci = 0.06;
        }
        assert_eq!(detect(&points, None), None);
    }
}
