//! Per-device latency predictors trained from Frontier's own tables: pure
//! computation (no files, no network), so the agent can train and predict
//! on the board.
//!
//! - Features: the space's analytic features of an architecture
//!   (`frontier_spaces::features`: MACs and moved elements per operator
//!   kind, operator counts, exact from the space's channel plan).
//! - [`linear`]: non-negative ridge regression for relative error, bagged.
//! - [`metrics`]: RMSE, MAPE, ±5/±10%, Kendall τ, Spearman, coverage.
//! - [`plot`]: the learning curve and the frontier as SVG text.
//! - [`onnx`]: a fitted predictor as an ONNX graph of the space's encoding.
//! - [`synthetic`]: a device whose latency is known, for tests and benchmarks.
//! - Kinds ([`Kind`]): `lut` (Once-for-All's sum over stem, blocks and head
//!   from a block table, calibrated on whole networks), `learned` (bagged
//!   linear model over the features), `hybrid` (the learned model with the
//!   lookup-table sum as one more feature: a learned correction of the
//!   calibrated table). [`train`] cross-validates; `auto` picks the kind
//!   with the lowest cross-validated MAPE and says so.
//!
//! Every prediction has an interval: the bagged members' spread combined
//! with the cross-validated relative residuals (out-of-fold quantiles), so
//! it covers both model and measurement error.

pub mod linear;
pub mod metrics;
pub mod onnx;
pub mod plot;
pub mod synthetic;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use frontier_spaces::Space;
use linear::{below, Bagged, Linear, Rng};
pub use metrics::Metrics;

/// Version of the predictor file this build writes; it reads the same major.
pub const PREDICTOR_VERSION: &str = "1.1";
const PREDICTOR_MAJOR: &str = "1";

/// A predicted latency with its interval (ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub ms: f64,
    pub interval: (f64, f64),
}

/// The kinds of predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Lut,
    Learned,
    Hybrid,
    /// Another device's predictor, recalibrated with a few rows of this one.
    Transfer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lut => "lut",
            Kind::Learned => "learned",
            Kind::Hybrid => "hybrid",
            Kind::Transfer => "transfer",
        }
    }

    /// Rows of whole networks a kind needs at least.
    pub fn min_rows(self) -> usize {
        match self {
            Kind::Lut | Kind::Transfer => 3,
            Kind::Learned | Kind::Hybrid => 10,
        }
    }
}

/// Errors a caller branches on (bad input, not bugs).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("{0}")]
    Arch(String),
    #[error("the block table has no latency for {key}; fix: profile the blocks of this resolution (frontier export --blocks --resolutions R)")]
    MissingBlock { key: String },
    #[error("{kind} needs at least {need} rows of whole networks, {have} given; fix: profile more subnets (frontier profile --space S --samples N)")]
    TooFewRows {
        kind: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{kind} needs a block table (rows of `frontier export --blocks` models); fix: profile them and pass that table too, or use --kind learned")]
    NoBlockTable { kind: &'static str },
    #[error("transfer needs a source predictor (--from) of the same space")]
    NoSource,
    #[error("{0}")]
    Model(String),
}

/// What training may use besides the rows: a block table (for `lut` and
/// `hybrid`) and another device's predictor (for `transfer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub blocks: Option<&'a BTreeMap<String, f64>>,
    pub source: Option<&'a Fitted>,
    /// Relative sd of a later invocation's scale after it is aligned to the
    /// training rows by reference subnets; `None`: [`ALIGNED_SIGMA`].
    pub later_sigma: Option<f64>,
}

/// What aligning a later invocation by its reference subnets leaves of its
/// offset, as a relative sd: two invocations of the same 40 PyTorch exports
/// on tract differed per model by 1.2% (sd of log ratios) after aligning by
/// their 5 references (2026-12-06, docs/BENCHMARKS.md), the rows' own noise
/// included; the out-of-fold residuals already carry one row's noise.
pub const ALIGNED_SIGMA: f64 = 0.01;

/// A later invocation's offset when its table has no references: the
/// invocation-wide offsets measured on tract (issue #27: about 3%).
pub const UNALIGNED_SIGMA: f64 = 0.03;

