//! Real weights: a Once-for-All MobileNetV3 supernet read from a
//! safetensors file (the `ofa` package's `OFAMobileNetV3.state_dict()`
//! under its own names), and any subnet's weights taken from it exactly as
//! the package's `get_active_subnet(preserve_weight=True)` takes them:
//!
//! - the first `d` blocks of each stage (block `1 + 4·stage + j`);
//! - the inverted bottleneck's first `mid` output channels, where `mid =
//!   make_divisible(round(in · e), 8)`, with the matching batch-norm slice;
//! - the depthwise kernel of the first `mid` channels, centre-cropped
//!   through the learned transforms: from 7×7, the centre 5×5 flattened
//!   times `7to5_matrix`ᵀ (PyTorch's `F.linear`), and for 3×3 the centre of
//!   that times `5to3_matrix`ᵀ;
//! - squeeze-excite of width `make_divisible(mid // 4, 8)`: reduce
//!   `[:se, :mid]`, expand `[:mid, :se]`, their biases sliced alike;
//! - the projection `[:, :mid]`; stem, first block and head whole.
//!
//! Batch norm (eps 1e-5, the package's `bn_param`) is folded into each
//! convolution as PyTorch's exporter folds it in eval mode, so a weighted
//! model has exactly the graph of its latency twin (`ofa_mbv3::generate`).
//! Resolution is the input size only.
//!
//! Every problem with a file is a [`SupernetError`] that names the file,
//! the tensor and the fix; nothing panics on bad input.

use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors};

use crate::ofa_mbv3::{
    self, make_divisible, Arch, CLASSES, EXPANDS, FEATURE_MIX, FINAL_EXPAND, FIRST_CONV, KERNELS,
    MAX_DEPTH, STAGES, STAGE_OUT, STAGE_SE,
};

/// Batch-norm epsilon of `OFAMobileNetV3` (`bn_param=(0.1, 1e-5)`).
const BN_EPS: f64 = 1e-5;

/// Why a supernet file cannot be used, or a subnet cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SupernetError {
    #[error("{file}: not a readable safetensors file ({detail}); fix: the file is truncated or corrupt, save it again with `safetensors.torch.save_file(net.state_dict(), path)` (examples/convert_supernet.py)")]
    Corrupt { file: String, detail: String },
    #[error("{file}: tensor `{tensor}` is {dtype}; fix: save the supernet as float32, float16 or bfloat16 (`net.float()` before `state_dict()`)")]
    Dtype {
        file: String,
        tensor: String,
        dtype: String,
    },
    #[error("{file}: tensor `{tensor}` is missing ({missing} missing in all){implied}; fix: save the whole `state_dict()` of `OFAMobileNetV3` under the package's own names")]
    Missing {
        file: String,
        tensor: String,
        missing: usize,
        implied: String,
    },
    #[error("{file}: tensor `{tensor}` is not a parameter of OFAMobileNetV3{more}; fix: save `net.state_dict()` of the supernet itself (not a wrapper, an EMA or an optimizer state)")]
    Extra {
        file: String,
        tensor: String,
        more: String,
    },
    #[error("{file}: tensor `{tensor}` {detail}; fix: use a supernet of this configuration")]
    Shape {
        file: String,
        tensor: String,
        /// Found and expected shapes, and the configuration they imply.
        detail: String,
    },
    #[error("the supernet ({config}) cannot build this subnet: {why}; fix: choose an architecture within its configuration, or a supernet trained with it")]
    CannotBuild { config: String, why: String },
    #[error("{0}")]
    Arch(#[from] crate::ArchError),
}

/// What a supernet can build: `OFAMobileNetV3(ks_list, expand_ratio_list,
/// depth_list, width_mult)`, read from its tensors' shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub kernels: Vec<u32>,
    pub max_expand: u32,
    pub max_depth: u32,
    /// Output channels of `first_conv` (16 at width 1.0).
    pub first_channels: usize,
}

impl Config {
    /// The configuration Frontier's OFA space is: width 1.0, kernels
    /// 3/5/7, expand up to 6, depth up to 4.
    pub fn full() -> Config {
        Config {
            kernels: KERNELS.to_vec(),
            max_expand: *EXPANDS.iter().max().expect("choices"),
            max_depth: MAX_DEPTH as u32,
            first_channels: FIRST_CONV,
        }
    }

