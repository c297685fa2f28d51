//! Active profiling's planner: rows in, the next batch of architectures out.
//!
//! The first batch is the space's smallest and largest subnets and the rest
//! stratified by MACs (the whole range of the space is covered); after it,
//! a predictor is trained on everything measured so far and the next batch
//! is the unmeasured candidates (from a seeded pool) whose predicted
//! interval is widest relative to their prediction: where the predictor is
//! least certain. [`Planner::plateau`] says when the shares within ±10%
//! and ±5% expected on a later invocation (`Trained::metrics`) have not
//! improved over three batches. The caller measures
//! each batch and decides about its time budget.

use std::collections::HashSet;

use frontier_predictor::{self as predictor, Kind, Predictor, Sample};
use frontier_spaces::sampler::Strategy;
use frontier_spaces::{Arch, SampleSpec, SpaceError};
use frontier_table::LatencyRow;

use crate::sample_of;

/// Subnets per batch.
pub const BATCH: usize = 8;
/// Candidates the predictor chooses among.
pub const POOL: usize = 1000;
/// Batches without a gain in cross-validated ±10% accuracy before stopping.
pub const PATIENCE: usize = 3;
/// Subnets measured before a plateau may stop the loop: cross-validation
/// on fewer rows is too noisy to call a plateau.
pub const MIN_FOR_PLATEAU: usize = 48;
/// Rows before a target share within ±10% may stop the loop: a
/// cross-validated share of fewer rows is too coarse to trust (one row is
/// more than 6 points).
pub const MIN_FOR_TARGET: usize = 16;

/// The state of an active-profiling run.
pub struct Planner {
    spec: SampleSpec,
    pool: Vec<Arch>,
    measured: HashSet<String>,
    samples: Vec<Sample>,
    /// (rows, expected ±10% + ±5% shares) of each fit.
    history: Vec<(usize, f64)>,
    trained: Option<predictor::Trained>,
    /// Another device's predictor to transfer from while rows are few.
    source: Option<predictor::Fitted>,
    /// A later invocation's error of scale after alignment, when the rows
    /// came from several invocations ([`Planner::resume`]).
    later_sigma: Option<f64>,
}

impl Planner {
    /// A planner for `spec`'s space (its seed draws the pool and the first
    /// batch; its strategy is not used).
    pub fn new(spec: SampleSpec) -> Result<Planner, SpaceError> {
        let pool = SampleSpec {
            strategy: Strategy::Uniform,
            seed: spec.seed ^ 0xAC71_7E00,
            ..spec
        }
        .sample(POOL)?;
        Ok(Planner {
            spec,
            pool,
            measured: HashSet::new(),
            samples: Vec::new(),
            history: Vec::new(),
            trained: None,
            source: None,
            later_sigma: None,
        })
    }

    /// Few-shot: also fit a transfer of `source` (another device's
    /// predictor of the space) to the rows, and keep whichever fit
    /// cross-validates better; a transfer needs only 3 rows.
    pub fn with_source(mut self, source: predictor::Fitted) -> Planner {
        self.source = Some(source);
        self
    }

    /// A planner that goes on from rows measured before (a stateless
    /// server rebuilds it for each batch it chooses): their architectures
    /// count as measured and the predictor is fitted to them. Returns the
    /// fit's cross-validated metrics, if it fitted.
    ///
    /// The rows may be of several invocations (a fleet's jobs): as in
    /// [`crate::train`], each is put on the scale of the one with most rows
    /// by their reference subnets, cross-validation holds out whole
    /// invocations, and reference rows are not trained on.
    pub fn resume(
        &mut self,
        rows: &[LatencyRow],
    ) -> Result<Option<predictor::Metrics>, predictor::PredictError> {
        let all: Vec<&LatencyRow> = rows.iter().collect();
        let models: Vec<&LatencyRow> = rows.iter().filter(|r| !r.is_reference()).collect();
        self.measured
            .extend(models.iter().filter_map(|r| r.arch.clone()));
        let alignment = crate::align::align(&models, &all);
        if alignment.anchor.is_some() {
            self.later_sigma = Some(alignment.later_sigma());
        }
        let mut groups = crate::align::Groups::default();
        self.samples.extend(
            models
                .iter()
                .filter_map(|r| alignment.sample(r, &mut groups)),
        );
        self.fit()
    }

    /// Whether the cross-validated share within ±10% reached `target` on
    /// enough rows ([`MIN_FOR_TARGET`]).
    pub fn reached(&self, target: f64) -> Option<String> {
        let t = self.trained.as_ref()?;
        (self.samples.len() >= MIN_FOR_TARGET && t.metrics.within_10pct >= target).then(|| {
            format!(
                "target reached: {:.1}% within ±10% (expected on a later invocation, {} rows, {})",
                t.metrics.within_10pct * 100.0,
                self.samples.len(),
                t.kind.name()
            )
        })
    }

    /// The space's smallest and largest subnets, and the rest stratified
    /// by MACs in between.
    pub fn first_batch(&mut self) -> Result<Vec<Arch>, SpaceError> {
        let mut batch = self.spec.extremes();
        batch.extend(
            SampleSpec {
                strategy: Strategy::Macs,
                ..self.spec
            }
            .sample(BATCH - batch.len())?,
        );
        self.mark(&batch);
        Ok(batch)
    }

