//! What the collector's test suites share: rows, a server on loopback, an
//! HTTP client, and fresh PostgreSQL databases (`FRONTIER_TEST_POSTGRES`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use frontier_table::frontier::{
    AccuracySource, CanonicalInput, Constraints, FrontierModel, Latency, Manifest, SearchSummary,
};
use frontier_table::rollout::{field_row_id, FieldRow, FIELD_SCHEMA_VERSION};

use frontier_collector::api::IngestReport;
use frontier_collector::{Limits, Store};
use frontier_table::{self as table, LatencyRow, SCHEMA_VERSION};
use reqwest::StatusCode;

/// Run a suite `async fn NAME(url: &str)` on a SQLite file and on a fresh
/// PostgreSQL database (the file using it imports `scratch`,
/// `fresh_postgres` and `drop_postgres`).
#[macro_export]
macro_rules! on_both_databases {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite() {
                let dir = super::scratch(concat!("sqlite-", stringify!($suite)));
                super::$suite(&format!("sqlite://{}", dir.join("collector.db").display())).await;
                std::fs::remove_dir_all(&dir).unwrap();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres() {
                let (url, db) = super::fresh_postgres(stringify!($suite)).await;
                super::$suite(&url).await;
                super::drop_postgres(&db).await;
            }
        }
    )*};
}

pub fn row(i: usize, device: &str, backend: &str, space: Option<&str>) -> LatencyRow {
    let mut r = LatencyRow {
        schema_version: SCHEMA_VERSION.into(),
        device_id: device.into(),
        backend: backend.into(),
        backend_version: "0.23.9".into(),
        model_path: format!("m/{i}.onnx"),
        model_sha256: format!("{i:064x}"),
        inputs: "input=1,3,160,160:f32".into(),
        threads: 1,
        n_runs: 40,
        mean_ms: 10.0 + i as f64,
        median_ms: 9.5 + i as f64,
        median_ms_corrected: 9.4 + i as f64,
        probe_ratio: 1.01,
        measured_at: table::rfc3339(Duration::from_secs(1_795_000_000 + i as u64 * 60)),
        frontier_version: "0.1.0".into(),
        arch: Some(format!("{{\"r\":{}}}", 128 + 4 * (i % 25))),
        space: space.map(String::from),
        hostname: Some(format!("board-{device}")),
        cpu_arch: Some("aarch64".into()),
        logical_cores: Some(4),
        ..LatencyRow::default()
    };
    table::ensure_row_id(&mut r);
    r
}

