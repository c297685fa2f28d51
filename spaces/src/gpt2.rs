//! The GPT-2 decoder space of LiteTransformerSearch (archai's `gpt2`
//! search space), in Hugging Face's `GPT2Model` form.
//!
//! Network: token embedding `wte [vocab, d]` plus learned position embedding
//! `wpe [n_positions, d]`; `n_layer` pre-LayerNorm blocks, each
//! `h + attn(ln_1(h))` then `h + mlp(ln_2(h))`, where `attn` is causal
//! multi-head self-attention (`c_attn` d→3d, softmax(QKᵀ/√(d/H) + mask) V,
//! `c_proj` d→d) and `mlp` is `c_fc` d→d_inner, GELU (tanh form, GPT-2's
//! `gelu_new`), `c_proj` d_inner→d; then a final LayerNorm. Input: `int64`
//! token ids `[1, seq_len]`; output: the last hidden state `[1, seq_len, d]`.
//! Heads and inner width may differ per layer, as in LTS.
//!
//! `params` is Hugging Face's parameter count: embeddings, every LayerNorm's
//! weight and bias, every Conv1D's weight and bias (the causal-mask buffers
//! are not parameters). For GPT-2 small (12, 768, 12, 3072, 50257, 1024) it is
//! 124,439,808. `macs` counts the matrix products at `seq_len`: the four
//! projections and the two attention products (`QKᵀ` and `PV`, each
//! `seq_len² · d`), as the graph statistics of `frontier inspect` do.
//!
//! The ONNX graph follows PyTorch's (dynamo, opset 18+) export of GPT2Model:
//! LayerNormalization nodes, projections as Gemm on `[seq_len, d]` between
//! Reshapes, Split into Q/K/V, Reshape+Transpose into heads, a constant
//! additive causal mask, Softmax, and GELU as Pow/Mul/Add/Tanh: the same op
//! histogram except that the exporter folds the position embedding of the
//! fixed positions into a constant, where this graph keeps `wpe` and its
//! Gather (one gather of `seq_len` rows; the graph then holds exactly the
//! model's parameters).

use serde::{Deserialize, Serialize};

use crate::onnx::{attr_float, attr_int, attr_ints, ArchError, Elem, Generated, GraphBuilder};
use crate::rng::SplitMix64;

/// The space's name in manifests, tables and errors.
pub const SPACE: &str = "gpt2";

/// Most layers an architecture may have (GPT-2 medium has 24).
pub const MAX_LAYERS: usize = 24;

/// The sampling choices of LTS's GPT-2 space, and its fixed sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub n_layer: Vec<u32>,
    pub d_model: Vec<u32>,
    pub n_head: Vec<u32>,
    pub d_inner: Vec<u32>,
    pub vocab_size: u32,
    pub n_positions: u32,
    pub seq_len: u32,
}

impl Default for Space {
    /// LTS's GPT-2 space: 2-16 layers, d_model 128-1024 and d_inner
    /// 256-4096 in steps of 64, 2/4/8 heads per layer; GPT-2's vocabulary
    /// (50257) and context (1024); sequence length 128.
    fn default() -> Self {
        Space {
            n_layer: (2..=16).collect(),
            d_model: (128..=1024).step_by(64).collect(),
            n_head: vec![2, 4, 8],
            d_inner: (256..=4096).step_by(64).collect(),
            vocab_size: 50257,
            n_positions: 1024,
            seq_len: 128,
        }
    }
}

/// A value or one value per layer, as LTS writes `n_head` and `d_inner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerLayer {
    One(u32),
    Each(Vec<u32>),
}

impl PerLayer {
    fn expand(&self, n: usize) -> Vec<u32> {
        match self {
            PerLayer::One(v) => vec![*v; n],
            PerLayer::Each(v) => v.clone(),
        }
    }
}

/// An architecture: `{"n_layer", "d_model", "n_head", "d_inner",
/// "vocab_size", "n_positions", "seq_len"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    pub n_layer: u32,
    pub d_model: u32,
    pub n_head: PerLayer,
    pub d_inner: PerLayer,
    pub vocab_size: u32,
    pub n_positions: u32,
    pub seq_len: u32,
}

fn err(field: &str, problem: String, allowed: &str) -> ArchError {
    ArchError {
        space: SPACE,
        field: field.into(),
        problem,
        allowed: allowed.into(),
    }
}

