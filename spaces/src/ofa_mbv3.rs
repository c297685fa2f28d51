//! Once-for-All's MobileNetV3 search space (width 1.0), as in the public `ofa`
//! package's `OFAMobileNetV3(ks_list=[3,5,7], expand_ratio_list=[3,4,6],
//! depth_list=[2,3,4])`.
//!
//! Network: first conv 3→16 stride 2 h-swish; a fixed MBConv1 block 16→16
//! (relu, residual); five stages of 2-4 MBConv blocks with out channels
//! (24, 40, 80, 112, 160), first-block strides (2, 2, 2, 1, 2), activations
//! (relu, relu, h-swish, h-swish, h-swish) and squeeze-excite in stages 2, 4
//! and 5; a 1x1 conv to 960 (h-swish), global average pooling, a 1x1 conv to
//! 1280 (h-swish, no BN, no bias) and a linear layer to 1000 classes.
//!
//! As in the package's `get_active_subnet`: a block's expanded width is
//! `make_divisible(round(in * expand), 8)`, the SE bottleneck is
//! `make_divisible(mid // 4, 8)`, a block is residual when its stride is 1
//! and its input and output widths agree, and blocks beyond a stage's depth
//! are ignored.
//!
//! Counts follow the fixture's definitions: `params` is PyTorch's parameter
//! count (convolutions without bias, BatchNorm's weight and bias, SE and
//! linear biases), `macs` is Once-for-All's `count_net_flops` (per conv
//! `in * out_elements * k * k / groups`, per linear `in * out`, nothing else).
//! The ONNX graph is what PyTorch exports: BatchNorm folded into conv biases,
//! h-swish as Add-Clip-Mul-Div, SE pooling as two ReduceMean, flatten as Reshape.

use serde::{Deserialize, Serialize};

pub use crate::onnx::{ArchError, Generated};
use crate::onnx::{Conv, Elem, GraphBuilder};
use crate::rng::SplitMix64;
use crate::supernet::{BlockWeights, ConvWeights, SubnetWeights};

pub const KERNELS: [u32; 3] = [3, 5, 7];
pub const EXPANDS: [u32; 3] = [3, 4, 6];
pub const DEPTHS: [u32; 3] = [2, 3, 4];
pub const STAGES: usize = 5;
pub const MAX_DEPTH: usize = 4;
pub const MIN_RES: u32 = 128;
pub const MAX_RES: u32 = 224;
pub const STAGE_OUT: [usize; STAGES] = [24, 40, 80, 112, 160];
pub const STAGE_STRIDE: [usize; STAGES] = [2, 2, 2, 1, 2];
pub const STAGE_ACT: [Act; STAGES] = [Act::Relu, Act::Relu, Act::HSwish, Act::HSwish, Act::HSwish];
pub const STAGE_SE: [bool; STAGES] = [false, true, false, true, true];
/// The space's name in manifests, tables and errors.
pub const SPACE: &str = "ofa-mbv3";
/// The `space` of the lookup-table units' models and rows.
pub const BLOCK_SPACE: &str = "ofa-mbv3-block";
pub(crate) const FIRST_CONV: usize = 16;
pub(crate) const FINAL_EXPAND: usize = 960;
pub(crate) const FEATURE_MIX: usize = 1280;
pub(crate) const CLASSES: usize = 1000;

/// An architecture of the space, as the `ofa` package writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    pub ks: Vec<u32>,
    pub e: Vec<u32>,
    pub d: Vec<u32>,
    pub r: u32,
}

