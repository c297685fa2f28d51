//! Analytic features of an architecture: what each kind of operator costs
//! a CPU, counted exactly from the space's own channel plan.
//!
//! On a CPU a network's latency is close to a sum over its operators, each
//! costing time per multiply-accumulate and per element it reads and
//! writes, with a rate that depends on the operator's kind (a depthwise
//! 7×7 convolution runs far below the rate of a 1×1 convolution). So the
//! features split MACs and moved elements by operator kind, and count the
//! operators (per-call overhead). A linear model over them is a learned,
//! per-device lookup table that generalizes to every block configuration.

use crate::ofa_mbv3::{self, Act, Unit};
use crate::{gpt2, ArchError, Space};

impl Space {
    /// Names of [`Space::features`]' entries, in order.
    pub fn feature_names(self) -> &'static [&'static str] {
        match self {
            Space::OfaMbv3 => &OFA_NAMES,
            Space::Gpt2 => &GPT2_NAMES,
        }
    }

    /// The feature vector of an architecture (JSON as in tables and manifests).
    pub fn features(self, arch_json: &str) -> Result<Vec<f64>, ArchError> {
        match self {
            Space::OfaMbv3 => Ok(ofa_features(&ofa_mbv3::Arch::from_json(arch_json)?)),
            Space::Gpt2 => Ok(gpt2_features(&gpt2::Arch::from_json(arch_json)?)),
        }
    }
}

const OFA_NAMES: [&str; 18] = [
    "stem_macs",
    "pointwise_macs",
    "depthwise3_macs",
    "depthwise5_macs",
    "depthwise7_macs",
    "se_macs",
    "head_macs",
    "relu_elements",
    "hswish_elements",
    "residual_elements",
    "blocks",
    "se_blocks",
    "input_elements",
    "pointwise_macs_small_maps",
    "depthwise_macs_small_maps",
    "pointwise_macs_mid_maps",
    "depthwise_stride2_macs",
    "depthwise_border_macs",
];

/// MACs in millions, elements in millions: features of similar magnitude
/// keep the least-squares system well conditioned.
const M: f64 = 1e6;

fn ofa_features(arch: &ofa_mbv3::Arch) -> Vec<f64> {
    let mut f = [0f64; OFA_NAMES.len()];
    for u in ofa_mbv3::units(arch) {
        add_unit(&u, &mut f);
    }
    ofa_scale(&f)
}

/// One unit's share of [`Space::features`] (OFA): a network's features are
/// the sum of its units' (what the ONNX export relies on).
pub fn ofa_unit_features(u: &Unit) -> Vec<f64> {
    let mut f = [0f64; OFA_NAMES.len()];
    add_unit(u, &mut f);
    ofa_scale(&f)
}

fn ofa_scale(f: &[f64]) -> Vec<f64> {
    f.iter()
        .enumerate()
        .map(|(i, v)| if i == 10 || i == 11 { *v } else { v / M })
        .collect()
}