    /// The width multiplier its first convolution implies.
    pub fn width_mult(&self) -> f64 {
        self.first_channels as f64 / FIRST_CONV as f64
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ks: Vec<String> = self.kernels.iter().map(|k| k.to_string()).collect();
        write!(
            f,
            "width multiplier {:.2}, kernels [{}], expand ratio up to {}, depth up to {}",
            self.width_mult(),
            ks.join(", "),
            self.max_expand,
            self.max_depth
        )
    }
}

/// A convolution's weights with batch norm folded in (`[out, in/groups,
/// k, k]`, and the bias when the layer has one).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

/// One MBConv block's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    pub expand: Option<ConvWeights>,
    pub depthwise: ConvWeights,
    /// Squeeze-excite reduce and expand convolutions (with their biases).
    pub se: Option<(ConvWeights, ConvWeights)>,
    pub project: ConvWeights,
}

/// Every weight of one subnet, in the order the graph uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetWeights {
    pub stem: ConvWeights,
    /// The fixed first block, then the active blocks of each stage.
    pub blocks: Vec<BlockWeights>,
    pub final_expand: ConvWeights,
    /// No batch norm and no bias.
    pub feature_mix: ConvWeights,
    /// `[1000, 1280]` and its bias.
    pub classifier: ConvWeights,
}

