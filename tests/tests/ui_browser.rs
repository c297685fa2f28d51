//! The collector's web view in a real browser: a collector (the binary,
//! its trainer on) seeded over its API with six boards (one named with
//! HTML), heartbeats, rows the trainer turns into predictors, canary runs,
//! a frontier searched from the collector's predictors and published (a
//! second version as a canary), field rows and jobs; then
//! `tests/browser/ui.py` drives Debian's Chromium headless through
//! Playwright (`scripts/test.sh` installs both): sign in, every page, an
//! operator's rollback and job, a reader who cannot act, a request without
//! the CSRF token, a forged cookie. Screenshots of each page are written
//! to `target/ui-screenshots/` (or `FRONTIER_UI_SCREENSHOTS`).
//!
//! Never skipped: without Chromium or Playwright the test fails and says
//! how to install them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use frontier_tests::{bin, frontier, ofa_rows, token, Collector, World};

const EVIL: &str = "<script>window.__pwned=1</script> shelf";

fn screenshots() -> PathBuf {
    if let Ok(d) = std::env::var("FRONTIER_UI_SCREENSHOTS") {
        return PathBuf::from(d);
    }
    // target/<profile>/frontier → target/ui-screenshots
    bin("frontier")
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>")
        .join("ui-screenshots")
}