fn list(v: &[u32]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Arch {
    /// Parse and validate architecture JSON: `{"ks": [20], "e": [20], "d": [5], "r": int}`.
    pub fn from_json(text: &str) -> Result<Arch, ArchError> {
        let arch: Arch = serde_json::from_str(text).map_err(|e| ArchError {
            space: SPACE,
            field: "(json)".into(),
            problem: format!("cannot be read: {e}"),
            allowed: "{\"ks\": [20 ints], \"e\": [20 ints], \"d\": [5 ints], \"r\": int}".into(),
        })?;
        arch.validate()?;
        Ok(arch)
    }

    pub fn validate(&self) -> Result<(), ArchError> {
        let n = STAGES * MAX_DEPTH;
        for (name, v, len) in [
            ("ks", &self.ks, n),
            ("e", &self.e, n),
            ("d", &self.d, STAGES),
        ] {
            if v.len() != len {
                return Err(ArchError {
                    space: SPACE,
                    field: name.into(),
                    problem: format!("has {} entries", v.len()),
                    allowed: format!("exactly {len} entries"),
                });
            }
        }
        for (name, v, choices) in [
            ("ks", &self.ks, &KERNELS),
            ("e", &self.e, &EXPANDS),
            ("d", &self.d, &DEPTHS),
        ] {
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !choices.contains(x)) {
                return Err(ArchError {
                    space: SPACE,
                    field: format!("{name}[{i}]"),
                    problem: format!("is {x}"),
                    allowed: list(choices),
                });
            }
        }
        if !(MIN_RES..=MAX_RES).contains(&self.r) || !self.r.is_multiple_of(4) {
            return Err(ArchError {
                space: SPACE,
                field: "r".into(),
                problem: format!("is {}", self.r),
                allowed: format!("{MIN_RES} to {MAX_RES} in steps of 4"),
            });
        }
        Ok(())
    }

    /// The same network with inactive blocks set to kernel 3, expand 3, so
    /// equal networks compare equal.
    pub fn canonical(&self) -> Arch {
        let mut a = self.clone();
        for s in 0..STAGES {
            for j in self.d[s] as usize..MAX_DEPTH {
                a.ks[s * MAX_DEPTH + j] = KERNELS[0];
                a.e[s * MAX_DEPTH + j] = EXPANDS[0];
            }
        }
        a
    }

    /// Compact JSON, the form written to manifests and tables.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data")
    }
}

/// Activation functions of the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Relu,
    HSwish,
}

/// One MBConv block of a network, with the shapes it sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    pub expand_ratio: usize,
    /// The expanded width (equal to `in_channels` when the expand ratio is 1).
    pub mid_channels: usize,
    pub act: Act,
    pub use_se: bool,
    pub se_channels: Option<usize>,
    pub residual: bool,
    /// Input feature map height (= width).
    pub in_size: usize,
    pub out_size: usize,
}

/// `ofa.utils.make_divisible`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = d.max(((v + d / 2.0) as usize / divisor * divisor) as f64);
    if new_v < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

fn conv_out(size: usize, k: usize, stride: usize) -> usize {
    (size + 2 * (k / 2) - k) / stride + 1
}

/// Python's `round` (half to even) for the expanded width.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// The channel plan of every MBConv block, the fixed first block included.
pub fn blocks(arch: &Arch) -> Vec<Block> {
    let mut size = conv_out(arch.r as usize, 3, 2);
    let mut out = vec![Block {
        in_channels: FIRST_CONV,
        out_channels: FIRST_CONV,
        kernel_size: 3,
        stride: 1,
        expand_ratio: 1,
        mid_channels: FIRST_CONV,
        act: Act::Relu,
        use_se: false,
        se_channels: None,
        residual: true,
        in_size: size,
        out_size: size,
    }];
    let mut cin = FIRST_CONV;
    for s in 0..STAGES {
        for j in 0..arch.d[s] as usize {
            let ix = s * MAX_DEPTH + j;
            let k = arch.ks[ix] as usize;
            let e = arch.e[ix] as usize;
            let stride = if j == 0 { STAGE_STRIDE[s] } else { 1 };
            let mid = make_divisible(round_half_even(cin as f64 * e as f64), 8);
            let cout = STAGE_OUT[s];
            let out_size = conv_out(size, k, stride);
            out.push(Block {
                in_channels: cin,
                out_channels: cout,
                kernel_size: k,
                stride,
                expand_ratio: e,
                mid_channels: mid,
                act: STAGE_ACT[s],
                use_se: STAGE_SE[s],
                se_channels: STAGE_SE[s].then(|| make_divisible((mid / 4) as f64, 8)),
                residual: stride == 1 && cin == cout,
                in_size: size,
                out_size,
            });
            cin = cout;
            size = out_size;
        }
    }
    out
}

