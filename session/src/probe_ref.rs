//! This device's stored probe reference.
//!
//! Drift correction divides each sample by the machine's speed relative to a
//! reference probe duration. For corrected medians to be comparable across
//! invocations, the reference must be the same in every invocation on a
//! device, so the first session's median probe is stored in the agent's state
//! directory, keyed by `device_id` and the probe's version, and reused.
//!
//! State directory: `$FRONTIER_STATE_DIR`, else `$XDG_STATE_HOME/frontier`,
//! else `~/.local/state/frontier`.

use std::path::PathBuf;

use frontier_profiler::probe::PROBE_VERSION;

pub fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("FRONTIER_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("frontier"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/frontier"))
}

/// `kind`: which probe (`cpu`, or `net-<backend>-<version>-t<threads>` for
/// the network probe): references of different probes are not comparable.
fn file(device_id: &str, kind: &str) -> Option<PathBuf> {
    Some(state_dir()?.join(format!(
        "probe-ref-{device_id}-v{PROBE_VERSION}-{kind}.json"
    )))
}

/// The stored reference for this device, if any (an unreadable file is ignored).
pub fn load(device_id: &str, kind: &str) -> Option<f64> {
    let text = std::fs::read_to_string(file(device_id, kind)?).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("reference_ms")?
        .as_f64()
        .filter(|x| *x > 0.0 && x.is_finite())
}

/// Store the reference; failures are reported to the caller as a warning text.
pub fn store(device_id: &str, kind: &str, reference_ms: f64) -> Result<PathBuf, String> {
    let path = file(device_id, kind).ok_or("no state directory (set FRONTIER_STATE_DIR)")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let body = serde_json::json!({
        "device_id": device_id,
        "probe_version": PROBE_VERSION,
        "probe": kind,
        "reference_ms": reference_ms,
    });
    std::fs::write(&path, format!("{body}\n")).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