#[test]
fn the_web_view_in_chromium() {
    let chromium =
        std::env::var("FRONTIER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing; fix: apt-get install chromium (scripts/test.sh does), or set FRONTIER_CHROMIUM"
    );
    let ok = Command::new("python3")
        .args(["-c", "import playwright"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "Python's playwright is missing; fix: python3 -m pip install playwright (scripts/test.sh does)");

    let w = World::new("ui-browser");
    let operator = token(&w.data, "operator");
    let c = Collector::start_with(
        &w.data,
        "127.0.0.1:0",
        &[
            "--train-quiet",
            "1s",
            "--train-max-wait",
            "3s",
            "--canary-every",
            "0",
        ],
    );
    let url = c.url.clone();
    let http = reqwest::blocking::Client::new();
    let post = |tok: &str, path: &str, body: serde_json::Value| {
        let r = http
            .post(format!("{url}{path}"))
            .bearer_auth(tok)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        assert!((200..300).contains(&status), "{path}: {status} {text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
    };

    // Six boards: two classes, two CPUs; one named with HTML.
    let mut creds: BTreeMap<String, String> = BTreeMap::new();
    let boards: Vec<(String, String)> = (0..6)
        .map(|i| {
            let name = if i == 0 {
                EVIL.to_string()
            } else {
                format!("shelf-{i}")
            };
            (format!("board{i}"), name)
        })
        .collect();
    for (i, (id, name)) in boards.iter().enumerate() {
        let e = post(
            &w.device,
            "/v1/enrol",
            serde_json::json!({
                "device_id": id, "name": name,
                "fingerprint": {
                    "device_class_id": if i < 3 { "edge" } else { "iot" },
                    "cpu_model": if i < 3 { "Cortex-A76" } else { "Cortex-A53" },
                    "cpu_arch": "aarch64", "logical_cores": 4, "governor": "schedutil"
                },
                "agent_version": "0.1.0",
                "runtimes": {"tract": "0.21.13", "ort": "1.32.0"},
            }),
        );
        creds.insert(id.clone(), e["credential"].as_str().unwrap().to_string());
    }
    for (i, (id, _)) in boards.iter().enumerate().take(5) {
        post(
            &creds[id],
            "/v1/heartbeat",
            serde_json::json!({"started_at_us": 1_000 + i, "agent_version": "0.1.0",
                "runtimes": {"tract": "0.21.13"}, "idle": i % 2 == 0,
                "busy_reason": "other processes use 64% of the CPUs", "spool_pending": i * 3}),
        );
    }
    // Rows: four boards' tables, a day apart, and canary runs on board0.
    let canaries = frontier_spaces::canary_archs(frontier_spaces::Space::OfaMbv3);
    for (i, (id, _)) in boards.iter().enumerate().take(4) {
        let mut rows = ofa_rows(id, 40, 11 + i as u64);
        for (k, r) in rows.iter_mut().enumerate() {
            let scale = 1.0 + 0.3 * i as f64;
            r.median_ms_corrected *= scale;
            r.median_ms *= scale;
            r.threads = if k % 5 == 0 { 2 } else { 1 };
            r.median_ci95_rel = Some(0.02);
            r.measured_at =
                frontier_table::rfc3339(Duration::from_secs(1_795_000_000 + k as u64 * 3600));
            r.row_id = None;
            frontier_table::ensure_row_id(r);
        }
        if i == 0 {
            for (run, scale) in [(0u64, 1.0), (1, 1.01), (2, 0.99), (3, 1.3)] {
                for (k, a) in canaries.iter().enumerate() {
                    let mut r = ofa_rows(id, 1, 99).remove(0);
                    r.arch = Some(a.row_json());
                    r.model_path = format!("canary/{k}.onnx");
                    r.median_ms_corrected = (5.0 + k as f64) * scale;
                    r.median_ci95_rel = Some(0.02);
                    r.measured_at = frontier_table::rfc3339(Duration::from_secs(
                        1_795_200_000 + run * 7200 + k as u64,
                    ));
                    r.row_id = None;
                    frontier_table::ensure_row_id(&mut r);
                    rows.push(r);
                }
            }
        }
        let r = http
            .post(format!("{url}/v1/rows"))
            .bearer_auth(&creds[id])
            .header("content-type", "application/x-ndjson")
            .body(frontier_table::to_jsonl(&rows))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
    }
    // The trainer's predictors.
    let t = Instant::now();
    loop {
        let r: Vec<serde_json::Value> = http
            .get(format!("{url}/v1/predictors?fresh=true"))
            .bearer_auth(&w.reader)
            .send()
            .unwrap()
            .json()
            .unwrap_or_default();
        let devices: std::collections::BTreeSet<String> = r
            .iter()
            .filter(|p| p["cohort"]["threads"] == 1)
            .filter_map(|p| p["cohort"]["device_id"].as_str().map(String::from))
            .collect();
        if (0..4).all(|i| devices.contains(&format!("board{i}"))) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "1-thread predictors of 4 boards within 120 s: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A frontier from the collector's predictors, published; then a canary.
    let mut published = Vec::new();
    for (v, seed) in [(1, "0"), (2, "4")] {
        let out = w.dir.join(format!("search-{v}"));
        let mut args = vec![
            "search".to_string(),
            "--space".into(),
            "ofa-mbv3".into(),
            "--predictor".into(),
            format!("collector:{url}?device=board1&threads=1"),
            "--predictor".into(),
            format!("collector:{url}?device=board2&threads=1"),
            "--accuracy".into(),
            "macs".into(),
            "--population".into(),
            "12".into(),
            "--generations".into(),
            "3".into(),
            "--models".into(),
            "3".into(),
            "--seed".into(),
            seed.into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--publish".into(),
            format!("collector:{url}"),
            "--name".into(),
            "cams".into(),
        ];
        if v == 2 {
            args.extend(["--canary-boards".into(), "board1".into()]);
        }
        let o = frontier(&w.state)
            .env("FRONTIER_TOKEN", &operator)
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        published
            .push(frontier_table::frontier::Manifest::read(&out.join("frontier.json")).unwrap());
    }
    // Boards serve it and report field windows.
    for (i, (id, _)) in boards.iter().enumerate().take(4) {
        let version = if id == "board1" { 2 } else { 1 };
        let r = http
            .get(format!("{url}/v1/frontiers/cams/assignment?backend=tract"))
            .bearer_auth(&creds[id])
            .send()
            .unwrap();
        // board3 (another CPU, not in the manifest) is refused, with the fix.
        assert!(
            r.status().is_success() != (id == "board3"),
            "{id}: {:?}",
            r.text()
        );
        let _ = i;
        post(
            &creds[id],
            "/v1/frontiers/cams/status",
            serde_json::json!({"serving": version}),
        );
        let m = &published[version as usize - 1];
        let mut body = String::new();
        for k in 0..30u64 {
            for (j, model) in m.models.iter().enumerate() {
                let p90 = 6.0 + 3.0 * j as f64 + (k % 7) as f64 * 0.2 + i as f64;
                let mut r = frontier_table::rollout::FieldRow {
                    schema_version: frontier_table::rollout::FIELD_SCHEMA_VERSION.into(),
                    device_id: id.clone(),
                    frontier: "cams".into(),
                    version,
                    model: model.name.clone(),
                    backend: "tract".into(),
                    threads: 1,
                    window_start: frontier_table::rfc3339(Duration::from_secs(
                        1_795_300_000 + k * 60,
                    )),
                    window_s: 60.0,
                    requests: 100 + 10 * j as u64,
                    slo_misses: (k % 5 == 0) as u64,
                    slo_ms: 30.0,
                    switches_in: (k % 9 == 0 && j == 1) as u64,
                    inference_p50_ms: Some(p90 * 0.85),
                    inference_p90_ms: Some(p90),
                    inference_p99_ms: Some(p90 * 1.3),
                    e2e_p50_ms: Some(p90 * 0.9),
                    e2e_p90_ms: Some(p90 * 1.1),
                    e2e_p99_ms: Some(p90 * 1.4),
                    load_mean: Some(0.2 * (k % 4) as f64),
                    load_max: Some(1.0),
                    agent_version: "0.1.0".into(),
                    ..Default::default()
                };
                r.row_id = Some(frontier_table::rollout::field_row_id(&r));
                body.push_str(&serde_json::to_string(&r).unwrap());
                body.push('\n');
            }
        }
        let r = http
            .post(format!("{url}/v1/field"))
            .bearer_auth(&creds[id])
            .body(body)
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }
    // Jobs: one queued, one leased.
    for d in ["board3", "board4"] {
        post(
            &operator,
            "/v1/jobs",
            serde_json::json!({"device": d, "kind": "profile", "space": "ofa-mbv3", "samples": 10}),
        );
    }
    let r = http
        .get(format!("{url}/v1/jobs/next?wait=0"))
        .bearer_auth(&creds["board3"])
        .send()
        .unwrap();
    assert!(r.status().is_success());

    let shots = screenshots();
    let _ = std::fs::remove_dir_all(&shots);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/ui.py");
    let o = Command::new("python3")
        .arg(&script)
        .args([
            &url,
            &w.reader,
            &operator,
            shots.to_str().unwrap(),
            "board0",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    println!("{out}");
    assert!(
        o.status.success(),
        "the browser checks failed:\n{out}\n{err}"
    );
    assert!(out.trim_end().ends_with("ok"), "{out}");
    let n = std::fs::read_dir(&shots).unwrap().count();
    assert_eq!(n, 8, "screenshots in {}", shots.display());
    println!("screenshots: {}", shots.display());
    drop(c);
    let _ = std::fs::remove_dir_all(&w.dir);
}
