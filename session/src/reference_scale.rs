//! This device's reference scale: the reference subnets' latencies
//! (`reference: true` rows) of the first invocation on this device that
//! measured them, kept per backend, backend version, thread count and space
//! in the state directory (beside the probe reference), so that every later
//! invocation's summary can say how far it is from it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use frontier_table::LatencyRow;

use crate::probe_ref::state_dir;

/// Where the scale of `row`'s setting is kept.
fn file(row: &LatencyRow) -> Option<PathBuf> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    Some(state_dir()?.join(format!(
        "references-{}-{}-{}-t{}-{}.json",
        clean(&row.device_id),
        clean(&row.backend),
        clean(&row.backend_version),
        row.threads,
        clean(row.space.as_deref().unwrap_or("none"))
    )))
}

/// The stored scale for the setting of `row` (a reference row), if any: the
/// median latency per reference architecture.
pub fn load(row: &LatencyRow) -> Option<BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(file(row)?).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(v.get("references")?.clone()).ok()
}

/// Keep `references` as the scale of `row`'s setting, with the invocation
/// they came from; failures are the caller's warning text.
pub fn store(row: &LatencyRow, references: &BTreeMap<String, f64>) -> Result<PathBuf, String> {
    let path = file(row).ok_or("no state directory (set FRONTIER_STATE_DIR)")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let body = serde_json::json!({
        "device_id": row.device_id,
        "backend": row.backend,
        "backend_version": row.backend_version,
        "threads": row.threads,
        "space": row.space,
        "invocation": row.invocation,
        "measured_at": row.measured_at,
        "references": references,
    });
    std::fs::write(&path, format!("{body}\n")).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