/// PyTorch's parameter count of the subnet (BatchNorm affine parameters included).
pub fn params(arch: &Arch) -> u64 {
    units(arch).iter().map(unit_params).sum()
}

/// Elements of the convolution and linear weights alone (no biases, no
/// batch norm): what every exporter writes, whatever it does with all-zero
/// biases (PyTorch's TorchScript exporter shares them, dynamo drops them).
pub fn layer_weights(arch: &Arch) -> u64 {
    let conv =
        |cin: usize, cout: usize, k: usize, groups: usize| (cout * cin / groups * k * k) as u64;
    let mut n = conv(3, FIRST_CONV, 3, 1);
    for b in blocks(arch) {
        if b.expand_ratio != 1 {
            n += conv(b.in_channels, b.mid_channels, 1, 1);
        }
        n += conv(
            b.mid_channels,
            b.mid_channels,
            b.kernel_size,
            b.mid_channels,
        );
        if let Some(se) = b.se_channels {
            n += conv(b.mid_channels, se, 1, 1) + conv(se, b.mid_channels, 1, 1);
        }
        n += conv(b.mid_channels, b.out_channels, 1, 1);
    }
    n += conv(STAGE_OUT[STAGES - 1], FINAL_EXPAND, 1, 1);
    n + (FINAL_EXPAND * FEATURE_MIX + FEATURE_MIX * CLASSES) as u64
}

/// Per-layer MAC counts in the order the `ofa` package's counter visits the
/// modules (registration order): first conv; per block expand, depthwise, SE
/// reduce, SE expand, pointwise; final expand; feature mix; classifier.
fn layer_macs(arch: &Arch) -> Vec<u64> {
    units(arch).iter().flat_map(unit_layer_macs).collect()
}

/// Per-layer MACs of one unit, in the package's module order.
fn unit_layer_macs(u: &Unit) -> Vec<u64> {
    let conv = |cin: usize, cout: usize, size: usize, k: usize, groups: usize| -> u64 {
        (cin * cout * size * size * k * k / groups) as u64
    };
    match u {
        Unit::Stem { r } => vec![conv(3, FIRST_CONV, conv_out(*r, 3, 2), 3, 1)],
        Unit::Block(b) => {
            let mut v = Vec::new();
            if b.expand_ratio != 1 {
                v.push(conv(b.in_channels, b.mid_channels, b.in_size, 1, 1));
            }
            v.push(conv(
                b.mid_channels,
                b.mid_channels,
                b.out_size,
                b.kernel_size,
                b.mid_channels,
            ));
            if let Some(se) = b.se_channels {
                v.push((b.mid_channels * se) as u64);
                v.push((se * b.mid_channels) as u64);
            }
            v.push(conv(b.mid_channels, b.out_channels, b.out_size, 1, 1));
            v
        }
        Unit::Head { in_size } => vec![
            conv(STAGE_OUT[STAGES - 1], FINAL_EXPAND, *in_size, 1, 1),
            (FINAL_EXPAND * FEATURE_MIX) as u64,
            (FEATURE_MIX * CLASSES) as u64,
        ],
    }
}

/// The exact MAC count (integer arithmetic).
pub fn macs_exact(arch: &Arch) -> u64 {
    layer_macs(arch).iter().sum()
}

/// Once-for-All's MAC count exactly as `count_net_flops` reports it: each
/// layer's count is stored in a float32 tensor and summed in float32, so
/// above 2^24 the result is rounded (e.g. 566170688 where the exact count is
/// 566170656). This is the figure latency predictors trained on the
/// package's numbers expect.
pub fn macs(arch: &Arch) -> f64 {
    layer_macs(arch)
        .iter()
        .fold(0.0f32, |acc, m| acc + *m as f32) as f64
}

fn act(g: &mut GraphBuilder, x: &str, a: Act) -> String {
    match a {
        Act::Relu => g.op("Relu", &[x]),
        Act::HSwish => g.hswish(x),
    }
}

/// A convolution with the supernet's weights, or seeded random ones.
fn conv(g: &mut GraphBuilder, x: &str, c: Conv, w: Option<&ConvWeights>) -> String {
    match w {
        Some(w) => g.conv_given(x, c, w.weight.clone(), w.bias.clone()),
        None => g.conv(x, c),
    }
}