/// Rows each invocation needs before cross-validation holds out whole
/// invocations instead of rows.
pub const MIN_ROWS_PER_GROUP: usize = 10;

impl Context<'_> {
    fn later_sigma(&self) -> f64 {
        self.later_sigma.unwrap_or(ALIGNED_SIGMA)
    }

    fn blocks(&self) -> &BTreeMap<String, f64> {
        static EMPTY: BTreeMap<String, f64> = BTreeMap::new();
        self.blocks.unwrap_or(&EMPTY)
    }
}

/// One whole network's measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Architecture JSON.
    pub arch: String,
    /// Measured (corrected) median, ms.
    pub ms: f64,
    /// Relative weight (unstable rows count less).
    pub weight: f64,
    /// The profiling invocation the row came from (an index; 0 when all
    /// rows are of one): cross-validation holds out whole invocations when
    /// there are several of fair size.
    pub group: u32,
}

/// The fitted part of a predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    Lut {
        table: BTreeMap<String, f64>,
        calibration: Linear,
    },
    Learned {
        feature_names: Vec<String>,
        ensemble: Bagged,
    },
    Hybrid {
        table: BTreeMap<String, f64>,
        feature_names: Vec<String>,
        ensemble: Bagged,
    },
    /// `a · source(arch) + b`: the source device's predictor rescaled.
    Transfer {
        source: Box<Fitted>,
        calibration: Bagged,
    },
}

/// A trained predictor: the fitted model and the out-of-fold relative
/// residual quantiles that widen its intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    pub space: String,
    pub model: Model,
    /// 5% and 95% quantiles of out-of-fold relative residuals (pred/meas - 1).
    pub residual_q: (f64, f64),
}

/// What predicts: the interface every kind shares.
pub trait Predictor {
    fn predict(&self, arch_json: &str) -> Result<Prediction, PredictError>;
}

fn lut_sum(
    space: Space,
    table: &BTreeMap<String, f64>,
    arch_json: &str,
) -> Result<f64, PredictError> {
    if space != Space::OfaMbv3 {
        return Err(PredictError::NoBlockTable { kind: "lut" });
    }
    let arch = frontier_spaces::ofa_mbv3::Arch::from_json(arch_json)
        .map_err(|e| PredictError::Arch(e.to_string()))?;
    frontier_spaces::ofa_mbv3::units(&arch)
        .iter()
        .map(|u| {
            let key = u.key();
            table
                .get(&key)
                .copied()
                .ok_or(PredictError::MissingBlock { key })
        })
        .sum()
}

fn space_of(name: &str) -> Result<Space, PredictError> {
    Space::parse(name).ok_or_else(|| PredictError::Model(format!("unknown space {name}")))
}

impl Fitted {
    /// The model's inputs for one architecture.
    fn inputs(&self, arch_json: &str) -> Result<Vec<f64>, PredictError> {
        let space = space_of(&self.space)?;
        let feats = || {
            space
                .features(arch_json)
                .map_err(|e| PredictError::Arch(e.to_string()))
        };
        // The features a model was fitted on, by name: a predictor file
        // from a build with fewer features keeps predicting as it did.
        let named = |names: &[String]| -> Result<Vec<f64>, PredictError> {
            let all = feats()?;
            let known = space.feature_names();
            names
                .iter()
                .filter(|n| n.as_str() != "lut_sum_ms")
                .map(|n| {
                    known.iter().position(|k| k == n).map(|i| all[i]).ok_or_else(|| {
                        PredictError::Model(format!(
                            "the predictor uses feature {n}, which this build does not compute; fix: retrain it with this build"
                        ))
                    })
                })
                .collect()
        };
        Ok(match &self.model {
            Model::Lut { table, .. } => vec![lut_sum(space, table, arch_json)?],
            Model::Learned { feature_names, .. } => named(feature_names)?,
            Model::Hybrid {
                table,
                feature_names,
                ..
            } => {
                let mut v = vec![lut_sum(space, table, arch_json)?];
                v.extend(named(feature_names)?);
                v
            }
            Model::Transfer { source, .. } => vec![source.predict(arch_json)?.ms],
        })
    }

