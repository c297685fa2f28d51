//! Frontiers in a fleet: what an operator publishes to the collector, what
//! a board is assigned and reports back, and the field-latency rows that
//! `frontier serve` sends (`docs/COLLECTOR.md`, "Frontiers").
//!
//! A published frontier is a manifest ([`crate::frontier::Manifest`]) and
//! content-addressed blobs (SHA-256): the models' files, or one supernet
//! shared by every version that names it. Versions of one name are
//! numbered by the collector from 1 and go out in stages: a canary share of
//! the boards first, then all of them, or back to the previous version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::frontier::Manifest;

/// Version of [`FieldRow`] this build writes; readers accept the same major.
pub const FIELD_SCHEMA_VERSION: &str = "1.0";

/// `POST /v1/frontiers/{name}`: a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub manifest: Manifest,
    /// Per file the manifest names (a model's `file`, or the supernet's
    /// `file`), the SHA-256 of the blob uploaded for it
    /// (`PUT /v1/blobs/{sha256}`). A model whose file is absent is built
    /// on the board from the supernet, which must then be here.
    pub blobs: BTreeMap<String, String>,
    /// How this version goes out; default: the name's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
}

/// The collector's answer to a publication.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Published {
    pub name: String,
    pub version: u32,
    /// `canary` or `promoted`.
    pub state: String,
    /// The boards that get it first (a canary version).
    pub canary: Vec<String>,
    /// What the collector changed or assumed (the canonical input kept).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// How a new version of a frontier reaches the boards that serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutPolicy {
    /// Share of the boards serving the name that get a new version first,
    /// percent (at least one board).
    pub canary_percent: f64,
    /// Or these boards (device ids or names), when given.
    #[serde(default)]
    pub canary_boards: Vec<String>,
    /// A canary board's field p90 of a model may exceed the upper end of
    /// that model's predicted interval by this fraction (0.25: 25%).
    pub tolerance: f64,
    /// Seconds every canary board must serve the version inside the bound
    /// before it is promoted to all.
    pub hold_s: f64,
    /// Requests a model needs on a board before its field p90 counts.
    pub min_requests: u64,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        RolloutPolicy {
            canary_percent: 20.0,
            canary_boards: Vec::new(),
            tolerance: 0.25,
            hold_s: 600.0,
            min_requests: 50,
        }
    }
}

impl RolloutPolicy {
    /// The policy's problems, each naming the field and the fix.
    pub fn check(&self) -> Result<(), String> {
        if !(self.canary_percent > 0.0 && self.canary_percent <= 100.0) {
            return Err(format!(
                "rollout.canary_percent {}: not in (0, 100]; fix: e.g. 20",
                self.canary_percent
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(format!(
                "rollout.tolerance {}: not a non-negative fraction; fix: e.g. 0.25",
                self.tolerance
            ));
        }
        if !(self.hold_s.is_finite() && self.hold_s >= 0.0) {
            return Err(format!(
                "rollout.hold_s {}: not a non-negative number of seconds; fix: e.g. 600",
                self.hold_s
            ));
        }
        Ok(())
    }
}

/// One blob a board needs for its assigned version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Where it goes, relative to the manifest's directory.
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// `GET /v1/frontiers/{name}/assignment`: what this board serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub name: String,
    pub version: u32,
    /// `canary` (this board is one of the first) or `all`.
    pub stage: String,
    /// The manifest's latency key this board serves by
    /// (`device/backend/tN`): its own, or a board like it.
    pub device_key: String,
    /// Why that key, when it is not this board's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_note: Option<String>,
    pub manifest: Manifest,
    pub blobs: Vec<BlobRef>,
}

impl Assignment {
    /// The ETag of an assignment: the version and the key (a board is
    /// told again when either changes).
    pub fn etag(&self) -> String {
        format!("\"v{}:{}\"", self.version, self.device_key)
    }
}

/// `POST /v1/frontiers/{name}/status`: what a board serves now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeReport {
    /// The version it serves (after a failure: still the old one).
    pub serving: Option<u32>,
    /// A version it tried and could not serve, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<FailedVersion>,
    /// The version it is downloading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloading: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedVersion {
    pub version: u32,
    pub error: String,
}

/// One minute (or `--field-every`) of one model served on one board: a row
/// of the field table, sent through the spool like latency rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldRow {
    pub schema_version: String,
    pub device_id: String,
    /// The frontier's name and version at the collector (empty and 0 when
    /// `serve` reads a local manifest).
    pub frontier: String,
    pub version: u32,
    pub model: String,
    pub backend: String,
    pub threads: u32,
    /// RFC 3339, UTC: the window's start, and its length.
    pub window_start: String,
    pub window_s: f64,
    pub requests: u64,
    pub failed: u64,
    /// Requests over the SLO (whole request in the server).
    pub slo_misses: u64,
    pub slo_ms: f64,
    /// Times this model became the serving one in the window.
    pub switches_in: u64,
    /// The inference alone (what the tables measure), ms.
    pub inference_p50_ms: Option<f64>,
    pub inference_p90_ms: Option<f64>,
    pub inference_p99_ms: Option<f64>,
    /// The whole request in the server (parsing, resizing, inference,
    /// encoding), ms.
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p90_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    /// Others' CPU (busy cores not ours) while it served: mean and max.
    pub load_mean: Option<f64>,
    pub load_max: Option<f64>,
    pub agent_version: String,
    /// Content id ([`field_row_id`]): the same window is stored once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
}

/// SHA-256 over the row's JSON without `row_id`, first 32 hex digits (as
/// latency rows' ids).
pub fn field_row_id(row: &FieldRow) -> String {
    use sha2::{Digest, Sha256};
    let mut r = row.clone();
    r.row_id = None;
    let json = serde_json::to_string(&r).expect("plain data");
    Sha256::digest(json.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parse one field row's JSON line, refusing another major version.
pub fn parse_field_row(line: &str) -> Result<FieldRow, String> {
    let row: FieldRow = serde_json::from_str(line).map_err(|e| format!("not a field row: {e}"))?;
    let major = FIELD_SCHEMA_VERSION.split('.').next();
    if row.schema_version.split('.').next() != major {
        return Err(format!(
            "field row schema_version {:?} is not supported (reads {}.x)",
            row.schema_version,
            major.unwrap_or("1")
        ));
    }
    Ok(row)
}

/// The `q` quantile of `sorted` (ascending), by linear interpolation;
/// `None` when empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let f = pos - lo as f64;
    Some(sorted[lo] * (1.0 - f) + sorted[hi] * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_id_is_stable_and_content_bound() {
        let mut r = FieldRow {
            schema_version: FIELD_SCHEMA_VERSION.into(),
            device_id: "d".into(),
            model: "m".into(),
            requests: 3,
            ..Default::default()
        };
        let a = field_row_id(&r);
        r.row_id = Some(a.clone());
        assert_eq!(field_row_id(&r), a);
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(parse_field_row(&line).unwrap(), r);
        r.requests = 4;
        assert_ne!(field_row_id(&r), a);
        r.schema_version = "2.0".into();
        let line = serde_json::to_string(&r).unwrap();
        assert!(parse_field_row(&line).unwrap_err().contains("2.0"));
    }

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0], 0.9), Some(1.9));
    }

    #[test]
    fn policy_checks_name_the_field() {
        assert!(RolloutPolicy::default().check().is_ok());
        let p = RolloutPolicy {
            canary_percent: 0.0,
            ..Default::default()
        };
        assert!(p.check().unwrap_err().contains("canary_percent"));
    }
}
