//! A subject's measured slices ([`Series`]) and what follows from them:
//! corrected samples, round and instance medians, spreads and the interval.

#[allow(unused_imports)]
use super::*;

/// One slice: runs of one model within one round.
#[derive(Debug, Clone)]
pub(super) struct Slice {
    pub(super) round: u32,
    /// Which of the subject's instances ran this slice.
    pub(super) instance: usize,
    pub(super) samples: Vec<f64>,
    /// The slice's probe speed estimate, in ms; set once the measurement ends.
    pub(super) probe_ms: Option<f64>,
    /// Indices of the probe points before and after the slice.
    pub(super) probe_ix: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub(super) struct Series {
    pub(super) slices: Vec<Slice>,
    pub(super) rounds: u32,
    pub(super) stop: StopReason,
    pub(super) instances: usize,
}

impl Series {
    pub(super) fn raw(&self) -> Vec<f64> {
        self.slices
            .iter()
            .flat_map(|s| s.samples.iter().copied())
            .collect()
    }

    /// Samples of the slices `keep` selects, each times its slice's
    /// correction factor and `level` of the slice.
    pub(super) fn scaled(
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
    pub(super) fn corrected(&self, c: Correction) -> Vec<f64> {
        self.scaled(c, |_| true, |_| 1.0)
    }

    /// Median of each instance's samples brought to the reference speed.
    pub(super) fn instance_medians(&self, c: Correction) -> Vec<f64> {
        (0..self.instances)
            .filter_map(|i| stats::median(&self.scaled(c, |s| s.instance == i, |_| 1.0)))
            .collect()
    }

    /// Per instance, the factor that brings its level to the mean level of
    /// all instances (1 for every instance when one has no samples).
    pub(super) fn instance_levels(&self, c: Correction) -> Vec<f64> {
        let m = self.instance_medians(c);
        if m.len() != self.instances || m.iter().any(|x| *x <= 0.0) {
            return vec![1.0; self.instances];
        }
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        m.iter().map(|x| mean / x).collect()
    }

    /// Corrected median of each round, with each instance's level divided
    /// out, so that the rounds' spread measures drift over time only.
    pub(super) fn round_medians(&self, c: Correction) -> Vec<f64> {
        let levels = self.instance_levels(c);
        (0..self.rounds)
            .filter_map(|r| {
                stats::median(&self.scaled(c, |s| s.round == r, |s| levels[s.instance]))
            })
            .collect()
    }

    pub(super) fn raw_spread(&self) -> f64 {
        stats::relative_spread(&self.round_medians(Correction::NONE))
    }

    /// The batch-means interval of the rounds, raw or corrected, whichever is narrower.
    pub(super) fn round_ci(&self, c: Correction) -> Option<f64> {
        let raw = stats::batch_mean_ci95_rel(&self.round_medians(Correction::NONE));
        let corrected = stats::batch_mean_ci95_rel(&self.round_medians(c));
        match (raw, corrected) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Log of each round's corrected median, each instance's level divided
    /// out: the drift term of the interval.
    pub(super) fn log_rounds(&self, c: Correction) -> Vec<f64> {
        self.round_medians(c)
            .into_iter()
            .filter(|m| *m > 0.0)
            .map(f64::ln)
            .collect()
    }

    /// This model's placement variance in excess of drift (see
    /// [`interval::placement_excess`]); `None` with one instance.
    pub(super) fn placement_excess(&self, c: Correction, rho: f64) -> Option<f64> {
        if self.instances < 2 {
            return None;
        }
        let var = interval::median_variance(&self.log_rounds(c), rho)?;
        let medians: Vec<f64> = self
            .instance_medians(c)
            .into_iter()
            .filter(|m| *m > 0.0)
            .map(f64::ln)
            .collect();
        interval::placement_excess(&medians, var, self.rounds as usize)
    }

    pub(super) fn interval(&self, c: Correction, s: SessionStats) -> Option<Interval> {
        interval::interval(
            &self.log_rounds(c),
            s.rho,
            s.placement_var,
            self.instances,
            s.session,
        )
    }

    /// The spread that decides stability: the smaller of raw and corrected.
    /// Scale-free, so it does not depend on the reference.
    pub(super) fn spread(&self, c: Correction) -> f64 {
        self.raw_spread()
            .min(stats::relative_spread(&self.round_medians(c)))
    }

    /// Centred (log probe, log slice median) pairs of this series' slices.
    pub(super) fn log_pairs(&self) -> Vec<(f64, f64)> {
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
    pub(super) fn smooth_probes(&mut self, points: &[f64], window: usize) {
        for s in &mut self.slices {
            s.probe_ms = s.probe_ix.and_then(|(b, a)| {
                let lo = b.saturating_sub(window);
                let hi = (a + window + 1).min(points.len());
                stats::median(points.get(lo..hi)?)
            });
        }
    }
}