impl Arch {
    pub fn from_json(text: &str) -> Result<Arch, ArchError> {
        let arch: Arch = serde_json::from_str(text).map_err(|e| {
            err(
                "(json)",
                format!("cannot be read: {e}"),
                "{\"n_layer\": int, \"d_model\": int, \"n_head\": int or [per layer], \"d_inner\": int or [per layer], \"vocab_size\": int, \"n_positions\": int, \"seq_len\": int}",
            )
        })?;
        arch.validate()?;
        Ok(arch)
    }

    pub fn heads(&self) -> Vec<u32> {
        self.n_head.expand(self.n_layer as usize)
    }

    pub fn inners(&self) -> Vec<u32> {
        self.d_inner.expand(self.n_layer as usize)
    }

    pub fn validate(&self) -> Result<(), ArchError> {
        let l = self.n_layer as usize;
        if !(1..=MAX_LAYERS).contains(&l) {
            return Err(err(
                "n_layer",
                format!("is {l}"),
                &format!("1 to {MAX_LAYERS}"),
            ));
        }
        for (name, v) in [("n_head", &self.n_head), ("d_inner", &self.d_inner)] {
            if let PerLayer::Each(list) = v {
                if list.len() != l {
                    return Err(err(
                        name,
                        format!("has {} entries", list.len()),
                        &format!("one integer, or exactly n_layer = {l} entries"),
                    ));
                }
            }
        }
        if self.d_model == 0 {
            return Err(err("d_model", "is 0".into(), "a positive integer"));
        }
        for (i, h) in self.heads().iter().enumerate() {
            if *h == 0 || !self.d_model.is_multiple_of(*h) {
                return Err(err(
                    &format!("n_head[{i}]"),
                    format!("is {h}, which does not divide d_model = {}", self.d_model),
                    "a positive divisor of d_model",
                ));
            }
        }
        if let Some((i, _)) = self.inners().iter().enumerate().find(|(_, x)| **x == 0) {
            return Err(err(
                &format!("d_inner[{i}]"),
                "is 0".into(),
                "a positive integer",
            ));
        }
        if self.vocab_size == 0 {
            return Err(err("vocab_size", "is 0".into(), "a positive integer"));
        }
        if self.seq_len == 0 || self.seq_len > self.n_positions {
            return Err(err(
                "seq_len",
                format!(
                    "is {} with n_positions = {}",
                    self.seq_len, self.n_positions
                ),
                "1 to n_positions",
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data")
    }
}

/// Hugging Face `GPT2Model`'s parameter count.
pub fn params(a: &Arch) -> u64 {
    let d = a.d_model as u64;
    let mut p = a.vocab_size as u64 * d + a.n_positions as u64 * d + 2 * d;
    for inner in a.inners() {
        let f = inner as u64;
        // ln_1, c_attn, c_proj, ln_2, c_fc, mlp.c_proj
        p += 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
    }
    p
}

/// Multiply-accumulates of the matrix products at `seq_len`.
pub fn macs(a: &Arch) -> u64 {
    let (d, s) = (a.d_model as u64, a.seq_len as u64);
    a.inners()
        .iter()
        .map(|f| {
            let f = *f as u64;
            s * d * 3 * d + 2 * s * s * d + s * d * d + 2 * s * d * f
        })
        .sum()
}

/// The ONNX model (opset 18) with seeded random weights.
pub fn generate(a: &Arch, seed: u64) -> Result<Generated, ArchError> {
    a.validate()?;
    let (d, s) = (a.d_model as usize, a.seq_len as usize);
    let mut g = GraphBuilder::new(seed);
    let ids = g.input("input_ids", Elem::I64, &[1, s]);
    let wte = g.weights("wte", &[a.vocab_size as usize, d], 0.02);
    let wpe = g.weights("wpe", &[a.n_positions as usize, d], 0.01);
    let tok = gather(&mut g, &wte, &ids);
    let positions: Vec<i64> = (0..s as i64).collect();
    let pos_ids = g.constant_i64("position_ids", &[s], &positions);
    let pos = gather(&mut g, &wpe, &pos_ids);
    let mut h = g.op("Add", &[&tok, &pos]);
    // Additive causal mask: 0 on and below the diagonal, float32's lowest above
    // (as transformers fills masked scores with finfo.min).
    let mask: Vec<f32> = (0..s * s)
        .map(|i| if i % s > i / s { f32::MIN } else { 0.0 })
        .collect();
    let mask = g.constant_f32("causal_mask", &[1, 1, s, s], mask);
    let flat = g.constant_i64("shape", &[2], &[-1, d as i64]);
    let seq3 = g.constant_i64("shape", &[3], &[1, s as i64, d as i64]);
    for (heads, inner) in a.heads().into_iter().zip(a.inners()) {
        let (hn, f) = (heads as usize, inner as usize);
        let hd = d / hn;
        // Attention.
        let x = layer_norm(&mut g, &h, d);
        let x2 = g.op("Reshape", &[&x, &flat]);
        let qkv = conv1d(&mut g, &x2, d, 3 * d);
        let qkv_shape = g.constant_i64("shape", &[3], &[1, s as i64, 3 * d as i64]);
        let qkv = g.op("Reshape", &[&qkv, &qkv_shape]);
        let split = g.constant_i64("split", &[3], &[d as i64, d as i64, d as i64]);
        let parts = g.node("Split", &[&qkv, &split], vec![attr_int("axis", 2)], 3);
        let heads_shape = g.constant_i64("shape", &[4], &[1, s as i64, hn as i64, hd as i64]);
        let split_heads = |g: &mut GraphBuilder, v: &str, perm: &[i64]| {
            let r = g.op("Reshape", &[v, &heads_shape]);
            g.node("Transpose", &[&r], vec![attr_ints("perm", perm)], 1)
                .remove(0)
        };
        let q = split_heads(&mut g, &parts[0], &[0, 2, 1, 3]);
        let k = split_heads(&mut g, &parts[1], &[0, 2, 3, 1]);
        let v = split_heads(&mut g, &parts[2], &[0, 2, 1, 3]);
        let scores = g.op("MatMul", &[&q, &k]);
        let scale = g.scalar("scale", 1.0 / (hd as f32).sqrt());
        let scores = g.op("Mul", &[&scores, &scale]);
        let scores = g.op("Add", &[&scores, &mask]);
        let p = g
            .node("Softmax", &[&scores], vec![attr_int("axis", -1)], 1)
            .remove(0);
        let o = g.op("MatMul", &[&p, &v]);
        let o = g
            .node(
                "Transpose",
                &[&o],
                vec![attr_ints("perm", &[0, 2, 1, 3])],
                1,
            )
            .remove(0);
        let o = g.op("Reshape", &[&o, &seq3]);
        let o = g.op("Reshape", &[&o, &flat]);
        let o = conv1d(&mut g, &o, d, d);
        let o = g.op("Reshape", &[&o, &seq3]);
        h = g.op("Add", &[&h, &o]);
        // MLP.
        let x = layer_norm(&mut g, &h, d);
        let x2 = g.op("Reshape", &[&x, &flat]);
        let m = conv1d(&mut g, &x2, d, f);
        let inner_shape = g.constant_i64("shape", &[3], &[1, s as i64, f as i64]);
        let m = g.op("Reshape", &[&m, &inner_shape]);
        let m = gelu_tanh(&mut g, &m);
        let inner_flat = g.constant_i64("shape", &[2], &[-1, f as i64]);
        let m = g.op("Reshape", &[&m, &inner_flat]);
        let m = conv1d(&mut g, &m, f, d);
        let m = g.op("Reshape", &[&m, &seq3]);
        h = g.op("Add", &[&h, &m]);
    }
    let out = layer_norm(&mut g, &h, d);
    g.output(&out, Elem::F32, &[1, s, d]);
    Ok(g.into_generated("gpt2", 18, vec![1, s]))
}

fn gather(g: &mut GraphBuilder, table: &str, ids: &str) -> String {
    g.node("Gather", &[table, ids], vec![attr_int("axis", 0)], 1)
        .remove(0)
}

fn layer_norm(g: &mut GraphBuilder, x: &str, d: usize) -> String {
    // Weight near 1 and bias near 0, as trained LayerNorms are; random
    // within a small band so nothing is constant-folded away.
    let w = g.weights_around("ln_w", &[d], 1.0, 0.1);
    let b = g.weights("ln_b", &[d], 0.02);
    g.node(
        "LayerNormalization",
        &[x, &w, &b],
        vec![attr_int("axis", -1), attr_float("epsilon", 1e-5)],
        1,
    )
    .remove(0)
}

/// GPT-2's `Conv1D` (weight `[in, out]`, `x @ W + b`) exported as Gemm.
fn conv1d(g: &mut GraphBuilder, x: &str, fin: usize, fout: usize) -> String {
    let w = g.weights("w", &[fin, fout], (3.0 / fin as f32).sqrt());
    let b = g.weights("b", &[fout], 0.02);
    g.node(
        "Gemm",
        &[x, &w, &b],
        vec![attr_float("alpha", 1.0), attr_float("beta", 1.0)],
        1,
    )
    .remove(0)
}

/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
fn gelu_tanh(g: &mut GraphBuilder, x: &str) -> String {
    let three = g.scalar("c3", 3.0);
    let cube = g.op("Pow", &[x, &three]);
    let c = g.scalar("c", 0.044715);
    let t = g.op("Mul", &[&cube, &c]);
    let u = g.op("Add", &[x, &t]);
    let k = g.scalar("k", (2.0 / std::f32::consts::PI).sqrt());
    let w = g.op("Mul", &[&u, &k]);
    let th = g.op("Tanh", &[&w]);
    let one = g.scalar("one", 1.0);
    let v = g.op("Add", &[&th, &one]);
    let half = g.scalar("half", 0.5);
    let hx = g.op("Mul", &[x, &half]);
    g.op("Mul", &[&hx, &v])
}

/// Length of [`encode`]'s vector.
pub const ENCODING_LEN: usize = 7 + 2 * MAX_LAYERS + 2;

/// LTS/HAT-style features: `n_layer, d_model, vocab_size, n_positions,
/// seq_len, mean heads, mean d_inner` (HAT's summary features), then heads
/// per layer and d_inner per layer padded with zeros to [`MAX_LAYERS`] (LTS's
/// per-layer choices, which make the encoding invertible), then the
/// parameter count in millions and the MACs in billions (LTS's proxies).
pub fn encode(a: &Arch) -> Vec<f32> {
    let heads = a.heads();
    let inners = a.inners();
    let mean = |v: &[u32]| v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64;
    let mut v = vec![
        a.n_layer as f32,
        a.d_model as f32,
        a.vocab_size as f32,
        a.n_positions as f32,
        a.seq_len as f32,
        mean(&heads) as f32,
        mean(&inners) as f32,
    ];
    for list in [&heads, &inners] {
        for i in 0..MAX_LAYERS {
            v.push(list.get(i).map(|x| *x as f32).unwrap_or(0.0));
        }
    }
    v.push((params(a) as f64 / 1e6) as f32);
    v.push((macs(a) as f64 / 1e9) as f32);
    v
}

/// The inverse of [`encode`]; per-layer lists come back as lists, or as one
/// value when every layer has the same.
pub fn decode(v: &[f32]) -> Result<Arch, ArchError> {
    if v.len() != ENCODING_LEN {
        return Err(err(
            "encoding",
            format!("has {} values", v.len()),
            &format!("{ENCODING_LEN} values made by encode()"),
        ));
    }
    let int = |x: f32| x.round() as u32;
    let n = int(v[0]) as usize;
    if !(1..=MAX_LAYERS).contains(&n) {
        return Err(err("encoding", format!("n_layer {n}"), "1 to 24"));
    }
    let per = |off: usize| {
        let list: Vec<u32> = v[off..off + n].iter().map(|x| int(*x)).collect();
        if list.iter().all(|x| *x == list[0]) {
            PerLayer::One(list[0])
        } else {
            PerLayer::Each(list)
        }
    };
    let a = Arch {
        n_layer: n as u32,
        d_model: int(v[1]),
        vocab_size: int(v[2]),
        n_positions: int(v[3]),
        seq_len: int(v[4]),
        n_head: per(7),
        d_inner: per(7 + MAX_LAYERS),
    };
    a.validate()?;
    Ok(a)
}

/// Draw an architecture uniformly from `space`: layer count and d_model
/// uniform, then heads and d_inner uniform per layer (heads among the
/// choices that divide d_model).
pub fn sample(space: &Space, rng: &mut SplitMix64) -> Arch {
    let mut pick = |c: &[u32]| c[rng.below(c.len() as u64) as usize];
    let n_layer = pick(&space.n_layer);
    let d_model = pick(&space.d_model);
    let heads: Vec<u32> = space
        .n_head
        .iter()
        .copied()
        .filter(|h| d_model.is_multiple_of(*h))
        .collect();
    let heads = if heads.is_empty() { vec![1] } else { heads };
    let n_head = (0..n_layer).map(|_| pick(&heads)).collect();
    let d_inner = (0..n_layer).map(|_| pick(&space.d_inner)).collect();
    Arch {
        n_layer,
        d_model,
        n_head: PerLayer::Each(n_head),
        d_inner: PerLayer::Each(d_inner),
        vocab_size: space.vocab_size,
        n_positions: space.n_positions,
        seq_len: space.seq_len,
    }
}