fn emit_stem(g: &mut GraphBuilder, x: &str, w: Option<&ConvWeights>) -> String {
    let x = conv(g, x, Conv::dense(3, FIRST_CONV, 3, 2), w);
    g.hswish(&x)
}

fn emit_block(g: &mut GraphBuilder, x: &str, b: &Block, w: Option<&BlockWeights>) -> String {
    let mut h = x.to_string();
    if b.expand_ratio != 1 {
        let ew = w.and_then(|w| w.expand.as_ref());
        h = conv(g, &h, Conv::dense(b.in_channels, b.mid_channels, 1, 1), ew);
        h = act(g, &h, b.act);
    }
    let dw = w.map(|w| &w.depthwise);
    h = conv(
        g,
        &h,
        Conv::depthwise(b.mid_channels, b.kernel_size, b.stride),
        dw,
    );
    h = act(g, &h, b.act);
    if let Some(se) = b.se_channels {
        let sw = w.and_then(|w| w.se.as_ref());
        let y = g.reduce_mean(&h, 3);
        let y = g.reduce_mean(&y, 2);
        let y = conv(
            g,
            &y,
            Conv::dense(b.mid_channels, se, 1, 1),
            sw.map(|s| &s.0),
        );
        let y = g.op("Relu", &[&y]);
        let y = conv(
            g,
            &y,
            Conv::dense(se, b.mid_channels, 1, 1),
            sw.map(|s| &s.1),
        );
        let y = g.hsigmoid(&y);
        h = g.op("Mul", &[&h, &y]);
    }
    let pw = w.map(|w| &w.project);
    h = conv(g, &h, Conv::dense(b.mid_channels, b.out_channels, 1, 1), pw);
    if b.residual {
        g.op("Add", &[&h, x])
    } else {
        h
    }
}

fn emit_head(g: &mut GraphBuilder, x: &str, w: Option<&SubnetWeights>) -> String {
    let fe = w.map(|w| &w.final_expand);
    let mut x = conv(
        g,
        x,
        Conv::dense(STAGE_OUT[STAGES - 1], FINAL_EXPAND, 1, 1),
        fe,
    );
    x = g.hswish(&x);
    x = g.reduce_mean(&x, 3);
    x = g.reduce_mean(&x, 2);
    let mix = Conv {
        bias: false,
        ..Conv::dense(FINAL_EXPAND, FEATURE_MIX, 1, 1)
    };
    x = conv(g, &x, mix, w.map(|w| &w.feature_mix));
    x = g.hswish(&x);
    let shape = g.constant_i64("flatten_shape", &[2], &[1, -1]);
    x = g.op("Reshape", &[&x, &shape]);
    match w {
        Some(w) => g.linear_given(
            &x,
            FEATURE_MIX,
            CLASSES,
            w.classifier.weight.clone(),
            w.classifier.bias.clone().unwrap_or_default(),
        ),
        None => g.linear(&x, FEATURE_MIX, CLASSES),
    }
}

/// The ONNX model of `arch` with seeded random weights (opset 13, input
/// `input: f32[1, 3, r, r]`, one output `f32[1, 1000]`): the latency twin
/// of the real network.
pub fn generate(arch: &Arch, seed: u64) -> Result<Generated, ArchError> {
    generate_with(arch, seed, None)
}

/// The ONNX model of `arch` with its weights from a supernet
/// ([`crate::supernet::Supernet::subnet`]): the same graph as
/// [`generate`]'s, real weights.
pub fn generate_weighted(arch: &Arch, weights: &SubnetWeights) -> Result<Generated, ArchError> {
    generate_with(arch, 0, Some(weights))
}

fn generate_with(
    arch: &Arch,
    seed: u64,
    w: Option<&SubnetWeights>,
) -> Result<Generated, ArchError> {
    arch.validate()?;
    let r = arch.r as usize;
    let mut g = GraphBuilder::new(seed);
    let input_shape = vec![1, 3, r, r];
    let x = g.input("input", Elem::F32, &input_shape);
    let mut x = emit_stem(&mut g, &x, w.map(|w| &w.stem));
    for (i, b) in blocks(arch).iter().enumerate() {
        x = emit_block(&mut g, &x, b, w.map(|w| &w.blocks[i]));
    }
    x = emit_head(&mut g, &x, w);
    g.output(&x, Elem::F32, &[1, CLASSES]);
    Ok(g.into_generated("ofa_mbv3", 13, input_shape))
}

