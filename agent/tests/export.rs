//! `frontier export` end to end: generated subnets load and run in tract,
//! their manifest agrees with the space's counts, `frontier profile` records
//! their architecture, and invalid architectures write nothing.

mod common;

use common::{frontier, scratch, stdout_rows, FAST};

use std::path::Path;

use frontier_profiler::backend::{ready_state, PrepareOptions};
use frontier_profiler::inputs::FillOptions;
use frontier_profiler::tract_backend::TractBackend;
use frontier_spaces::manifest::ManifestLine;
use frontier_spaces::ofa_mbv3::{self, Arch};
use frontier_table::{self as table, LatencyRow};

fn manifest(dir: &Path) -> Vec<ManifestLine> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn sampled_subnets_run_and_match_their_manifest() {
    let dir = scratch("samples");
    let out = dir.join("m");
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "3",
            "--seed",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = manifest(&out);
    assert_eq!(lines.len(), 3);
    // --json repeats the manifest on stdout.
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
    let b = TractBackend::default();
    for l in &lines {
        let arch: Arch = serde_json::from_value(l.arch.clone()).unwrap();
        assert_eq!(l.params, ofa_mbv3::params(&arch));
        assert_eq!(l.macs, ofa_mbv3::macs(&arch));
        assert_eq!(l.encoding, ofa_mbv3::encode(&arch));
        assert_eq!(l.input_shape, vec![1, 3, arch.r as usize, arch.r as usize]);
        let p = out.join(&l.file);
        let (resolved, mut state) = ready_state(
            &b,
            &p,
            &[],
            FillOptions::default(),
            &PrepareOptions::default(),
        )
        .unwrap();
        // The graph's own statistics agree with the generator's counts.
        let stats = b.graph_stats(&p, &resolved).unwrap();
        assert_eq!(stats.macs, ofa_mbv3::macs_exact(&arch), "{}", l.file);
        assert!(stats.uncounted.is_empty());
        let y = state.outputs().unwrap();
        assert_eq!(y[0].shape, vec![1, 1000]);
        assert!(y[0].values.iter().all(|v| v.is_finite()), "{}", l.file);
        // Random weights must not collapse the activations to a constant.
        assert!(
            y[0].values
                .iter()
                .any(|v| (v - y[0].values[0]).abs() > 1e-6),
            "{}",
            l.file
        );
    }
    // Profiling the export records each model's architecture.
    let o = frontier(
        &[
            "profile",
            out.to_str().unwrap(),
            "--json",
            "--min-runs",
            "2",
            "--min-time",
            "20ms",
            "--max-time",
            "100ms",
            "--rounds",
            "1",
            "--warmup",
            "1",
            "--warmup-time",
            "0",
            "--probe-ref",
            "off",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<LatencyRow> = stdout_rows(&o);
    assert_eq!(rows.len(), 3);
    for r in rows {
        let l = lines
            .iter()
            .find(|l| r.model_path.ends_with(&l.file))
            .unwrap();
        let arch: serde_json::Value = serde_json::from_str(r.arch.as_deref().unwrap()).unwrap();
        assert_eq!(arch, l.arch);
    }
    // A second export into the same directory is refused.
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds an export"));
}

#[test]
fn one_architecture_to_one_file() {
    let dir = scratch("one");
    let arch = r#"{"ks":[3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5],"e":[3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4],"d":[2,3,4,2,3],"r":160}"#;
    let file = dir.join("sub/one.onnx");
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--arch",
            arch,
            "--out",
            file.to_str().unwrap(),
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let l: ManifestLine = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l.params, ofa_mbv3::params(&Arch::from_json(arch).unwrap()));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        ofa_mbv3::generate(&Arch::from_json(arch).unwrap(), 0)
            .unwrap()
            .onnx
    );
}

#[test]
fn invalid_architectures_write_nothing() {
    let dir = scratch("invalid");
    let file = dir.join("bad.onnx");
    for (arch, needle) in [
        (
            r#"{"ks":[3],"e":[3],"d":[2,2,2,2,2],"r":160}"#,
            "`ks` has 1 entries",
        ),
        (
            r#"{"ks":[4,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"e":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"d":[2,2,2,2,2],"r":160}"#,
            "`ks[0]` is 4; allowed: 3, 5, 7",
        ),
        (
            r#"{"ks":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"e":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"d":[2,2,5,2,2],"r":160}"#,
            "`d[2]` is 5; allowed: 2, 3, 4",
        ),
        (
            r#"{"ks":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"e":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"d":[2,2,2,2,2],"r":161}"#,
            "`r` is 161",
        ),
    ] {
        let o = frontier(
            &[
                "export",
                "--space",
                "ofa-mbv3",
                "--arch",
                arch,
                "--out",
                file.to_str().unwrap(),
            ],
            &dir,
        );
        assert_eq!(o.status.code(), Some(2));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(needle), "{e}");
        assert!(!file.exists());
    }
}

#[test]
fn gpt2_samples_carry_hugging_face_counts_and_profile_with_their_arch() {
    use frontier_spaces::gpt2;
    let dir = scratch("gpt2");
    let out = dir.join("g");
    let o = frontier(
        &[
            "export",
            "--space",
            "gpt2",
            "--samples",
            "2",
            "--sampler",
            "macs",
            "--seed",
            "3",
            "--seq-len",
            "16",
            "--vocab-size",
            "500",
            "--n-positions",
            "64",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = manifest(&out);
    assert_eq!(lines.len(), 2);
    for l in &lines {
        let a: gpt2::Arch = serde_json::from_value(l.arch.clone()).unwrap();
        assert_eq!(l.params, gpt2::params(&a));
        assert_eq!(l.input_shape, vec![1, 16]);
        assert_eq!(gpt2::decode(&l.encoding).unwrap().heads(), a.heads());
    }
    let table_path = dir.join("t.jsonl");
    let model = out.join(&lines[0].file);
    let mut args = vec!["profile", model.to_str().unwrap()];
    args.extend(FAST);
    args.extend(["--out", table_path.to_str().unwrap()]);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<LatencyRow> = table::read(&table_path).unwrap();
    let arch: serde_json::Value = serde_json::from_str(rows[0].arch.as_deref().unwrap()).unwrap();
    assert_eq!(arch, lines[0].arch);
}

#[test]
fn blocks_export_every_unit_once_with_lookup_keys() {
    let dir = scratch("blocks");
    let out = dir.join("b");
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--blocks",
            "--resolutions",
            "128,224",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = manifest(&out);
    assert_eq!(lines.len(), 2 * 93);
    assert!(lines.iter().all(|l| l.space == "ofa-mbv3-block"));
    let keys: std::collections::HashSet<&str> = lines
        .iter()
        .map(|l| l.arch["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), lines.len());
    // A block model runs with its declared input shape.
    let l = lines
        .iter()
        .find(|l| l.arch["unit"]["type"] == "block")
        .unwrap();
    let (_, mut s) = ready_state(
        &TractBackend::default(),
        &out.join(&l.file),
        &[],
        FillOptions {
            seed: 0,
            int_max: 10,
        },
        &PrepareOptions::default(),
    )
    .unwrap();
    let y = s.outputs().unwrap();
    assert_eq!(y[0].shape.len(), 4);
    // gpt2 has no block table.
    let o = frontier(
        &[
            "export",
            "--space",
            "gpt2",
            "--blocks",
            "--out",
            dir.join("x").to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.join("x").exists());
}
