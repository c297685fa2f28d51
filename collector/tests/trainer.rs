//! The trainer, against SQLite and a real PostgreSQL: rows in over HTTP,
//! predictor versions out, one trainer per cohort across replicas, the same
//! data never trained twice, a lost claim writing nothing, staleness after
//! a runtime change and after the canaries shift, and the canary jobs the
//! collector queues by itself.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{drop_postgres, fresh_postgres, Client, Server};
use frontier_collector::api::{CohortView, EnrolResponse, HeartbeatReply, PredictorView};
use frontier_collector::auth::{self, Role};
use frontier_collector::jobs::{Job, JobState};
use frontier_collector::store::{now_us, CohortKey};
use frontier_collector::trainer::{self, RunOutcome, TrainerConfig};
use frontier_collector::{AppState, Limits, Store};
use frontier_predictor::synthetic::{noise, unit_ms};
use frontier_predictor::{Predictor, PredictorFile};
use frontier_spaces::ofa_mbv3;
use frontier_spaces::rng::SplitMix64;
use frontier_spaces::{Arch, Space};
use frontier_table::{self as table, LatencyRow, SCHEMA_VERSION};
use frontier_testkit::scratch;
use reqwest::StatusCode;

/// Where a synthetic board's rows come from.
#[derive(Clone)]
struct Board {
    device: &'static str,
    backend_version: &'static str,
    /// Every latency times this (a slower runtime, a throttled board).
    scale: f64,
}

const T0: u64 = 1_795_000_000;

/// A row of `arch` measured on `b` at `T0 + at_s`: the synthetic device's
/// latency (per-unit costs, 2% noise) with a ±2% interval.
fn row_of(b: &Board, arch: &ofa_mbv3::Arch, at_s: u64, rng: &mut SplitMix64) -> LatencyRow {
    let ms =
        ofa_mbv3::units(arch).iter().map(unit_ms).sum::<f64>() * 1.08 * b.scale * noise(rng, 0.01);
    let mut r = LatencyRow {
        schema_version: SCHEMA_VERSION.into(),
        device_id: b.device.into(),
        backend: "ort".into(),
        backend_version: b.backend_version.into(),
        model_path: format!("subnet-{at_s}.onnx"),
        model_sha256: format!("{:064x}", rng.next_u64()),
        inputs: "input=1,3,224,224:f32".into(),
        threads: 1,
        n_runs: 40,
        mean_ms: ms,
        median_ms: ms,
        median_ms_corrected: ms,
        probe_ratio: 1.0,
        measured_at: table::rfc3339(Duration::from_secs(T0 + at_s)),
        frontier_version: "0.9.0".into(),
        arch: Some(Arch::Ofa(arch.clone()).row_json()),
        space: Some("ofa-mbv3".into()),
        median_ci95_rel: Some(0.02),
        cpu_model: Some("Cortex-A72".into()),
        cpu_arch: Some("aarch64".into()),
        ..LatencyRow::default()
    };
    table::ensure_row_id(&mut r);
    r
}

/// `n` sampled subnets measured from `T0 + at_s` on, one a minute.
fn profiled(b: &Board, n: usize, seed: u64, at_s: u64) -> Vec<LatencyRow> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let a = ofa_mbv3::sample(&mut rng);
            row_of(b, &a, at_s + 60 * i as u64, &mut rng)
        })
        .collect()
}

/// The canary set measured on `b` at `T0 + at_s`.
fn canaries(b: &Board, at_s: u64, seed: u64) -> Vec<LatencyRow> {
    let mut rng = SplitMix64::new(seed);
    frontier_spaces::canary_archs(Space::OfaMbv3)
        .iter()
        .enumerate()
        .map(|(i, a)| match a {
            Arch::Ofa(a) => row_of(b, a, at_s + 20 * i as u64, &mut rng),
            _ => unreachable!("an OFA canary"),
        })
        .collect()
}

fn state(store: &Store) -> AppState {
    AppState::new(store.clone(), Limits::default(), Default::default())
}

/// Train whatever is ready, at once.
fn eager(replica: &str) -> TrainerConfig {
    TrainerConfig {
        quiet: Duration::ZERO,
        max_wait: Duration::ZERO,
        replica: replica.into(),
        ..TrainerConfig::default()
    }
}

