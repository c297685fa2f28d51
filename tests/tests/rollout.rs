//! The fleet's frontier loop with the real binaries, on loopback: five
//! simulated boards (each a `frontier serve --frontier collector:URL/NAME`
//! process with a state directory and credential of its own), a load
//! generator on each, and a collector.
//!
//! 1. `frontier search --publish` puts version 1 out; every board serves it.
//! 2. Version 2, whose predictions hold in the field (the intervals are
//!    set from version 1's field p90s, times 2: a predictor that is right),
//!    goes to one canary board, is promoted, and reaches all five: the time
//!    from publication to the last board serving it is printed (goal ≤ 60 s)
//!    and not one request fails during the swaps.
//! 3. Version 3 predicts a quarter of the field's p50 (a predictor that is
//!    wrong for this board, as a board with a busy core would show): its
//!    canary board's field p90 is over the bound, the collector rolls it
//!    back, the canary returns to version 2 and no other board ever pulls 3.
//! 4. The collector is killed while the boards serve, one board is killed
//!    with SIGKILL and restarted, the collector comes back on the same
//!    address: the other boards' field windows have no gap across the
//!    outage (spooled, then sent once), and the killed board's windows
//!    before the kill arrived.
//!
//! Every wait is bounded; the test stops its processes when it ends.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontier_table::frontier::Manifest;
use frontier_table::rollout::{FieldRow, RolloutPolicy};
use frontier_tests::{frontier, token, Collector, World};
use frontier_uplink::fleet::Credential;

const BOARDS: usize = 5;