/// A unit of Once-for-All's latency lookup table: the stem, one MBConv
/// block configuration at one input size, or the head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Unit {
    /// First conv 3→16 stride 2 with h-swish, at input resolution `r`.
    Stem {
        r: usize,
    },
    Block(Block),
    /// 1x1 conv to 960, pooling, 1x1 conv to 1280, linear to 1000, at the
    /// last feature map's size.
    Head {
        in_size: usize,
    },
}

impl Unit {
    /// The lookup-table key, in the form of the `ofa` package's
    /// `latency_lookup_table.py` (`expanded_conv-input:112x112x16-...`).
    pub fn key(&self) -> String {
        match self {
            Unit::Stem { r } => {
                let o = conv_out(*r, 3, 2);
                format!("Conv-input:{r}x{r}x3-output:{o}x{o}x{FIRST_CONV}-act:h_swish")
            }
            Unit::Block(b) => format!(
                "expanded_conv-input:{i}x{i}x{cin}-output:{o}x{o}x{cout}-expand:{mid}-kernel:{k}-stride:{s}-idskip:{skip}-se:{se}-hs:{hs}",
                i = b.in_size,
                cin = b.in_channels,
                o = b.out_size,
                cout = b.out_channels,
                mid = b.mid_channels,
                k = b.kernel_size,
                s = b.stride,
                skip = u8::from(b.residual),
                se = u8::from(b.use_se),
                hs = u8::from(b.act == Act::HSwish),
            ),
            Unit::Head { in_size } => format!(
                "Head-input:{in_size}x{in_size}x{}-feature:{FINAL_EXPAND}-mix:{FEATURE_MIX}-classes:{CLASSES}",
                STAGE_OUT[STAGES - 1]
            ),
        }
    }

    /// Input shape (NCHW).
    pub fn input_shape(&self) -> Vec<usize> {
        match self {
            Unit::Stem { r } => vec![1, 3, *r, *r],
            Unit::Block(b) => vec![1, b.in_channels, b.in_size, b.in_size],
            Unit::Head { in_size } => vec![1, STAGE_OUT[STAGES - 1], *in_size, *in_size],
        }
    }

    /// A numeric feature vector: `[kind (0 stem, 1 block, 2 head), in_size,
    /// in_channels, out_size, out_channels, mid_channels, kernel, stride,
    /// residual, se, h-swish]`.
    pub fn features(&self) -> Vec<f32> {
        match self {
            Unit::Stem { r } => {
                let o = conv_out(*r, 3, 2) as f32;
                vec![
                    0.0,
                    *r as f32,
                    3.0,
                    o,
                    FIRST_CONV as f32,
                    0.0,
                    3.0,
                    2.0,
                    0.0,
                    0.0,
                    1.0,
                ]
            }
            Unit::Block(b) => vec![
                1.0,
                b.in_size as f32,
                b.in_channels as f32,
                b.out_size as f32,
                b.out_channels as f32,
                b.mid_channels as f32,
                b.kernel_size as f32,
                b.stride as f32,
                f32::from(u8::from(b.residual)),
                f32::from(u8::from(b.use_se)),
                f32::from(u8::from(b.act == Act::HSwish)),
            ],
            Unit::Head { in_size } => {
                let c = STAGE_OUT[STAGES - 1] as f32;
                vec![
                    2.0,
                    *in_size as f32,
                    c,
                    1.0,
                    CLASSES as f32,
                    FINAL_EXPAND as f32,
                    1.0,
                    1.0,
                    0.0,
                    0.0,
                    1.0,
                ]
            }
        }
    }
}

/// The units a network is made of, in order: its lookup-table latency is
/// the sum of theirs.
pub fn units(arch: &Arch) -> Vec<Unit> {
    let bs = blocks(arch);
    let last = bs.last().map(|b| b.out_size).unwrap_or(0);
    let mut v = vec![Unit::Stem { r: arch.r as usize }];
    v.extend(bs.into_iter().map(Unit::Block));
    v.push(Unit::Head { in_size: last });
    v
}