async fn predictors(c: &Client, token: &str, query: &str) -> Vec<PredictorView> {
    serde_json::from_str(&c.text(token, &format!("/v1/predictors{query}")).await).unwrap()
}

fn trained(runs: &[(String, RunOutcome)]) -> usize {
    runs.iter()
        .filter(|(_, o)| matches!(o, RunOutcome::Trained { .. }))
        .count()
}

async fn training(url: &str) {
    let server = Server::start(url, Limits::default()).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let a = Board {
        device: "dev-a",
        backend_version: "1.32.0",
        scale: 1.0,
    };
    let st = state(store);

    // Nothing yet: nothing to train, an empty list.
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert!(r.runs.is_empty());
    assert!(predictors(&c, &reader, "").await.is_empty());

    // 40 rows: one predictor version, with its metrics, fresh.
    c.ingest(&device, table::to_jsonl(&profiled(&a, 40, 1, 0)))
        .await;
    // Quiet period not over: no run yet; rows that keep coming wait at
    // most max_wait.
    let patient = TrainerConfig {
        quiet: Duration::from_secs(3600),
        max_wait: Duration::from_secs(3600),
        ..eager("r1")
    };
    let r = trainer::step(&st, &patient).await.unwrap();
    assert_eq!(r.cohorts_changed, 1);
    assert!(r.runs.is_empty(), "{:?}", r.runs);
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(r.cohorts_changed, 0, "the scan is not repeated");
    assert_eq!(trained(&r.runs), 1, "{:?}", r.runs);
    let list = predictors(&c, &reader, "?device=dev-a").await;
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(p.rows, 40);
    assert!(!p.stale, "{p:?}");
    assert_eq!(p.cohort["backend_version"], "1.32.0");
    assert_eq!(p.cohort["agent_version"], "0.9.0");
    let within = p.metrics["within_10pct"].as_f64().unwrap();
    assert!(within > 0.9, "the synthetic board is easy: {p:?}");
    assert!(p.metrics["kendall_tau"].as_f64().unwrap() > 0.8);
    assert!(p.metrics["interval_coverage"].is_number());
    assert_eq!(p.training_data_sha256.len(), 64);

    // The file predicts; its ONNX form is a model.
    let text = c.text(&reader, &format!("/v1/predictors/{}", p.id)).await;
    let file = PredictorFile::from_json(&text).unwrap();
    assert_eq!(file.device_id, "dev-a");
    assert_eq!(file.training_rows, 40);
    let probe = profiled(&a, 1, 99, 0).remove(0);
    let predicted = file.predict(probe.arch.as_deref().unwrap()).unwrap();
    assert!((predicted.ms / probe.median_ms - 1.0).abs() < 0.1);
    let onnx = c
        .get(
            Some(&reader),
            &format!("/v1/predictors/{}?format=onnx", p.id),
        )
        .await;
    assert_eq!(onnx.status(), StatusCode::OK);
    let bytes = onnx.bytes().await.unwrap();
    assert!(bytes.len() > 100 && bytes.windows(8).any(|w| w == b"frontier"));

    // Bad requests name the fix; a device token may not read predictors.
    for (path, status, says) in [
        (
            "/v1/predictors/p-nope",
            StatusCode::NOT_FOUND,
            "GET /v1/predictors",
        ),
        (
            &format!("/v1/predictors/{}?format=xml", p.id) as &str,
            StatusCode::BAD_REQUEST,
            "json or onnx",
        ),
        (
            "/v1/predictors?device=nobody",
            StatusCode::NOT_FOUND,
            "unknown",
        ),
        (
            "/v1/predictors?threads=two",
            StatusCode::BAD_REQUEST,
            "whole number",
        ),
        (
            "/v1/predictors?fresh=maybe",
            StatusCode::BAD_REQUEST,
            "true or false",
        ),
    ] {
        let r = c.get(Some(&reader), path).await;
        assert_eq!(r.status(), status, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains(says), "{path}: {body}");
    }
    assert_eq!(
        c.get(Some(&device), "/v1/predictors").await.status(),
        StatusCode::FORBIDDEN
    );

    // The same rows again (a replayed upload): nothing new to train. The
    // cohort marked changed by hand: the same data is not trained twice.
    c.ingest(&device, table::to_jsonl(&profiled(&a, 40, 1, 0)))
        .await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert!(r.runs.is_empty(), "{:?}", r.runs);
    let key = CohortKey {
        device_id: "dev-a".into(),
        space: "ofa-mbv3".into(),
        backend: "ort".into(),
        backend_version: "1.32.0".into(),
        threads: 1,
        agent_version: "0.9.0".into(),
    };
    store
        .touch_cohorts(std::slice::from_ref(&key), now_us())
        .await
        .unwrap();
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(
        r.runs,
        vec![(
            key.id(),
            RunOutcome::Unchanged {
                predictor_id: p.id.clone()
            }
        )]
    );

    // A replica that claims and dies: its claim runs out, another replica
    // trains, and the first one's late finish writes nothing.
    c.ingest(&device, table::to_jsonl(&profiled(&a, 10, 2, 4000)))
        .await;
    trainer::step(
        &st,
        &TrainerConfig {
            quiet: Duration::from_secs(3600),
            max_wait: Duration::from_secs(3600),
            ..eager("r1")
        },
    )
    .await
    .unwrap();
    let dead = store
        .claim_cohort(now_us(), 0, 0, 50_000, "dead-replica")
        .await
        .unwrap()
        .expect("claimable");
    let r = trainer::step(&st, &eager("r2")).await.unwrap();
    assert!(r.runs.is_empty(), "held by the dead replica's claim");
    tokio::time::sleep(Duration::from_millis(80)).await;
    let r = trainer::step(&st, &eager("r2")).await.unwrap();
    assert_eq!(trained(&r.runs), 1, "{:?}", r.runs);
    assert!(!store.finish_claim(&dead, None, Some("late")).await.unwrap());
    let list = predictors(&c, &reader, "?device=dev-a").await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].rows, 50, "newest first");
    assert_eq!(list[0].trained_by.as_deref(), Some("r2"));

    // A runtime upgrade: rows of a new backend version start a new cohort;
    // the old predictors are stale and say why; ?fresh=true leaves them out.
    let upgraded = Board {
        backend_version: "1.33.0",
        scale: 0.9,
        ..a.clone()
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.ingest(&device, table::to_jsonl(&profiled(&upgraded, 8, 3, 9000)))
        .await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert!(
        matches!(&r.runs[..], [(_, RunOutcome::NotTrained(why))] if why.contains("rows")),
        "8 rows are too few: {:?}",
        r.runs
    );
    let list = predictors(&c, &reader, "?device=dev-a").await;
    assert!(list.iter().all(|p| p.stale), "{list:?}");
    let why = list[0].stale_reason.as_deref().unwrap();
    assert!(why.contains("1.33.0") && why.contains("1.32.0"), "{why}");
    assert!(predictors(&c, &reader, "?device=dev-a&fresh=true")
        .await
        .is_empty());
    let cohorts: Vec<CohortView> =
        serde_json::from_str(&c.text(&reader, "/v1/cohorts?device=dev-a").await).unwrap();
    assert_eq!(cohorts.len(), 2);
    let new = cohorts
        .iter()
        .find(|c| c.key["backend_version"] == "1.33.0")
        .unwrap();
    assert!(
        new.last_error.as_deref().unwrap().contains("rows"),
        "{new:?}"
    );
    c.ingest(&device, table::to_jsonl(&profiled(&upgraded, 30, 4, 10000)))
        .await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(trained(&r.runs), 1);
    let fresh = predictors(&c, &reader, "?device=dev-a&fresh=true").await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].rows, 38);
    assert_eq!(fresh[0].cohort["backend_version"], "1.33.0");

    // Metrics count the runs.
    let m = c.text(&reader, "/metrics").await;
    assert!(m.contains("frontier_collector_trainings_total{outcome=\"trained\"}"));
    server.stop().await;
}

