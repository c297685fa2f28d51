//! The web view with a real fleet's data (docs/BENCHMARKS.md, "Web view"):
//! a collector (in process, PostgreSQL) holding 100 boards with 1,000 rows
//! each (100,000 rows), a predictor per board, heartbeats, a frontier of
//! two versions with every board serving it and an hour of field rows
//! (12,000), and 1,000 jobs; then each page is requested `--requests`
//! times (sequentially, after two warm-ups) and its server time reported:
//! the time to the whole response on loopback, p50 and p95 per page.
//!
//!     FRONTIER_TEST_POSTGRES=$(./scripts/postgres.sh) \
//!       cargo run --release -p frontier-tests --example ui_scale -- [--boards 100] [--rows 1000] [--requests 40]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use frontier_collector::store::{CohortKey, Fingerprint, NewPredictor, NewRow, Store};
use frontier_collector::{Limits, ServeConfig};
use frontier_table::rollout::{field_row_id, FieldRow, FIELD_SCHEMA_VERSION};
use frontier_tests::ofa_rows;

use frontier_tests::example_arg as arg;

async fn fresh_database() -> (String, String) {
    use sqlx::Connection;
    let base = std::env::var("FRONTIER_TEST_POSTGRES")
        .expect("FRONTIER_TEST_POSTGRES; fix: FRONTIER_TEST_POSTGRES=$(./scripts/postgres.sh)");
    let db = format!("frontier_ui_scale_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    let i = base.rfind('/').unwrap();
    (format!("{}/{db}", &base[..i]), db)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    frontier_table::rollout::percentile(v, q).unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let boards = arg("--boards", 100) as usize;
    let per = arg("--rows", 1000) as usize;
    let requests = arg("--requests", 40) as usize;
    let (url, db) = fresh_database().await;
    let store = Store::open(&url).await.unwrap();
    let t = Instant::now();

    // Rows: 1,000 per board, a tenth of them with 2 threads, over 40 days.
    for b in 0..boards {
        let id = format!("board{b:03}");
        let mut rows = ofa_rows(&id, per, b as u64);
        let mut new = Vec::with_capacity(per);
        for (k, r) in rows.iter_mut().enumerate() {
            r.threads = if k % 10 == 0 { 2 } else { 1 };
            r.median_ci95_rel = Some(0.02);
            r.measured_at =
                frontier_table::rfc3339(Duration::from_secs(1_795_000_000 + k as u64 * 3456));
            r.row_id = None;
            frontier_table::ensure_row_id(r);
            new.push(NewRow {
                row_id: r.row_id.clone().unwrap(),
                device_id: id.clone(),
                backend: r.backend.clone(),
                space: r.space.clone(),
                measured_at_us: Some(
                    frontier_table::parse_rfc3339(&r.measured_at)
                        .unwrap()
                        .as_micros() as i64,
                ),
                row_json: serde_json::to_string(&r).unwrap(),
                threads: r.threads,
                backend_version: r.backend_version.clone(),
                agent_version: r.frontier_version.clone(),
                arch: r.arch.clone(),
            });
        }
        let fp = Fingerprint {
            device_class_id: Some(if b % 2 == 0 { "edge" } else { "iot" }.into()),
            hostname: Some(format!("shelf-{b}")),
            cpu_model: Some(
                if b % 2 == 0 {
                    "Cortex-A76"
                } else {
                    "Cortex-A53"
                }
                .into(),
            ),
            cpu_arch: Some("aarch64".into()),
            logical_cores: Some(4),
            ..Default::default()
        };
        for chunk in new.chunks(1000) {
            store
                .insert_batch(
                    chunk,
                    &[(id.clone(), fp.clone())],
                    frontier_collector::store::now_us(),
                )
                .await
                .unwrap();
        }
    }
    eprintln!(
        "{} rows stored in {:.0} s",
        store.row_count().await.unwrap(),
        t.elapsed().as_secs_f64()
    );

    // A predictor per board (one real training, stored for every cohort:
    // the pages read the records, not the fits).
    let rows = ofa_rows("board000", 60, 0);
    let req = frontier_train::Request {
        space: frontier_spaces::Space::parse("ofa-mbv3"),
        seed: 0,
        origin: "ui_scale".into(),
        ..Default::default()
    };
    let trained = frontier_train::train(&rows, &req, &mut |_| {}).unwrap();
    let keys: Vec<CohortKey> = (0..boards)
        .map(|b| CohortKey {
            device_id: format!("board{b:03}"),
            space: "ofa-mbv3".into(),
            backend: "tract".into(),
            backend_version: "0.23.9".into(),
            threads: 1,
            agent_version: "0.1.0".into(),
        })
        .collect();
    store.touch_cohorts(&keys, 1).await.unwrap();
    let mut made = 0;
    while let Some(claim) = store
        .claim_cohort(
            frontier_collector::store::now_us(),
            0,
            0,
            60_000_000,
            "bench",
        )
        .await
        .unwrap()
    {
        let p = NewPredictor {
            id: format!("p{made:012}"),
            rows_used: 900,
            data_sha256: format!("{made:064x}"),
            rows_from_us: None,
            newest_row_us: Some(frontier_collector::store::now_us()),
            kind: trained.file.kind.name().to_string(),
            metrics_json: trained.report(None, None).to_string(),
            file_json: trained.file.to_json(),
            trained_by: "bench".into(),
            train_ms: 1,
        };
        store.finish_claim(&claim, Some(&p), None).await.unwrap();
        made += 1;
    }
    eprintln!("{made} predictors");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let s = store.clone();
    let server = tokio::spawn(async move {
        frontier_collector::serve(
            s,
            listener,
            ServeConfig {
                limits: Limits::default(),
                trainer: None,
                ..Default::default()
            },
            async {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    let operator =
        frontier_collector::auth::create(&store, frontier_collector::auth::Role::Operator, None)
            .await
            .unwrap();
    let device =
        frontier_collector::auth::create(&store, frontier_collector::auth::Role::Device, None)
            .await
            .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Enrolment (names, credentials) and heartbeats.
    let mut creds = BTreeMap::new();
    for b in 0..boards {
        let id = format!("board{b:03}");
        let r: serde_json::Value = http
            .post(format!("{base}/v1/enrol"))
            .bearer_auth(&device)
            .json(&serde_json::json!({"device_id": id, "name": format!("shelf-{b}"), "runtimes": {"tract": "0.21.13"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let c = r["credential"].as_str().unwrap().to_string();
        http.post(format!("{base}/v1/heartbeat"))
            .bearer_auth(&c)
            .json(&serde_json::json!({"started_at_us": 1, "idle": b % 3 != 0, "busy_reason": "others", "spool_pending": b}))
            .send()
            .await
            .unwrap();
        creds.insert(id, c);
    }
    // A frontier of two versions (the second a canary), every board serving
    // version 1, an hour of field rows per board (2 models, 1-minute windows).
    let blob = vec![7u8; 1000];
    let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&blob));
    http.put(format!("{base}/v1/blobs/{sha}"))
        .bearer_auth(&operator)
        .body(blob)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = (0..boards)
        .map(|b| format!("board{b:03}/tract/t1"))
        .collect();
    let mut m: serde_json::Value = serde_json::json!({
        "schema_version": "1.1", "space": "ofa-mbv3",
        "accuracy": {"source": "macs", "description": "proxy"},
        "input": {"name": "input", "dtype": "f32", "shape": [1, 3, 160, 160]},
        "devices": keys,
        "search": {"algorithm": "nsga2", "population": 1, "generations": 1, "seed": 0, "evaluations": 1,
                   "hypervolume": 0.0, "random_search_hypervolume": 0.0,
                   "constraints": {"max_latency_ms": [], "max_params": null}, "seconds": 0.0},
        "created_at": "2026-12-06T00:00:00.000Z", "frontier_version": "0.1.0", "models": []
    });
    let mut blobs = BTreeMap::new();
    let models: Vec<serde_json::Value> = (0..2)
        .map(|i| {
            let lat: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .map(|k| (k.clone(), serde_json::json!({"predicted_ms": 8.0 + 4.0 * i as f64, "interval_ms": [7.0 + 4.0 * i as f64, 9.0 + 4.0 * i as f64]})))
                .collect();
            blobs.insert(format!("models/m{i}.onnx"), sha.clone());
            serde_json::json!({"name": format!("m{i}"), "file": format!("models/m{i}.onnx"),
                "arch": {"ks": vec![3; 20], "e": vec![3; 20], "d": [2, 2, 2, 2, 2], "r": 128 + 32 * i},
                "accuracy": 70.0 + i as f64, "params": 1000, "macs": 1000,
                "frontier_of": keys, "latency": lat})
        })
        .collect();
    m["models"] = serde_json::Value::Array(models);
    for v in 0..2 {
        let r = http
            .post(format!("{base}/v1/frontiers/cams"))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"manifest": m, "blobs": blobs, "rollout": {"canary_percent": 5.0, "canary_boards": [], "tolerance": 0.25, "hold_s": 1e9, "min_requests": 50}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
        if v == 0 {
            for c in creds.values() {
                http.get(format!("{base}/v1/frontiers/cams/assignment?backend=tract"))
                    .bearer_auth(c)
                    .send()
                    .await
                    .unwrap();
                http.post(format!("{base}/v1/frontiers/cams/status"))
                    .bearer_auth(c)
                    .json(&serde_json::json!({"serving": 1}))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    let mut field_n = 0;
    for (id, c) in &creds {
        let mut body = String::new();
        for k in 0..60u64 {
            for i in 0..2 {
                let p90 = 8.5 + 4.0 * i as f64 + (k % 5) as f64 * 0.1;
                let mut r = FieldRow {
                    schema_version: FIELD_SCHEMA_VERSION.into(),
                    device_id: id.clone(),
                    frontier: "cams".into(),
                    version: 1,
                    model: format!("m{i}"),
                    backend: "tract".into(),
                    threads: 1,
                    window_start: frontier_table::rfc3339(Duration::from_secs(
                        1_795_300_000 + k * 60,
                    )),
                    window_s: 60.0,
                    requests: 600,
                    slo_ms: 30.0,
                    switches_in: (k % 10 == 0) as u64,
                    inference_p50_ms: Some(p90 * 0.9),
                    inference_p90_ms: Some(p90),
                    inference_p99_ms: Some(p90 * 1.2),
                    e2e_p50_ms: Some(p90),
                    e2e_p90_ms: Some(p90 * 1.1),
                    e2e_p99_ms: Some(p90 * 1.3),
                    load_mean: Some(0.3),
                    load_max: Some(1.0),
                    agent_version: "0.1.0".into(),
                    ..Default::default()
                };
                r.row_id = Some(field_row_id(&r));
                body.push_str(&serde_json::to_string(&r).unwrap());
                body.push('\n');
                field_n += 1;
            }
        }
        let r = http
            .post(format!("{base}/v1/field"))
            .bearer_auth(c)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // 1,000 jobs.
    for j in 0..1000 {
        http.post(format!("{base}/v1/jobs"))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"device": format!("board{:03}", j % boards), "kind": "profile", "space": "ofa-mbv3", "samples": 10}))
            .send()
            .await
            .unwrap();
    }
    eprintln!(
        "seeded: {boards} boards, {field_n} field rows, 1000 jobs ({:.0} s)",
        t.elapsed().as_secs_f64()
    );

    // Sign in, then time each page.
    let r = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", operator.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let pages = [
        ("fleet", "/ui".to_string()),
        ("board", "/ui/boards/board042".to_string()),
        (
            "board, filtered (threads, date, cursor)",
            "/ui/boards/board042?threads=1&since=2026-11-22&before=999999999".to_string(),
        ),
        ("frontiers", "/ui/frontiers".to_string()),
        ("jobs", "/ui/jobs".to_string()),
    ];
    println!("| page | p50 ms | p95 ms | max ms | bytes |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, path) in &pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for i in 0..requests + 2 {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            bytes = r.bytes().await.unwrap().len();
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let max = times.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {bytes} |",
            pct(&mut times, 0.5),
            pct(&mut times, 0.95),
            max
        );
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    store.close().await;
    use sqlx::Connection;
    let base_url = std::env::var("FRONTIER_TEST_POSTGRES").unwrap();
    let mut c = sqlx::PgConnection::connect(&base_url).await.unwrap();
    let _ = sqlx::Executor::execute(
        &mut c,
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str(),
    )
    .await;
}
