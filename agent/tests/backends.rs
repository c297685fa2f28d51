//! The ONNX Runtime backend through the CLI: `doctor`, `--backend ort|auto`,
//! `--check`, session options recorded in the table, and a broken library
//! reported without a panic while tract keeps working. The library must be
//! installed (scripts/fetch-onnxruntime.sh); these tests fail without it.

mod common;

use common::{fixtures, frontier, scratch, FAST};

use std::process::Output;

use frontier_table::{self as table, LatencyRow};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn doctor_reports_device_and_both_backends() {
    let state = scratch("doctor");
    let o = frontier(&["doctor", "--json"], &state);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["device"]["cpu_arch"], std::env::consts::ARCH);
    assert!(v["device"]["simd"]["avx2"].is_boolean());
    let backends = v["backends"].as_array().unwrap();
    let names: Vec<&str> = backends
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tract", "ort"]);
    for b in backends {
        assert_eq!(b["available"], true, "{b}");
        assert!(b["execution_providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "cpu"));
    }
    assert!(backends[1]["details"]["library"]
        .as_str()
        .unwrap()
        .contains("libonnxruntime"));
    // Text form names both too.
    let o = frontier(&["doctor"], &state);
    assert!(stdout(&o).contains("ort") && stdout(&o).contains("AVX2"));
}

#[test]
fn a_broken_library_is_explained_and_tract_still_works() {
    let dir = scratch("broken-lib");
    let fake = dir.join("libonnxruntime.so");
    std::fs::write(&fake, b"not a library").unwrap();
    let fake = fake.to_str().unwrap();

    let o = frontier(&["doctor", "--json", "--ort-lib", fake], &dir);
    assert!(o.status.success(), "tract works, so doctor succeeds");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ort = &v["backends"][1];
    assert_eq!(ort["available"], false);
    assert!(
        ort["reason"]
            .as_str()
            .unwrap()
            .contains("not a shared library"),
        "{ort}"
    );
    assert!(
        ort["fix"]
            .as_str()
            .unwrap()
            .contains("fetch-onnxruntime.sh"),
        "{ort}"
    );

    let model = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let model = model.to_str().unwrap();
    let mut args = vec!["profile", model, "--backend", "ort", "--ort-lib", fake];
    args.extend(FAST);
    let o = frontier(&args, &dir);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    assert!(
        e.contains("backend ort is not usable here") && e.contains(fake),
        "{e}"
    );

    let mut args = vec![
        "profile",
        model,
        "--backend",
        "auto",
        "--ort-lib",
        fake,
        "--json",
    ];
    args.extend(FAST);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: skipping backend ort"));
    let rows: Vec<LatencyRow> = table::parse(
        std::path::Path::new("-.jsonl"),
        table::Format::JsonLines,
        &stdout(&o),
    )
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].backend, "tract");
}

#[test]
fn auto_profiles_with_both_and_marks_the_fastest() {
    let dir = scratch("auto");
    let out = dir.join("t.jsonl");
    let model = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let mut args = vec![
        "profile",
        model.to_str().unwrap(),
        "--backend",
        "auto",
        "--graph-opt",
        "extended",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(FAST);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = table::read(&out).unwrap();
    assert_eq!(rows.len(), 2);
    let ort = rows.iter().find(|r| r.backend == "ort").unwrap();
    let tract = rows.iter().find(|r| r.backend == "tract").unwrap();
    assert!(ort.backend_version.starts_with("1."));
    assert_eq!(ort.graph_opt.as_deref(), Some("extended"));
    assert_eq!(ort.inter_threads, Some(1));
    assert_eq!(ort.execution_provider.as_deref(), Some("cpu"));
    assert_eq!(tract.graph_opt, None, "tract has no optimization levels");
    let fastest: Vec<bool> = rows.iter().map(|r| r.fastest.unwrap()).collect();
    assert_eq!(fastest.iter().filter(|f| **f).count(), 1);
    let winner = rows.iter().find(|r| r.fastest == Some(true)).unwrap();
    let loser = rows.iter().find(|r| r.fastest == Some(false)).unwrap();
    assert!(winner.median_ms_corrected <= loser.median_ms_corrected || loser.unstable);
}

#[test]
fn ort_per_op_table_has_the_same_shape_as_tracts() {
    let dir = scratch("ort-per-op");
    let out = dir.join("t.csv");
    let model = fixtures().join("gpt2_tiny_seq32.onnx");
    let mut args = vec![
        "profile",
        model.to_str().unwrap(),
        "--backend",
        "ort",
        "--per-op",
        "--per-op-runs",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(FAST);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let ops: Vec<frontier_table::OpRow> = table::read(&dir.join("t.ops.csv")).unwrap();
    assert!(ops.len() > 10, "{} op rows", ops.len());
    assert!(ops.iter().all(|r| r.backend == "ort" && r.runs == 3));
    assert!(ops
        .iter()
        .any(|r| r.op_type == "MatMul" || r.op_type == "FusedMatMul" || r.op_type == "Gemm"));
    let share: f64 = ops.iter().map(|r| r.share).sum();
    assert!((share - 1.0).abs() < 1e-3, "{share}");
}

#[test]
fn check_compares_the_backends_on_every_fixture() {
    let dir = scratch("check");
    let o = frontier(
        &[
            "profile",
            "--check",
            fixtures().to_str().unwrap(),
            "--input",
            "input_ids=1,32",
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per fixture");
    for l in &lines {
        assert_eq!(l["reference"], "tract");
        assert_eq!(l["backend"], "ort");
        assert_eq!(l["ok"], true, "{l}");
        assert!(l["max_rel"].as_f64().unwrap() <= 1e-4);
    }
    // A tolerance no float32 computation meets makes it fail, with exit code 1.
    let o = frontier(
        &[
            "profile",
            "--check",
            fixtures().join("gpt2_tiny_seq32.onnx").to_str().unwrap(),
            "--check-tolerance",
            "1e-12",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("DIFFERS"), "{}", stdout(&o));
}
