//! Which (model, threads) variant serves next: pure computation, so it is
//! tested against scripted loads and observations.
//!
//! Each variant has a latency curve over contention (busy cores of other
//! processes): points from load-conditioned tables (`profile --contention`)
//! or one idle point from the manifest. Between points it interpolates;
//! past the last one it scales by CPU share: with `c` busy cores of others
//! and `t` threads of its own on `C` cores, a variant gets `C / (c + t)` of
//! what it had when `c + t ≤ C`.
//!
//! The prediction is corrected by what the switcher observes: per variant,
//! the ratio of its recent inference p95 to its curve at the load it ran
//! under (a tail factor and whatever the table missed). Variants not
//! observed recently borrow the median ratio of those that were, since a
//! load affects all of them. The request's time outside inference
//! (resizing, binding the input) is added, not scaled: a small model's
//! overhead must not make a large model look slower.
//!
//! The rule: the most accurate variant whose corrected prediction is within
//! `slo × headroom`. Downgrades happen at once (a request that would miss
//! the SLO is worse than a less accurate one); upgrades wait until the
//! better variant's prediction has stayed within `slo × up_margin` for
//! `up_hold`, so the policy does not flap at a boundary. When nothing fits,
//! the fastest variant serves and the decision says the SLO is unreachable.

use std::time::Duration;

use serde::Serialize;

/// A model at a thread count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    pub threads: u32,
    pub accuracy: f64,
    /// (contention in busy cores, latency ms), sorted by contention.
    pub curve: Vec<(f64, f64)>,
}

impl Variant {
    /// The curve's latency at `contention` on `cores` cores.
    pub fn at(&self, contention: f64, cores: f64) -> f64 {
        let c = contention.max(0.0);
        let pts = &self.curve;
        let Some(&(c0, l0)) = pts.first() else {
            return f64::INFINITY;
        };
        if c <= c0 {
            return l0;
        }
        for w in pts.windows(2) {
            let ((a, la), (b, lb)) = (w[0], w[1]);
            if c <= b {
                return la + (lb - la) * (c - a) / (b - a).max(1e-9);
            }
        }
        let (cl, ll) = pts[pts.len() - 1];
        let t = self.threads as f64;
        let share = |c: f64| ((c + t) / cores.max(1.0)).max(1.0);
        ll * share(c) / share(cl)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyConfig {
    pub slo_ms: f64,
    /// A variant fits when its predicted p95 ≤ `slo × headroom`.
    pub headroom: f64,
    /// An upgrade needs the better variant's prediction ≤ `slo × up_margin`...
    pub up_margin: f64,
    /// ...continuously for this long.
    pub up_hold: Duration,
}

impl PolicyConfig {
    pub fn new(slo_ms: f64) -> PolicyConfig {
        PolicyConfig {
            slo_ms,
            headroom: 0.9,
            up_margin: 0.85,
            up_hold: Duration::from_secs(1),
        }
    }
}

/// What the switcher saw of a variant recently.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    pub p95_ms: f64,
    /// Contention when it was observed.
    pub contention: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub variant: usize,
    /// Corrected p95 prediction per variant at the current load.
    pub predicted_ms: Vec<f64>,
    pub slo_unreachable: bool,
    pub reason: String,
}

/// The policy's state: the current variant and how long an upgrade has
/// been possible.
#[derive(Debug, Clone)]
pub struct Policy {
    pub config: PolicyConfig,
    pub variants: Vec<Variant>,
    pub cores: f64,
    /// Per variant, time a request spends outside inference (resizing,
    /// binding), ms: added to the corrected inference prediction.
    pub overhead_ms: Vec<f64>,
    current: usize,
    /// Since when (seconds on the caller's clock) the upgrade target has fit.
    up_since: Option<(usize, f64)>,
}

impl Policy {
    /// Starts on the most accurate variant that fits idle.
    pub fn new(config: PolicyConfig, variants: Vec<Variant>, cores: usize) -> Policy {
        let mut p = Policy {
            config,
            variants,
            cores: cores as f64,
            overhead_ms: Vec::new(),
            current: 0,
            up_since: None,
        };
        let idle: Vec<f64> = p.variants.iter().map(|v| v.at(0.0, p.cores)).collect();
        p.current = p.best(&idle, p.config.headroom).0;
        p
    }

