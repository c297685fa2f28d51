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
//! The prediction is corrected by what the switcher observes, tied to the
//! load it was observed under: per variant and load, the ratio of its
//! inference p95 to its curve at that load (a tail factor and whatever the
//! table missed). An observation corrects the variant only while the load
//! is the same (within [`PolicyConfig::same_load`] busy cores); when the
//! load changes it stops correcting, and when the load comes back to a level
//! already seen it corrects again, so the server returns to what it chose
//! at that level instead of relearning it. A variant not observed at this
//! load borrows the median ratio of those that were (a load affects all of
//! them); with nothing observed at this load the table stands. A variant's
//! own observation at a lighter load is a floor (latency does not fall as
//! load rises). The request's time outside inference (resizing, binding the
//! input) is added, not scaled: a small model's overhead must not make a
//! large model look slower.
//!
//! The rule: the most accurate variant whose corrected prediction is within
//! `slo × headroom`. Downgrades happen at once (a request that would miss
//! the SLO is worse than a less accurate one); upgrades wait until a more
//! accurate variant has fitted for `up_hold`, and fitting for an upgrade
//! means `slo × up_margin` (hysteresis, so the policy does not flap at a
//! boundary) unless the variant's own observation at this load says it fits
//! `slo × headroom`: it served here within the SLO. A variant observed over
//! the limit at a load is not tried again at that load for 30 s, then
//! probed again (60 s after a second miss, and so on, up to 16 minutes).
//! When nothing fits, the fastest variant serves and the decision
//! says the SLO is unreachable.

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
    /// Two loads are the same when they differ by at most this many busy
    /// cores: an observation corrects its variant only at the same load.
    pub same_load: f64,
}

impl PolicyConfig {
    pub fn new(slo_ms: f64) -> PolicyConfig {
        PolicyConfig {
            slo_ms,
            headroom: 0.9,
            up_margin: 0.85,
            up_hold: Duration::from_secs(1),
            same_load: 0.5,
        }
    }
}

/// What the switcher saw of a variant recently: the p95 of its requests
/// made under one load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    pub p95_ms: f64,
    /// Contention (busy cores of others) the requests ran under.
    pub contention: f64,
}

/// A variant's observation kept for its load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Remembered {
    pub p95_ms: f64,
    pub contention: f64,
    /// `p95_ms` over the variant's curve at `contention`.
    pub ratio: f64,
    /// When it was last observed (the caller's clock, seconds).
    pub at_s: f64,
    /// 0 when it fitted `slo × headroom`; else how many times in a row the
    /// variant missed at this load (each a probe after the last retry time).
    pub misses: u32,
}

/// A variant observed over the limit at a load stays away from that load
/// for this long, doubled for each further miss there, up to
/// [`RETRY_MAX_S`]: a transient (a page-cache flush, a cron job) does not
/// keep the most accurate model away for good, and a lasting miss costs
/// one short probe, ever rarer.
const RETRY_FIRST_S: f64 = 30.0;
const RETRY_MAX_S: f64 = 960.0;

impl Remembered {
    /// When a variant that missed here may be tried here again (`None`
    /// when it fitted).
    pub fn retry_at_s(&self) -> Option<f64> {
        (self.misses > 0).then(|| {
            self.at_s + (RETRY_FIRST_S * 2f64.powi(self.misses as i32 - 1)).min(RETRY_MAX_S)
        })
    }

    /// Whether it still corrects its variant at `now_s` (a miss stops at
    /// its retry time, so that the variant can be probed).
    fn current(&self, now_s: f64) -> bool {
        self.retry_at_s().is_none_or(|t| now_s < t)
    }
}

/// What corrects a variant's prediction at the current load.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Correction {
    /// Its own observation at this load.
    Observed {
        ratio: f64,
        p95_ms: f64,
        contention: f64,
        at_s: f64,
    },
    /// The median ratio of the variants observed at this load.
    Borrowed { ratio: f64, from: Vec<String> },
    /// Nothing observed at this load: the table's curve as it is.
    Table,
}

impl Correction {
    pub fn ratio(&self) -> f64 {
        match self {
            Correction::Observed { ratio, .. } | Correction::Borrowed { ratio, .. } => *ratio,
            Correction::Table => 1.0,
        }
    }
}

/// A variant's corrected p95 at the current load and what made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Inference p95 plus the request's time outside inference, ms.
    pub ms: f64,
    pub correction: Correction,
    /// Its own observation at a lighter load when that was slower than the
    /// corrected curve (and so set the prediction).
    pub floor: Option<Remembered>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub variant: usize,
    /// Per variant, the corrected p95 prediction at the current load.
    pub predictions: Vec<Prediction>,
    pub slo_unreachable: bool,
    pub reason: String,
}

impl Decision {
    pub fn predicted_ms(&self) -> Vec<f64> {
        self.predictions.iter().map(|p| p.ms).collect()
    }
}