fn add_unit(u: &Unit, f: &mut [f64; OFA_NAMES.len()]) {
    {
        match *u {
            Unit::Stem { r } => {
                let macs = ofa_mbv3::unit_macs(&Unit::Stem { r });
                f[0] += macs as f64;
                f[12] += (3 * r * r) as f64;
                let o = r.div_ceil(2);
                f[8] += (16 * o * o) as f64;
            }
            Unit::Block(ref b) => {
                let (i2, o2) = (
                    (b.in_size * b.in_size) as f64,
                    (b.out_size * b.out_size) as f64,
                );
                let (cin, mid, cout) = (
                    b.in_channels as f64,
                    b.mid_channels as f64,
                    b.out_channels as f64,
                );
                let expand = if b.expand_ratio > 1 {
                    i2 * cin * mid
                } else {
                    0.0
                };
                let project = o2 * mid * cout;
                f[1] += expand + project;
                // 1x1 convolutions on small maps run at another rate
                // (their working set fits in cache; less parallel work).
                if b.out_size <= 14 {
                    f[13] += expand + project;
                }
                let dw = o2 * mid * (b.kernel_size * b.kernel_size) as f64;
                if b.out_size <= 14 {
                    f[14] += dw;
                }
                if b.out_size > 14 && b.out_size <= 28 {
                    f[15] += expand + project;
                }
                match b.kernel_size {
                    3 => f[2] += dw,
                    5 => f[3] += dw,
                    _ => f[4] += dw,
                }
                // tract (0.23) runs a stride-2 depthwise convolution on a
                // generic path, 5-10x the time per MAC of stride 1, and an
                // output pixel whose window reaches into the padding at 3-5x
                // an interior one (its per-operator profile): both grow with
                // the kernel and the map in ways plain MACs do not follow.
                if b.stride == 2 {
                    f[16] += dw;
                } else {
                    let pad = b.kernel_size / 2;
                    let inner = b.out_size.saturating_sub(2 * pad).pow(2) as f64;
                    f[17] += (o2 - inner) * mid * (b.kernel_size * b.kernel_size) as f64;
                }
                if let Some(se) = b.se_channels {
                    f[5] += 2.0 * mid * se as f64;
                    f[11] += 1.0;
                }
                // Activations after the expand and the depthwise convolution.
                let act = (if b.expand_ratio > 1 { i2 * mid } else { 0.0 }) + o2 * mid;
                match b.act {
                    Act::Relu => f[7] += act,
                    Act::HSwish => f[8] += act,
                }
                if b.residual {
                    f[9] += o2 * cout;
                }
                f[10] += 1.0;
            }
            Unit::Head { in_size } => {
                f[6] += ofa_mbv3::unit_macs(&Unit::Head { in_size }) as f64;
            }
        }
    }
}

const GPT2_NAMES: [&str; 9] = [
    "qkv_proj_macs",
    "attention_macs",
    "ffn_macs",
    "layers",
    "heads",
    "softmax_elements",
    "ffn_elements",
    "layernorm_elements",
    "embedding_elements",
];

fn gpt2_features(a: &gpt2::Arch) -> Vec<f64> {
    let (d, s) = (a.d_model as f64, a.seq_len as f64);
    let mut f = [0f64; GPT2_NAMES.len()];
    for (h, inner) in a.heads().iter().zip(a.inners()) {
        let (h, inner) = (*h as f64, inner as f64);
        f[0] += s * d * 3.0 * d + s * d * d;
        f[1] += 2.0 * s * s * d;
        f[2] += 2.0 * s * d * inner;
        f[3] += 1.0;
        f[4] += h;
        f[5] += h * s * s;
        f[6] += s * inner;
        f[7] += 2.0 * s * d;
    }
    f[7] += s * d;
    f[8] += s * d;
    f.iter()
        .enumerate()
        .map(|(i, v)| if i == 3 || i == 4 { *v } else { v / M })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofa_features_add_up_to_the_space_macs() {
        let json = r#"{"ks":[3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5],"e":[3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4],"d":[2,3,4,2,3],"r":176}"#;
        let f = Space::OfaMbv3.features(json).unwrap();
        assert_eq!(f.len(), Space::OfaMbv3.feature_names().len());
        let arch = ofa_mbv3::Arch::from_json(json).unwrap();
        // Every MAC is in exactly one of the MAC features (pointwise on
        // small maps is a subset, not an addition).
        let macs: f64 = [0, 1, 2, 3, 4, 5, 6].iter().map(|i| f[*i]).sum::<f64>() * M;
        let exact = ofa_mbv3::macs_exact(&arch) as f64;
        assert!((macs - exact).abs() / exact < 0.01, "{macs} vs {exact}");
        assert_eq!(f[10], 1.0 + 14.0);
    }

    #[test]
    fn gpt2_features_add_up_to_the_space_macs() {
        let json = r#"{"n_layer":3,"d_model":256,"n_head":[2,4,8],"d_inner":[512,1024,768],"vocab_size":50257,"n_positions":1024,"seq_len":64}"#;
        let f = Space::Gpt2.features(json).unwrap();
        let a = gpt2::Arch::from_json(json).unwrap();
        assert_eq!((f[0] + f[1] + f[2]) * M, gpt2::macs(&a) as f64);
        assert_eq!((f[3], f[4]), (3.0, 14.0));
    }

    #[test]
    fn bad_archs_name_the_field() {
        let e = Space::OfaMbv3
            .features(r#"{"ks":[3],"e":[3],"d":[2],"r":160}"#)
            .unwrap_err();
        assert!(e.to_string().contains("ks"), "{e}");
    }
}
