//! `manifest.jsonl`: one line per generated model, so that tables can record
//! each model's architecture (`frontier profile` reads it) and predictors can
//! train on its features.

use serde::{Deserialize, Serialize};

/// One generated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLine {
    /// File name, relative to the manifest's directory.
    pub file: String,
    pub space: String,
    pub arch: serde_json::Value,
    /// PyTorch's parameter count of the network.
    pub params: u64,
    /// MACs as the space's reference implementation counts them.
    pub macs: f64,
    /// Exact integer MAC count.
    pub macs_exact: u64,
    /// The space's numeric feature vector.
    pub encoding: Vec<f32>,
    /// Seed of the random weights.
    pub seed: u64,
    /// Input shape of the model.
    pub input_shape: Vec<usize>,
    /// SHA-256 of the supernet the weights were taken from (`export
    /// --weights`); absent for seeded weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supernet_sha256: Option<String>,
}

impl ManifestLine {
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("plain data");
        s.push('\n');
        s
    }
}
