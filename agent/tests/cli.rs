//! `frontier profile` end to end, on the PyTorch-exported fixtures, with short
//! time budgets (these tests check behaviour and formats, never speed).

mod common;

use common::{fixtures, frontier, scratch, stdout_rows, FAST};

use std::path::Path;
use std::process::Output;

use frontier_table::{self as table, LatencyRow, OpRow};

fn profile(paths: &[&Path], extra: &[&str], state: &Path) -> Output {
    let mut args: Vec<&str> = vec!["profile"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.extend(FAST);
    args.extend(extra);
    frontier(&args, state)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn profiles_every_fixture_into_both_table_formats() {
    let dir = scratch("tables");
    let csv = dir.join("t.csv");
    let jsonl = dir.join("t.jsonl");
    for out in [&csv, &jsonl] {
        let o = profile(
            &[&fixtures()],
            &[
                "--out",
                out.to_str().unwrap(),
                "--per-op",
                "--per-op-runs",
                "2",
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        // The human summary names each model.
        let s = String::from_utf8_lossy(&o.stdout);
        for m in [
            "gpt2_tiny_seq32",
            "ofa_mbv3_ref0_r128_opset13",
            "ofa_mbv3_ref3_r192_opset20",
        ] {
            assert!(s.contains(m), "{s}");
        }
        assert!(s.contains("top operators"), "{s}");
    }
    let a: Vec<LatencyRow> = table::read(&csv).unwrap();
    let b: Vec<LatencyRow> = table::read(&jsonl).unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    for r in &a {
        assert_eq!(r.backend, "tract");
        assert_eq!(r.threads, 1);
        assert!(r.n_runs >= 4, "{r:?}");
        assert!(
            r.min_ms <= r.p10_ms
                && r.p10_ms <= r.median_ms
                && r.median_ms <= r.p90_ms
                && r.p90_ms <= r.max_ms
        );
        assert!(r.median_ms > 0.0 && r.median_ms_corrected > 0.0);
        assert_eq!(r.model_sha256.len(), 64);
        assert_eq!(r.device_id, a[0].device_id);
        assert_eq!(
            r.target_triple
                .as_deref()
                .map(|t| t.starts_with(std::env::consts::ARCH)),
            Some(true)
        );
        assert!(r.probe_ref_ms.is_some());
    }
    let gpt = a.iter().find(|r| r.model_path.contains("gpt2")).unwrap();
    assert_eq!(gpt.inputs, "input_ids=1,32:i64");
    let ofa = a.iter().find(|r| r.model_path.contains("ref0")).unwrap();
    assert_eq!(ofa.inputs, "input=1,3,128,128:f32");

    let ops: Vec<OpRow> = table::read(&dir.join("t.ops.csv")).unwrap();
    for r in &a {
        let mine: Vec<&OpRow> = ops
            .iter()
            .filter(|o| o.model_sha256 == r.model_sha256)
            .collect();
        assert!(mine.len() > 5, "per-op rows for {}", r.model_path);
        let share: f64 = mine.iter().map(|o| o.share).sum();
        assert!((share - 1.0).abs() < 1e-3, "{share}");
    }

    // A second run appends to the same files.
    let o = profile(
        &[&fixtures().join("gpt2_tiny_seq32.onnx")],
        &["--out", csv.to_str().unwrap()],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(table::read::<LatencyRow>(&csv).unwrap().len(), 4);
}

#[test]
fn json_mode_keeps_stdout_for_rows() {
    let dir = scratch("json");
    let o = profile(
        &[&fixtures().join("gpt2_tiny_seq32.onnx")],
        &["--json"],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let rows: Vec<LatencyRow> =
        table::parse(Path::new("-.jsonl"), table::Format::JsonLines, &text).unwrap();
    assert_eq!(rows.len(), 1);
    // The summary went to stderr.
    assert!(stderr(&o).contains("gpt2_tiny_seq32"));
}

#[test]
fn manifest_arch_is_recorded() {
    let dir = scratch("manifest");
    std::fs::copy(
        fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx"),
        dir.join("a.onnx"),
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.jsonl"),
        "{\"file\":\"a.onnx\",\"arch\":{\"d\":[2,2,2,2,2],\"r\":128}}\n",
    )
    .unwrap();
    let o = profile(&[&dir], &["--json"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let row: LatencyRow =
        serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(row.arch.as_deref(), Some("{\"d\":[2,2,2,2,2],\"r\":128}"));
}

#[test]
fn bad_models_are_reported_and_the_rest_profiled() {
    let dir = scratch("mixed");
    let noise = dir.join("noise.onnx");
    std::fs::write(&noise, [7u8; 300]).unwrap();
    let missing = dir.join("missing.onnx");
    let good = fixtures().join("gpt2_tiny_seq32.onnx");
    let o = profile(&[&noise, &missing, &good], &["--json"], &dir);
    no_panic(&o);
    assert!(o.status.success(), "one model was profiled: {}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("noise.onnx") && e.contains("not a valid ONNX model"),
        "{e}"
    );
    assert!(
        e.contains("missing.onnx") && e.contains("no such file"),
        "{e}"
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "only the good model has a row");
    // --strict turns any failure into a non-zero exit.
    let o = profile(&[&noise, &good], &["--strict", "-q"], &dir);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn nothing_profiled_is_a_failure() {
    let dir = scratch("nothing");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = profile(&[&empty], &[], &dir);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("empty") && e.contains("no *.onnx models"), "{e}");

    let truncated = dir.join("truncated.onnx");
    let bytes = std::fs::read(fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..1000]).unwrap();
    let o = profile(&[&truncated], &[], &dir);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("truncated.onnx"), "{}", stderr(&o));
}

#[test]
fn absurd_shape_is_refused_with_the_fix() {
    let dir = scratch("absurd");
    let o = profile(
        &[&fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx")],
        &["--input", "input=1,3,1000000,1000000"],
        &dir,
    );
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("ofa_mbv3_ref0_r128_opset13.onnx") && e.contains("--input"),
        "{e}"
    );
}

#[test]
fn bad_flags_name_the_flag() {
    let dir = scratch("flags");
    let m = fixtures().join("gpt2_tiny_seq32.onnx");
    let o = profile(&[&m], &["--input", "input_ids=1,x"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'x'"), "{}", stderr(&o));
    let o = profile(&[&m], &["--input", "tokens=1,32"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("input_ids"),
        "lists the real inputs: {}",
        stderr(&o)
    );
    let old = dir.join("old.csv");
    std::fs::write(&old, "schema_version,device_id\n1.0,x\n").unwrap();
    let o = profile(&[&m], &["--out", old.to_str().unwrap()], &dir);
    assert_eq!(o.status.code(), Some(2), "refused before measuring");
    assert!(stderr(&o).contains("new file"), "{}", stderr(&o));
    let o = profile(&[&m], &["--out", "t.parquet"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".jsonl or .csv"), "{}", stderr(&o));
    let o = frontier(
        &[
            "profile",
            m.to_str().unwrap(),
            "--min-time",
            "5s",
            "--max-time",
            "1s",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--max-time"), "{}", stderr(&o));
}

#[test]
fn probe_reference_is_stored_and_reused() {
    let dir = scratch("probe");
    let m = fixtures().join("gpt2_tiny_seq32.onnx");
    let mut args: Vec<&str> = vec!["profile", m.to_str().unwrap(), "--json"];
    args.extend(
        FAST.iter()
            .filter(|a| **a != "--probe-ref" && **a != "session"),
    );
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let first: LatencyRow =
        serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let stored: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(stored.len(), 1, "one reference file");
    let o = frontier(&args, &dir);
    let second: LatencyRow =
        serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(
        first.probe_ref_ms, second.probe_ref_ms,
        "the second run reuses the stored reference"
    );
    // By default the session's shift from the reference gets the estimated
    // elasticity; `--probe-session-beta` fixes it.
    assert!(second.probe_session_ms.is_some());
    assert_eq!(second.probe_session_beta, second.probe_beta);
    args.extend(["--probe-session-beta", "1"]);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let third: LatencyRow =
        serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(third.probe_session_beta, Some(1.0));
    let o = frontier(
        &["profile", m.to_str().unwrap(), "--probe-session-beta", "3"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--probe-session-beta"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inspect_reports_graph_statistics() {
    let dir = scratch("inspect");
    let m = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let o = frontier(&["inspect", m.to_str().unwrap(), "--json"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The reference package's figures for this subnet (ofa_mbv3_reference.json, subnet 0).
    assert_eq!(v["params"], 3_401_544);
    assert_eq!(v["macs"], 41_476_224);
    assert_eq!(v["op_counts"]["Conv"], 47);
    assert_eq!(v["inputs"][0]["resolved"], "input=1,3,128,128:f32");
    // At 224 the feature maps are (224/128)^2 = 3.06x larger; the head
    // (2.5 M MACs) is not, so the total grows by about 2.9x.
    let o = frontier(
        &[
            "inspect",
            m.to_str().unwrap(),
            "--json",
            "--input",
            "input=1,3,224,224",
        ],
        &dir,
    );
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        w["macs"].as_u64().unwrap() > v["macs"].as_u64().unwrap() * 5 / 2,
        "{w}"
    );
    let o = frontier(
        &["inspect", dir.join("missing.onnx").to_str().unwrap()],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.onnx"), "{}", stderr(&o));
}

/// `--policy CLASS` fills the flags not given explicitly: the server class
/// uses every core (threads 0); an explicit `--rounds` still wins.
#[test]
fn policy_fills_unset_flags_and_explicit_flags_win() {
    let dir = scratch("policy");
    let model = fixtures().join("gpt2_tiny_seq32.onnx");
    let out = dir.join("t.jsonl");
    let o = frontier(
        &[
            "profile",
            model.to_str().unwrap(),
            "--policy",
            "server",
            "--rounds",
            "2",
            "--min-time",
            "50ms",
            "--max-time",
            "300ms",
            "--warmup-time",
            "0",
            "--min-runs",
            "4",
            "--probe-ref",
            "session",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = table::read(&out).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(rows[0].threads, cores);
    assert!(rows[0].rounds.unwrap() >= 2);
    assert!(
        rows[0].warmup_runs.unwrap() >= 10,
        "the server policy warms up 10 runs"
    );
    assert_eq!(rows[0].instances, Some(3));
    // The IoT class: 4 threads and 2 copies of each model (a board's memory).
    let iot = dir.join("iot.jsonl");
    let mut args = vec!["profile", model.to_str().unwrap(), "--policy", "iot"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&["--out", iot.to_str().unwrap()]);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = table::read(&iot).unwrap();
    assert_eq!((rows[0].threads, rows[0].instances), (4, Some(2)));
    let o = frontier(
        &["profile", model.to_str().unwrap(), "--policy", "toaster"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("iot") && stderr(&o).contains("laptop"),
        "{}",
        stderr(&o)
    );
}

/// `--instances N`: every row is over N copies in whole cycles, with the
/// copies' spread; `--instances 1` has none.
#[test]
fn instances_are_recorded_per_row() {
    let dir = scratch("instances");
    let fx = fixtures();
    let models = [
        fx.join("gpt2_tiny_seq32.onnx"),
        fx.join("ofa_mbv3_ref0_r128_opset13.onnx"),
    ];
    for n in ["1", "2"] {
        let out = dir.join(format!("t{n}.jsonl"));
        let mut args = vec!["profile"];
        args.extend(models.iter().map(|m| m.to_str().unwrap()));
        args.extend_from_slice(FAST);
        args.extend_from_slice(&["--instances", n, "--out", out.to_str().unwrap()]);
        let o = frontier(&args, &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows: Vec<LatencyRow> = table::read(&out).unwrap();
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert_eq!(r.schema_version, table::SCHEMA_VERSION);
            let id = r.row_id.clone().expect("every row has its content id");
            assert_eq!(id, table::content_row_id(r));
            if n == "1" {
                assert_eq!(r.instances, Some(1));
                assert_eq!(r.instance_spread, None);
            } else {
                assert_eq!(r.instances, Some(2));
                let spread = r.instance_spread.expect("two copies have a spread");
                assert!((0.0..1.0).contains(&spread), "{spread}");
                if r.stop_reason.as_deref() == Some("converged") {
                    assert_eq!(r.rounds.unwrap() % 2, 0, "whole cycles: {r:?}");
                }
            }
            assert!(r.probe.as_deref().unwrap().ends_with(&format!("-i{n}")));
        }
    }
    let o = frontier(
        &["profile", models[0].to_str().unwrap(), "--instances", "0"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--instances"), "{}", stderr(&o));
}

/// `--references none` measures only what was asked for; a value that is
/// neither auto, none nor a space is refused before anything is measured.
#[test]
fn references_can_be_left_out_and_bad_values_are_named() {
    let dir = scratch("references");
    let mut args = vec![
        "profile",
        "--space",
        "ofa-mbv3",
        "--samples",
        "1",
        "--references",
        "none",
    ];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&["--instances", "1", "--json"]);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = stdout_rows(&o);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].reference.is_none() && rows[0].invocation.is_some());
    let o = frontier(
        &[
            "profile",
            "--space",
            "ofa-mbv3",
            "--samples",
            "1",
            "--references",
            "mnist",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--references mnist") && stderr(&o).contains("fix:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn space_profiles_generated_subnets_without_files() {
    let dir = scratch("space");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut args = vec![
        "profile",
        "--space",
        "ofa-mbv3",
        "--samples",
        "2",
        "--seed",
        "7",
    ];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&["--instances", "1", "--json"]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(&args)
        .env("FRONTIER_STATE_DIR", &dir)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = stdout_rows(&o);
    // The two subnets asked for, then the space's reference subnets (the
    // fleet's canaries), every row with the invocation's one id.
    let canaries = frontier_spaces::canary_archs(frontier_spaces::Space::OfaMbv3);
    assert_eq!(rows.len(), 2 + canaries.len());
    let invocation = rows[0].invocation.clone().expect("an invocation id");
    assert_eq!(invocation.len(), 24, "{invocation}");
    assert!(rows
        .iter()
        .all(|r| r.invocation.as_deref() == Some(&invocation)));
    let (references, rows): (Vec<LatencyRow>, Vec<LatencyRow>) =
        rows.into_iter().partition(|r| r.is_reference());
    for (i, r) in references.iter().enumerate() {
        assert_eq!(
            r.model_name.as_deref(),
            Some(format!("reference_ofa_mbv3_{i}").as_str())
        );
        assert_eq!(r.arch.as_deref(), Some(canaries[i].row_json().as_str()));
    }
    assert!(rows.iter().all(|r| r.reference.is_none()));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.model_path, format!("ofa-mbv3/ofa_mbv3_{i:04}.onnx"));
        assert_eq!(r.space.as_deref(), Some("ofa-mbv3"));
        let arch: serde_json::Value = serde_json::from_str(r.arch.as_deref().unwrap()).unwrap();
        assert_eq!(arch["ks"].as_array().unwrap().len(), 20);
        assert!(r.median_ms > 0.0);
    }
    // The same subnets as `frontier export` writes them: same bytes, same hash.
    let out = dir.join("exported");
    let e = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "2",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(e.status.success(), "{}", stderr(&e));
    for (i, r) in rows.iter().enumerate() {
        let bytes = std::fs::read(out.join(format!("ofa_mbv3_{i:04}.onnx"))).unwrap();
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.model_sha256, hex);
    }
    // No temporary models are left behind.
    let leftover: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(leftover.is_empty(), "{leftover:?}");

    for (bad, says) in [
        (vec!["profile", "--space", "ofa-mbv3"], "--samples"),
        (vec!["profile", "--samples", "2"], "--space"),
        (
            vec!["profile", "m.onnx", "--space", "gpt2", "--samples", "1"],
            "cannot be used with",
        ),
    ] {
        let o = frontier(&bad, &dir);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&o).contains(says), "{bad:?}: {}", stderr(&o));
    }
}

#[test]
fn budget_profiles_in_batches_and_stops_when_spent() {
    let dir = scratch("budget");
    let out = dir.join("t.jsonl");
    let p = dir.join("p.json");
    let mut args = vec!["profile", "--space", "ofa-mbv3", "--budget", "1s"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&[
        "--instances",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--predictor-out",
        p.to_str().unwrap(),
    ]);
    let o = frontier(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("active profiling stopped: budget spent"), "{e}");
    // One batch of 8, stratified by MACs, with the invocation's reference
    // subnets beside it, then the budget was gone; the references were
    // measured again at the end, after the last batch.
    let rows: Vec<LatencyRow> = table::read(&out).unwrap();
    let n = frontier_spaces::CANARY_SUBNETS;
    let closing = rows[rows.len() - n..].to_vec();
    assert!(closing.iter().all(|r| r.is_reference()), "{closing:?}");
    let (references, rows): (Vec<LatencyRow>, Vec<LatencyRow>) =
        rows.into_iter().partition(|r| r.is_reference());
    assert_eq!(rows.len(), 8);
    assert_eq!(references.len(), 2 * n, "at the start and at the end");
    for r in &closing {
        let same = references.iter().filter(|q| q.arch == r.arch).count();
        assert_eq!(same, 2, "{:?} measured twice", r.model_name);
    }
    assert!(e.contains("reference subnets again"), "{e}");
    let mut macs: Vec<f64> = rows
        .iter()
        .map(|r| {
            let a = frontier_spaces::ofa_mbv3::Arch::from_json(r.arch.as_deref().unwrap()).unwrap();
            frontier_spaces::ofa_mbv3::macs(&a)
        })
        .collect();
    macs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(macs[7] > 1.5 * macs[0], "not spread over MACs: {macs:?}");
    assert!(e.contains("too few for a predictor"), "{e}");
    assert!(!p.exists());
}

/// `--budget` on model files: one budget for the invocation; a model that
/// cannot reach its target stops on the budget (or a plateau), its row says
/// why, and the summary names it.
#[test]
fn a_budget_on_files_bounds_the_invocation_and_names_rows_short_of_target() {
    let dir = scratch("budget-files");
    let models = dir.join("models");
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "2",
            "--seed",
            "4",
            "--out",
        ]
        .iter()
        .copied()
        .chain([models.to_str().unwrap()])
        .collect::<Vec<_>>(),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let started = std::time::Instant::now();
    let o = frontier(
        &[
            "profile",
            models.to_str().unwrap(),
            "--budget",
            "3s",
            // A target no model can reach: each stops short of it.
            "--target-ci",
            "0.0001",
            "--session-error",
            "0",
            "--max-ci",
            "0.5",
            "--max-time",
            "60s",
            "--warmup-time",
            "0",
            // The budget is the two models': no reference subnets.
            "--references",
            "none",
            "--json",
        ],
        &dir,
    );
    let elapsed = started.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<LatencyRow> = stdout_rows(&o);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let stop = r.stop_reason.as_deref().unwrap();
        assert!(["budget", "plateau"].contains(&stop), "{stop}");
        assert!(r.median_ci95_rel.is_some() || r.unstable);
        assert_eq!(r.attempts, None);
    }
    let e = stderr(&o);
    assert!(e.contains("stopped short of --target-ci"), "{e}");
    // A zero budget is refused with the flag, before anything is measured.
    let o = frontier(
        &["profile", models.to_str().unwrap(), "--budget", "0s"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--budget must be longer than 0"),
        "{}",
        stderr(&o)
    );
    // The budget bounds the invocation (preparation and start-up aside,
    // which take seconds on a loaded machine: a bound, not a speed check).
    assert!(elapsed < 30.0, "{elapsed} s");
}

/// `--contention 0,2`: each model once per level, and the rows say the
/// level and kind (speed under load is a benchmark, not tested here).
#[test]
fn contention_levels_are_measured_and_recorded() {
    let dir = scratch("contention");
    for kind in ["cpu", "memory"] {
        let mut args = vec![
            "profile",
            "--space",
            "ofa-mbv3",
            "--samples",
            "1",
            "--seed",
            "3",
            "--contention",
            "0,2",
            "--contention-kind",
            kind,
            "--json",
        ];
        args.extend_from_slice(FAST);
        let o = frontier(&args, &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows: Vec<LatencyRow> = stdout_rows(&o);
        let levels: Vec<(Option<f64>, Option<String>)> = rows
            .iter()
            .map(|r| (r.contention, r.contention_kind.clone()))
            .collect();
        assert_eq!(
            levels,
            vec![
                (Some(0.0), Some(kind.to_string())),
                (Some(2.0), Some(kind.to_string()))
            ]
        );
        assert_eq!(rows[0].arch, rows[1].arch);
        assert!(rows.iter().all(|r| r.row_id.is_some()));
    }
    // Active profiling plans its own batches: no levels with it.
    let o = frontier(
        &[
            "profile",
            "--contention",
            "1",
            "--budget",
            "1m",
            "--space",
            "ofa-mbv3",
        ],
        &dir,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--budget"), "{}", stderr(&o));
}