/// Loads remembered per variant (the oldest is forgotten past this).
const LOADS_KEPT: usize = 8;

/// The policy's state: the current variant, how long an upgrade has been
/// possible, and each variant's observations by load.
#[derive(Debug, Clone)]
pub struct Policy {
    pub config: PolicyConfig,
    pub variants: Vec<Variant>,
    pub cores: f64,
    /// Per variant, time a request spends outside inference (resizing,
    /// binding), ms: added to the corrected inference prediction.
    pub overhead_ms: Vec<f64>,
    current: usize,
    /// Since when (seconds on the caller's clock) some upgrade has fit.
    up_since: Option<f64>,
    memory: Vec<Vec<Remembered>>,
}

impl Policy {
    /// Starts on the most accurate variant that fits idle.
    pub fn new(config: PolicyConfig, variants: Vec<Variant>, cores: usize) -> Policy {
        let mut p = Policy {
            config,
            memory: vec![Vec::new(); variants.len()],
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
        if let Some(m) = self.memory.get_mut(v) {
            m.clear();
        }
    }

    /// A variant's observations, one per load.
    pub fn remembered(&self, v: usize) -> &[Remembered] {
        self.memory.get(v).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Keep the observations of `old`'s variants that are here too (same
    /// name, threads and curve), as after a reload of the same models.
    pub fn adopt_memory(&mut self, old: &Policy) {
        for (i, v) in self.variants.iter().enumerate() {
            if v.curve.is_empty() {
                continue;
            }
            if let Some(j) = old.variants.iter().position(|o| o == v) {
                self.memory[i] = old.memory[j].clone();
            }
        }
    }

    /// Record what variant `v` did at a load: replaces its observation at
    /// the same load, else adds one.
    pub fn observe(&mut self, v: usize, now_s: f64, o: Observation) {
        let Some(var) = self.variants.get(v) else {
            return;
        };
        let base = var.at(o.contention, self.cores);
        if !(base.is_finite() && base > 0.0 && o.p95_ms.is_finite()) {
            return;
        }
        let limit = self.config.slo_ms * self.config.headroom;
        let over = o.p95_ms + self.overhead_ms.get(v).copied().unwrap_or(0.0) > limit;
        let same = self.config.same_load;
        let m = &mut self.memory[v];
        let k = nearest(m, o.contention, same);
        let misses = match k.map(|k| m[k]) {
            _ if !over => 0,
            // A probe after the retry time that missed again.
            Some(p) if p.misses > 0 && !p.current(now_s) => p.misses + 1,
            Some(p) if p.misses > 0 => p.misses,
            _ => 1,
        };
        let entry = Remembered {
            p95_ms: o.p95_ms,
            contention: o.contention,
            ratio: (o.p95_ms / base).clamp(0.5, 4.0),
            at_s: now_s,
            misses,
        };
        match k {
            Some(k) => m[k] = entry,
            None => {
                m.push(entry);
                if m.len() > LOADS_KEPT {
                    let oldest = (0..m.len())
                        .min_by(|a, b| m[*a].at_s.total_cmp(&m[*b].at_s))
                        .unwrap_or(0);
                    m.remove(oldest);
                }
            }
        }
    }

    /// Variant `v`'s own observation at `contention` that still corrects
    /// it at `now_s`, if any.
    fn own(&self, v: usize, contention: f64, now_s: f64) -> Option<&Remembered> {
        let m = self.memory.get(v)?;
        nearest(m, contention, self.config.same_load)
            .map(|k| &m[k])
            .filter(|o| o.current(now_s))
    }

    /// Corrected predictions at `contention` (at `now_s` on the caller's
    /// clock) from the observations kept.
    pub fn predict(&self, contention: f64, now_s: f64) -> Vec<Prediction> {
        let mut seen: Vec<(f64, String)> = (0..self.variants.len())
            .filter_map(|i| {
                let o = self.own(i, contention, now_s)?;
                let v = &self.variants[i];
                Some((o.ratio, format!("{}/t{}", v.name, v.threads)))
            })
            .collect();
        seen.sort_by(|a, b| a.0.total_cmp(&b.0));
        let shared = (!seen.is_empty()).then(|| seen[seen.len() / 2].0);
        self.variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let overhead = self.overhead_ms.get(i).copied().unwrap_or(0.0);
                let correction = match (self.own(i, contention, now_s), shared) {
                    (Some(o), _) => Correction::Observed {
                        ratio: o.ratio,
                        p95_ms: o.p95_ms,
                        contention: o.contention,
                        at_s: o.at_s,
                    },
                    (None, Some(ratio)) => Correction::Borrowed {
                        ratio,
                        from: seen.iter().map(|s| s.1.clone()).collect(),
                    },
                    (None, None) => Correction::Table,
                };
                let corrected = v.at(contention, self.cores) * correction.ratio();
                let floor = match correction {
                    Correction::Observed { .. } => None,
                    _ => self.memory[i]
                        .iter()
                        .filter(|o| o.contention < contention - self.config.same_load)
                        .filter(|o| o.current(now_s))
                        .filter(|o| o.p95_ms > corrected)
                        .max_by(|a, b| a.p95_ms.total_cmp(&b.p95_ms))
                        .copied(),
                };
                Prediction {
                    ms: floor.map_or(corrected, |f| f.p95_ms) + overhead,
                    correction,
                    floor,
                }
            })
            .collect()
    }