/// Every distinct unit of the space at the given resolutions (all valid
/// ones when `resolutions` is empty): per resolution the stem, the fixed
/// first block, per stage its first block and its later blocks for each
/// kernel and expand ratio, and the head. Deduplicated by key, in a stable order.
pub fn all_units(resolutions: &[u32]) -> Result<Vec<Unit>, ArchError> {
    let all: Vec<u32> = (MIN_RES..=MAX_RES).step_by(4).collect();
    let rs = if resolutions.is_empty() {
        &all[..]
    } else {
        resolutions
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for &r in rs {
        // Two blocks per stage cover "first block" and "later block" positions;
        // every kernel and expand at each, with the depth-4 network's shapes.
        for k in KERNELS {
            for e in EXPANDS {
                let arch = Arch {
                    ks: vec![k; STAGES * MAX_DEPTH],
                    e: vec![e; STAGES * MAX_DEPTH],
                    d: vec![2; STAGES],
                    r,
                };
                arch.validate()?;
                for u in units(&arch) {
                    if seen.insert(u.key()) {
                        out.push(u);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// PyTorch's parameter count of one unit (BatchNorm affine parameters
/// included); over a network's [`units`] they add up to [`params`].
impl Unit {
    /// The `manifest.jsonl` line of this unit's model (`frontier export
    /// --blocks`): space `ofa-mbv3-block`, arch `{"key", "unit"}`.
    pub fn manifest_line(
        &self,
        file: &str,
        seed: u64,
        input_shape: Vec<usize>,
    ) -> crate::manifest::ManifestLine {
        let macs_exact = unit_macs(self);
        crate::manifest::ManifestLine {
            file: file.to_string(),
            space: BLOCK_SPACE.into(),
            arch: serde_json::json!({ "key": self.key(), "unit": self }),
            params: unit_params(self),
            macs: macs_exact as f64,
            macs_exact,
            encoding: self.features(),
            seed,
            input_shape,
            supernet_sha256: None,
        }
    }
}

pub fn unit_params(u: &Unit) -> u64 {
    let bn = |c: usize| 2 * c as u64;
    match u {
        Unit::Stem { .. } => (3 * FIRST_CONV * 9) as u64 + bn(FIRST_CONV),
        Unit::Block(b) => {
            let mut p = 0;
            if b.expand_ratio != 1 {
                p += (b.in_channels * b.mid_channels) as u64 + bn(b.mid_channels);
            }
            p += (b.mid_channels * b.kernel_size * b.kernel_size) as u64 + bn(b.mid_channels);
            if let Some(se) = b.se_channels {
                p += (2 * b.mid_channels * se + se + b.mid_channels) as u64;
            }
            p + (b.mid_channels * b.out_channels) as u64 + bn(b.out_channels)
        }
        Unit::Head { .. } => {
            (STAGE_OUT[STAGES - 1] * FINAL_EXPAND) as u64
                + bn(FINAL_EXPAND)
                + (FINAL_EXPAND * FEATURE_MIX) as u64
                + (FEATURE_MIX * CLASSES + CLASSES) as u64
        }
    }
}

/// Once-for-All's MAC count of one unit (exact integer); over a network's
/// [`units`] they add up to [`macs_exact`].
pub fn unit_macs(u: &Unit) -> u64 {
    unit_layer_macs(u).iter().sum()
}

/// One unit as a standalone ONNX model (opset 13, input `input`).
pub fn generate_unit(u: &Unit, seed: u64) -> Generated {
    let mut g = GraphBuilder::new(seed);
    let input_shape = u.input_shape();
    let x = g.input("input", Elem::F32, &input_shape);
    let (y, out_shape) = match u {
        Unit::Stem { r } => {
            let o = conv_out(*r, 3, 2);
            (emit_stem(&mut g, &x, None), vec![1, FIRST_CONV, o, o])
        }
        Unit::Block(b) => (
            emit_block(&mut g, &x, b, None),
            vec![1, b.out_channels, b.out_size, b.out_size],
        ),
        Unit::Head { .. } => (emit_head(&mut g, &x, None), vec![1, CLASSES]),
    };
    g.output(&y, Elem::F32, &out_shape);
    g.into_generated("ofa_mbv3_unit", 13, input_shape)
}

/// Length of [`encode`]'s vector.
pub const ENCODING_LEN: usize =
    2 * STAGES * MAX_DEPTH * 3 + STAGES * 3 + ((MAX_RES - MIN_RES) / 4 + 1) as usize;

/// Once-for-All's predictor encoding, extended with depth: per block slot a
/// one-hot of its kernel (3) then, after all kernels, a one-hot of its expand
/// ratio (3), all zero for inactive blocks; then a one-hot of each stage's
/// depth (5 x 3); then a one-hot of the resolution (25 values, 128..=224).
pub fn encode(arch: &Arch) -> Vec<f32> {
    let slots = STAGES * MAX_DEPTH;
    let mut v = vec![0.0f32; ENCODING_LEN];
    for s in 0..STAGES {
        for j in 0..arch.d[s] as usize {
            let i = s * MAX_DEPTH + j;
            let k = KERNELS
                .iter()
                .position(|x| *x == arch.ks[i])
                .expect("validated");
            let e = EXPANDS
                .iter()
                .position(|x| *x == arch.e[i])
                .expect("validated");
            v[i * 3 + k] = 1.0;
            v[slots * 3 + i * 3 + e] = 1.0;
        }
        let d = DEPTHS
            .iter()
            .position(|x| *x == arch.d[s])
            .expect("validated");
        v[slots * 6 + s * 3 + d] = 1.0;
    }
    v[slots * 6 + STAGES * 3 + ((arch.r - MIN_RES) / 4) as usize] = 1.0;
    v
}

/// The inverse of [`encode`] (inactive blocks come back as kernel 3, expand 3).
pub fn decode(v: &[f32]) -> Result<Arch, ArchError> {
    let bad = |what: &str| ArchError {
        space: SPACE,
        field: "encoding".into(),
        problem: what.into(),
        allowed: format!("a vector of {ENCODING_LEN} values made by encode()"),
    };
    if v.len() != ENCODING_LEN {
        return Err(bad(&format!("has {} values", v.len())));
    }
    let hot = |slice: &[f32]| slice.iter().position(|x| *x > 0.5);
    let slots = STAGES * MAX_DEPTH;
    let mut arch = Arch {
        ks: vec![KERNELS[0]; slots],
        e: vec![EXPANDS[0]; slots],
        d: vec![0; STAGES],
        r: 0,
    };
    for s in 0..STAGES {
        let off = slots * 6 + s * 3;
        arch.d[s] = DEPTHS[hot(&v[off..off + 3]).ok_or_else(|| bad("has no depth"))?];
        for j in 0..arch.d[s] as usize {
            let i = s * MAX_DEPTH + j;
            arch.ks[i] = KERNELS[hot(&v[i * 3..i * 3 + 3])
                .ok_or_else(|| bad("has an active block without kernel"))?];
            let eo = slots * 3 + i * 3;
            arch.e[i] = EXPANDS[hot(&v[eo..eo + 3])
                .ok_or_else(|| bad("has an active block without expand ratio"))?];
        }
    }
    let off = slots * 6 + STAGES * 3;
    arch.r = MIN_RES + 4 * hot(&v[off..]).ok_or_else(|| bad("has no resolution"))? as u32;
    arch.validate()?;
    Ok(arch)
}

/// Draw an architecture uniformly: every kernel, expand ratio, depth and
/// resolution independently uniform over its choices (as the `ofa` package's
/// `sample_active_subnet`).
pub fn sample(rng: &mut SplitMix64) -> Arch {
    let mut pick = |c: &[u32]| c[rng.below(c.len() as u64) as usize];
    let slots = STAGES * MAX_DEPTH;
    let ks = (0..slots).map(|_| pick(&KERNELS)).collect();
    let e = (0..slots).map(|_| pick(&EXPANDS)).collect();
    let d = (0..STAGES).map(|_| pick(&DEPTHS)).collect();
    let resolutions: Vec<u32> = (MIN_RES..=MAX_RES).step_by(4).collect();
    let r = pick(&resolutions);
    Arch { ks, e, d, r }
}