pub fn jsonl(rows: &[LatencyRow]) -> Vec<u8> {
    table::to_jsonl(rows)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub struct Server {
    pub base: String,
    pub store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(url: &str, limits: Limits) -> Server {
        Server::start_with(
            url,
            frontier_collector::ServeConfig {
                limits,
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with(url: &str, config: frontier_collector::ServeConfig) -> Server {
        let store = Store::open(url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = store.clone();
        let task = tokio::spawn(async move {
            frontier_collector::serve(s, listener, config, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server {
            base,
            store,
            shutdown: Some(tx),
            task,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        let _ = self.task.await;
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub async fn post(
        &self,
        token: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}/v1/rows", self.base));
        if !headers.iter().any(|(k, _)| *k == "content-type") {
            req = req.header("content-type", "application/x-ndjson");
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let len = body.len();
        req.body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST of {len} bytes with {headers:?}: {e:?}"))
    }

    pub async fn ingest(&self, token: &str, body: Vec<u8>) -> IngestReport {
        let r = self.post(Some(token), body, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn text(&self, token: &str, path: &str) -> String {
        let r = self.get(Some(token), path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.unwrap()
    }
}

/// A fresh database on the test server; dropped by the caller.
pub async fn fresh_postgres(name: &str) -> (String, String) {
    use sqlx::Connection;
    let base = std::env::var("FRONTIER_TEST_POSTGRES").expect(
        "FRONTIER_TEST_POSTGRES is not set: the PostgreSQL tests need a server; \
         fix: run ./scripts/test.sh (it installs and starts one), or set it to postgres://USER@HOST:PORT/postgres",
    );
    let db = format!("frontier_{name}_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to FRONTIER_TEST_POSTGRES={base}: {e}"));
    sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {db}").as_str())
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap() + 2 => {
            format!("{}/{db}", &base[..i])
        }
        _ => panic!("FRONTIER_TEST_POSTGRES={base} has no database part"),
    };
    (url, db)
}

pub async fn drop_postgres(db: &str) {
    use sqlx::Connection;
    let base = std::env::var("FRONTIER_TEST_POSTGRES").unwrap();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::Executor::execute(
        &mut conn,
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

/// OFA architectures whose `row_json` the lab lookup matches.
pub fn arch(r: usize) -> serde_json::Value {
    serde_json::json!({"ks": vec![3; 20], "e": vec![3; 20], "d": [2, 2, 2, 2, 2], "r": r})
}

/// A manifest with two models, predicted for `keys` (interval 9..11 ms
/// for m0 and 19..21 ms for m1 on every key).
pub fn manifest(keys: &[&str], space: &str, res: usize) -> Manifest {
    let lat = |p: f64| -> BTreeMap<String, Latency> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    Latency {
                        predicted_ms: Some(p),
                        interval_ms: Some((p - 1.0, p + 1.0)),
                        measured_ms: None,
                    },
                )
            })
            .collect()
    };
    Manifest {
        schema_version: "1.1".into(),
        space: space.into(),
        accuracy: AccuracySource {
            source: "macs".into(),
            description: "proxy".into(),
        },
        input: CanonicalInput {
            name: "input".into(),
            dtype: "f32".into(),
            shape: vec![1, 3, res, res],
        },
        devices: keys.iter().map(|k| k.to_string()).collect(),
        search: SearchSummary {
            algorithm: "nsga2".into(),
            population: 8,
            generations: 2,
            seed: 0,
            evaluations: 16,
            hypervolume: 0.5,
            random_search_hypervolume: 0.4,
            constraints: Constraints::default(),
            seconds: 0.1,
        },
        created_at: "2026-12-06T00:00:00.000Z".into(),
        frontier_version: "0.1.0".into(),
        supernet: None,
        models: (0..2)
            .map(|i| FrontierModel {
                name: format!("m{i}"),
                file: format!("models/m{i}.onnx"),
                arch: arch(128 + 32 * i),
                accuracy: 70.0 + i as f64,
                params: 1000,
                macs: 1000,
                frontier_of: keys.iter().map(|k| k.to_string()).collect(),
                latency: lat(10.0 + 10.0 * i as f64),
            })
            .collect(),
    }
}

pub fn field_row(
    board: &str,
    name: &str,
    version: u32,
    model: &str,
    minute: u64,
    p90: f64,
) -> FieldRow {
    let mut r = FieldRow {
        schema_version: FIELD_SCHEMA_VERSION.into(),
        device_id: board.into(),
        frontier: name.into(),
        version,
        model: model.into(),
        backend: "tract".into(),
        threads: 1,
        window_start: frontier_table::rfc3339(Duration::from_secs(1_795_000_000 + minute * 60)),
        window_s: 60.0,
        requests: 30,
        slo_ms: 50.0,
        inference_p50_ms: Some(p90 * 0.9),
        inference_p90_ms: Some(p90),
        inference_p99_ms: Some(p90 * 1.2),
        e2e_p50_ms: Some(p90),
        e2e_p90_ms: Some(p90 * 1.1),
        e2e_p99_ms: Some(p90 * 1.3),
        load_mean: Some(0.1),
        load_max: Some(0.3),
        agent_version: "0.1.0".into(),
        ..Default::default()
    };
    r.row_id = Some(field_row_id(&r));
    r
}
