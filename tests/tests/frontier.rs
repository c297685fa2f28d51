//! The wave-2 pipeline end to end with the real binary, on generated OFA
//! subnets (tract): profile in memory → train a predictor → search the
//! frontier → `--verify` measures the frontier's models on this machine
//! and records them next to the predictions.

use frontier_tests::*;

use frontier_testkit::FAST;

#[test]
fn profile_train_search_verify() {
    let dir = scratch("pipeline");
    let table = dir.join("t.jsonl");
    let o = frontier(&dir)
        .args([
            "profile",
            "--space",
            "ofa-mbv3",
            "--samples",
            "12",
            "--seed",
            "5",
            "-q",
            "--out",
        ])
        .arg(&table)
        .args(FAST)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = dir.join("p.json");
    let o = frontier(&dir)
        .arg("train")
        .arg(&table)
        .args(["--space", "ofa-mbv3", "--kind", "learned", "--out"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("frontier");
    let o = frontier(&dir)
        .args([
            "search",
            "--space",
            "ofa-mbv3",
            "--accuracy",
            "macs",
            "--population",
            "16",
        ])
        .args([
            "--generations",
            "4",
            "--models",
            "3",
            "--verify",
            "--predictor",
        ])
        .arg(&p)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("verified 3 models"), "{err}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("frontier.json")).unwrap()).unwrap();
    let key = m["devices"][0].as_str().unwrap().to_string();
    assert!(key.ends_with("/tract/t1"), "{key}");
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    // The frontier's models and, since the predictor has references, the
    // space's reference subnets measured beside them.
    let (references, rows): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
        std::fs::read_to_string(out.join("verify.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .partition(|r| r["reference"] == serde_json::Value::Bool(true));
    assert_eq!(rows.len(), 3);
    assert_eq!(references.len(), frontier_spaces::CANARY_SUBNETS);
    assert!(rows
        .iter()
        .all(|r| r["space"] == "ofa-mbv3" && r["arch"].is_string()));
    for model in models {
        let l = &model["latency"][&key];
        let (pred, meas) = (
            l["predicted_ms"].as_f64().unwrap(),
            l["measured_ms"].as_f64().unwrap(),
        );
        assert!(pred > 0.0 && meas > 0.0, "{model}");
        // The measurement belongs to this model: the verify row of its file
        // has its architecture and exactly this latency. (Not a timing
        // check: how close prediction and measurement are depends on the
        // machine's load and is a benchmark, docs/BENCHMARKS.md.)
        let file = model["file"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r["model_path"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("no verify row for {file}"));
        let arch: serde_json::Value = serde_json::from_str(row["arch"].as_str().unwrap()).unwrap();
        assert_eq!(arch, model["arch"], "{file}");
        let row_ms = row["median_ms_corrected"]
            .as_f64()
            .filter(|v| v.is_finite() && *v > 0.0)
            .or(row["median_ms"].as_f64())
            .unwrap();
        assert_eq!(meas, row_ms, "{file}");
    }
    let svg = std::fs::read_to_string(out.join("frontier.svg")).unwrap();
    assert!(svg.contains(&format!("{key} measured")));
}
