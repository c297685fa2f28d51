//! Helpers shared by the agent's end-to-end tests.
#![allow(dead_code)] // each test file uses a subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `shared/fixtures/onnx` beside the checkout (or under `$FRONTIER_SHARED`).
pub fn fixtures() -> PathBuf {
    std::env::var_os("FRONTIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures/onnx")
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("frontier-agent-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the `frontier` binary with its state (probe reference) kept in `state`.
pub fn frontier(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(args)
        .env("FRONTIER_STATE_DIR", state)
        .output()
        .unwrap()
}

/// Fast measurement settings: a few runs per model, no stored probe reference
/// (these tests check behaviour and formats, never speed).
pub const FAST: &[&str] = &[
    "--warmup",
    "1",
    "--warmup-time",
    "0",
    "--min-runs",
    "4",
    "--min-time",
    "50ms",
    "--max-time",
    "300ms",
    "--rounds",
    "2",
    "--retries",
    "0",
    "--probe-ref",
    "session",
];