struct Board {
    id: String,
    state: PathBuf,
    child: Option<Child>,
    addr: Arc<Mutex<String>>,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Board {
    fn start(&mut self, url: &str) {
        let mut child = frontier(&self.state)
            .args([
                "serve",
                "--frontier",
                &format!("collector:{url}/cams"),
                "--listen",
                "127.0.0.1:0",
                "--json",
                "--slo-ms",
                "1000",
                "--field-every",
                "1s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let events = self.events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "text", "line": line}));
                if v["event"] == "listening" {
                    let _ = tx.send(v["addr"].as_str().unwrap_or("").to_string());
                }
                events.lock().unwrap().push(v);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "{} did not listen within 120 s: {:?}",
                    self.id,
                    self.events.lock().unwrap()
                )
            });
        *self.addr.lock().unwrap() = addr;
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn pulled(&self, version: u64) -> bool {
        self.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "pulling" && e["version"] == version)
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A load generator per board: requests back to back; failures counted
/// unless `paused`.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    paused: Vec<Arc<AtomicBool>>,
    errors: Arc<Mutex<Vec<String>>>,
}

fn load(boards: &[Board], canonical: &[usize]) -> Load {
    let n: usize = canonical.iter().product();
    let body: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 255) as f32 / 255.0).to_le_bytes())
        .collect();
    let l = Load {
        stop: Arc::new(AtomicBool::new(false)),
        ok: Arc::new(AtomicU64::new(0)),
        failed: Arc::new(AtomicU64::new(0)),
        paused: (0..boards.len())
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect(),
        errors: Arc::new(Mutex::new(Vec::new())),
    };
    for (i, b) in boards.iter().enumerate() {
        let (stop, ok, failed, paused, errors) = (
            l.stop.clone(),
            l.ok.clone(),
            l.failed.clone(),
            l.paused[i].clone(),
            l.errors.clone(),
        );
        let addr = b.addr.clone();
        let body = body.clone();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                if paused.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let a = addr.lock().unwrap().clone();
                let r = http
                    .post(format!("http://{a}/v1/infer"))
                    .header("content-type", "application/octet-stream")
                    .body(body.clone())
                    .send();
                let good = matches!(&r, Ok(r) if r.status().is_success());
                if good {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else if !paused.load(Ordering::Relaxed) {
                    failed.fetch_add(1, Ordering::Relaxed);
                    errors.lock().unwrap().push(format!("{a}: {r:?}"));
                }
                // Leave some CPU to the rest of the fleet on a small machine.
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
    l
}

fn api(url: &str, token: &str, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn frontier_view(url: &str, reader: &str) -> serde_json::Value {
    api(url, reader, "/v1/frontiers/cams").json().unwrap()
}

/// Wait (at most `limit`) until `check` holds on the frontier's view.
fn wait_view(
    url: &str,
    reader: &str,
    limit: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> Duration {
    let t = Instant::now();
    loop {
        let v = frontier_view(url, reader);
        if check(&v) {
            return t.elapsed();
        }
        assert!(t.elapsed() < limit, "{what} not within {limit:?}: {v:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn serving_all(v: &serde_json::Value, version: u64, ids: &[String]) -> bool {
    ids.iter().all(|id| {
        v["boards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["device_id"] == id.as_str() && b["serving"] == version)
    })
}

fn field_rows(url: &str, reader: &str) -> Vec<FieldRow> {
    api(url, reader, "/v1/field?frontier=cams")
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A copy of the search directory with the manifest's latency for every
/// key replaced by `f(model)`: (predicted, lower, upper).
fn version_dir(from: &Path, to: &Path, f: impl Fn(&str) -> (f64, f64, f64)) {
    std::fs::create_dir_all(to.join("models")).unwrap();
    let mut m = Manifest::read(&from.join("frontier.json")).unwrap();
    for model in &mut m.models {
        std::fs::copy(from.join(&model.file), to.join(&model.file)).unwrap();
        let (p, lo, hi) = f(&model.name);
        for l in model.latency.values_mut() {
            l.predicted_ms = Some(p);
            l.interval_ms = Some((lo, hi));
        }
    }
    std::fs::write(
        to.join("frontier.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
}

#[test]
fn frontiers_roll_out_and_back_with_field_latency() {
    let w = World::new("rollout");
    let operator = token(&w.data, "operator");
    let mut collector = Collector::start_with(
        &w.data,
        "127.0.0.1:0",
        &["--no-trainer", "--rollout-check", "200ms"],
    );
    let url = collector.url.clone();
    let addr = collector.addr().to_string();

    // A predictor of board 0 and a small frontier published from search.
    let table = w.dir.join("sim-b0.jsonl");
    std::fs::write(
        &table,
        frontier_table::to_jsonl(&frontier_tests::ofa_rows("sim-b0", 30, 7)),
    )
    .unwrap();
    let pred = w.dir.join("sim-b0.json");
    let o = frontier(&w.state)
        .args([
            "train",
            table.to_str().unwrap(),
            "--space",
            "ofa-mbv3",
            "--out",
            pred.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = w.dir.join("search");
    let o = frontier(&w.state)
        .env("FRONTIER_TOKEN", &operator)
        .args([
            "search",
            "--space",
            "ofa-mbv3",
            "--predictor",
            pred.to_str().unwrap(),
            "--accuracy",
            "macs",
            "--population",
            "12",
            "--generations",
            "3",
            "--models",
            "2",
            "--max-latency-ms",
            "6",
            "--out",
            out.to_str().unwrap(),
            "--publish",
            &format!("collector:{url}"),
            "--name",
            "cams",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("published cams version 1") && err.contains("promoted"),
        "{err}"
    );
    let canonical = Manifest::read(&out.join("frontier.json"))
        .unwrap()
        .input
        .shape;

    // Five boards with credentials of their own, one CPU (the manifest
    // has board 0's key; the others serve by it as boards like it).
    let device = w.device.clone();
    let http = reqwest::blocking::Client::new();
    let mut boards: Vec<Board> = (0..BOARDS)
        .map(|i| {
            let id = format!("sim-b{i}");
            let r = http
                .post(format!("{url}/v1/enrol"))
                .bearer_auth(&device)
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"device_id": id, "name": format!("board-{i}"),
                        "fingerprint": {"cpu_model": "SimCPU", "cpu_arch": "x86_64"}})
                    .to_string(),
                )
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            let e: serde_json::Value = r.json().unwrap();
            let state = w.dir.join(format!("board-{i}"));
            Credential {
                collector: url.clone(),
                device_id: id.clone(),
                credential: e["credential"].as_str().unwrap().into(),
                credential_id: e["credential_id"].as_str().unwrap().into(),
            }
            .save(&state.join("board.json"))
            .unwrap();
            Board {
                id,
                state,
                child: None,
                addr: Arc::new(Mutex::new(String::new())),
                events: Arc::new(Mutex::new(Vec::new())),
            }
        })
        .collect();
    for b in &mut boards {
        b.start(&url);
    }
    let ids: Vec<String> = boards.iter().map(|b| b.id.clone()).collect();
    wait_view(
        &url,
        &w.reader,
        Duration::from_secs(30),
        "every board serving 1",
        |v| serving_all(v, 1, &ids),
    );
    let gen = load(&boards, &canonical);

    // Field rows of version 1 from every board.
    let t = Instant::now();
    let p90 = loop {
        let rows = field_rows(&url, &w.reader);
        let from: BTreeSet<&str> = rows.iter().map(|r| r.device_id.as_str()).collect();
        if from.len() == BOARDS && rows.len() >= 3 * BOARDS {
            let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for r in &rows {
                by.entry(r.model.clone())
                    .or_default()
                    .push(r.inference_p90_ms.unwrap());
            }
            break by;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "field rows of every board: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let worst = |m: &str| {
        p90.get(m)
            .map(|v| v.iter().cloned().fold(0.0, f64::max))
            .unwrap_or(50.0)
    };
    let best = |m: &str| {
        p90.get(m)
            .map(|v| v.iter().cloned().fold(f64::MAX, f64::min))
            .unwrap_or(1.0)
    };

    // Version 2: predictions that hold; one canary, then all.
    let v2 = w.dir.join("v2");
    version_dir(&out, &v2, |m| {
        let p = worst(m) * 2.0;
        (p, p * 0.5, p * 1.5)
    });
    let before = gen.failed.load(Ordering::Relaxed);
    let t_pub = Instant::now();
    let p = frontier_uplink::frontiers::publish(
        &url,
        &operator,
        &v2,
        "cams",
        None,
        Some(RolloutPolicy {
            canary_percent: 20.0,
            hold_s: 3.0,
            min_requests: 10,
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(
        (p.version, p.state.as_str(), p.canary.len()),
        (2, "canary", 1)
    );
    let canary_v2 = p.canary[0].clone();
    let took = wait_view(
        &url,
        &w.reader,
        Duration::from_secs(90),
        "every board serving 2",
        |v| serving_all(v, 2, &ids),
    );
    let took_pub = t_pub.elapsed();
    let v = frontier_view(&url, &w.reader);
    let promoted = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["version"] == 2 && d["action"] == "promoted")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(promoted["decided_by"], "collector");
    let failed_v2 = gen.failed.load(Ordering::Relaxed) - before;
    println!(
        "publish to all {BOARDS} boards serving version 2: {:.1} s (canary {canary_v2}); failed requests during the swaps: {failed_v2} of {} served so far",
        took_pub.as_secs_f64(),
        gen.ok.load(Ordering::Relaxed)
    );
    assert!(took <= Duration::from_secs(60), "{took:?}");
    assert_eq!(failed_v2, 0, "{:?}", gen.errors.lock().unwrap());

    // Version 3: wrong for the canary board: rolled back, nobody else pulls it.
    let v3 = w.dir.join("v3");
    version_dir(&out, &v3, |m| {
        let p = best(m) * 0.25;
        (p, p * 0.9, p * 1.1)
    });
    let before = gen.failed.load(Ordering::Relaxed);
    let p = frontier_uplink::frontiers::publish(
        &url,
        &operator,
        &v3,
        "cams",
        None,
        Some(RolloutPolicy {
            canary_boards: vec!["board-4".into()],
            hold_s: 600.0,
            min_requests: 10,
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(
        (p.version, p.canary.clone()),
        (3, vec!["sim-b4".to_string()])
    );
    let t_rb = Instant::now();
    wait_view(
        &url,
        &w.reader,
        Duration::from_secs(90),
        "version 3 rolled back",
        |v| {
            v["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["version"] == 3 && x["state"] == "rolled_back")
        },
    );
    let rolled = t_rb.elapsed();
    wait_view(
        &url,
        &w.reader,
        Duration::from_secs(60),
        "the canary back on 2",
        |v| serving_all(v, 2, &ids),
    );
    let v = frontier_view(&url, &w.reader);
    let d = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["version"] == 3 && d["action"] == "rolled_back")
        .unwrap();
    let reason = d["evidence"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("sim-b4") && reason.contains("field p90"),
        "{reason}"
    );
    assert!(boards[4].pulled(3), "the canary pulled version 3");
    for b in &boards[..4] {
        assert!(!b.pulled(3), "{} pulled version 3", b.id);
    }
    println!(
        "version 3 rolled back {:.1} s after publication ({reason}); failed requests meanwhile: {}",
        rolled.as_secs_f64(),
        gen.failed.load(Ordering::Relaxed) - before
    );
    assert_eq!(
        gen.failed.load(Ordering::Relaxed),
        before,
        "{:?}",
        gen.errors.lock().unwrap()
    );

    // The collector goes away, a board is killed and restarted, the
    // collector returns: field rows arrive once, without gaps.
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    collector.kill();
    let outage = Instant::now();
    let outage_start = epoch();
    std::thread::sleep(Duration::from_secs(4));
    gen.paused[0].store(true, Ordering::Relaxed);
    boards[0].kill();
    let killed_at = outage.elapsed();
    boards[0].start(&url);
    gen.paused[0].store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(2));
    let collector = Collector::start_with(
        &w.data,
        &addr,
        &["--no-trainer", "--rollout-check", "200ms"],
    );
    let back = outage.elapsed();
    // Spools drain within a window or two of the return.
    std::thread::sleep(Duration::from_secs(6));
    let rows = field_rows(&collector.url, &w.reader);
    let ids_seen: BTreeSet<&str> = rows.iter().filter_map(|r| r.row_id.as_deref()).collect();
    assert_eq!(ids_seen.len(), rows.len(), "a row stored twice");
    for b in &boards[1..] {
        let mut starts: Vec<Duration> = rows
            .iter()
            .filter(|r| r.device_id == b.id)
            .map(|r| frontier_table::parse_rfc3339(&r.window_start).unwrap())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        starts.sort();
        let gaps: Vec<f64> = starts
            .windows(2)
            .map(|p| (p[1] - p[0]).as_secs_f64())
            .collect();
        let worst_gap = gaps.iter().cloned().fold(0.0, f64::max);
        let during = starts
            .iter()
            .filter(|s| **s >= outage_start && **s <= outage_start + back)
            .count();
        assert!(
            worst_gap < 3.0,
            "{}: a gap of {worst_gap:.1} s in its field windows: {gaps:?}",
            b.id
        );
        assert!(
            during >= 2,
            "{}: {during} windows during the collector's outage",
            b.id
        );
    }
    let b0: Vec<Duration> = rows
        .iter()
        .filter(|r| r.device_id == "sim-b0")
        .map(|r| frontier_table::parse_rfc3339(&r.window_start).unwrap())
        .collect();
    assert!(
        b0.iter()
            .any(|s| *s >= outage_start && *s <= outage_start + killed_at),
        "sim-b0's windows cut before its kill (collector away) arrived"
    );
    println!(
        "field rows: {} stored, none twice; the collector away {:.1} s, sim-b0 killed at {:.1} s",
        rows.len(),
        back.as_secs_f64(),
        killed_at.as_secs_f64()
    );

    // A canary whose disk is full: the download fails, the board keeps
    // serving version 2 and says why, the collector rolls the version back.
    let v4 = w.dir.join("search-4");
    let o = frontier(&w.state)
        .args([
            "search",
            "--space",
            "ofa-mbv3",
            "--predictor",
            pred.to_str().unwrap(),
            "--accuracy",
            "macs",
            "--population",
            "12",
            "--generations",
            "3",
            "--models",
            "2",
            "--max-latency-ms",
            "7",
            "--seed",
            "5",
            "--out",
            v4.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let blobs = boards[3].state.join("frontiers/cams/blobs");
    let m4 = Manifest::read(&v4.join("frontier.json")).unwrap();
    let mut full = 0;
    for m in &m4.models {
        let sha = frontier_uplink::frontiers::file_sha256(&v4.join(&m.file)).unwrap();
        if !blobs.join(&sha).exists() {
            std::os::unix::fs::symlink("/dev/full", blobs.join(format!("{sha}.part"))).unwrap();
            full += 1;
        }
    }
    assert!(full > 0, "version 4 has a model no board has");
    let before = gen.failed.load(Ordering::Relaxed);
    let p = frontier_uplink::frontiers::publish(
        &collector.url,
        &operator,
        &v4,
        "cams",
        None,
        Some(RolloutPolicy {
            canary_boards: vec!["sim-b3".into()],
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(p.version, 4);
    wait_view(
        &collector.url,
        &w.reader,
        Duration::from_secs(60),
        "version 4 rolled back",
        |v| {
            v["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["version"] == 4 && x["state"] == "rolled_back")
        },
    );
    let v = frontier_view(&collector.url, &w.reader);
    let b3 = v["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["device_id"] == "sim-b3")
        .unwrap();
    assert_eq!(b3["serving"], 2);
    assert_eq!(b3["failed_version"], 4);
    let why = b3["failed_error"].as_str().unwrap();
    assert!(
        why.contains("free space") && why.to_lowercase().contains("no space"),
        "{why}"
    );
    assert_eq!(
        gen.failed.load(Ordering::Relaxed),
        before,
        "{:?}",
        gen.errors.lock().unwrap()
    );

    // An operator rolls the current version back with the CLI: every board
    // returns to version 1, no request fails.
    let o = frontier_tests::collector_cmd(&[
        "rollout",
        "rollback",
        "cams",
        "--reason",
        "field check",
        "--data-dir",
        w.data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("cams version 2: rolled_back"));
    let back_to_1 = wait_view(
        &collector.url,
        &w.reader,
        Duration::from_secs(60),
        "every board on 1",
        |v| serving_all(v, 1, &ids),
    );
    assert_eq!(
        gen.failed.load(Ordering::Relaxed),
        before,
        "{:?}",
        gen.errors.lock().unwrap()
    );
    println!(
        "a full disk on the canary: version 4 rolled back, the board kept serving 2 ({why}); a rollback by hand: all on version 1 after {:.1} s; {} requests served, 0 failed",
        back_to_1.as_secs_f64(),
        gen.ok.load(Ordering::Relaxed)
    );
    gen.stop.store(true, Ordering::Relaxed);
    drop(boards);
    let _ = std::fs::remove_dir_all(&w.dir);
}