    /// The most accurate variant within `slo × factor` (ties: faster), or
    /// the fastest when none is (`false`).
    fn best(&self, pred: &[f64], factor: f64) -> (usize, bool) {
        let limit = self.config.slo_ms * factor;
        let fits = (0..pred.len())
            .filter(|i| pred[*i].is_finite() && pred[*i] <= limit)
            .max_by(|a, b| self.more_accurate(*a, *b, pred));
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

    /// Order by accuracy, then by speed.
    fn more_accurate(&self, a: usize, b: usize, pred: &[f64]) -> std::cmp::Ordering {
        self.variants[a]
            .accuracy
            .total_cmp(&self.variants[b].accuracy)
            .then(pred[b].total_cmp(&pred[a]))
    }

    /// Decide at time `now_s` (seconds, any monotonic origin) under
    /// `contention`, given fresh observations per variant (each made under
    /// its own `contention`; `None` for variants without one).
    pub fn decide(
        &mut self,
        now_s: f64,
        contention: f64,
        fresh: &[Option<Observation>],
    ) -> Decision {
        for (i, o) in fresh.iter().enumerate() {
            if let Some(o) = o {
                self.observe(i, now_s, *o);
            }
        }
        let predictions = self.predict(contention, now_s);
        let pred: Vec<f64> = predictions.iter().map(|p| p.ms).collect();
        let limit = self.config.slo_ms * self.config.headroom;
        let margin = self.config.slo_ms * self.config.up_margin;
        let (best, reachable) = self.best(&pred, self.config.headroom);
        let cur = self.current;
        let cur_fits = pred[cur].is_finite() && pred[cur] <= limit;
        let name = |i: usize| self.variants[i].name.clone();
        let reason;
        if !reachable {
            self.up_since = None;
            self.current = best;
            reason = format!(
                "no variant fits {limit:.2} ms; the fastest serves ({:.2} ms predicted)",
                pred[best]
            );
        } else if !cur_fits {
            self.up_since = None;
            self.current = best;
            reason = format!(
                "{} predicted {:.2} ms > {limit:.2} ms: down to {}",
                name(cur),
                pred[cur],
                name(best)
            );
        } else {
            // More accurate variants that fit for an upgrade: with margin,
            // or within the limit as their own observation at this load says.
            let proven = |i: usize| {
                matches!(predictions[i].correction, Correction::Observed { .. }) && pred[i] <= limit
            };
            let target = (0..pred.len())
                .filter(|i| self.variants[*i].accuracy > self.variants[cur].accuracy)
                .filter(|i| pred[*i].is_finite() && (pred[*i] <= margin || proven(*i)))
                .max_by(|a, b| self.more_accurate(*a, *b, &pred));
            match target {
                Some(t) => {
                    let since = *self.up_since.get_or_insert(now_s);
                    let why = if pred[t] <= margin {
                        format!("within {margin:.2} ms")
                    } else {
                        format!("within {limit:.2} ms as observed at this load")
                    };
                    if now_s - since >= self.config.up_hold.as_secs_f64() {
                        self.current = t;
                        self.up_since = None;
                        reason = format!(
                            "{} fit ({:.2} ms predicted, {why}) for {:.1} s: up",
                            name(t),
                            pred[t],
                            now_s - since
                        );
                    } else {
                        reason = format!("waiting to move up to {} ({why})", name(t));
                    }
                }
                None => {
                    self.up_since = None;
                    reason = if best != cur
                        && self.variants[best].accuracy > self.variants[cur].accuracy
                    {
                        format!(
                            "{} fits but not with margin ({:.2} > {margin:.2} ms)",
                            name(best),
                            pred[best]
                        )
                    } else {
                        "the current variant is the best that fits".into()
                    };
                }
            }
        }
        Decision {
            variant: self.current,
            predictions,
            slo_unreachable: !reachable,
            reason,
        }
    }
}

/// The entry of `m` nearest to `contention`, if within `same` of it.
fn nearest(m: &[Remembered], contention: f64, same: f64) -> Option<usize> {
    (0..m.len())
        .filter(|k| (m[*k].contention - contention).abs() <= same)
        .min_by(|a, b| {
            (m[*a].contention - contention)
                .abs()
                .total_cmp(&(m[*b].contention - contention).abs())
        })
}

#[cfg(test)]
mod tests;