    pub fn current(&self) -> usize {
        self.current
    }

    /// Forget a variant that failed (never chosen again).
    pub fn quarantine(&mut self, v: usize) {
        if let Some(var) = self.variants.get_mut(v) {
            var.curve.clear();
        }
    }

    /// Corrected predictions at `contention` given recent observations.
    pub fn predict(&self, contention: f64, observed: &[Option<Observation>]) -> Vec<f64> {
        let ratio = |i: usize| -> Option<f64> {
            let o = observed.get(i).copied().flatten()?;
            let base = self.variants[i].at(o.contention, self.cores);
            (base.is_finite() && base > 0.0).then(|| (o.p95_ms / base).clamp(0.5, 4.0))
        };
        let mut known: Vec<f64> = (0..self.variants.len()).filter_map(ratio).collect();
        known.sort_by(f64::total_cmp);
        let shared = if known.is_empty() {
            1.0
        } else {
            known[known.len() / 2]
        };
        self.variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.at(contention, self.cores) * ratio(i).unwrap_or(shared)
                    + self.overhead_ms.get(i).copied().unwrap_or(0.0)
            })
            .collect()
    }

    /// The most accurate variant within `slo × factor` (ties: faster), or
    /// the fastest when none is (`false`).
    fn best(&self, pred: &[f64], factor: f64) -> (usize, bool) {
        let limit = self.config.slo_ms * factor;
        let fits = (0..pred.len())
            .filter(|i| pred[*i].is_finite() && pred[*i] <= limit)
            .max_by(|a, b| {
                self.variants[*a]
                    .accuracy
                    .total_cmp(&self.variants[*b].accuracy)
                    .then(pred[*b].total_cmp(&pred[*a]))
            });
        match fits {
            Some(i) => (i, true),
            None => (
                (0..pred.len())
                    .min_by(|a, b| pred[*a].total_cmp(&pred[*b]))
                    .unwrap_or(0),
                false,
            ),
        }
    }

    /// Decide at time `now_s` (seconds, any monotonic origin) under
    /// `contention`, given recent observations per variant.
    pub fn decide(
        &mut self,
        now_s: f64,
        contention: f64,
        observed: &[Option<Observation>],
    ) -> Decision {
        let pred = self.predict(contention, observed);
        let (best, reachable) = self.best(&pred, self.config.headroom);
        let cur = self.current;
        let cur_fits =
            pred[cur].is_finite() && pred[cur] <= self.config.slo_ms * self.config.headroom;
        let acc = |i: usize| self.variants[i].accuracy;
        let reason;
        if !reachable {
            self.up_since = None;
            self.current = best;
            reason = format!(
                "no variant fits {:.2} ms; the fastest serves ({:.2} ms predicted)",
                self.config.slo_ms * self.config.headroom,
                pred[best]
            );
        } else if !cur_fits {
            self.up_since = None;
            self.current = best;
            reason = format!(
                "{} predicted {:.2} ms > {:.2} ms: down to {}",
                self.variants[cur].name,
                pred[cur],
                self.config.slo_ms * self.config.headroom,
                self.variants[best].name
            );
        } else if best != cur && acc(best) > acc(cur) {
            let margin = self.config.slo_ms * self.config.up_margin;
            if pred[best] <= margin {
                let since = match self.up_since {
                    Some((v, t)) if v == best => t,
                    _ => now_s,
                };
                self.up_since = Some((best, since));
                if now_s - since >= self.config.up_hold.as_secs_f64() {
                    self.current = best;
                    self.up_since = None;
                    reason = format!(
                        "{} fit within {:.2} ms for {:.1} s: up",
                        self.variants[best].name,
                        margin,
                        now_s - since
                    );
                } else {
                    reason = format!("waiting to move up to {}", self.variants[best].name);
                }
            } else {
                self.up_since = None;
                reason = format!(
                    "{} fits but not with margin ({:.2} > {:.2} ms)",
                    self.variants[best].name, pred[best], margin
                );
            }
        } else {
            self.up_since = None;
            reason = "the current variant is the best that fits".into();
        }
        Decision {
            variant: self.current,
            predicted_ms: pred,
            slo_unreachable: !reachable,
            reason,
        }
    }
}

#[cfg(test)]
mod tests;
