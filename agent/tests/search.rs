//! `frontier search` end to end on a synthetic device's predictor: the
//! manifest, models, report and plot it writes, each accuracy source, and
//! its errors for bad input. (`--verify` on a real profile: tests/ crate.)

mod common;

use std::path::{Path, PathBuf};

use common::{frontier, scratch, synthetic_predictor, synthetic_rows};
use frontier_spaces::onnx::{Elem, GraphBuilder};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A predictor of `device` trained from synthetic rows.
fn predictor(dir: &Path, device: &str, seed: u64) -> PathBuf {
    synthetic_predictor(dir, device, 40, seed)
}

/// An accuracy model: `[batch, width]` → `[batch, outputs]`, the sum of the
/// encoding's kernel and expand one-hots weighted by their choice index.
fn accuracy_model(dir: &Path, name: &str, width: usize, outputs: usize) -> PathBuf {
    let mut g = GraphBuilder::new(0);
    let x = g.input_batched("encoding", Elem::F32, &[width]);
    let w: Vec<f32> = (0..width * outputs)
        .map(|i| {
            if (i / outputs) < 120 {
                ((i / outputs) % 3) as f32 + 1.0
            } else {
                0.1
            }
        })
        .collect();
    let w = g.constant_f32("w", &[width, outputs], w);
    let y = g.op("MatMul", &[&x, &w]);
    g.output_batched(&y, "accuracy", Elem::F32, &[outputs]);
    let p = dir.join(name);
    std::fs::write(&p, g.finish("accuracy", 13)).unwrap();
    p
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("frontier.json")).unwrap()).unwrap()
}

