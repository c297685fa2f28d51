//! An architecture of either space, and drawing them.
//!
//! Two JSON forms exist on purpose: [`Arch::json`] is the space's own
//! compact form (fields in declaration order; what searches and manifests
//! key on), [`Arch::row_json`] the form rows record (keys sorted, as
//! `manifest.jsonl` stores the arch object), so tables written by earlier
//! versions keep matching.

use crate::manifest::ManifestLine;
use crate::rng::SplitMix64;
use crate::sampler::{self, Strategy};
use crate::supernet::{Supernet, SupernetError};
use crate::{gpt2, ofa_mbv3, ArchError, Generated, Space};

/// An architecture of one of the spaces.
#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    Ofa(ofa_mbv3::Arch),
    Gpt2(gpt2::Arch),
}

/// Errors of drawing architectures: an invalid architecture, or a sampler
/// the space has no dimension for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    #[error(transparent)]
    Arch(#[from] ArchError),
    #[error("--sampler {sampler}: the {space} space has no input resolution; use uniform, depth or macs")]
    Sampler { space: Space, sampler: &'static str },
}

impl Arch {
    /// Parse and validate architecture JSON of `space`, as given.
    pub fn parse(space: Space, json: &str) -> Result<Arch, ArchError> {
        Ok(match space {
            Space::OfaMbv3 => Arch::Ofa(ofa_mbv3::Arch::from_json(json)?),
            Space::Gpt2 => Arch::Gpt2(gpt2::Arch::from_json(json)?),
        })
    }

    /// The same network in its one form (OFA: inactive slots as kernel 3,
    /// expand 3), so equal networks compare equal.
    pub fn canonical(self) -> Arch {
        match self {
            Arch::Ofa(a) => Arch::Ofa(a.canonical()),
            other => other,
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Arch::Ofa(_) => Space::OfaMbv3,
            Arch::Gpt2(_) => Space::Gpt2,
        }
    }

    /// Compact JSON in the space's field order.
    pub fn json(&self) -> String {
        match self {
            Arch::Ofa(a) => a.to_json(),
            Arch::Gpt2(a) => a.to_json(),
        }
    }

    /// Compact JSON with sorted keys: the `arch` column of rows.
    pub fn row_json(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.json())
            .expect("valid JSON")
            .to_string()
    }

    /// The space's encoding, the input of ONNX accuracy models and predictors.
    pub fn encode(&self) -> Vec<f32> {
        match self {
            Arch::Ofa(a) => ofa_mbv3::encode(a),
            Arch::Gpt2(a) => gpt2::encode(a),
        }
    }

    /// PyTorch's parameter count.
    pub fn params(&self) -> u64 {
        match self {
            Arch::Ofa(a) => ofa_mbv3::params(a),
            Arch::Gpt2(a) => gpt2::params(a),
        }
    }

    /// Exact integer MAC count.
    pub fn macs(&self) -> u64 {
        match self {
            Arch::Ofa(a) => ofa_mbv3::macs_exact(a),
            Arch::Gpt2(a) => gpt2::macs(a),
        }
    }

    /// MACs as the space's reference package counts them (OFA accumulates
    /// in float32).
    pub fn macs_reference(&self) -> f64 {
        match self {
            Arch::Ofa(a) => ofa_mbv3::macs(a),
            Arch::Gpt2(a) => gpt2::macs(a) as f64,
        }
    }

    /// The ONNX model with seeded weights.
    pub fn generate(&self, seed: u64) -> Result<Generated, ArchError> {
        match self {
            Arch::Ofa(a) => ofa_mbv3::generate(a, seed),
            Arch::Gpt2(a) => gpt2::generate(a, seed),
        }
    }

    /// The ONNX model with the supernet's weights when one is given, else
    /// seeded ones. Only OFA subnets come from a supernet.
    pub fn generate_from(
        &self,
        supernet: Option<&Supernet>,
        seed: u64,
    ) -> Result<Generated, SupernetError> {
        match (self, supernet) {
            (Arch::Ofa(a), Some(net)) => Ok(ofa_mbv3::generate_weighted(a, &net.subnet(a)?)?),
            (Arch::Gpt2(_), Some(_)) => Err(SupernetError::CannotBuild {
                config: "an OFAMobileNetV3 supernet".into(),
                why: "the gpt2 space has no supernet weights here".into(),
            }),
            (_, None) => Ok(self.generate(seed)?),
        }
    }

    /// The `manifest.jsonl` line of this architecture's model.
    pub fn manifest_line(&self, file: &str, seed: u64, input_shape: Vec<usize>) -> ManifestLine {
        ManifestLine {
            file: file.to_string(),
            space: self.space().name().into(),
            arch: serde_json::from_str(&self.json()).expect("valid JSON"),
            params: self.params(),
            macs: self.macs_reference(),
            macs_exact: self.macs(),
            encoding: self.encode(),
            seed,
            input_shape,
            supernet_sha256: None,
        }
    }
}

/// What to sample: a space, a strategy, a seed and GPT-2's fixed sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    pub space: Space,
    pub strategy: Strategy,
    pub seed: u64,
    pub seq_len: u32,
    pub vocab_size: u32,
    pub n_positions: u32,
}

/// Subnets in the canary set: few enough to run every few hours.
pub const CANARY_SUBNETS: usize = 5;
/// The canary set's seed: the same subnets, with the same weights, on every
/// board and every run, so that their rows can be compared over time (the
/// agent measures them; the collector finds them among a board's rows).
pub const CANARY_SEED: u64 = 0xCA_0A_21;