#[derive(Debug, Clone)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// A supernet's tensors, as f32.
#[derive(Debug, Clone)]
pub struct Supernet {
    tensors: BTreeMap<String, Tensor>,
    pub config: Config,
    /// Parameters in the file (what `count_parameters(net)` counts).
    pub params: u64,
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalize.
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

fn bn_names(prefix: &str) -> [String; 4] {
    ["weight", "bias", "running_mean", "running_var"].map(|n| format!("{prefix}.{n}"))
}

/// Every tensor a supernet of `c` holds, with its shape, in the package's
/// names.
fn expected(c: &Config) -> Vec<(String, Vec<usize>)> {
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    let f = c.first_channels;
    v.push(("first_conv.conv.weight".into(), vec![f, 3, 3, 3]));
    for n in bn_names("first_conv.bn") {
        v.push((n, vec![f]));
    }
    v.push((
        "blocks.0.conv.depth_conv.conv.weight".into(),
        vec![f, 1, 3, 3],
    ));
    for n in bn_names("blocks.0.conv.depth_conv.bn") {
        v.push((n, vec![f]));
    }
    v.push((
        "blocks.0.conv.point_linear.conv.weight".into(),
        vec![f, f, 1, 1],
    ));
    for n in bn_names("blocks.0.conv.point_linear.bn") {
        v.push((n, vec![f]));
    }
    let kmax = *c.kernels.iter().max().unwrap_or(&3) as usize;
    let mut cin = f;
    for s in 0..STAGES {
        for j in 0..c.max_depth as usize {
            let b = format!("blocks.{}.conv", 1 + s * c.max_depth as usize + j);
            let mid = make_divisible((cin as f64 * c.max_expand as f64).round(), 8);
            let cout = STAGE_OUT[s];
            v.push((
                format!("{b}.inverted_bottleneck.conv.conv.weight"),
                vec![mid, cin, 1, 1],
            ));
            for n in bn_names(&format!("{b}.inverted_bottleneck.bn.bn")) {
                v.push((n, vec![mid]));
            }
            v.push((
                format!("{b}.depth_conv.conv.conv.weight"),
                vec![mid, 1, kmax, kmax],
            ));
            for w in c.kernels.windows(2) {
                v.push((
                    format!("{b}.depth_conv.conv.{}to{}_matrix", w[1], w[0]),
                    vec![(w[0] * w[0]) as usize; 2],
                ));
            }
            for n in bn_names(&format!("{b}.depth_conv.bn.bn")) {
                v.push((n, vec![mid]));
            }
            if STAGE_SE[s] {
                let se = make_divisible((mid / 4) as f64, 8);
                v.push((
                    format!("{b}.depth_conv.se.fc.reduce.weight"),
                    vec![se, mid, 1, 1],
                ));
                v.push((format!("{b}.depth_conv.se.fc.reduce.bias"), vec![se]));
                v.push((
                    format!("{b}.depth_conv.se.fc.expand.weight"),
                    vec![mid, se, 1, 1],
                ));
                v.push((format!("{b}.depth_conv.se.fc.expand.bias"), vec![mid]));
            }
            v.push((
                format!("{b}.point_linear.conv.conv.weight"),
                vec![cout, mid, 1, 1],
            ));
            for n in bn_names(&format!("{b}.point_linear.bn.bn")) {
                v.push((n, vec![cout]));
            }
            cin = cout;
        }
    }
    let last = STAGE_OUT[STAGES - 1];
    v.push((
        "final_expand_layer.conv.weight".into(),
        vec![FINAL_EXPAND, last, 1, 1],
    ));
    for n in bn_names("final_expand_layer.bn") {
        v.push((n, vec![FINAL_EXPAND]));
    }
    v.push((
        "feature_mix_layer.conv.weight".into(),
        vec![FEATURE_MIX, FINAL_EXPAND, 1, 1],
    ));
    v.push((
        "classifier.linear.weight".into(),
        vec![CLASSES, FEATURE_MIX],
    ));
    v.push(("classifier.linear.bias".into(), vec![CLASSES]));
    v
}

/// The configuration the shapes of `shapes` imply (as far as they say).
fn infer(shapes: &BTreeMap<String, Vec<usize>>) -> Config {
    let first_channels = shapes
        .get("first_conv.conv.weight")
        .and_then(|s| s.first().copied())
        .unwrap_or(FIRST_CONV);
    let kmax = shapes
        .get("blocks.1.conv.depth_conv.conv.conv.weight")
        .and_then(|s| s.get(2).copied())
        .unwrap_or(7) as u32;
    let mut kernels = vec![kmax];
    loop {
        let k = *kernels.last().expect("one");
        match (1..k).rev().find(|s| {
            shapes.contains_key(&format!("blocks.1.conv.depth_conv.conv.{k}to{s}_matrix"))
        }) {
            Some(s) => kernels.push(s),
            None => break,
        }
    }
    kernels.reverse();
    let max_expand = shapes
        .get("blocks.1.conv.inverted_bottleneck.conv.conv.weight")
        .and_then(|s| s.first().copied())
        .and_then(|mid| {
            (1..=8u32)
                .find(|e| make_divisible((first_channels as f64 * *e as f64).round(), 8) == mid)
        })
        .unwrap_or(6);
    let blocks = shapes
        .keys()
        .filter_map(|k| {
            k.strip_prefix("blocks.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    Config {
        kernels,
        max_expand,
        max_depth: (blocks / STAGES) as u32,
        first_channels,
    }
}

impl Supernet {
    /// Read a supernet from the bytes of a safetensors file (`file` names
    /// it in errors). f16 and bf16 tensors are converted to f32;
    /// `num_batches_tracked` counters are ignored.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Supernet, SupernetError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| SupernetError::Corrupt {
            file: file.into(),
            detail: e.to_string(),
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
                    .collect(),
                other => {
                    return Err(SupernetError::Dtype {
                        file: file.into(),
                        tensor: name.into(),
                        dtype: format!("{other:?}"),
                    })
                }
            };
            tensors.insert(
                name.to_string(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let shapes: BTreeMap<String, Vec<usize>> = tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.shape.clone()))
            .collect();
        let config = infer(&shapes);
        let implied = |c: &Config| {
            if *c == Config::full() {
                String::new()
            } else {
                format!(" (the file's shapes imply {c})")
            }
        };
        let want = expected(&config);
        // Against the configuration the file implies: a missing or extra
        // tensor, or a shape that does not follow from it.
        let missing: Vec<&String> = want
            .iter()
            .map(|(n, _)| n)
            .filter(|n| !tensors.contains_key(*n))
            .collect();
        if let Some(first) = missing.first() {
            return Err(SupernetError::Missing {
                file: file.into(),
                tensor: first.to_string(),
                missing: missing.len(),
                implied: implied(&config),
            });
        }
        let known: std::collections::HashSet<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
        let extra: Vec<&String> = tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .collect();
        if let Some(first) = extra.first() {
            return Err(SupernetError::Extra {
                file: file.into(),
                tensor: first.to_string(),
                more: if extra.len() > 1 {
                    format!(" (and {} more)", extra.len() - 1)
                } else {
                    String::new()
                },
            });
        }
        for (name, shape) in &want {
            let found = &tensors[name].shape;
            if found != shape {
                return Err(SupernetError::Shape {
                    file: file.into(),
                    tensor: name.clone(),
                    detail: format!("has shape {found:?}, expected {shape:?} for {config}"),
                });
            }
        }
        if config.first_channels != FIRST_CONV {
            let t = "first_conv.conv.weight";
            return Err(SupernetError::Shape {
                file: file.into(),
                tensor: t.into(),
                detail: format!(
                    "has shape {:?}, expected {:?} for width multiplier 1.0, the width Frontier's ofa-mbv3 space has{}",
                    tensors[t].shape,
                    [FIRST_CONV, 3, 3, 3],
                    implied(&config)
                ),
            });
        }
        let params = tensors
            .iter()
            .filter(|(k, _)| !k.contains("running_"))
            .map(|(_, t)| t.data.len() as u64)
            .sum();
        Ok(Supernet {
            tensors,
            config,
            params,
        })
    }

    fn t(&self, name: &str) -> &Tensor {
        // Every expected name was checked when reading.
        &self.tensors[name]
    }

    /// Why `arch` is outside this supernet's configuration, if it is.
    pub fn check(&self, arch: &Arch) -> Result<(), SupernetError> {
        arch.validate()?;
        let c = &self.config;
        let cannot = |why: String| SupernetError::CannotBuild {
            config: c.to_string(),
            why,
        };
        if let Some((i, k)) = arch
            .ks
            .iter()
            .enumerate()
            .find(|(_, k)| !c.kernels.contains(k))
        {
            return Err(cannot(format!("ks[{i}] is {k}")));
        }
        if let Some((i, e)) = arch.e.iter().enumerate().find(|(_, e)| **e > c.max_expand) {
            return Err(cannot(format!("e[{i}] is {e}")));
        }
        if let Some((s, d)) = arch.d.iter().enumerate().find(|(_, d)| **d > c.max_depth) {
            return Err(cannot(format!("d[{s}] is {d}")));
        }
        Ok(())
    }

    /// The weights of subnet `arch`, as `get_active_subnet(preserve_weight=True)`
    /// computes them, batch norm folded.
    pub fn subnet(&self, arch: &Arch) -> Result<SubnetWeights, SupernetError> {
        self.check(arch)?;
        let stem = self.conv_bn("first_conv.conv.weight", "first_conv.bn", None, None);
        let plan = ofa_mbv3::blocks(arch);
        let mut blocks = vec![BlockWeights {
            expand: None,
            depthwise: self.conv_bn(
                "blocks.0.conv.depth_conv.conv.weight",
                "blocks.0.conv.depth_conv.bn",
                None,
                None,
            ),
            se: None,
            project: self.conv_bn(
                "blocks.0.conv.point_linear.conv.weight",
                "blocks.0.conv.point_linear.bn",
                None,
                None,
            ),
        }];
        let depth = self.config.max_depth as usize;
        let mut next = plan.iter().skip(1);
        for s in 0..STAGES {
            for j in 0..arch.d[s] as usize {
                let b = next.next().expect("the plan has the active blocks");
                let p = format!("blocks.{}.conv", 1 + s * depth + j);
                let mid = b.mid_channels;
                let expand = Some(self.conv_bn(
                    &format!("{p}.inverted_bottleneck.conv.conv.weight"),
                    &format!("{p}.inverted_bottleneck.bn.bn"),
                    Some(mid),
                    Some(b.in_channels),
                ));
                let dw = self.depthwise(&p, mid, b.kernel_size);
                let depthwise =
                    self.fold(dw, mid, 1, b.kernel_size, &format!("{p}.depth_conv.bn.bn"));
                let se = b.se_channels.map(|se| {
                    let reduce = ConvWeights {
                        weight: self.slice4(
                            &format!("{p}.depth_conv.se.fc.reduce.weight"),
                            se,
                            mid,
                        ),
                        bias: Some(
                            self.t(&format!("{p}.depth_conv.se.fc.reduce.bias")).data[..se]
                                .to_vec(),
                        ),
                    };
                    let expand = ConvWeights {
                        weight: self.slice4(
                            &format!("{p}.depth_conv.se.fc.expand.weight"),
                            mid,
                            se,
                        ),
                        bias: Some(
                            self.t(&format!("{p}.depth_conv.se.fc.expand.bias")).data[..mid]
                                .to_vec(),
                        ),
                    };
                    (reduce, expand)
                });
                let project = self.conv_bn(
                    &format!("{p}.point_linear.conv.conv.weight"),
                    &format!("{p}.point_linear.bn.bn"),
                    None,
                    Some(mid),
                );
                blocks.push(BlockWeights {
                    expand,
                    depthwise,
                    se,
                    project,
                });
            }
        }
        let final_expand = self.conv_bn(
            "final_expand_layer.conv.weight",
            "final_expand_layer.bn",
            None,
            None,
        );
        let feature_mix = ConvWeights {
            weight: self.t("feature_mix_layer.conv.weight").data.clone(),
            bias: None,
        };
        let classifier = ConvWeights {
            weight: self.t("classifier.linear.weight").data.clone(),
            bias: Some(self.t("classifier.linear.bias").data.clone()),
        };
        Ok(SubnetWeights {
            stem,
            blocks,
            final_expand,
            feature_mix,
            classifier,
        })
    }

    /// `weight[:out, :in]` of a `[O, I, k, k]` tensor, row-major.
    fn slice4(&self, name: &str, out: usize, inn: usize) -> Vec<f32> {
        let t = self.t(name);
        let (i_all, kk) = (t.shape[1], t.shape[2] * t.shape[3]);
        let mut v = Vec::with_capacity(out * inn * kk);
        for o in 0..out {
            let row = &t.data[o * i_all * kk..(o + 1) * i_all * kk];
            v.extend_from_slice(&row[..inn * kk]);
        }
        v
    }

    /// A dense convolution's first `out` × `inn` channels (all when `None`)
    /// with the first `out` channels of its batch norm folded in.
    fn conv_bn(
        &self,
        weight: &str,
        bn: &str,
        out: Option<usize>,
        inn: Option<usize>,
    ) -> ConvWeights {
        let t = self.t(weight);
        let out = out.unwrap_or(t.shape[0]);
        let inn = inn.unwrap_or(t.shape[1]);
        let kk = t.shape[2] * t.shape[3];
        let w = self.slice4(weight, out, inn);
        self.fold(w, out, inn, (kk as f64).sqrt() as usize, bn)
    }

    /// Fold batch norm `bn` (its first `out` channels) into `w` (`[out, inn,
    /// k, k]`): `w·γ/√(σ²+ε)` and the bias `β − μ·γ/√(σ²+ε)`.
    fn fold(&self, mut w: Vec<f32>, out: usize, inn: usize, k: usize, bn: &str) -> ConvWeights {
        let [g, b, m, v] = bn_names(bn).map(|n| &self.t(&n).data);
        let per = inn * k * k;
        let mut bias = Vec::with_capacity(out);
        for o in 0..out {
            let scale = g[o] as f64 / (v[o] as f64 + BN_EPS).sqrt();
            for x in &mut w[o * per..(o + 1) * per] {
                *x = (*x as f64 * scale) as f32;
            }
            bias.push((b[o] as f64 - m[o] as f64 * scale) as f32);
        }
        ConvWeights {
            weight: w,
            bias: Some(bias),
        }
    }

    /// The depthwise kernel of the first `mid` channels at size `k`,
    /// through the learned kernel transforms (`[mid, 1, k, k]`).
    fn depthwise(&self, p: &str, mid: usize, k: usize) -> Vec<f32> {
        let t = self.t(&format!("{p}.depth_conv.conv.conv.weight"));
        let kmax = t.shape[2];
        let mut size = kmax;
        let mut cur: Vec<f32> = t.data[..mid * kmax * kmax].to_vec();
        let ks: Vec<usize> = self.config.kernels.iter().map(|k| *k as usize).collect();
        // From the largest kernel down, one learned step at a time.
        for w in ks.windows(2).rev() {
            let (small, large) = (w[0], w[1]);
            if large <= k {
                break;
            }
            debug_assert_eq!(large, size);
            let m = &self
                .t(&format!("{p}.depth_conv.conv.{large}to{small}_matrix"))
                .data;
            let off = (large - small) / 2;
            let n = small * small;
            let mut next = Vec::with_capacity(mid * n);
            for c in 0..mid {
                let src = &cur[c * large * large..(c + 1) * large * large];
                let crop: Vec<f64> = (0..small)
                    .flat_map(|r| (0..small).map(move |q| (r, q)))
                    .map(|(r, q)| src[(r + off) * large + q + off] as f64)
                    .collect();
                // F.linear(x, M): y[j] = Σᵢ x[i]·M[j, i].
                for j in 0..n {
                    let row = &m[j * n..(j + 1) * n];
                    next.push(
                        crop.iter()
                            .zip(row)
                            .map(|(x, a)| x * *a as f64)
                            .sum::<f64>() as f32,
                    );
                }
            }
            cur = next;
            size = small;
        }
        if size == k {
            return cur;
        }
        // No transform below this size (a kernel list without it): centre crop.
        let off = (size - k) / 2;
        (0..mid)
            .flat_map(|c| {
                let cur = &cur;
                (0..k).flat_map(move |r| {
                    (0..k).map(move |q| cur[c * size * size + (r + off) * size + q + off])
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert_exactly() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x7bff, 65504.0),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn the_full_configuration_expects_the_packages_411_tensors() {
        assert_eq!(expected(&Config::full()).len(), 411);
    }
}
