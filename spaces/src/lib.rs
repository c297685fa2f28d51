//! Search spaces: what a network of a space is, and everything that follows
//! from its architecture alone. Pure computation: no tract, no files, no
//! network, so the collector, training and search use it as the agent does.
//!
//! - [`Space`]: the spaces Frontier knows (one definition; flags, tables,
//!   predictors and manifests name them by [`Space::name`]).
//! - [`Arch`]: an architecture of either space, with its counts, encoding,
//!   ONNX generation and manifest line; [`arch::SampleSpec`] draws them
//!   (uniform or stratified, [`sampler`]) and names the space's extremes.
//! - [`genome`]: mutation and crossover that always give valid
//!   architectures (NSGA-II's operators).
//! - [`features`]: the analytic features latency predictors fit.
//! - [`ofa_mbv3`], [`gpt2`]: the two spaces (validation, channel plans,
//!   counts as their reference packages define them, ONNX graphs as
//!   PyTorch exports them).
//! - [`onnx`]: a small ONNX graph builder with its own protobuf messages.
//! - [`manifest`]: the `manifest.jsonl` line written beside generated models.
//! - [`rng`]: the seeded generator everything random draws from.
//!
//! Generation is a pure function of (space, architecture, seed): the same
//! inputs give the same bytes.

pub mod arch;
pub mod features;
pub mod genome;
pub mod gpt2;
pub mod manifest;
pub mod ofa_mbv3;
pub mod onnx;
pub mod rng;
pub mod sampler;
pub mod supernet;

pub use arch::{canary_archs, Arch, SampleSpec, SpaceError, CANARY_SEED, CANARY_SUBNETS};
pub use genome::Genome;
pub use onnx::{ArchError, Generated};

/// Which search space an architecture belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    OfaMbv3,
    Gpt2,
}

impl Space {
    /// Every space, in the order help texts list them.
    pub const ALL: [Space; 2] = [Space::OfaMbv3, Space::Gpt2];

    /// The name in flags, tables, predictor files and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Space::OfaMbv3 => ofa_mbv3::SPACE,
            Space::Gpt2 => gpt2::SPACE,
        }
    }

    pub fn parse(s: &str) -> Option<Space> {
        Space::ALL.into_iter().find(|sp| sp.name() == s)
    }

    /// The known names, for error messages: `ofa-mbv3, gpt2`.
    pub fn names() -> String {
        Space::ALL.map(Space::name).join(", ")
    }

    /// One line for help texts.
    pub fn description(self) -> &'static str {
        match self {
            Space::OfaMbv3 => "Once-for-All MobileNetV3 (width 1.0): ks 3/5/7, expand 3/4/6, depth 2-4, resolution 128-224.",
            Space::Gpt2 => "LiteTransformerSearch's GPT-2 decoders (Hugging Face GPT2Model): 2-16 layers, d_model 128-1024, per-layer heads 2/4/8 and d_inner 256-4096.",
        }
    }

    /// File-name prefix of the space's generated models.
    pub fn file_prefix(self) -> &'static str {
        match self {
            Space::OfaMbv3 => "ofa_mbv3",
            Space::Gpt2 => "gpt2",
        }
    }

    /// Length of the space's encoding ([`Arch::encode`]).
    pub fn encoding_len(self) -> usize {
        match self {
            Space::OfaMbv3 => ofa_mbv3::ENCODING_LEN,
            Space::Gpt2 => gpt2::ENCODING_LEN,
        }
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Space {
    type Err = String;

    fn from_str(s: &str) -> Result<Space, String> {
        Space::parse(s).ok_or_else(|| format!("unknown space {s}; known: {}", Space::names()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Space::ALL {
            assert_eq!(Space::parse(s.name()), Some(s));
            assert_eq!(s.to_string().parse::<Space>(), Ok(s));
        }
        assert!("resnet"
            .parse::<Space>()
            .unwrap_err()
            .contains("ofa-mbv3, gpt2"));
    }
}