    fn mark(&mut self, batch: &[Arch]) {
        self.measured.extend(batch.iter().map(Arch::row_json));
    }

    /// Take a measured batch's rows (of the backend the predictor is for,
    /// all of one invocation) and retrain once there are enough; returns
    /// the new fit's cross-validated metrics, if it fitted. Reference rows
    /// are not trained on.
    pub fn observe(
        &mut self,
        rows: &[LatencyRow],
    ) -> Result<Option<predictor::Metrics>, predictor::PredictError> {
        self.samples.extend(
            rows.iter()
                .filter(|r| !r.is_reference())
                .filter_map(sample_of),
        );
        self.fit()
    }

    fn fit(&mut self) -> Result<Option<predictor::Metrics>, predictor::PredictError> {
        let mut kinds = Vec::new();
        if self.source.is_some() && self.samples.len() >= Kind::Transfer.min_rows() {
            kinds.push(Kind::Transfer);
        }
        if self.samples.len() >= Kind::Learned.min_rows() {
            kinds.push(Kind::Learned);
        }
        if kinds.is_empty() {
            return Ok(None);
        }
        // The fit with the lowest cross-validated MAPE among the kinds.
        let mut best: Option<predictor::Trained> = None;
        for kind in kinds {
            let ctx = predictor::Context {
                source: self.source.as_ref().filter(|_| kind == Kind::Transfer),
                later_sigma: self.later_sigma,
                ..Default::default()
            };
            let t = predictor::train(
                self.spec.space,
                &[kind],
                &self.samples,
                &ctx,
                self.spec.seed,
            )?;
            if best
                .as_ref()
                .is_none_or(|b| t.metrics.mape < b.metrics.mape)
            {
                best = Some(t);
            }
        }
        let t = best.expect("at least one kind");
        // The ±10% share alone saturates near 95-100% on a few dozen rows
        // and its early, noisy highs would call a plateau that the ±5%
        // share shows is not there: judge by both.
        self.history.push((
            self.samples.len(),
            t.metrics.within_10pct + t.metrics.within_5pct,
        ));
        let metrics = t.metrics.clone();
        self.trained = Some(t);
        Ok(Some(metrics))
    }

    /// Rows trained on so far.
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// The latest fit.
    pub fn trained(&self) -> Option<&predictor::Trained> {
        self.trained.as_ref()
    }

    pub fn into_trained(self) -> Option<predictor::Trained> {
        self.trained
    }

    /// Why to stop, when the accuracy expected on a later invocation (the
    /// shares within ±10% and ±5%, summed) has not improved by half a point
    /// over the last [`PATIENCE`] batches on the best fit of at least half
    /// [`MIN_FOR_PLATEAU`] rows before them.
    pub fn plateau(&self) -> Option<String> {
        let h = &self.history;
        if h.len() <= PATIENCE || self.samples.len() < MIN_FOR_PLATEAU {
            return None;
        }
        // Fits of fewer than half the plateau's rows are no baseline: their
        // shares swing by 10 points from one batch to the next.
        let best = |v: &[(usize, f64)]| {
            v.iter()
                .filter(|(rows, _)| *rows >= MIN_FOR_PLATEAU / 2)
                .map(|(_, s)| *s)
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
        };
        let before = best(&h[..h.len() - PATIENCE])?;
        let recent = best(&h[h.len() - PATIENCE..])?;
        let m = &self.trained.as_ref()?.metrics;
        (recent <= before + 0.005).then(|| {
            format!(
                "accuracy expected on a later invocation stopped improving for {PATIENCE} batches ({:.1}% within ±10%, {:.1}% within ±5%)",
                m.within_10pct * 100.0,
                m.within_5pct * 100.0
            )
        })
    }

    /// The next batch: the unmeasured pool members whose relative interval
    /// is widest (pool order before the first fit); `None` when every
    /// candidate was measured.
    pub fn next_batch(&mut self) -> Option<Vec<Arch>> {
        let mut open: Vec<(f64, usize)> = self
            .pool
            .iter()
            .enumerate()
            .filter(|(_, c)| !self.measured.contains(&c.row_json()))
            .map(|(i, c)| {
                let width = self
                    .trained
                    .as_ref()
                    .and_then(|t| t.fitted.predict(&c.row_json()).ok())
                    .map(|p| (p.interval.1 - p.interval.0) / p.ms)
                    .unwrap_or(0.0);
                (width, i)
            })
            .collect();
        if open.is_empty() {
            return None;
        }
        if self.trained.is_some() {
            open.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        }
        let batch: Vec<Arch> = open
            .iter()
            .take(BATCH)
            .map(|(_, i)| self.pool[*i].clone())
            .collect();
        self.mark(&batch);
        Some(batch)
    }
}