/// The canary set of `space`: [`CANARY_SUBNETS`] uniform samples of seed
/// [`CANARY_SEED`].
pub fn canary_archs(space: Space) -> Vec<Arch> {
    SampleSpec::new(space, CANARY_SEED)
        .sample(CANARY_SUBNETS)
        .expect("uniform samples of a space's default sizes are valid")
}

impl SampleSpec {
    /// Uniform samples of `space` with its default sizes.
    pub fn new(space: Space, seed: u64) -> SampleSpec {
        let g = gpt2::Space::default();
        SampleSpec {
            space,
            strategy: Strategy::Uniform,
            seed,
            seq_len: g.seq_len,
            vocab_size: g.vocab_size,
            n_positions: g.n_positions,
        }
    }

    fn gpt2_space(&self) -> gpt2::Space {
        gpt2::Space {
            vocab_size: self.vocab_size,
            n_positions: self.n_positions,
            seq_len: self.seq_len,
            ..gpt2::Space::default()
        }
    }

    /// `n` architectures (deterministic for the seed; `frontier export
    /// --samples` and `profile --space` draw these).
    pub fn sample(&self, n: usize) -> Result<Vec<Arch>, SpaceError> {
        let mut rng = SplitMix64::new(self.seed);
        Ok(match self.space {
            Space::OfaMbv3 => {
                type Key = fn(&ofa_mbv3::Arch) -> f64;
                let key: Option<(Key, bool)> = match self.strategy {
                    Strategy::Uniform => None,
                    Strategy::Depth => Some((|a| a.d.iter().sum::<u32>() as f64, true)),
                    Strategy::Resolution => Some((|a| a.r as f64, true)),
                    Strategy::Macs => Some((ofa_mbv3::macs, false)),
                };
                let archs = match key {
                    None => (0..n).map(|_| ofa_mbv3::sample(&mut rng)).collect(),
                    Some((k, discrete)) => {
                        sampler::stratified(n, &mut rng, ofa_mbv3::sample, k, discrete)
                    }
                };
                archs.into_iter().map(Arch::Ofa).collect()
            }
            Space::Gpt2 => {
                let space = self.gpt2_space();
                gpt2::sample(&space, &mut SplitMix64::new(0)).validate()?;
                let draw = |r: &mut SplitMix64| gpt2::sample(&space, r);
                let archs = match self.strategy {
                    Strategy::Uniform => (0..n).map(|_| draw(&mut rng)).collect(),
                    Strategy::Depth => {
                        sampler::stratified(n, &mut rng, draw, |a| a.n_layer as f64, true)
                    }
                    Strategy::Macs => {
                        sampler::stratified(n, &mut rng, draw, |a| gpt2::macs(a) as f64, false)
                    }
                    Strategy::Resolution => {
                        return Err(SpaceError::Sampler {
                            space: self.space,
                            sampler: "resolution",
                        })
                    }
                };
                archs.into_iter().map(Arch::Gpt2).collect()
            }
        })
    }

    /// The smallest and the largest subnet of the space (every choice at
    /// its minimum, then at its maximum): samples rarely reach them, and a
    /// predictor that never saw them extrapolates at the ends of the range.
    /// For GPT-2 only the smallest: the largest (16 layers of width 1024 and
    /// GPT-2's vocabulary) is 1.4 GB of weights, too much for a board's copies.
    pub fn extremes(&self) -> Vec<Arch> {
        match self.space {
            Space::OfaMbv3 => [(3, 3, 2, 128), (7, 6, 4, 224)]
                .into_iter()
                .map(|(k, e, d, r)| {
                    Arch::Ofa(ofa_mbv3::Arch {
                        ks: vec![k; 20],
                        e: vec![e; 20],
                        d: vec![d; 5],
                        r,
                    })
                })
                .collect(),
            Space::Gpt2 => {
                let space = self.gpt2_space();
                let min = |v: &[u32]| v.iter().min().copied().unwrap_or(0);
                let a = gpt2::Arch {
                    n_layer: min(&space.n_layer),
                    d_model: min(&space.d_model),
                    n_head: gpt2::PerLayer::One(min(&space.n_head)),
                    d_inner: gpt2::PerLayer::One(min(&space.d_inner)),
                    vocab_size: space.vocab_size,
                    n_positions: space.n_positions,
                    seq_len: space.seq_len,
                };
                a.validate()
                    .is_ok()
                    .then_some(Arch::Gpt2(a))
                    .into_iter()
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_json_sorts_keys_and_json_keeps_the_space_order() {
        let a = SampleSpec::new(Space::OfaMbv3, 1)
            .sample(1)
            .unwrap()
            .remove(0);
        assert!(a.json().starts_with("{\"ks\":"), "{}", a.json());
        assert!(a.row_json().starts_with("{\"d\":"), "{}", a.row_json());
        assert_eq!(Arch::parse(Space::OfaMbv3, &a.row_json()).unwrap(), a);
    }

    #[test]
    fn gpt2_has_no_resolution_sampler() {
        let spec = SampleSpec {
            strategy: Strategy::Resolution,
            ..SampleSpec::new(Space::Gpt2, 0)
        };
        let e = spec.sample(3).unwrap_err().to_string();
        assert!(
            e.contains("--sampler resolution") && e.contains("uniform, depth or macs"),
            "{e}"
        );
    }

    #[test]
    fn extremes_are_the_ends_of_the_space() {
        let ofa = SampleSpec::new(Space::OfaMbv3, 0).extremes();
        assert_eq!(ofa.len(), 2);
        assert!(ofa[0].macs() < ofa[1].macs());
        assert_eq!(SampleSpec::new(Space::Gpt2, 0).extremes().len(), 1);
    }
}
