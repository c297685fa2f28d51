//! Rows as training data: which rows a predictor may use, what each weighs,
//! the block table, and the predictor file's provenance.
//!
//! Row selection is strict: rows of several devices, backends or thread
//! counts are not mixed unless the filters say which, rows without an
//! `arch` or with no usable latency are counted and left out, and rows
//! weigh by their interval ([`row_weight`]).

use std::collections::{BTreeMap, BTreeSet};

use frontier_predictor::{self as predictor, PredictorFile, Sample, Space};
use frontier_table::{self as table, LatencyRow};

use crate::TrainError;

/// The profiler's default `--target-ci` (±2%), the interval at which a
/// row weighs fully (the agent's tests check it is the profiler's).
pub const REFERENCE_CI: f64 = 0.02;

/// Weight of a row flagged `unstable` relative to a stable one, for rows
/// without an interval (tables before 1.5).
pub const UNSTABLE_WEIGHT: f64 = 0.25;

/// The `space` of `frontier export --blocks` rows.
pub use frontier_spaces::ofa_mbv3::BLOCK_SPACE;

/// A row's weight: inverse to its interval's variance, relative to the
/// profiler's default target (±2%) and at most 1, since below that the
/// predictor's own error dominates; a row with no interval weighs 1, or
/// [`UNSTABLE_WEIGHT`] when flagged.
pub fn row_weight(r: &LatencyRow) -> f64 {
    match r.median_ci95_rel.filter(|h| h.is_finite() && *h > 0.0) {
        Some(h) => (REFERENCE_CI / h).powi(2).min(1.0),
        None if r.unstable => UNSTABLE_WEIGHT,
        None => 1.0,
    }
}

/// A row as a training sample: its arch, its latency, its weight.
pub fn sample_of(r: &LatencyRow) -> Option<Sample> {
    Some(Sample {
        arch: r.arch.clone()?,
        ms: r.latency_ms()?,
        weight: row_weight(r),
        group: 0,
    })
}

/// Which device, backend and thread count to train for (`None`: whatever
/// the rows hold, if they hold one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub device: Option<String>,
    pub backend: Option<String>,
    pub threads: Option<u32>,
}

/// Keep the rows of one device, backend and thread count; say which
/// filter to add when there are several.
pub fn one_setting<'a>(
    rows: Vec<&'a LatencyRow>,
    f: &Filters,
) -> Result<Vec<&'a LatencyRow>, TrainError> {
    let rows: Vec<&LatencyRow> = rows
        .into_iter()
        .filter(|r| f.device.as_ref().is_none_or(|d| &r.device_id == d))
        .filter(|r| f.backend.as_ref().is_none_or(|b| &r.backend == b))
        .filter(|r| f.threads.is_none_or(|t| r.threads == t))
        .collect();
    let distinct = |f: &dyn Fn(&LatencyRow) -> String| -> BTreeSet<String> {
        rows.iter().map(|r| f(r)).collect()
    };
    for (what, flag, values) in [
        ("devices", "--device", distinct(&|r| r.device_id.clone())),
        ("backends", "--backend", distinct(&|r| r.backend.clone())),
        (
            "thread counts",
            "--threads",
            distinct(&|r| r.threads.to_string()),
        ),
    ] {
        if values.len() > 1 {
            let list: Vec<&str> = values.iter().map(String::as_str).collect();
            return Err(TrainError::Input(format!(
                "the rows come from {} {what} ({}); a predictor is for one; fix: add {flag} {}",
                values.len(),
                list.join(", "),
                list[0]
            )));
        }
    }
    Ok(rows)
}

/// The block table: the median latency per unit key of the block rows of
/// the same device, backend and threads as `like`.
pub fn block_table(blocks: &[&LatencyRow], like: &LatencyRow) -> BTreeMap<String, f64> {
    let mut per_key: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in blocks.iter().filter(|r| {
        r.device_id == like.device_id && r.backend == like.backend && r.threads == like.threads
    }) {
        let key = r
            .arch
            .as_deref()
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(String::from));
        if let (Some(key), Some(ms)) = (key, r.latency_ms()) {
            per_key.entry(key).or_default().push(ms);
        }
    }
    per_key
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            (k, v[v.len() / 2])
        })
        .collect()
}

/// The predictor file of a training run on `rows` (all of one device,
/// backend and thread count): the fit, its metrics, and where it came
/// from (the rows' device facts and a SHA-256 over their ids).
pub fn predictor_file(
    space: Space,
    trained: &predictor::Trained,
    rows: &[&LatencyRow],
    training_rows: usize,
    unstable_rows: usize,
) -> PredictorFile {
    let first = rows[0];
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r.row_id.clone().unwrap_or_else(|| table::content_row_id(r)))
        .collect();
    ids.sort();
    let data_sha = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for id in &ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut device = BTreeMap::new();
    for (k, v) in [
        ("cpu_model", first.cpu_model.clone()),
        ("cpu_arch", first.cpu_arch.clone()),
        ("hostname", first.hostname.clone()),
        ("device_class_id", first.device_class_id.clone()),
        ("logical_cores", first.logical_cores.map(|c| c.to_string())),
    ] {
        if let Some(v) = v {
            device.insert(k.to_string(), v);
        }
    }
    PredictorFile {
        schema_version: predictor::PREDICTOR_VERSION.into(),
        space: space.name().into(),
        kind: trained.kind,
        device_id: first.device_id.clone(),
        device,
        backend: first.backend.clone(),
        backend_version: first.backend_version.clone(),
        threads: first.threads,
        training_data_sha256: data_sha,
        training_rows,
        unstable_rows,
        metrics: trained.metrics.clone(),
        reason: trained.reason.clone(),
        fitted: trained.fitted.clone(),
        references: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_weigh_by_their_interval() {
        // (interval, unstable, weight): within the default target a row
        // weighs 1; twice as wide, a quarter; older rows by their flag.
        for (ci, unstable, want) in [
            (Some(0.01), false, 1.0),
            (Some(0.02), false, 1.0),
            (Some(0.04), true, 0.25),
            (Some(0.10), true, 0.04),
            (None, false, 1.0),
            (None, true, UNSTABLE_WEIGHT),
            (Some(f64::NAN), true, UNSTABLE_WEIGHT),
        ] {
            let r = LatencyRow {
                median_ci95_rel: ci,
                unstable,
                ..Default::default()
            };
            assert!((row_weight(&r) - want).abs() < 1e-12, "{ci:?} {unstable}");
        }
    }

    #[test]
    fn rows_of_two_devices_name_the_filter() {
        let a = LatencyRow {
            device_id: "a".into(),
            ..Default::default()
        };
        let b = LatencyRow {
            device_id: "b".into(),
            ..Default::default()
        };
        let e = one_setting(vec![&a, &b], &Filters::default()).unwrap_err();
        assert!(e.to_string().contains("fix: add --device a"), "{e}");
        let only = Filters {
            device: Some("b".into()),
            ..Filters::default()
        };
        assert_eq!(one_setting(vec![&a, &b], &only).unwrap().len(), 1);
    }
}
