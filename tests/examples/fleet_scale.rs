//! The fleet at scale (docs/BENCHMARKS.md, "Fleet"): two `frontier-collector`
//! replicas (the real binary) over one PostgreSQL, and a load generator of
//! 200 simulated boards on loopback, bounded in time.
//!
//! Each simulated board enrols with the device token, then for the phase's
//! duration uploads a batch of 10 rows of its own subnets every 2 s
//! (jittered; the synthetic device's latencies, so that the trainer has
//! real work), sends a heartbeat every 10 s, and has two pollers, one per
//! replica, asking for its jobs (`wait=0` every second) and completing each
//! after 200 ms. An operator queues 2 jobs per board at the start. Every
//! request alternates replicas.
//!
//! Two phases, each on a fresh database: the replicas without their
//! trainers (`--no-trainer`), then with them (`--train-quiet 1s
//! --train-max-wait 5s`: training runs all along, as rows keep coming).
//! Reported per phase: rows/s stored, ingest latency p50/p99 (client side),
//! jobs leased to two pollers at once (from the pollers' own records),
//! jobs leased more than once (the database's `attempts`), rows lost
//! (acknowledged but not stored) or doubled (stored twice), and the
//! trainer's runs.
//!
//!     FRONTIER_TEST_POSTGRES=$(./scripts/postgres.sh) \
//!       cargo run --release -p frontier-tests --example fleet_scale -- [--boards 200] [--seconds 40]

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontier_predictor::synthetic::{noise, unit_ms};
use frontier_spaces::ofa_mbv3;
use frontier_spaces::rng::SplitMix64;
use frontier_spaces::Arch;
use frontier_table::{self as table, LatencyRow, SCHEMA_VERSION};
use frontier_tests::bin;

use frontier_tests::example_arg as arg;