async fn canaries_and_drift(url: &str) {
    let server = Server::start(url, Limits::default()).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let st = state(store);
    let b = Board {
        device: "dev-b",
        backend_version: "1.32.0",
        scale: 1.0,
    };
    const H6: u64 = 6 * 3600;
    // Profiled once, canaries three times, 6 h apart, steady.
    let mut rows = profiled(&b, 40, 7, 0);
    for k in 0..3 {
        rows.extend(canaries(&b, 600 + k * H6, 100 + k));
    }
    c.ingest(&device, table::to_jsonl(&rows)).await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(trained(&r.runs), 1);
    assert!(r.shifts.is_empty(), "steady canaries: {:?}", r.shifts);
    let before = predictors(&c, &reader, "?device=dev-b").await;
    assert!(!before[0].stale);

    // The board gets 8% slower (a throttled clock, another library build
    // of the same version): the next canary run finds it.
    let slow = Board {
        scale: 1.08,
        ..b.clone()
    };
    let shifted_at = 600 + 3 * H6;
    c.ingest(&device, table::to_jsonl(&canaries(&slow, shifted_at, 200)))
        .await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(r.shifts.len(), 1, "{r:?}");
    let s = &r.shifts[0];
    assert!((s.ratio - 1.08).abs() < 0.03, "{s:?}");
    assert_eq!(
        s.at_us,
        table::parse_rfc3339(&table::rfc3339(Duration::from_secs(T0 + shifted_at)))
            .unwrap()
            .as_micros() as i64
    );
    // Its predictor is stale, a re-profiling job is queued for the board,
    // and the cohort waits for rows measured after the shift.
    let after = predictors(&c, &reader, "?device=dev-b").await;
    assert!(after[0].stale, "{after:?}");
    assert!(
        after[0]
            .stale_reason
            .as_deref()
            .unwrap()
            .contains("canaries shifted"),
        "{after:?}"
    );
    let jobs: Vec<Job> =
        serde_json::from_str(&c.text(&reader, "/v1/jobs?device=dev-b").await).unwrap();
    let job = jobs
        .iter()
        .find(|j| Some(&j.id) == s.job_id.as_ref())
        .expect("the re-profiling job");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.spec.samples, Some(40));
    assert_eq!(job.spec.backend.as_deref(), Some("ort"));
    assert!(matches!(&r.runs[..], [(_, RunOutcome::NotTrained(why))] if why.contains("shift")));
    // Found once: another scan (or replica) records nothing new.
    let key = CohortKey {
        device_id: "dev-b".into(),
        space: "ofa-mbv3".into(),
        backend: "ort".into(),
        backend_version: "1.32.0".into(),
        threads: 1,
        agent_version: "0.9.0".into(),
    };
    store.touch_cohorts(&[key], now_us()).await.unwrap();
    let r = trainer::step(&st, &eager("r2")).await.unwrap();
    assert!(r.shifts.is_empty());
    assert_eq!(store.shifts(Some("dev-b")).await.unwrap().len(), 1);
    // The re-profiling rows (after the shift) make a fresh predictor from
    // them alone.
    c.ingest(
        &device,
        table::to_jsonl(&profiled(&slow, 40, 8, shifted_at + 600)),
    )
    .await;
    let r = trainer::step(&st, &eager("r1")).await.unwrap();
    assert_eq!(trained(&r.runs), 1, "{:?}", r.runs);
    let fresh = predictors(&c, &reader, "?device=dev-b&fresh=true").await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].rows, 45, "40 re-profiled + the 5 shifted canaries");
    assert!(fresh[0].rows_from.is_some());
    let cohorts: Vec<CohortView> =
        serde_json::from_str(&c.text(&reader, "/v1/cohorts?device=dev-b").await).unwrap();
    assert_eq!(cohorts[0].shifts.len(), 1);
    server.stop().await;
}

