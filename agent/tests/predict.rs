//! `frontier train` and `frontier predict` end to end, on tables of a
//! synthetic device (latency from the subnets' MACs, 2% noise), and their
//! errors for bad input.

mod common;

use common::{frontier, scratch, synthetic_rows as rows};

use std::path::Path;

use frontier_profiler::inputs::SplitMix64;
use frontier_table::{self as table, LatencyRow};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn train_then_predict() {
    let dir = scratch("train");
    let t = dir.join("t.jsonl");
    std::fs::write(&t, table::to_jsonl(&rows(40, 1, "dev"))).unwrap();
    let p = dir.join("p.json");
    let report = dir.join("r.json");
    let o = frontier(
        &[
            "train",
            t.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--out",
            p.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("learned") && text.contains("MAPE"), "{text}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(r["metrics"]["within_10pct"].as_f64().unwrap() >= 0.9, "{r}");
    assert_eq!(r["unstable_rows"], 4);
    assert!(!r["learning_curve"].as_array().unwrap().is_empty());
    let svg = std::fs::read_to_string(dir.join("r.svg")).unwrap();
    assert!(svg.contains("<polyline") && svg.contains("learning curve"));

    // Predict unseen subnets, one per line, as JSON.
    let test_rows = rows(10, 2, "dev");
    let archs = dir.join("archs.jsonl");
    let lines: String = test_rows
        .iter()
        .map(|r| format!("{{\"arch\":{}}}\n", r.arch.as_ref().unwrap()))
        .collect();
    std::fs::write(&archs, lines).unwrap();
    let o = frontier(
        &[
            "predict",
            "--predictor",
            p.to_str().unwrap(),
            "--archs",
            archs.to_str().unwrap(),
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let preds: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(preds.len(), 10);
    for (pr, row) in preds.iter().zip(&test_rows) {
        let ms = pr["predicted_ms"].as_f64().unwrap();
        let iv = pr["interval_ms"].as_array().unwrap();
        assert!(
            (ms / row.median_ms - 1.0).abs() < 0.1,
            "{ms} vs {}",
            row.median_ms
        );
        assert!(iv[0].as_f64().unwrap() <= ms && ms <= iv[1].as_f64().unwrap());
        assert_eq!(
            pr["arch"],
            serde_json::from_str::<serde_json::Value>(row.arch.as_ref().unwrap()).unwrap()
        );
    }
    // One --arch, human output.
    let o = frontier(
        &[
            "predict",
            "--predictor",
            p.to_str().unwrap(),
            "--arch",
            test_rows[0].arch.as_ref().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(" ms  ["));
}

#[test]
fn bad_input_names_the_fix() {
    let dir = scratch("train-bad");
    let p = dir.join("p.json");
    let run = |args: &[&str]| frontier(args, &dir);
    let write = |name: &str, rows: &[LatencyRow]| {
        let path = dir.join(name);
        std::fs::write(&path, table::to_jsonl(rows)).unwrap();
        path.to_str().unwrap().to_string()
    };
    // Two devices: say which filter to add.
    let mut mixed = rows(20, 1, "dev-a");
    mixed.extend(rows(20, 2, "dev-b"));
    let t = write("mixed.jsonl", &mixed);
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("fix: add --device dev-a"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--device",
        "dev-b",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // No arch column.
    let mut no_arch = rows(20, 3, "dev");
    for r in &mut no_arch {
        r.arch = None;
    }
    let t = write("no-arch.jsonl", &no_arch);
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("20 without an arch column"),
        "{}",
        stderr(&o)
    );
    // Too few rows; zero and NaN latencies left out with a count.
    let mut few = rows(11, 4, "dev");
    few[0].median_ms = 0.0;
    few[0].median_ms_corrected = 0.0;
    few[1].median_ms = f64::NAN;
    few[1].median_ms_corrected = f64::NAN;
    // (NaN is null in JSON Lines, which the table reader refuses; CSV keeps it.)
    let t = dir.join("few.csv");
    std::fs::write(&t, table::to_csv(&few, true)).unwrap();
    let t = t.to_str().unwrap().to_string();
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--out",
        p.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert!(
        e.contains("left out 2 rows without a positive latency"),
        "{e}"
    );
    assert!(
        e.contains("at least 10 rows") && e.contains("9 given"),
        "{e}"
    );
    // The lookup table without a block table.
    let t = write("ok.jsonl", &rows(20, 5, "dev"));
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--kind",
        "lut",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("needs a block table"), "{}", stderr(&o));
    // A gpt2 predictor from ofa rows: nothing in that space.
    let o = run(&["train", &t, "--space", "gpt2", "--out", p.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("no row of the gpt2 space"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "train",
        &t,
        "--space",
        "resnet",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("use ofa-mbv3 or gpt2"),
        "{}",
        stderr(&o)
    );
    // Predictions of archs outside the space, and a newer predictor file.
    let o = run(&[
        "train",
        &t,
        "--space",
        "ofa-mbv3",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "predict",
        "--predictor",
        p.to_str().unwrap(),
        "--arch",
        "{\"ks\":[9]}",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("architecture 1"), "{}", stderr(&o));
    let newer = std::fs::read_to_string(&p).unwrap().replace(
        &format!(
            "\"schema_version\": \"{}\"",
            frontier_predictor::PREDICTOR_VERSION
        ),
        "\"schema_version\": \"2.1\"",
    );
    let p2 = dir.join("newer.json");
    std::fs::write(&p2, newer).unwrap();
    let o = run(&[
        "predict",
        "--predictor",
        p2.to_str().unwrap(),
        "--arch",
        "{}",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("2.1 is not supported"),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new(&dir.join("nothing")).exists());
}

#[test]
fn few_shot_transfer_to_a_new_device() {
    let dir = scratch("transfer");
    let a = dir.join("a.jsonl");
    std::fs::write(&a, table::to_jsonl(&rows(40, 1, "dev-a"))).unwrap();
    let pa = dir.join("a.json");
    let o = frontier(
        &[
            "train",
            a.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--out",
            pa.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Device b: 1.6x slower with 0.3 ms more fixed cost.
    let b_rows: Vec<LatencyRow> = rows(40, 2, "dev-b")
        .into_iter()
        .map(|mut r| {
            r.median_ms = r.median_ms * 1.6 + 0.3;
            r.median_ms_corrected = r.median_ms;
            r.row_id = None;
            table::ensure_row_id(&mut r);
            r
        })
        .collect();
    let b = dir.join("b.jsonl");
    std::fs::write(&b, table::to_jsonl(&b_rows)).unwrap();
    let pb = dir.join("b.json");
    let report = dir.join("r.json");
    let o = frontier(
        &[
            "train",
            b.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--from",
            pa.to_str().unwrap(),
            "--shots",
            "10",
            "--out",
            pb.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("held-out"));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["kind"], "transfer");
    assert_eq!(r["held_out_metrics"]["n"], 30);
    assert!(
        r["held_out_metrics"]["within_10pct"].as_f64().unwrap() >= 0.9,
        "{r}"
    );
    // A predictor of another space cannot be the source.
    let mut g = std::fs::read_to_string(&pa).unwrap();
    g = g.replacen("\"space\": \"ofa-mbv3\"", "\"space\": \"gpt2\"", 1);
    let pg = dir.join("g.json");
    std::fs::write(&pg, g).unwrap();
    let o = frontier(
        &[
            "train",
            b.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--from",
            pg.to_str().unwrap(),
            "--out",
            pb.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(
        stderr(&o).contains("a predictor of the gpt2 space"),
        "{}",
        stderr(&o)
    );
}

fn gpt2_rows(n: usize, seed: u64) -> Vec<LatencyRow> {
    use frontier_spaces::gpt2;
    let space = gpt2::Space::default();
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let arch = gpt2::sample(&space, &mut rng);
            let jitter = 1.0 + 0.02 * ((rng.next_u64() % 1000) as f64 / 500.0 - 1.0);
            let ms =
                (0.5 + gpt2::macs(&arch) as f64 / 1e9 * 3.0 + arch.n_layer as f64 * 0.2) * jitter;
            let mut r = rows(1, seed + i as u64, "dev").remove(0);
            r.model_path = format!("g/{i}.onnx");
            r.inputs = format!("input_ids=1,{}:i64", arch.seq_len);
            r.median_ms = ms;
            r.median_ms_corrected = ms;
            r.arch = Some(arch.to_json());
            r.space = Some("gpt2".into());
            r.row_id = None;
            table::ensure_row_id(&mut r);
            r
        })
        .collect()
}

/// The predictor as ONNX, run by Python's onnxruntime through
/// examples/predict.py, predicts what `frontier predict` does (relative
/// difference ≤ 1e-4, intervals too), for both spaces; and the example's
/// random search runs.
#[test]
fn onnx_predictor_in_python_agrees_with_frontier_predict() {
    let dir = scratch("onnx-python");
    let python = std::env::var("FRONTIER_PYTHON").unwrap_or_else(|_| "python3".into());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/predict.py");
    for (space, train, test) in [
        ("ofa-mbv3", rows(40, 1, "dev"), rows(25, 2, "dev")),
        ("gpt2", gpt2_rows(40, 3), gpt2_rows(25, 4)),
    ] {
        let t = dir.join(format!("{space}.jsonl"));
        std::fs::write(&t, table::to_jsonl(&train)).unwrap();
        let (p, onnx) = (
            dir.join(format!("{space}.json")),
            dir.join(format!("{space}.onnx")),
        );
        let o = frontier(
            &[
                "train",
                t.to_str().unwrap(),
                "--space",
                space,
                "--out",
                p.to_str().unwrap(),
                "--onnx",
                onnx.to_str().unwrap(),
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let archs = dir.join(format!("{space}-archs.jsonl"));
        let lines: String = test
            .iter()
            .map(|r| format!("{{\"arch\":{}}}\n", r.arch.as_ref().unwrap()))
            .collect();
        std::fs::write(&archs, lines).unwrap();
        let ours = frontier(
            &[
                "predict",
                "--predictor",
                p.to_str().unwrap(),
                "--archs",
                archs.to_str().unwrap(),
                "--json",
            ],
            &dir,
        );
        assert!(ours.status.success(), "{}", stderr(&ours));
        let theirs = std::process::Command::new(&python)
            .arg(&example)
            .arg(&onnx)
            .args(["--archs", archs.to_str().unwrap(), "--json"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {python} ({e}); the test command installs python3 with onnxruntime"
                )
            });
        assert!(
            theirs.status.success(),
            "examples/predict.py failed (the test command installs onnxruntime for python3): {}",
            stderr(&theirs)
        );
        let parse = |o: &std::process::Output| -> Vec<serde_json::Value> {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let (a, b) = (parse(&ours), parse(&theirs));
        assert_eq!((a.len(), b.len()), (test.len(), test.len()));
        let close = |x: &serde_json::Value, y: &serde_json::Value| {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * x.abs(),
                "{space}: frontier {x} vs python {y}"
            );
        };
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x["arch"], y["arch"]);
            close(&x["predicted_ms"], &y["predicted_ms"]);
            close(&x["interval_ms"][0], &y["interval_ms"][0]);
            close(&x["interval_ms"][1], &y["interval_ms"][1]);
        }
    }
    // The example's search: a frontier of architectures within the budget.
    let o = std::process::Command::new(&python)
        .arg(&example)
        .arg(dir.join("ofa-mbv3.onnx"))
        .args(["--search", "2000", "--max-ms", "20"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let picked: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!picked.is_empty());
    for w in picked.windows(2) {
        assert!(w[0]["predicted_ms"].as_f64() <= w[1]["predicted_ms"].as_f64());
        assert!(w[0]["mmacs"].as_f64() < w[1]["mmacs"].as_f64());
    }
    assert!(picked
        .iter()
        .all(|p| p["interval_ms"][1].as_f64().unwrap() <= 20.0));
}