#[test]
fn search_two_devices_writes_manifest_models_report_and_plot() {
    let dir = scratch("search-two");
    let a = predictor(&dir, "board-a", 1);
    let b = predictor(&dir, "board-b", 2);
    let out = dir.join("out");
    let o = frontier(
        &[
            "search",
            "--space",
            "ofa-mbv3",
            "--predictor",
            a.to_str().unwrap(),
            "--predictor",
            b.to_str().unwrap(),
            "--accuracy",
            "macs",
            "--population",
            "30",
            "--generations",
            "10",
            "--max-latency-ms",
            "12@board-a",
            "--models",
            "4",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(&out);
    assert_eq!(m["schema_version"], "1.1");
    assert!(
        m.get("supernet").is_none(),
        "no --weights: seeded twins, no supernet"
    );
    assert_eq!(m["space"], "ofa-mbv3");
    assert_eq!(m["accuracy"]["source"], "macs");
    assert_eq!(
        m["devices"],
        serde_json::json!(["board-a/tract/t1", "board-b/tract/t1"])
    );
    let models = m["models"].as_array().unwrap();
    assert!(models.len() >= 2 && models.len() <= 8, "{}", models.len());
    let mut last = 0.0;
    let mut max_r = 0;
    for model in models {
        let lat = &model["latency"]["board-a/tract/t1"];
        let ms = lat["predicted_ms"].as_f64().unwrap();
        assert!(ms >= last, "sorted by the first device's latency");
        last = ms;
        assert!(ms <= 12.0, "the limit on board-a holds: {ms}");
        let iv = lat["interval_ms"].as_array().unwrap();
        assert!(iv[0].as_f64().unwrap() <= ms && ms <= iv[1].as_f64().unwrap());
        assert!(model["latency"]["board-b/tract/t1"]["predicted_ms"]
            .as_f64()
            .is_some());
        assert!(!model["frontier_of"].as_array().unwrap().is_empty());
        // The model file is the generated subnet of the arch.
        let file = out.join(model["file"].as_str().unwrap());
        let inspect = frontier(&["inspect", file.to_str().unwrap()], &dir);
        assert!(inspect.status.success(), "{}", stderr(&inspect));
        let r = model["arch"]["r"].as_u64().unwrap();
        max_r = max_r.max(r);
        assert!(
            String::from_utf8_lossy(&inspect.stdout).contains(&format!("input=1,3,{r},{r}:f32"))
        );
    }
    assert_eq!(m["input"]["shape"], serde_json::json!([1, 3, max_r, max_r]));
    assert!(m["search"]["evaluations"].as_u64().unwrap() > 30);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("search.json")).unwrap()).unwrap();
    let hv = report["nsga2_hypervolume"].as_array().unwrap();
    assert_eq!(hv.len(), 11, "generation 0 and 10 more");
    assert_eq!(
        report["random_search_hypervolume"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    let svg = std::fs::read_to_string(out.join("frontier.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("board-a/tract/t1 frontier"));
    assert!(svg.contains("latency (ms): predicted"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ofa_mbv3_f00"), "{text}");
}

#[test]
fn onnx_and_table_accuracy_sources() {
    let dir = scratch("search-sources");
    let p = predictor(&dir, "dev", 3);
    // ONNX accuracy model of the right shape.
    let model = accuracy_model(&dir, "acc.onnx", 160, 1);
    let out = dir.join("onnx");
    let spec = format!("onnx:{}", model.display());
    let o = frontier(
        &[
            "search",
            "--space",
            "ofa-mbv3",
            "--predictor",
            p.to_str().unwrap(),
            "--accuracy",
            &spec,
            "--population",
            "20",
            "--generations",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(&out);
    assert_eq!(m["accuracy"]["source"], spec.as_str());
    // The manifest's accuracy is the model's output for the arch's encoding.
    for model in m["models"].as_array().unwrap() {
        let arch = &model["arch"];
        let mut expect = 0.0;
        for (i, d) in arch["d"].as_array().unwrap().iter().enumerate() {
            for j in 0..d.as_u64().unwrap() as usize {
                let slot = i * 4 + j;
                let k = [3, 5, 7]
                    .iter()
                    .position(|k| *k == arch["ks"][slot].as_u64().unwrap())
                    .unwrap();
                let e = [3, 4, 6]
                    .iter()
                    .position(|e| *e == arch["e"][slot].as_u64().unwrap())
                    .unwrap();
                expect += (k + 1 + e + 1) as f64;
            }
        }
        // Depth one-hots (one per stage) and the resolution one-hot weigh 0.1 each.
        expect += 0.6;
        let got = model["accuracy"].as_f64().unwrap();
        assert!((got - expect).abs() < 1e-3, "{got} vs {expect}");
    }
    // A table of measured accuracies: the search stays within it.
    let rows = synthetic_rows(25, 9, "x");
    let lines: String = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "{{\"arch\":{},\"accuracy\":{}}}\n",
                r.arch.as_ref().unwrap(),
                70.0 + i as f64 * 0.3
            )
        })
        .collect();
    let t = dir.join("acc.jsonl");
    std::fs::write(&t, &lines).unwrap();
    let out = dir.join("table");
    let o = frontier(
        &[
            "search",
            "--space",
            "ofa-mbv3",
            "--predictor",
            p.to_str().unwrap(),
            "--accuracy",
            &format!("table:{}", t.display()),
            "--population",
            "10",
            "--generations",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let allowed: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let a: frontier_spaces::ofa_mbv3::Arch =
                serde_json::from_str(r.arch.as_ref().unwrap()).unwrap();
            serde_json::from_str(&a.canonical().to_json()).unwrap()
        })
        .collect();
    for model in manifest(&out)["models"].as_array().unwrap() {
        assert!(allowed.contains(&model["arch"]), "{}", model["arch"]);
    }
}

#[test]
fn bad_input_names_the_file_and_the_fix() {
    let dir = scratch("search-bad");
    let p = predictor(&dir, "dev", 4);
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--population",
            "8",
            "--generations",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        frontier(&args, &dir)
    };
    let pa = p.to_str().unwrap();
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            vec![
                "--space".into(),
                "resnet".into(),
                "--predictor".into(),
                pa.into(),
                "--accuracy".into(),
                "macs".into(),
            ],
            &["unknown space resnet", "--space ofa-mbv3"],
        ),
        (
            vec![
                "--space".into(),
                "gpt2".into(),
                "--predictor".into(),
                pa.into(),
                "--accuracy".into(),
                "macs".into(),
            ],
            &["dev.json", "a predictor of ofa-mbv3, not gpt2"],
        ),
        (
            vec![
                "--space".into(),
                "ofa-mbv3".into(),
                "--predictor".into(),
                pa.into(),
                "--accuracy".into(),
                "flops".into(),
            ],
            &["--accuracy flops", "onnx:FILE"],
        ),
        (
            vec![
                "--space".into(),
                "ofa-mbv3".into(),
                "--predictor".into(),
                pa.into(),
                "--accuracy".into(),
                "macs".into(),
                "--max-latency-ms".into(),
                "0.01".into(),
            ],
            &["no architecture meets the constraints", "fastest predicted"],
        ),
        (
            vec![
                "--space".into(),
                "ofa-mbv3".into(),
                "--predictor".into(),
                pa.into(),
                "--accuracy".into(),
                "macs".into(),
                "--max-latency-ms".into(),
                "5@nowhere".into(),
            ],
            &["no predictor's device is nowhere", "dev/tract/t1"],
        ),
    ];
    for (args, expect) in cases {
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = run(&refs);
        assert!(!o.status.success());
        let e = stderr(&o);
        for x in expect {
            assert!(e.contains(x), "{args:?}: {e}");
        }
        assert!(!e.contains("panicked"), "{e}");
    }
    let wide = accuracy_model(&dir, "wide.onnx", 12, 1);
    let two = accuracy_model(&dir, "two.onnx", 160, 2);
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    for (spec, expect) in [
        (
            format!("onnx:{}", wide.display()),
            vec!["wide.onnx", "[batch, 12]", "not [batch, 160]"],
        ),
        (
            format!("onnx:{}", two.display()),
            vec!["two.onnx", "output shape", "[batch] or [batch, 1]"],
        ),
        (
            format!("table:{}", empty.display()),
            vec!["empty.jsonl", "empty", "fix"],
        ),
    ] {
        let o = run(&[
            "--space",
            "ofa-mbv3",
            "--predictor",
            pa,
            "--accuracy",
            &spec,
        ]);
        assert!(!o.status.success());
        let e = stderr(&o);
        for x in expect {
            assert!(e.contains(x), "{spec}: {e}");
        }
    }
}