async fn canary_jobs(url: &str) {
    let limits = Limits {
        canary_every: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let server = Server::start(url, limits).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let enrolled: EnrolResponse = c
        .http
        .post(format!("{}/v1/enrol", c.base))
        .bearer_auth(&device)
        .json(&serde_json::json!({"device_id": "dev-c", "name": "lab-3"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let board = enrolled.credential;
    let beat = |started: i64| {
        let (c, board) = (&c, &board);
        async move {
            let r = c
                .http
                .post(format!("{}/v1/heartbeat", c.base))
                .bearer_auth(board)
                .json(&serde_json::json!({"started_at_us": started, "agent_version": "0.9.0", "idle": true, "spool_pending": 0}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<HeartbeatReply>().await.unwrap().canary_job
        }
    };
    // The agent's start queues its canaries; the next beats of the same
    // process do not, nor a restart while they are still queued.
    let first = beat(1).await.expect("a canary job at start");
    assert_eq!(beat(1).await, None);
    assert_eq!(beat(2).await, None);
    let job = store.job(&first).await.unwrap().unwrap();
    assert_eq!(job.spec.kind.as_str(), "canary");
    assert_eq!(job.device_id, "dev-c");
    // Leased and done: after the period the next poll queues another.
    let lease: frontier_collector::jobs::Lease = c
        .http
        .get(format!("{}/v1/jobs/next?wait=0", c.base))
        .bearer_auth(&board)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lease.job.id, first);
    let done = c
        .http
        .post(format!("{}/v1/jobs/{first}/complete", c.base))
        .bearer_auth(&board)
        .json(&serde_json::json!({"lease_token": lease.lease_token, "state": "done", "rows": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(beat(2).await, None, "within the period");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = c
        .http
        .get(format!("{}/v1/jobs/next?wait=0", c.base))
        .bearer_auth(&board)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the period's canary");
    let second: frontier_collector::jobs::Lease = r.json().await.unwrap();
    assert_ne!(second.job.id, first);
    assert_eq!(second.job.spec.kind.as_str(), "canary");
    // A board stopping mid-job gives it back: queued again at once, and the
    // old lease can complete nothing.
    let post = |path: String, body: serde_json::Value| {
        let (c, board) = (&c, &board);
        async move {
            c.http
                .post(format!("{}{path}", c.base))
                .bearer_auth(board)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let token = serde_json::json!({"lease_token": second.lease_token});
    let r = post(format!("/v1/jobs/{}/release", second.job.id), token.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let job: Job = r.json().await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    let r = post(format!("/v1/jobs/{}/release", second.job.id), token).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let late = serde_json::json!({"lease_token": second.lease_token, "state": "done", "rows": 5});
    let r = post(format!("/v1/jobs/{}/complete", second.job.id), late).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The heartbeat is what GET /v1/devices shows of the board.
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let devices: Vec<frontier_collector::api::DeviceView> =
        serde_json::from_str(&c.text(&reader, "/v1/devices").await).unwrap();
    let d = devices.iter().find(|d| d.device_id == "dev-c").unwrap();
    assert!(d.heartbeat_at.is_some());
    assert_eq!(d.heartbeat.as_ref().unwrap()["idle"], true);
    // Heartbeats are for boards only; the heartbeat is kept.
    let r = c
        .http
        .post(format!("{}/v1/heartbeat", c.base))
        .bearer_auth(&device)
        .json(&serde_json::json!({"started_at_us": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

/// Two replicas' trainers over one database, many cohorts at once: each
/// cohort is trained once.
async fn replicas(url: &str) {
    let one = Store::open(url).await.unwrap();
    let two = Store::open(url).await.unwrap();
    let device = auth::create(&one, Role::Device, None).await.unwrap();
    let server = Server::start(url, Limits::default()).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    const DEVICES: [&str; 6] = ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"];
    for (i, d) in DEVICES.iter().enumerate() {
        let b = Board {
            device: d,
            backend_version: "1.32.0",
            scale: 1.0 + i as f64 / 10.0,
        };
        c.ingest(&device, table::to_jsonl(&profiled(&b, 25, i as u64, 0)))
            .await;
    }
    let (s1, s2) = (Arc::new(state(&one)), Arc::new(state(&two)));
    let t1 = tokio::spawn(async move { trainer::step(&s1, &eager("one")).await.unwrap() });
    let t2 = tokio::spawn(async move { trainer::step(&s2, &eager("two")).await.unwrap() });
    let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
    assert_eq!(
        trained(&r1.runs) + trained(&r2.runs),
        DEVICES.len(),
        "{r1:?} {r2:?}"
    );
    let mut all = one
        .predictors(&Default::default(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.cohort.key.device_id)
        .collect::<Vec<_>>();
    all.sort();
    assert_eq!(all, DEVICES);
    server.stop().await;
}

/// Rows of `b` for the given architectures (the space's JSON), measured
/// from `T0 + at_s`.
fn measured(b: &Board, archs: &[serde_json::Value], at_s: u64, seed: u64) -> Vec<LatencyRow> {
    let mut rng = SplitMix64::new(seed);
    archs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let arch = ofa_mbv3::Arch::from_json(&a.to_string()).unwrap();
            row_of(b, &arch, at_s + 30 * i as u64, &mut rng)
        })
        .collect()
}

/// An active job run as a board runs it: ask for a batch, measure it (the
/// job's reference subnets with the first), upload it, until done. Returns
/// every batch's size and the replies.
async fn run_active(
    c: &Client,
    board_token: &str,
    b: &Board,
    lease: &frontier_collector::jobs::Lease,
) -> (Vec<usize>, Vec<frontier_table::jobs::BatchReply>) {
    let request = frontier_table::jobs::BatchRequest {
        lease_token: lease.lease_token.clone(),
        backend: "ort".into(),
        backend_version: b.backend_version.into(),
        threads: 1,
        agent_version: "0.9.0".into(),
    };
    let mut sizes = Vec::new();
    let mut replies = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for k in 0..20u64 {
        let r = c
            .http
            .post(format!("{}/v1/jobs/{}/batch", c.base, lease.job.id))
            .bearer_auth(board_token)
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let reply: frontier_table::jobs::BatchReply = r.json().await.unwrap();
        replies.push(reply.clone());
        if reply.done.is_some() {
            return (sizes, replies);
        }
        for a in &reply.archs {
            assert!(seen.insert(a.to_string()), "planned twice: {a}");
        }
        sizes.push(reply.archs.len());
        let mut rows = measured(b, &reply.archs, 20_000 + k * 600, 500 + k);
        if k == 0 {
            let refs: Vec<serde_json::Value> = frontier_spaces::canary_archs(Space::OfaMbv3)
                .iter()
                .map(|a| serde_json::from_str(&a.json()).unwrap())
                .collect();
            let mut refs = measured(b, &refs, 19_000, 499);
            for r in &mut refs {
                r.reference = Some(true);
            }
            rows.extend(refs);
        }
        for r in &mut rows {
            r.invocation = Some(lease.job.id.clone());
            r.row_id = None;
            table::ensure_row_id(r);
        }
        c.ingest(board_token, table::to_jsonl(&rows)).await;
    }
    panic!("not done in 20 batches");
}

async fn enrol(c: &Client, device_token: &str, id: &str) -> String {
    let r: EnrolResponse = c
        .http
        .post(format!("{}/v1/enrol", c.base))
        .bearer_auth(device_token)
        .json(&serde_json::json!({"device_id": id, "name": id,
            "fingerprint": {"cpu_model": "Cortex-A72", "cpu_arch": "aarch64"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r.credential
}

async fn lease_next(c: &Client, board: &str) -> frontier_collector::jobs::Lease {
    c.http
        .get(format!("{}/v1/jobs/next?wait=0", c.base))
        .bearer_auth(board)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The collector plans an active job's batches: never the same subnet
/// twice, done once the cross-validated ±10% share reaches the target; a
/// second board like the first starts from the first one's predictor
/// (few-shot) and is done in fewer rows.
async fn active_jobs(url: &str) {
    let limits = Limits {
        canary_every: None,
        ..Limits::default()
    };
    let server = Server::start(url, limits).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let operator = auth::create(store, Role::Operator, None).await.unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let queue = |device: &str, body: serde_json::Value| {
        let (c, operator) = (&c, &operator);
        let mut body = body;
        body["device"] = device.into();
        async move {
            let r = c
                .http
                .post(format!("{}/v1/jobs", c.base))
                .bearer_auth(operator)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    };
    let active = serde_json::json!({"kind": "profile", "space": "ofa-mbv3",
        "active": {"budget_s": 900, "target": 0.95}, "backend": "ort"});
    let first = Board {
        device: "dev-e",
        backend_version: "1.32.0",
        scale: 1.0,
    };
    let board_e = enrol(&c, &device, "dev-e").await;
    queue("dev-e", active.clone()).await;
    let lease = lease_next(&c, &board_e).await;
    let (sizes, replies) = run_active(&c, &board_e, &first, &lease).await;
    let done = replies.last().unwrap();
    assert_eq!(sizes[0], 8, "the first batch: the ends and MACs strata");
    assert_eq!(
        (replies[1].rows, replies[1].within_10pct),
        (8, None),
        "8 rows fit nothing alone; the 5 reference rows beside them are not subnets to fit"
    );
    let rows_e: usize = sizes.iter().sum();
    assert!(
        done.done.as_deref().unwrap().contains("target reached"),
        "{done:?}"
    );
    assert!(done.within_10pct.unwrap() >= 0.95);
    assert!((16..=48).contains(&rows_e), "{sizes:?}");
    // The trainer makes dev-e's predictor of those rows.
    let st = state(store);
    trainer::step(&st, &eager("r1")).await.unwrap();
    let e = predictors(&c, &reader, "?device=dev-e").await;
    assert_eq!(e[0].rows as usize, rows_e);

    // dev-f: the same CPU, 10% slower. After its first batch (8 rows, too
    // few to fit alone) the plan transfers dev-e's predictor.
    let second = Board {
        device: "dev-f",
        backend_version: "1.32.0",
        scale: 1.1,
    };
    let board_f = enrol(&c, &device, "dev-f").await;
    queue("dev-f", active).await;
    let lease = lease_next(&c, &board_f).await;
    let (sizes_f, replies_f) = run_active(&c, &board_f, &second, &lease).await;
    let rows_f: usize = sizes_f.iter().sum();
    assert_eq!(
        replies_f[1].source.as_deref(),
        Some(e[0].id.as_str()),
        "after 8 rows the plan is a transfer: {replies_f:?}"
    );
    assert!(replies_f[1].within_10pct.is_some());
    assert!(replies_f.last().unwrap().done.is_some());
    assert!(rows_f <= rows_e, "{sizes_f:?} vs {sizes:?}");
    // The trainer, too, starts a board with few rows from the most similar
    // board's predictor, and says so: 8 rows of dev-g.
    let third = Board {
        device: "dev-g",
        backend_version: "1.32.0",
        scale: 0.8,
    };
    let board_g = enrol(&c, &device, "dev-g").await;
    c.ingest(&board_g, table::to_jsonl(&profiled(&third, 8, 77, 0)))
        .await;
    trainer::step(&st, &eager("r1")).await.unwrap();
    let g = predictors(&c, &reader, "?device=dev-g").await;
    assert_eq!(g.len(), 1, "8 rows train only as a transfer");
    assert_eq!(g[0].kind, "transfer", "{g:?}");
    assert!(g[0].from.is_some(), "{g:?}");
    assert!(
        g[0].metrics["within_10pct"].as_f64().unwrap() >= 0.9,
        "{g:?}"
    );

    // A lease that is not the job's, and a job that is not active.
    let bad = frontier_table::jobs::BatchRequest {
        lease_token: "nope".into(),
        backend: "ort".into(),
        backend_version: "1.32.0".into(),
        threads: 1,
        agent_version: "0.9.0".into(),
    };
    let r = c
        .http
        .post(format!("{}/v1/jobs/{}/batch", c.base, lease.job.id))
        .bearer_auth(&board_f)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    queue(
        "dev-f",
        serde_json::json!({"kind": "profile", "space": "ofa-mbv3", "samples": 3}),
    )
    .await;
    let plain = lease_next(&c, &board_f).await;
    let r = c
        .http
        .post(format!("{}/v1/jobs/{}/batch", c.base, plain.job.id))
        .bearer_auth(&board_f)
        .json(&frontier_table::jobs::BatchRequest {
            lease_token: plain.lease_token.clone(),
            ..bad
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not an active job"));
    server.stop().await;
}

on_both_databases!(
    training,
    canaries_and_drift,
    canary_jobs,
    replicas,
    active_jobs
);