/// The predictor file of an active-profiling run: its last fit, with the
/// provenance of the rows it was trained on (`None` before the first fit).
pub fn predictor_file(
    trained: Option<&predictor::Trained>,
    rows: &[LatencyRow],
) -> Option<predictor::PredictorFile> {
    let trained = trained?;
    let space = frontier_spaces::Space::parse(&trained.fitted.space)?;
    let (refs, rows): (Vec<&LatencyRow>, Vec<&LatencyRow>) =
        rows.iter().partition(|r| r.is_reference());
    let n = rows.iter().filter(|r| r.arch.is_some()).count();
    let unstable = rows.iter().filter(|r| r.unstable).count();
    let mut file = crate::rows::predictor_file(space, trained, &rows, n, unstable);
    // One invocation: its references are the predictor's scale.
    file.references = crate::align::references_by_invocation(refs)
        .into_values()
        .find(|r| r.len() >= crate::align::MIN_REFERENCES);
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontier_spaces::Space;

    /// Rows of a synthetic device for `batch`.
    fn rows(batch: &[Arch]) -> Vec<LatencyRow> {
        batch
            .iter()
            .map(|a| LatencyRow {
                arch: Some(a.row_json()),
                median_ms: 1.0 + a.macs() as f64 / 1e8,
                median_ms_corrected: 1.0 + a.macs() as f64 / 1e8,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn batches_cover_the_ends_then_never_repeat() {
        let mut p = Planner::new(SampleSpec::new(Space::OfaMbv3, 3)).unwrap();
        let first = p.first_batch().unwrap();
        assert_eq!(first.len(), BATCH);
        let macs: Vec<u64> = first.iter().map(Arch::macs).collect();
        assert_eq!(macs[0], *macs.iter().min().unwrap(), "the smallest first");
        assert_eq!(macs[1], *macs.iter().max().unwrap(), "then the largest");
        let mut seen: HashSet<String> = first.iter().map(Arch::row_json).collect();
        assert!(
            p.observe(&rows(&first)).unwrap().is_none(),
            "8 rows are too few to fit"
        );
        for _ in 0..3 {
            let b = p.next_batch().unwrap();
            assert!(p.observe(&rows(&b)).unwrap().is_some());
            for a in &b {
                assert!(seen.insert(a.row_json()), "measured twice: {}", a.json());
            }
        }
        assert_eq!(p.samples(), 4 * BATCH);
        assert!(
            p.plateau().is_none(),
            "fewer than {MIN_FOR_PLATEAU} rows never plateau"
        );
    }

    #[test]
    fn a_plateau_is_called_on_the_expected_shares_once_rows_suffice() {
        // Latency exactly linear in MACs: every fit is as good as the
        // last, so the loop stops as soon as enough rows say so.
        let mut p = Planner::new(SampleSpec::new(Space::OfaMbv3, 5)).unwrap();
        let first = p.first_batch().unwrap();
        p.observe(&rows(&first)).unwrap();
        let mut stop = None;
        while stop.is_none() && p.samples() < 20 * BATCH {
            let b = p.next_batch().unwrap();
            let m = p.observe(&rows(&b)).unwrap().unwrap();
            assert!(m.within_10pct > 0.99 && m.within_5pct > 0.9, "{m:?}");
            stop = p.plateau();
        }
        let why = stop.expect("a plateau");
        assert!(p.samples() >= MIN_FOR_PLATEAU, "{}", p.samples());
        assert!(p.samples() <= MIN_FOR_PLATEAU + BATCH, "{}", p.samples());
        assert!(why.contains("within ±5%"), "{why}");
    }

    #[test]
    fn resumed_rows_of_several_invocations_are_aligned_by_their_references() {
        // A fleet's two jobs on one device: the second ran 8% slower. Each
        // measured the space's reference subnets beside its models.
        let spec = SampleSpec::new(Space::OfaMbv3, 11);
        let archs = spec.sample(56).unwrap();
        let refs = frontier_spaces::canary_archs(Space::OfaMbv3);
        let mut all = Vec::new();
        for (inv, factor, models) in [("a", 1.0, &archs[..32]), ("b", 1.08, &archs[32..])] {
            let mut rs = rows(models);
            let mut references = rows(&refs);
            references.iter_mut().for_each(|r| r.reference = Some(true));
            rs.extend(references);
            for r in &mut rs {
                r.invocation = Some(inv.into());
                r.median_ms *= factor;
                r.median_ms_corrected *= factor;
            }
            all.extend(rs);
        }
        let mut p = Planner::new(spec).unwrap();
        let m = p.resume(&all).unwrap().expect("56 rows fit");
        assert_eq!(p.samples(), 56, "reference rows are not trained on");
        // On one scale the device is exactly linear in MACs again: every
        // held-out invocation's rows within ±5% (unaligned, b's 24 rows
        // would be 8% off once a is held out, and a's the other way).
        assert!(m.within_5pct > 0.95, "{m:?}");
        let t = p.trained().unwrap();
        for r in &all[..32] {
            let pred = t.fitted.predict(r.arch.as_deref().unwrap()).unwrap().ms;
            assert!(
                (pred / r.median_ms - 1.0).abs() < 0.02,
                "{pred} vs {}",
                r.median_ms
            );
        }
    }
}
