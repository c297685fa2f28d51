//! The frontier manifest (`frontier.json`, `docs/FRONTIER_FORMAT.md`): what
//! `frontier search` writes and `frontier serve` reads: the models of a
//! space's Pareto frontier per device, with predicted (and, after
//! `--verify`, measured) latencies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Limits the search applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// Per device (in the order of the manifest's `devices`), a limit on
    /// the predicted latency, ms.
    pub max_latency_ms: Vec<Option<f64>>,
    pub max_params: Option<u64>,
}

/// Version of the frontier manifest this build writes; readers accept the
/// same major.
pub const FRONTIER_VERSION: &str = "1.1";

/// `DIR/frontier.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: String,
    pub space: String,
    pub accuracy: AccuracySource,
    /// The input every request carries (the largest the models take).
    pub input: CanonicalInput,
    /// `device_id/backend/tN` of each predictor, in the order given.
    pub devices: Vec<String>,
    pub search: SearchSummary,
    pub created_at: String,
    pub frontier_version: String,
    /// The supernet the models' weights come from (1.1; searches with
    /// `--weights`): a board with this file builds any model of the
    /// manifest without its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supernet: Option<SupernetRef>,
    /// Sorted by the first device's predicted latency.
    pub models: Vec<FrontierModel>,
}

/// Which supernet file, by name and content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupernetRef {
    /// File name, looked up beside the manifest (or given to `serve
    /// --weights`).
    pub file: String,
    pub sha256: String,
    /// Its configuration, as the tensors' shapes say (`width multiplier
    /// 1.00, kernels [3, 5, 7], expand ratio up to 6, depth up to 4`).
    pub config: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracySource {
    /// `macs`, `params`, `table:FILE` or `onnx:FILE`.
    pub source: String,
    /// What the numbers are.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalInput {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    pub algorithm: String,
    pub population: usize,
    pub generations: usize,
    pub seed: u64,
    /// Distinct architectures evaluated (one predictor call per device each).
    pub evaluations: usize,
    pub hypervolume: f64,
    pub random_search_hypervolume: f64,
    pub constraints: Constraints,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierModel {
    pub name: String,
    /// Relative to the manifest's directory.
    pub file: String,
    pub arch: serde_json::Value,
    pub accuracy: f64,
    pub params: u64,
    pub macs: u64,
    /// The devices whose frontier this model is on.
    pub frontier_of: Vec<String>,
    pub latency: BTreeMap<String, Latency>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<(f64, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_ms: Option<f64>,
}

impl Manifest {
    /// Read a manifest, refusing another major version.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Manifest::parse(&text).map_err(|message| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parse manifest JSON, refusing another major version.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let version = v["schema_version"].as_str().unwrap_or("");
        let major = FRONTIER_VERSION.split('.').next().unwrap_or("1");
        if version.split('.').next() != Some(major) {
            return Err(format!(
                "frontier manifest schema_version {version:?} is not supported (reads {major}.x); fix: rerun frontier search with this version"
            ));
        }
        serde_json::from_value(v).map_err(|e| format!("not a frontier manifest: {e}"))
    }

    /// The models on the frontier of `key` (all models when none names it).
    pub fn models_for(&self, key: &str) -> Vec<&FrontierModel> {
        let on: Vec<&FrontierModel> = self
            .models
            .iter()
            .filter(|m| m.frontier_of.iter().any(|k| k == key))
            .collect();
        if on.is_empty() {
            self.models.iter().collect()
        } else {
            on
        }
    }
}

/// A manifest that cannot be used, with the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The key of a predictor's device in the manifest.
pub fn device_key(device_id: &str, backend: &str, threads: u32) -> String {
    format!("{device_id}/{backend}/t{threads}")
}
