//! Helpers shared by the agent's end-to-end tests.
#![allow(dead_code)] // each test file uses a subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)] // each test file uses a subset
pub use frontier_testkit::{onnx_fixtures as fixtures, scratch, FAST};

/// Run the `frontier` binary with its state (probe reference) kept in `state`.
pub fn frontier(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(args)
        .env("FRONTIER_STATE_DIR", state)
        .output()
        .unwrap()
}

/// The rows a `frontier ... --json` run printed on stdout.
pub fn stdout_rows(o: &Output) -> Vec<frontier_table::LatencyRow> {
    frontier_table::parse(
        Path::new("stdout.jsonl"),
        frontier_table::Format::JsonLines,
        &String::from_utf8_lossy(&o.stdout),
    )
    .unwrap()
}

/// Rows of a synthetic device for OFA subnets (latency from MACs and
/// depth, 2% jitter; every tenth row flagged unstable).
pub fn synthetic_rows(n: usize, seed: u64, device: &str) -> Vec<frontier_table::LatencyRow> {
    let mut rng = frontier_profiler::inputs::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let arch = frontier_spaces::ofa_mbv3::sample(&mut rng);
            let blocks: f64 = arch.d.iter().sum::<u32>() as f64;
            let jitter = 1.0 + 0.02 * ((rng.next_u64() % 1000) as f64 / 500.0 - 1.0);
            let ms =
                (1.0 + frontier_spaces::ofa_mbv3::macs(&arch) / 1e6 * 0.04 + blocks * 0.1) * jitter;
            let mut r = frontier_table::LatencyRow {
                schema_version: frontier_table::SCHEMA_VERSION.into(),
                device_id: device.into(),
                backend: "tract".into(),
                backend_version: "0.23.9".into(),
                model_path: format!("m/{i}.onnx"),
                model_sha256: format!("{i:064x}"),
                inputs: format!("input=1,3,{r},{r}:f32", r = arch.r),
                threads: 1,
                n_runs: 30,
                median_ms: ms,
                median_ms_corrected: ms,
                measured_at: "2026-11-28T00:00:00.000Z".into(),
                frontier_version: "0.1.0".into(),
                arch: Some(arch.to_json()),
                space: Some("ofa-mbv3".into()),
                unstable: i % 10 == 0,
                ..frontier_table::LatencyRow::default()
            };
            frontier_table::ensure_row_id(&mut r);
            r
        })
        .collect()
}

/// `frontier train` on `n` synthetic rows of `device` (seeded): the
/// predictor file `DIR/DEVICE.json`.
pub fn synthetic_predictor(dir: &Path, device: &str, n: usize, seed: u64) -> PathBuf {
    let t = dir.join(format!("{device}.jsonl"));
    std::fs::write(
        &t,
        frontier_table::to_jsonl(&synthetic_rows(n, seed, device)),
    )
    .unwrap();
    let p = dir.join(format!("{device}.json"));
    let o = frontier(
        &[
            "train",
            t.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--out",
            p.to_str().unwrap(),
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}