    /// Point prediction and member predictions.
    fn raw(&self, x: &[f64]) -> (f64, Vec<f64>) {
        match &self.model {
            Model::Lut { calibration, .. } => {
                let p = calibration.predict(x);
                (p, vec![p])
            }
            Model::Learned { ensemble, .. }
            | Model::Hybrid { ensemble, .. }
            | Model::Transfer {
                calibration: ensemble,
                ..
            } => (ensemble.predict(x), ensemble.predict_all(x)),
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Widen a prediction's model interval by the relative residuals `q`
/// (5% and 95% quantiles of pred/meas - 1): the two spreads combine in
/// quadrature on each side.
fn widen(p: &Prediction, q: (f64, f64)) -> (f64, f64) {
    let (qlo, qhi) = q;
    let model_below = (p.ms - p.interval.0).max(0.0);
    let model_above = (p.interval.1 - p.ms).max(0.0);
    // pred = meas (1 + r)  =>  meas = pred / (1 + r)
    let meas_lo = p.ms / (1.0 + qhi.max(0.0));
    let meas_hi = p.ms / (1.0 + qlo.min(0.0)).max(0.05);
    (
        (p.ms - (model_below.powi(2) + (p.ms - meas_lo).powi(2)).sqrt()).max(0.0),
        p.ms + (model_above.powi(2) + (meas_hi - p.ms).powi(2)).sqrt(),
    )
}

impl Predictor for Fitted {
    fn predict(&self, arch_json: &str) -> Result<Prediction, PredictError> {
        let x = self.inputs(arch_json)?;
        let (p, mut members) = self.raw(&x);
        let p = p.max(1e-6);
        members.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let model = Prediction {
            ms: p,
            interval: (
                quantile(&members, 0.05).min(p),
                quantile(&members, 0.95).max(p),
            ),
        };
        Ok(Prediction {
            ms: p,
            interval: widen(&model, self.residual_q),
        })
    }
}

/// Regularization of the linear models, relative to each feature's scale.
/// 1e-5 since the depthwise stride/border features (2026-12-06): at 1e-4
/// their small coefficients were shrunk and tract's held-out ±5% share fell
/// by 10 points; ONNX Runtime and GPT-2 are unchanged within noise.
const LAMBDA: f64 = 1e-5;
/// Members of a bagged ensemble.
const MEMBERS: usize = 24;

/// Fit one kind on `samples` (no cross-validation).
pub fn fit(
    space: Space,
    kind: Kind,
    samples: &[Sample],
    ctx: &Context,
    seed: u64,
) -> Result<Fitted, PredictError> {
    check_rows(kind, samples.len())?;
    fit_inner(space, kind, samples, ctx, seed)
}

fn check_rows(kind: Kind, have: usize) -> Result<(), PredictError> {
    if have < kind.min_rows() {
        return Err(PredictError::TooFewRows {
            kind: kind.name(),
            need: kind.min_rows(),
            have,
        });
    }
    Ok(())
}

/// [`fit`] without the row count check: the folds of a cross-validation
/// and the first points of a learning curve have fewer rows than the
/// minimum the whole training set must have.
fn fit_inner(
    space: Space,
    kind: Kind,
    samples: &[Sample],
    ctx: &Context,
    seed: u64,
) -> Result<Fitted, PredictError> {
    let blocks = ctx.blocks();
    if matches!(kind, Kind::Lut | Kind::Hybrid) && (blocks.is_empty() || space != Space::OfaMbv3) {
        return Err(PredictError::NoBlockTable { kind: kind.name() });
    }
    let y: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    let w: Vec<f64> = samples.iter().map(|s| s.weight).collect();
    let feats = |s: &Sample| {
        space
            .features(&s.arch)
            .map_err(|e| PredictError::Arch(e.to_string()))
    };
    let names = || {
        space
            .feature_names()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    };
    let model = match kind {
        Kind::Learned => {
            let x = samples.iter().map(feats).collect::<Result<Vec<_>, _>>()?;
            Model::Learned {
                feature_names: names(),
                ensemble: Bagged::fit(&x, &y, &w, LAMBDA, MEMBERS, seed),
            }
        }
        Kind::Lut => {
            let x = samples
                .iter()
                .map(|s| lut_sum(space, blocks, &s.arch).map(|v| vec![v]))
                .collect::<Result<Vec<_>, _>>()?;
            Model::Lut {
                table: blocks.clone(),
                calibration: linear::fit_nonneg_ridge(&x, &y, &w, 0.0),
            }
        }
        Kind::Hybrid => {
            let x = samples
                .iter()
                .map(|s| {
                    let mut v = vec![lut_sum(space, blocks, &s.arch)?];
                    v.extend(feats(s)?);
                    Ok(v)
                })
                .collect::<Result<Vec<_>, PredictError>>()?;
            let mut feature_names = vec!["lut_sum_ms".to_string()];
            feature_names.extend(names());
            Model::Hybrid {
                table: blocks.clone(),
                feature_names,
                ensemble: Bagged::fit(&x, &y, &w, LAMBDA, MEMBERS, seed),
            }
        }
        Kind::Transfer => {
            let source = ctx
                .source
                .filter(|f| f.space == space.name())
                .ok_or(PredictError::NoSource)?;
            if let Some(model) = transfer_learned(space, source, samples, seed)? {
                return Ok(Fitted {
                    space: space.name().into(),
                    model,
                    residual_q: (0.0, 0.0),
                });
            }
            let x = samples
                .iter()
                .map(|s| source.predict(&s.arch).map(|p| vec![p.ms]))
                .collect::<Result<Vec<_>, _>>()?;
            Model::Transfer {
                source: Box::new(source.clone()),
                calibration: Bagged::fit(&x, &y, &w, 0.0, MEMBERS, seed),
            }
        }
    };
    Ok(Fitted {
        space: space.name().into(),
        model,
        residual_q: (0.0, 0.0),
    })
}

/// Penalty strengths tried for a transfer toward the source's coefficients
/// (relative to each feature's scale; larger trusts the source more).
const TRANSFER_LAMBDAS: [f64; 6] = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0];

/// Few-shot transfer of a learned source: this device's coefficients,
/// pulled toward the source's rescaled to this device (a · source, `a` the
/// relative least-squares ratio of measured to source-predicted), with the
/// pull strength chosen by leave-one-out relative error on the rows given.
/// A plain rescale moves every operator's cost by one factor; backends
/// differ per operator kind (tract's depthwise convolutions against ONNX
/// Runtime's), which this follows from a few rows. `None` when the source
/// is not a learned model or the rows are too few (the rescale is used).
fn transfer_learned(
    space: Space,
    source: &Fitted,
    samples: &[Sample],
    seed: u64,
) -> Result<Option<Model>, PredictError> {
    let Model::Learned {
        feature_names,
        ensemble,
    } = &source.model
    else {
        return Ok(None);
    };
    if samples.len() < 5 {
        return Ok(None);
    }
    // The source's own features, by name (it may come from a build with
    // fewer), so its coefficients line up with them.
    let known = space.feature_names();
    let pick: Vec<usize> = feature_names
        .iter()
        .map(|n| {
            known.iter().position(|k| k == n).ok_or_else(|| {
                PredictError::Model(format!(
                    "the source predictor uses feature {n}, which this build does not compute; fix: retrain it with this build"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let x = samples
        .iter()
        .map(|s| {
            space
                .features(&s.arch)
                .map(|f| pick.iter().map(|i| f[*i]).collect::<Vec<f64>>())
                .map_err(|e| PredictError::Arch(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let y: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    let w: Vec<f64> = samples.iter().map(|s| s.weight).collect();
    let base = &ensemble.members[0];
    let src: Vec<f64> = x.iter().map(|r| base.predict(r)).collect();
    // Relative least squares for y ≈ a · src.
    let (num, den) = y
        .iter()
        .zip(&src)
        .zip(&w)
        .fold((0.0, 0.0), |(n, d), ((y, s), w)| {
            (n + w * s / y, d + w * s * s / (y * y))
        });
    let a = if den > 0.0 { num / den } else { 1.0 };
    let prior = Linear {
        intercept: a * base.intercept,
        coef: base.coef.iter().map(|c| a * c).collect(),
    };
    let loo = |lambda: f64| -> f64 {
        (0..y.len())
            .map(|i| {
                let keep = |v: &[f64]| -> Vec<f64> {
                    v.iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, v)| *v)
                        .collect()
                };
                let xs: Vec<Vec<f64>> = x
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, r)| r.clone())
                    .collect();
                let m = linear::fit_toward(&xs, &keep(&y), &keep(&w), lambda, Some(&prior));
                (m.predict(&x[i]) / y[i] - 1.0).powi(2)
            })
            .sum()
    };
    let lambda = TRANSFER_LAMBDAS
        .iter()
        .copied()
        .map(|l| (l, loo(l)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(l, _)| l)
        .unwrap_or(0.1);
    Ok(Some(Model::Learned {
        feature_names: feature_names.clone(),
        ensemble: Bagged::fit_toward(&x, &y, &w, lambda, &prior, MEMBERS, seed),
    }))
}

/// Out-of-fold predictions of k-fold cross-validation (k ≤ 5), in the
/// order of `samples`.
pub fn cross_validate(
    space: Space,
    kind: Kind,
    samples: &[Sample],
    ctx: &Context,
    seed: u64,
) -> Result<Vec<Prediction>, PredictError> {
    let n = samples.len();
    let mut out = vec![
        Prediction {
            ms: 0.0,
            interval: (0.0, 0.0)
        };
        n
    ];
    for test in folds(kind, samples, seed).0 {
        let train: Vec<Sample> = (0..n)
            .filter(|i| !test.contains(i))
            .map(|i| samples[i].clone())
            .collect();
        let fitted = fit_inner(space, kind, &train, ctx, seed)?;
        for i in test {
            out[i] = fitted.predict(&samples[i].arch)?;
        }
    }
    Ok(out)
}

/// The held-out index sets of cross-validation and what they are: whole
/// invocations when there are several with at least
/// [`MIN_ROWS_PER_GROUP`] rows each (and the rest is enough to fit `kind`),
/// else k-fold by row (k ≤ 5, seeded shuffle).
fn folds(kind: Kind, samples: &[Sample], seed: u64) -> (Vec<Vec<usize>>, String) {
    let n = samples.len();
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        groups.entry(s.group).or_default().push(i);
    }
    if groups.len() >= 2
        && groups
            .values()
            .all(|g| g.len() >= MIN_ROWS_PER_GROUP && n - g.len() >= kind.min_rows())
    {
        let k = groups.len();
        return (
            groups.into_values().collect(),
            format!("held out by invocation ({k} invocations)"),
        );
    }
    let k = 5.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ 0xC0FF_EE00);
    for i in (1..n).rev() {
        order.swap(i, below(&mut rng, i + 1));
    }
    (
        (0..k)
            .map(|fold| order.iter().copied().skip(fold).step_by(k).collect())
            .collect(),
        format!("{k}-fold by row"),
    )
}

/// One point of a learning curve: metrics on held-out rows of a predictor
/// trained on `rows` of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub rows: usize,
    pub metrics: Metrics,
}

/// The result of training: the predictor, its cross-validated metrics, and
/// why its kind was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    pub kind: Kind,
    pub fitted: Fitted,
    /// The chosen kind's accuracy expected on a later invocation: its
    /// out-of-fold residuals (by invocation when there are several, else
    /// by row) met by that invocation's error of scale
    /// ([`metrics::later_invocation`]); intervals widened to match. What
    /// `train` and active profiling print and stop on.
    pub metrics: Metrics,
    /// The same cross-validation on the training rows' own scale.
    #[serde(default)]
    pub cv_metrics: Metrics,
    /// The same on a later invocation whose table has no reference subnets
    /// to align it by (scale sd [`UNALIGNED_SIGMA`]).
    #[serde(default)]
    pub unaligned: Metrics,
    /// How the metrics were validated, in words.
    #[serde(default)]
    pub validation: String,
    /// Cross-validated metrics of every kind tried.
    pub candidates: Vec<(Kind, Metrics)>,
    pub reason: String,
    pub learning_curve: Vec<CurvePoint>,
    /// With a block table: the whole network measured over the plain sum of
    /// its blocks (median and range): how far the sum of parts is from the whole.
    pub sum_of_parts_ratio: Option<(f64, f64, f64)>,
}

/// Residual quantiles widened, in quadrature, by a later invocation's error
/// of scale (sd `sigma`, its 5-95% range).
fn later_quantiles((lo, hi): (f64, f64), sigma: f64) -> (f64, f64) {
    let z = 1.645 * sigma;
    (
        lo.max(0.0) - (lo.min(0.0).powi(2) + z * z).sqrt(),
        hi.min(0.0) + (hi.max(0.0).powi(2) + z * z).sqrt(),
    )
}

/// Relative residual quantiles (5%, 95%) of out-of-fold predictions.
fn residual_quantiles(samples: &[Sample], preds: &[Prediction]) -> (f64, f64) {
    let mut r: Vec<f64> = samples
        .iter()
        .zip(preds)
        .map(|(s, p)| p.ms / s.ms - 1.0)
        .collect();
    r.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (quantile(&r, 0.05), quantile(&r, 0.95))
}

/// Train `kinds` (one, or every applicable one for `auto`), choose by
/// cross-validated MAPE, and fit the chosen kind on all samples.
pub fn train(
    space: Space,
    kinds: &[Kind],
    samples: &[Sample],
    ctx: &Context,
    seed: u64,
) -> Result<Trained, PredictError> {
    let mut candidates = Vec::new();
    let mut last_err = None;
    for &kind in kinds {
        if let Err(e) = check_rows(kind, samples.len()) {
            last_err = Some(e);
            continue;
        }
        match cross_validate(space, kind, samples, ctx, seed) {
            Ok(preds) => candidates.push((kind, preds)),
            Err(e) => last_err = Some(e),
        }
    }
    if candidates.is_empty() {
        return Err(last_err.unwrap_or(PredictError::TooFewRows {
            kind: "auto",
            need: Kind::Learned.min_rows(),
            have: samples.len(),
        }));
    }
    // Out-of-fold intervals need the residuals of the folds themselves:
    // first pass gives the residuals, which then calibrate the intervals,
    // widened by what a later invocation's scale adds.
    let sigma = ctx.later_sigma();
    let scored: Vec<(Kind, Vec<Prediction>, (f64, f64))> = candidates
        .into_iter()
        .map(|(k, p)| {
            let q = later_quantiles(residual_quantiles(samples, &p), sigma);
            (k, p, q)
        })
        .collect();
    let truth: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    let metric_of = |(k, p, q): &(Kind, Vec<Prediction>, (f64, f64))| -> (Kind, Metrics, Metrics) {
        let point: Vec<f64> = p.iter().map(|p| p.ms).collect();
        let intervals: Vec<(f64, f64)> = p.iter().map(|pr| widen(pr, *q)).collect();
        (
            *k,
            metrics::later_invocation(&truth, &point, Some(&intervals), sigma),
            metrics::metrics(&truth, &point),
        )
    };
    let scored_metrics: Vec<(Kind, Metrics, Metrics)> = scored.iter().map(metric_of).collect();
    let all: Vec<(Kind, Metrics)> = scored_metrics
        .iter()
        .map(|(k, m, _)| (*k, m.clone()))
        .collect();
    let best = all
        .iter()
        .enumerate()
        .min_by(|a, b| {
            a.1 .1
                .mape
                .partial_cmp(&b.1 .1.mape)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|(i, _)| i)
        .expect("at least one candidate");
    let cv_metrics = scored_metrics[best].2.clone();
    let unaligned = {
        let point: Vec<f64> = scored[best].1.iter().map(|p| p.ms).collect();
        metrics::later_invocation(&truth, &point, None, UNALIGNED_SIGMA.max(sigma))
    };
    let validation = format!(
        "{}, expected on a later invocation aligned by its reference subnets (scale sd {:.1}%)",
        folds(all[best].0, samples, seed).1,
        sigma * 100.0
    );
    let (kind, metrics) = all[best].clone();
    let reason = if all.len() == 1 {
        format!(
            "{}: the only kind tried (cross-validated MAPE {:.2}%)",
            kind.name(),
            metrics.mape * 100.0
        )
    } else {
        let others: Vec<String> = all
            .iter()
            .filter(|(k, _)| *k != kind)
            .map(|(k, m)| format!("{} {:.2}%", k.name(), m.mape * 100.0))
            .collect();
        format!(
            "{}: lowest cross-validated MAPE, {:.2}% (vs {})",
            kind.name(),
            metrics.mape * 100.0,
            others.join(", ")
        )
    };
    let mut fitted = fit(space, kind, samples, ctx, seed)?;
    fitted.residual_q = scored[best].2;
    let blocks = ctx.blocks();
    let sum_of_parts_ratio = (!blocks.is_empty() && space == Space::OfaMbv3)
        .then(|| {
            let mut r: Vec<f64> = samples
                .iter()
                .filter_map(|s| lut_sum(space, blocks, &s.arch).ok().map(|sum| s.ms / sum))
                .collect();
            r.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            (!r.is_empty()).then(|| (quantile(&r, 0.5), r[0], r[r.len() - 1]))
        })
        .flatten();
    let learning_curve = learning_curve(space, kind, samples, ctx, seed);
    Ok(Trained {
        kind,
        fitted,
        metrics,
        cv_metrics,
        unaligned,
        validation,
        candidates: all,
        reason,
        learning_curve,
        sum_of_parts_ratio,
    })
}

/// Metrics on the held-out rest after training on the first m of a seeded
/// shuffle, for m = 10, 20, 40, ... (while at least 5 rows stay out).
pub fn learning_curve(
    space: Space,
    kind: Kind,
    samples: &[Sample],
    ctx: &Context,
    seed: u64,
) -> Vec<CurvePoint> {
    let n = samples.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ 0x1EA5_0C0E);
    for i in (1..n).rev() {
        order.swap(i, below(&mut rng, i + 1));
    }
    let mut out = Vec::new();
    let mut m = kind.min_rows().max(5);
    while m + 5 <= n {
        let train: Vec<Sample> = order[..m].iter().map(|&i| samples[i].clone()).collect();
        let test: Vec<Sample> = order[m..].iter().map(|&i| samples[i].clone()).collect();
        if let Ok(f) = fit_inner(space, kind, &train, ctx, seed) {
            let preds: Result<Vec<Prediction>, _> =
                test.iter().map(|s| f.predict(&s.arch)).collect();
            if let Ok(p) = preds {
                let truth: Vec<f64> = test.iter().map(|s| s.ms).collect();
                let pm: Vec<f64> = p.iter().map(|p| p.ms).collect();
                out.push(CurvePoint {
                    rows: m,
                    metrics: metrics::metrics(&truth, &pm),
                });
            }
        }
        m *= 2;
    }
    out
}

/// The predictor file (`frontier train --out`): versioned JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorFile {
    pub schema_version: String,
    pub space: String,
    pub kind: Kind,
    pub device_id: String,
    /// What the rows said of the device.
    pub device: BTreeMap<String, String>,
    pub backend: String,
    pub backend_version: String,
    pub threads: u32,
    /// SHA-256 over the training rows' ids, sorted.
    pub training_data_sha256: String,
    pub training_rows: usize,
    pub unstable_rows: usize,
    pub metrics: Metrics,
    pub reason: String,
    pub fitted: Fitted,
    /// The reference subnets' latencies (ms, by architecture JSON) of the
    /// invocation the predictor's scale is (1.1): `predict` on a table
    /// with references of another invocation scales its predictions by
    /// that invocation's offset from these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<BTreeMap<String, f64>>,
}

impl PredictorFile {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data")
    }

    /// Read a predictor file, refusing another major version.
    pub fn from_json(text: &str) -> Result<PredictorFile, PredictError> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| PredictError::Model(format!("not a predictor file: {e}")))?;
        let version = v
            .get("schema_version")
            .and_then(|s| s.as_str())
            .ok_or_else(|| PredictError::Model("no schema_version: not a predictor file".into()))?;
        if version.split('.').next() != Some(PREDICTOR_MAJOR) {
            return Err(PredictError::Model(format!(
                "predictor schema_version {version} is not supported (reads {PREDICTOR_MAJOR}.x); fix: upgrade frontier or retrain"
            )));
        }
        serde_json::from_value(v)
            .map_err(|e| PredictError::Model(format!("not a predictor file: {e}")))
    }
}

impl Predictor for PredictorFile {
    fn predict(&self, arch_json: &str) -> Result<Prediction, PredictError> {
        self.fitted.predict(arch_json)
    }
}

#[cfg(test)]
mod tests;