fn admin(db: &str, args: &[&str]) -> String {
    let out = Command::new(bin("frontier-collector"))
        .args(args)
        .args(["--database", db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn replica(db: &str, trainer: bool) -> (Child, String) {
    let mut cmd = Command::new(bin("frontier-collector"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", db]);
    cmd.args(["--canary-every", "0"]);
    if trainer {
        cmd.args(["--train-quiet", "1s", "--train-max-wait", "5s"]);
    } else {
        cmd.arg("--no-trainer");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (child, url)
}

async fn fresh_database(base: &str, name: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::Executor::execute(&mut conn, sql.as_str())
            .await
            .unwrap();
    }
    let i = base.rfind('/').unwrap();
    format!("{}/{name}", &base[..i])
}

async fn row_ids(db: &str) -> HashSet<String> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    sqlx::query("SELECT row_id FROM rows")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

async fn count(db: &str, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    let r = sqlx::query(sql).fetch_one(&mut conn).await.unwrap();
    r.try_get::<i64, _>(0).unwrap()
}

fn row(device: &str, rng: &mut SplitMix64, scale: f64) -> LatencyRow {
    let arch = ofa_mbv3::sample(rng);
    let ms = ofa_mbv3::units(&arch).iter().map(unit_ms).sum::<f64>() * scale * noise(rng, 0.02);
    let mut r = LatencyRow {
        schema_version: SCHEMA_VERSION.into(),
        device_id: device.into(),
        backend: "ort".into(),
        backend_version: "1.32.0".into(),
        model_path: "subnet.onnx".into(),
        model_sha256: format!("{:064x}", rng.next_u64()),
        inputs: "input=1,3,224,224:f32".into(),
        threads: 1,
        n_runs: 40,
        mean_ms: ms,
        median_ms: ms,
        median_ms_corrected: ms,
        probe_ratio: 1.0,
        measured_at: table::now_rfc3339(),
        frontier_version: "0.9.0".into(),
        arch: Some(Arch::Ofa(arch).row_json()),
        space: Some("ofa-mbv3".into()),
        median_ci95_rel: Some(0.02),
        cpu_model: Some("Cortex-A72".into()),
        ..LatencyRow::default()
    };
    table::ensure_row_id(&mut r);
    r
}

#[derive(Default)]
struct Record {
    latencies_ms: Vec<f64>,
    acknowledged: HashSet<String>,
    failed_batches: u64,
    /// (job, poller, leased at, completed at)
    leases: Vec<(String, usize, Instant, Instant)>,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn phase(base: &str, name: &str, trainer: bool, boards: usize, seconds: u64) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_database(base, name));
    // Migrate once before the replicas race to.
    let device = admin(&db, &["token", "create", "--role", "device"]);
    let operator = admin(&db, &["token", "create", "--role", "operator"]);
    let (mut one, url1) = replica(&db, trainer);
    let (mut two, url2) = replica(&db, trainer);
    let urls = [url1.clone(), url2.clone()];
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    // Enrol every board.
    let creds: Vec<(String, String)> = (0..boards)
        .map(|i| {
            let id = format!("sim-{i:04}");
            let r: serde_json::Value = http
                .post(format!("{}/v1/enrol", urls[i % 2]))
                .bearer_auth(&device)
                .json(&serde_json::json!({"device_id": id, "name": id,
                    "fingerprint": {"cpu_model": "Cortex-A72", "cpu_arch": "aarch64"}}))
                .send()
                .unwrap()
                .json()
                .unwrap();
            (id, r["credential"].as_str().unwrap().to_string())
        })
        .collect();
    for (i, (id, _)) in creds.iter().enumerate() {
        for _ in 0..2 {
            let r = http
                .post(format!("{}/v1/jobs", urls[i % 2]))
                .bearer_auth(&operator)
                .json(&serde_json::json!({"device": id, "kind": "profile", "space": "ofa-mbv3", "samples": 4}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
    }
    let record = Arc::new(Mutex::new(Record::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut threads = Vec::new();
    for (i, (id, cred)) in creds.iter().enumerate() {
        // The uploader.
        let (http_u, urls_u, record_u, stop_u) =
            (http.clone(), urls.clone(), record.clone(), stop.clone());
        let (id, cred) = (id.clone(), cred.clone());
        threads.push(std::thread::spawn(move || {
            let (http, urls, record, stop) = (http_u, urls_u, record_u, stop_u);
            let mut rng = SplitMix64::new(i as u64 + 1);
            let scale = 1.0 + (i % 10) as f64 / 20.0;
            let mut k = 0usize;
            std::thread::sleep(Duration::from_millis(rng.next_u64() % 2000));
            let mut next_beat = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let rows: Vec<LatencyRow> = (0..10).map(|_| row(&id, &mut rng, scale)).collect();
                let body = table::to_jsonl(&rows);
                let t = Instant::now();
                let r = http
                    .post(format!("{}/v1/rows", urls[k % 2]))
                    .bearer_auth(&cred)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let mut rec = record.lock().unwrap();
                match r {
                    Ok(r) if r.status().is_success() => {
                        rec.latencies_ms.push(ms);
                        rec.acknowledged
                            .extend(rows.iter().map(|r| r.row_id.clone().unwrap()));
                    }
                    _ => rec.failed_batches += 1,
                }
                drop(rec);
                if Instant::now() >= next_beat {
                    next_beat = Instant::now() + Duration::from_secs(10);
                    let _ = http
                        .post(format!("{}/v1/heartbeat", urls[(k + 1) % 2]))
                        .bearer_auth(&cred)
                        .json(&serde_json::json!({"started_at_us": 1, "idle": true}))
                        .send();
                }
                k += 1;
                std::thread::sleep(Duration::from_millis(1500 + rng.next_u64() % 1000));
            }
        }));
        // Two pollers, one per replica.
        for poller in 0..2 {
            let (http_p, urls_p, record_p, stop_p) =
                (http.clone(), urls.clone(), record.clone(), stop.clone());
            let cred = creds[i].1.clone();
            threads.push(std::thread::spawn(move || {
                let (http, urls, record, stop) = (http_p, urls_p, record_p, stop_p);
                while !stop.load(Ordering::Relaxed) {
                    let r = http
                        .get(format!("{}/v1/jobs/next?wait=0", urls[poller]))
                        .bearer_auth(&cred)
                        .send();
                    if let Ok(r) = r {
                        if r.status().as_u16() == 200 {
                            let lease: serde_json::Value = r.json().unwrap();
                            let job = lease["job"]["id"].as_str().unwrap().to_string();
                            let at = Instant::now();
                            std::thread::sleep(Duration::from_millis(200));
                            let _ = http
                                .post(format!("{}/v1/jobs/{job}/complete", urls[1 - poller]))
                                .bearer_auth(&cred)
                                .json(&serde_json::json!({"lease_token": lease["lease_token"], "state": "done", "rows": 4}))
                                .send();
                            record
                                .lock()
                                .unwrap()
                                .leases
                                .push((job, poller, at, Instant::now()));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1000));
                }
            }));
        }
    }
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The trainers' runs so far (a run in progress is not counted).
    let metrics: String = urls
        .iter()
        .map(|u| {
            http.get(format!("{u}/metrics"))
                .send()
                .and_then(|r| r.text())
                .unwrap_or_default()
        })
        .collect();
    let trainings: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("frontier_collector_trainings_total{outcome=\"trained\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let _ = (one.kill(), two.kill(), one.wait(), two.wait());
    let mut rec = record.lock().unwrap();
    let stored = rt.block_on(count(&db, "SELECT COUNT(*) FROM rows"));
    let distinct = rt.block_on(count(&db, "SELECT COUNT(DISTINCT row_id) FROM rows"));
    let multi_leased = rt.block_on(count(&db, "SELECT COUNT(*) FROM jobs WHERE attempts > 1"));
    let done = rt.block_on(count(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"));
    let predictors = rt.block_on(count(&db, "SELECT COUNT(*) FROM predictors"));
    // Leases of one job overlapping in time, by two pollers.
    let mut by_job: HashMap<&str, Vec<(usize, Instant, Instant)>> = HashMap::new();
    for (job, poller, a, b) in &rec.leases {
        by_job.entry(job).or_default().push((*poller, *a, *b));
    }
    let twice = by_job
        .values()
        .filter(|v| {
            v.iter().enumerate().any(|(i, x)| {
                v.iter()
                    .skip(i + 1)
                    .any(|y| x.0 != y.0 && x.1 < y.2 && y.1 < x.2)
            })
        })
        .count();
    let acknowledged = rec.acknowledged.len() as i64;
    let ids = rt.block_on(row_ids(&db));
    let lost = rec
        .acknowledged
        .iter()
        .filter(|id| !ids.contains(*id))
        .count();
    let n = rec.latencies_ms.len();
    let out = serde_json::json!({
        "phase": name,
        "trainer": trainer,
        "boards": boards,
        "seconds": elapsed,
        "batches": n,
        "failed_batches": rec.failed_batches,
        "rows_per_s": stored as f64 / elapsed,
        "ingest_p50_ms": percentile(&mut rec.latencies_ms, 0.5),
        "ingest_p99_ms": percentile(&mut rec.latencies_ms, 0.99),
        "rows_acknowledged": acknowledged,
        "rows_stored": stored,
        "rows_lost": lost,
        "rows_doubled": stored - distinct,
        "jobs_done": done,
        "jobs_leased_twice_at_once": twice,
        "jobs_leased_more_than_once": multi_leased,
        "trainings": trainings,
        "predictors": predictors,
    });
    println!("{out}");
    out
}

fn main() {
    let base = std::env::var("FRONTIER_TEST_POSTGRES")
        .expect("FRONTIER_TEST_POSTGRES: a PostgreSQL URL (./scripts/postgres.sh)");
    let boards = arg("--boards", 200) as usize;
    let seconds = arg("--seconds", 40);
    let a = phase(&base, "fleet_scale_plain", false, boards, seconds);
    let b = phase(&base, "fleet_scale_training", true, boards, seconds);
    let ratio = b["ingest_p99_ms"].as_f64().unwrap() / a["ingest_p99_ms"].as_f64().unwrap();
    println!(
        "{}",
        serde_json::json!({"ingest_p99_with_training_over_without": ratio})
    );
}
