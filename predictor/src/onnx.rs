//! A predictor as an ONNX model, so that a search written in Python (or any
//! ONNX runtime) gets the same predictions without Frontier.
//!
//! The model takes the space's **encoding** (`encode()` of the export crate,
//! one row per architecture), not the analytic features: a caller has the
//! architecture, not Frontier's feature code. The graph computes the
//! features itself:
//!
//! - OFA MobileNetV3: every feature is a sum over units, and a unit's share
//!   depends only on its slot, kernel, expand ratio and the resolution (the
//!   channel plan is fixed per slot, and a same-padded convolution's output
//!   size does not depend on its kernel). The encoding has one-hots of
//!   exactly these (all zero for inactive slots), so the features are
//!   `Σ_slot onehot(k) ⊗ onehot(e) ⊗ onehot(r) · G[slot]` plus
//!   `onehot(r) · H` for the stem, the fixed first block and the head: a
//!   batched MatMul against a table built here from [`ofa_unit_features`].
//!   Lookup-table sums (`lut`, `hybrid`) are one more column of the same
//!   table; a column counting missing blocks makes those predictions NaN
//!   where Frontier would refuse.
//! - GPT-2: the features are products of the encoding's `n_layer`,
//!   `d_model`, `seq_len` and the sums of its per-layer heads and widths.
//!
//! On top, the fitted model: the bagged members as one MatMul, the point
//! (the full-data member, at least 1e-6), the members' 5%/95% quantiles
//! (TopK sorts them) and the widening by the cross-validated residuals,
//! the same arithmetic as [`crate::Predictor::predict`] in f32.
//!
//! Inputs: `encoding` `[batch, ENCODING_LEN]` f32. Outputs: `latency_ms`
//! `[batch]`, `interval_ms` `[batch, 2]`, `features` `[batch, F]`.

use std::collections::BTreeMap;

use frontier_spaces::features::ofa_unit_features;
use frontier_spaces::gpt2;
use frontier_spaces::ofa_mbv3::{
    self, Unit, EXPANDS, KERNELS, MAX_DEPTH, MAX_RES, MIN_RES, STAGES,
};
use frontier_spaces::onnx::{attr_int, Elem, GraphBuilder};

use crate::linear::Linear;
use crate::Space;
use crate::{Fitted, Model, PredictError};

/// Opset of the exported graph (ReduceSum takes its axes as an input).
const OPSET: i64 = 13;

const SLOTS: usize = STAGES * MAX_DEPTH;
const RES: usize = ((MAX_RES - MIN_RES) / 4 + 1) as usize;

/// The ONNX model of a fitted predictor (serialized bytes), with
/// `metadata` as the model's `metadata_props` (what it predicts for: space,
/// device, backend, threads).
pub fn to_onnx(fitted: &Fitted, metadata: &[(&str, &str)]) -> Result<Vec<u8>, PredictError> {
    let space = Space::parse(&fitted.space)
        .ok_or_else(|| PredictError::Model(format!("unknown space {}", fitted.space)))?;
    let enc_len = match space {
        Space::OfaMbv3 => ofa_mbv3::ENCODING_LEN,
        Space::Gpt2 => gpt2::ENCODING_LEN,
    };
    let mut g = GraphBuilder::new(0);
    g.metadata("frontier_space", space.name());
    g.metadata("frontier_encoding_len", &enc_len.to_string());
    g.metadata("frontier_features", &space.feature_names().join(","));
    for (k, v) in metadata {
        g.metadata(k, v);
    }
    let enc = g.input_batched("encoding", Elem::F32, &[enc_len]);
    let mut b = Builder { g, space, enc };
    let out = b.fitted(fitted)?;
    let f = space.feature_names().len();
    let lat = b.reshape(&out.point, &[-1]);
    b.g.output_batched(&lat, "latency_ms", Elem::F32, &[]);
    b.g.output_batched(&out.interval, "interval_ms", Elem::F32, &[2]);
    b.g.output_batched(&out.features, "features", Elem::F32, &[f]);
    Ok(b.g.finish("frontier_predictor", OPSET))
}

struct Builder {
    g: GraphBuilder,
    space: Space,
    enc: String,
}

/// What one fitted model contributes: `[batch, 1]` point, `[batch, 2]`
/// interval, `[batch, F]` features.
struct Out {
    point: String,
    interval: String,
    features: String,
}

impl Builder {
    fn i64s(&mut self, v: &[i64]) -> String {
        self.g.constant_i64("c", &[v.len()], v)
    }

    fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.i64s(shape);
        self.g.op("Reshape", &[x, &s])
    }

    /// Columns `[from, to)` of a `[batch, n]` value.
    fn cols(&mut self, x: &str, from: usize, to: usize) -> String {
        let (s, e, a) = (
            self.i64s(&[from as i64]),
            self.i64s(&[to as i64]),
            self.i64s(&[1]),
        );
        self.g.op("Slice", &[x, &s, &e, &a])
    }

    fn scalar(&mut self, v: f64) -> String {
        self.g.scalar("k", v as f32)
    }

    fn mul_k(&mut self, x: &str, k: f64) -> String {
        let c = self.scalar(k);
        self.g.op("Mul", &[x, &c])
    }

    fn row_sum(&mut self, x: &str) -> String {
        let axes = self.i64s(&[1]);
        self.g
            .node("ReduceSum", &[x, &axes], vec![attr_int("keepdims", 1)], 1)
            .remove(0)
    }

    fn concat(&mut self, xs: &[&str]) -> String {
        self.g
            .node("Concat", xs, vec![attr_int("axis", 1)], 1)
            .remove(0)
    }

    /// The columns of `features` (the space's, in its order) a model was
    /// fitted on, by name: a predictor file from a build with fewer
    /// features exports as it predicts.
    fn pick(&mut self, features: &str, names: &[String]) -> Result<String, PredictError> {
        let known = self.space.feature_names();
        let idx = names
            .iter()
            .filter(|n| n.as_str() != "lut_sum_ms")
            .map(|n| {
                known.iter().position(|k| k == n).map(|i| i as i64).ok_or_else(|| {
                    PredictError::Model(format!(
                        "the predictor uses feature {n}, which this build does not compute; fix: retrain it with this build"
                    ))
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        if idx.len() == known.len() && idx.iter().enumerate().all(|(i, j)| i as i64 == *j) {
            return Ok(features.to_string());
        }
        let i = self.i64s(&idx);
        Ok(self
            .g
            .node("Gather", &[features, &i], vec![attr_int("axis", 1)], 1)
            .remove(0))
    }

    fn fitted(&mut self, f: &Fitted) -> Result<Out, PredictError> {
        let lut_table = match &f.model {
            Model::Lut { table, .. } | Model::Hybrid { table, .. } => Some(table),
            _ => None,
        };
        if let Model::Transfer {
            source,
            calibration,
        } = &f.model
        {
            let src = self.fitted(source)?;
            let out = self.head(&src.point, &calibration.members, f.residual_q);
            return Ok(Out {
                features: src.features,
                ..out
            });
        }
        let (features, lut) = match self.space {
            Space::OfaMbv3 => self.ofa_features(lut_table)?,
            Space::Gpt2 if lut_table.is_none() => (self.gpt2_features(), None),
            Space::Gpt2 => return Err(PredictError::NoBlockTable { kind: "lut" }),
        };
        let out = match (&f.model, &lut) {
            (
                Model::Learned {
                    ensemble,
                    feature_names,
                },
                _,
            ) => {
                let x = self.pick(&features, feature_names)?;
                self.head(&x, &ensemble.members, f.residual_q)
            }
            (
                Model::Hybrid {
                    ensemble,
                    feature_names,
                    ..
                },
                Some((sum, _)),
            ) => {
                let x = self.pick(&features, feature_names)?;
                let x = self.concat(&[sum, &x]);
                self.head(&x, &ensemble.members, f.residual_q)
            }
            (Model::Lut { calibration, .. }, Some((sum, _))) => {
                self.head(sum, std::slice::from_ref(calibration), f.residual_q)
            }
            _ => unreachable!("lookup-table kinds are built with their table"),
        };
        let out = match &lut {
            Some((_, missing)) => self.nan_where_missing(out, missing),
            None => out,
        };
        Ok(Out { features, ..out })
    }

    /// OFA features `[batch, F]` and, with a block table, the lookup-table
    /// sum and the count of units missing from the table (`[batch, 1]` each).
    #[allow(clippy::type_complexity)]
    fn ofa_features(
        &mut self,
        table: Option<&BTreeMap<String, f64>>,
    ) -> Result<(String, Option<(String, String)>), PredictError> {
        let nf = Space::OfaMbv3.feature_names().len();
        let cols = nf + if table.is_some() { 2 } else { 0 };
        let combos = KERNELS.len() * EXPANDS.len();
        // g[slot][(k·3 + e)·RES + r][col], h[r][col].
        let mut g = vec![0f32; SLOTS * combos * RES * cols];
        let mut h = vec![0f32; RES * cols];
        let unit_cols = |u: &Unit| -> Vec<f64> {
            let mut v = ofa_unit_features(u);
            if let Some(t) = table {
                match t.get(&u.key()) {
                    Some(ms) => v.extend([*ms, 0.0]),
                    None => v.extend([0.0, 1.0]),
                }
            }
            v
        };
        for (ki, &k) in KERNELS.iter().enumerate() {
            for (ei, &e) in EXPANDS.iter().enumerate() {
                for ri in 0..RES {
                    let arch = ofa_mbv3::Arch {
                        ks: vec![k; SLOTS],
                        e: vec![e; SLOTS],
                        d: vec![MAX_DEPTH as u32; STAGES],
                        r: MIN_RES + 4 * ri as u32,
                    };
                    let units = ofa_mbv3::units(&arch);
                    // Stem, the fixed first block, the SLOTS blocks, the head.
                    debug_assert_eq!(units.len(), SLOTS + 3);
                    for (slot, u) in units[2..2 + SLOTS].iter().enumerate() {
                        let row = (slot * combos + ki * EXPANDS.len() + ei) * RES + ri;
                        for (c, v) in unit_cols(u).into_iter().enumerate() {
                            g[row * cols + c] = v as f32;
                        }
                    }
                    if ki == 0 && ei == 0 {
                        for u in [&units[0], &units[1], &units[SLOTS + 2]] {
                            for (c, v) in unit_cols(u).into_iter().enumerate() {
                                h[ri * cols + c] += v as f32;
                            }
                        }
                    }
                }
            }
        }
        let enc = self.enc.clone();
        let k = self.cols(&enc, 0, SLOTS * 3);
        let k = self.reshape(&k, &[-1, SLOTS as i64, 3, 1]);
        let e = self.cols(&enc, SLOTS * 3, SLOTS * 6);
        let e = self.reshape(&e, &[-1, SLOTS as i64, 1, 3]);
        let ke = self.g.op("Mul", &[&k, &e]);
        let ke = self.reshape(&ke, &[-1, SLOTS as i64, combos as i64, 1]);
        let r0 = SLOTS * 6 + STAGES * 3;
        let r = self.cols(&enc, r0, r0 + RES);
        let r4 = self.reshape(&r, &[-1, 1, 1, RES as i64]);
        let ker = self.g.op("Mul", &[&ke, &r4]);
        let ker = self.reshape(&ker, &[-1, SLOTS as i64, 1, (combos * RES) as i64]);
        let gt = self
            .g
            .constant_f32("slot_table", &[SLOTS, combos * RES, cols], g);
        let per_slot = self.g.op("MatMul", &[&ker, &gt]);
        let axes = self.i64s(&[1, 2]);
        let blocks = self
            .g
            .node(
                "ReduceSum",
                &[&per_slot, &axes],
                vec![attr_int("keepdims", 0)],
                1,
            )
            .remove(0);
        let ht = self.g.constant_f32("fixed_table", &[RES, cols], h);
        let fixed = self.g.op("MatMul", &[&r, &ht]);
        let all = self.g.op("Add", &[&blocks, &fixed]);
        let features = self.cols(&all, 0, nf);
        let lut = table.map(|_| (self.cols(&all, nf, nf + 1), self.cols(&all, nf + 1, nf + 2)));
        Ok((features, lut))
    }

    /// GPT-2 features `[batch, 9]` from the encoding (see `features.rs`).
    fn gpt2_features(&mut self) -> String {
        const M: f64 = 1e6;
        let enc = self.enc.clone();
        let layers = self.cols(&enc, 0, 1);
        let d = self.cols(&enc, 1, 2);
        let s = self.cols(&enc, 4, 5);
        let heads = self.cols(&enc, 7, 7 + gpt2::MAX_LAYERS);
        let heads = self.row_sum(&heads);
        let inners = self.cols(&enc, 7 + gpt2::MAX_LAYERS, 7 + 2 * gpt2::MAX_LAYERS);
        let inners = self.row_sum(&inners);
        let sd = self.g.op("Mul", &[&s, &d]);
        let sdl = self.g.op("Mul", &[&sd, &layers]);
        let sddl = self.g.op("Mul", &[&sdl, &d]);
        let qkv = self.mul_k(&sddl, 4.0 / M);
        let ssdl = self.g.op("Mul", &[&sdl, &s]);
        let attention = self.mul_k(&ssdl, 2.0 / M);
        let sdi = self.g.op("Mul", &[&sd, &inners]);
        let ffn = self.mul_k(&sdi, 2.0 / M);
        let ss = self.g.op("Mul", &[&s, &s]);
        let ssh = self.g.op("Mul", &[&ss, &heads]);
        let softmax = self.mul_k(&ssh, 1.0 / M);
        let si = self.g.op("Mul", &[&s, &inners]);
        let ffn_el = self.mul_k(&si, 1.0 / M);
        // Layer norms: two per layer and the final one, each s·d elements.
        let two_sdl = self.mul_k(&sdl, 2.0);
        let ln = self.g.op("Add", &[&two_sdl, &sd]);
        let ln = self.mul_k(&ln, 1.0 / M);
        let emb = self.mul_k(&sd, 1.0 / M);
        self.concat(&[
            &qkv, &attention, &ffn, &layers, &heads, &softmax, &ffn_el, &ln, &emb,
        ])
    }

    /// The bagged members over inputs `x` (`[batch, p]`), the point and the
    /// widened interval, as in `Fitted::predict`.
    fn head(&mut self, x: &str, members: &[Linear], (qlo, qhi): (f64, f64)) -> Out {
        let m = members.len();
        let p = members.first().map(|l| l.coef.len()).unwrap_or(0);
        let mut w = vec![0f32; p * m];
        for (j, l) in members.iter().enumerate() {
            for (i, c) in l.coef.iter().enumerate() {
                w[i * m + j] = *c as f32;
            }
        }
        let b: Vec<f32> = members.iter().map(|l| l.intercept as f32).collect();
        let w = self.g.constant_f32("coef", &[p, m], w);
        let b = self.g.constant_f32("intercept", &[m], b);
        let xw = self.g.op("MatMul", &[x, &w]);
        let all = self.g.op("Add", &[&xw, &b]);
        let first = self.cols(&all, 0, 1);
        let floor = self.scalar(1e-6);
        let point = self.g.op("Max", &[&first, &floor]);
        let k = self.i64s(&[m as i64]);
        let sorted = self
            .g
            .node(
                "TopK",
                &[&all, &k],
                vec![
                    attr_int("axis", 1),
                    attr_int("largest", 0),
                    attr_int("sorted", 1),
                ],
                2,
            )
            .remove(0);
        let q05 = self.quantile(&sorted, m, 0.05);
        let q95 = self.quantile(&sorted, m, 0.95);
        let mlo = self.g.op("Min", &[&q05, &point]);
        let mhi = self.g.op("Max", &[&q95, &point]);
        let zero = self.scalar(0.0);
        let below = self.g.op("Sub", &[&point, &mlo]);
        let below = self.g.op("Max", &[&below, &zero]);
        let above = self.g.op("Sub", &[&mhi, &point]);
        let above = self.g.op("Max", &[&above, &zero]);
        // pred = meas (1 + r)  =>  meas = pred / (1 + r)
        let meas_lo = self.mul_k(&point, 1.0 / (1.0 + qhi.max(0.0)));
        let meas_hi = self.mul_k(&point, 1.0 / (1.0 + qlo.min(0.0)).max(0.05));
        let d_lo = self.g.op("Sub", &[&point, &meas_lo]);
        let d_hi = self.g.op("Sub", &[&meas_hi, &point]);
        let lo_spread = self.hypot(&below, &d_lo);
        let hi_spread = self.hypot(&above, &d_hi);
        let lo = self.g.op("Sub", &[&point, &lo_spread]);
        let lo = self.g.op("Max", &[&lo, &zero]);
        let hi = self.g.op("Add", &[&point, &hi_spread]);
        let interval = self.concat(&[&lo, &hi]);
        Out {
            point,
            interval,
            features: String::new(),
        }
    }

    fn hypot(&mut self, a: &str, b: &str) -> String {
        let aa = self.g.op("Mul", &[a, a]);
        let bb = self.g.op("Mul", &[b, b]);
        let sum = self.g.op("Add", &[&aa, &bb]);
        self.g.op("Sqrt", &[&sum])
    }

    /// The `q` quantile (linear interpolation) of each row of `sorted`
    /// (`[batch, m]`, ascending), `[batch, 1]`.
    fn quantile(&mut self, sorted: &str, m: usize, q: f64) -> String {
        let pos = q * (m - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let v_lo = self.cols(sorted, lo, lo + 1);
        if lo == hi {
            return v_lo;
        }
        let v_hi = self.cols(sorted, hi, hi + 1);
        let d = self.g.op("Sub", &[&v_hi, &v_lo]);
        let d = self.mul_k(&d, pos - lo as f64);
        self.g.op("Add", &[&v_lo, &d])
    }

    /// NaN where a unit is missing from the block table (Frontier refuses
    /// to predict those architectures).
    fn nan_where_missing(&mut self, out: Out, missing: &str) -> Out {
        let half = self.scalar(0.5);
        let cond = self.g.op("Greater", &[missing, &half]);
        let nan = self.scalar(f64::NAN);
        Out {
            point: self.g.op("Where", &[&cond, &nan, &out.point]),
            interval: self.g.op("Where", &[&cond, &nan, &out.interval]),
            features: out.features,
        }
    }
}
