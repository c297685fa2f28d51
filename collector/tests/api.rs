//! The API v1 suite, run against SQLite and against a real PostgreSQL.
//!
//! PostgreSQL comes from `FRONTIER_TEST_POSTGRES` (a URL to a server where
//! the user may create databases), which `scripts/test.sh` sets after
//! starting one. Without it the PostgreSQL test fails, it is never skipped.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{drop_postgres, fresh_postgres, gzip, jsonl, row, Client, Server};
use frontier_collector::api::{DeviceView, EnrolResponse, IngestReport, CURSOR_HEADER};
use frontier_collector::auth::{self, Role};
use frontier_collector::jobs::{Job, JobState, Lease};
use frontier_collector::{Limits, Store};
use frontier_table::{self as table, LatencyRow};
use reqwest::StatusCode;

async fn suite(url: &str) {
    let limits = Limits {
        body_bytes: 1 << 20,
        page_rows: 7,
        ..Limits::default()
    };
    let server = Server::start(url, limits.clone()).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, Some("board"))
        .await
        .unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::builder().no_gzip().build().unwrap(),
        base: server.base.clone(),
    };
    let rows_a: Vec<LatencyRow> = (0..25)
        .map(|i| row(i, "dev-a", "tract", Some("ofa-mbv3")))
        .collect();
    let rows_b: Vec<LatencyRow> = (0..6)
        .map(|i| row(i, "dev-b", "ort", Some("gpt2")))
        .collect();

    // Auth: nothing ingested without a valid device token.
    let bad_token = format!("frt_{}_{}", "0".repeat(16), "0".repeat(64));
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("garbage"), StatusCode::UNAUTHORIZED),
        (Some(bad_token.as_str()), StatusCode::UNAUTHORIZED),
        (Some(reader.as_str()), StatusCode::FORBIDDEN),
    ] {
        let r = c.post(token, jsonl(&rows_a), &[]).await;
        assert_eq!(r.status(), status, "{token:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("fix"), "{body}");
    }
    // A token with the right id but another secret.
    let forged = format!(
        "{}{}",
        &device[..device.len() - 1],
        if device.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        c.post(Some(&forged), jsonl(&rows_a), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(store.row_count().await.unwrap(), 0);
    assert_eq!(
        c.get(Some(&device), "/v1/rows").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.get(None, "/v1/devices").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Ingest, then the same again: duplicates, nothing doubled.
    let r = c.ingest(&device, jsonl(&rows_a)).await;
    assert_eq!((r.accepted, r.duplicate, r.rejected), (25, 0, 0));
    let r = c.ingest(&device, jsonl(&rows_a[..10])).await;
    assert_eq!((r.accepted, r.duplicate, r.rejected), (0, 10, 0));
    // gzip, with a row repeated inside the batch.
    let mut batch = rows_b.clone();
    batch.push(rows_b[0].clone());
    let r = c
        .post(
            Some(&device),
            gzip(&jsonl(&batch)),
            &[
                ("content-encoding", "gzip"),
                ("x-frontier-spool-pending", "42"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: IngestReport = r.json().await.unwrap();
    assert_eq!((r.accepted, r.duplicate, r.rejected), (6, 1, 0));
    assert_eq!(store.row_count().await.unwrap(), 31);

    // Bad lines reject themselves, not the batch.
    let good = row(100, "dev-a", "tract", None);
    let mut no_id = row(101, "dev-a", "tract", None);
    no_id.row_id = None;
    let mut v2 = serde_json::to_value(row(102, "dev-a", "tract", None)).unwrap();
    v2["schema_version"] = "2.0".into();
    let mut missing = serde_json::to_value(row(103, "dev-a", "tract", None)).unwrap();
    missing.as_object_mut().unwrap().remove("backend");
    let mut huge = row(104, "dev-a", "tract", None);
    huge.arch = Some("x".repeat(70_000));
    table::ensure_row_id(&mut huge);
    let mut bad_time = row(105, "dev-a", "tract", None);
    bad_time.measured_at = "yesterday".into();
    bad_time.row_id = None;
    table::ensure_row_id(&mut bad_time);
    let mut body = Vec::new();
    body.extend(b"{not json\n");
    body.extend(serde_json::to_vec(&no_id).unwrap());
    body.push(b'\n');
    body.extend(serde_json::to_vec(&v2).unwrap());
    body.push(b'\n');
    body.extend(serde_json::to_vec(&missing).unwrap());
    body.push(b'\n');
    body.extend(jsonl(&[huge]));
    body.extend(b"\xff\xfe\n");
    body.extend(jsonl(&[bad_time]));
    body.extend(b"\n   \n");
    body.extend(jsonl(std::slice::from_ref(&good)));
    let r = c.ingest(&device, body).await;
    assert_eq!((r.accepted, r.duplicate, r.rejected), (1, 0, 7), "{r:?}");
    let reasons: Vec<(usize, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    let expect = [
        (1, "not JSON"),
        (2, "no row_id"),
        (3, "schema_version 2.0 is not supported"),
        (4, "missing field `backend`"),
        (5, "more than the limit"),
        (6, "not UTF-8"),
        (7, "measured_at"),
    ];
    for ((line, reason), (eline, ereason)) in reasons.iter().zip(expect) {
        assert_eq!(*line, eline);
        assert!(reason.contains(ereason), "line {line}: {reason}");
    }
    assert_eq!(store.row_count().await.unwrap(), 32);

    // Bodies that are not batches: nothing stored.
    let r = c
        .post(
            Some(&device),
            jsonl(&[row(200, "dev-a", "tract", None)]),
            &[("content-type", "text/html")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let truncated = gzip(&jsonl(&rows_a));
    let r = c
        .post(
            Some(&device),
            truncated[..truncated.len() / 2].to_vec(),
            &[("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .post(
            Some(&device),
            b"\x1f\x8b garbage".to_vec(),
            &[("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let bomb = gzip(&vec![b'\n'; 8 << 20]);
    assert!(bomb.len() < 64 << 10);
    let r = c
        .post(Some(&device), bomb, &[("content-encoding", "gzip")])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c.post(Some(&device), vec![b' '; (1 << 20) + 1], &[]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c
        .post(Some(&device), jsonl(&rows_a), &[("content-encoding", "br")])
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(store.row_count().await.unwrap(), 32);

    // Read back: exactly the lines sent, over several pages (7 rows each).
    let all = c.text(&reader, "/v1/rows").await;
    assert_eq!(all.lines().count(), 32);
    let a = c
        .text(
            &reader,
            "/v1/rows?device=dev-a&backend=tract&space=ofa-mbv3",
        )
        .await;
    assert_eq!(a.as_bytes(), jsonl(&rows_a).as_slice());
    let since = &rows_a[20].measured_at;
    let recent = c
        .text(
            &reader,
            &format!("/v1/rows?device=dev-a&space=ofa-mbv3&since={since}"),
        )
        .await;
    assert_eq!(recent.as_bytes(), jsonl(&rows_a[20..]).as_slice());
    // `since` alone, and with a backend: the later ofa rows and `good`.
    let mut later = rows_a[20..].to_vec();
    later.push(good.clone());
    for q in ["", "&backend=tract"] {
        let got = c.text(&reader, &format!("/v1/rows?since={since}{q}")).await;
        assert_eq!(got.as_bytes(), jsonl(&later).as_slice(), "{q}");
    }
    assert_eq!(
        c.text(&reader, "/v1/rows?backend=ort").await.as_bytes(),
        jsonl(&rows_b).as_slice()
    );
    assert_eq!(c.text(&reader, "/v1/rows?device=nobody").await, "");
    // CSV: the agent's own writer's bytes, read back by the table reader.
    let csv = c
        .text(&reader, "/v1/rows?device=dev-a&space=ofa-mbv3&format=csv")
        .await;
    assert_eq!(csv.as_bytes(), table::to_csv(&rows_a, true).as_slice());
    let back: Vec<LatencyRow> = table::parse(
        std::path::Path::new("collector.csv"),
        table::Format::Csv,
        &csv,
    )
    .unwrap();
    assert_eq!(back, rows_a);
    let empty_csv = c.text(&reader, "/v1/rows?device=nobody&format=csv").await;
    assert_eq!(
        empty_csv.trim_end(),
        table::csv_header(&LatencyRow::default())
    );
    for bad in ["/v1/rows?format=xml", "/v1/rows?since=last-week"] {
        assert_eq!(
            c.get(Some(&reader), bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    // Devices.
    let devices: Vec<DeviceView> = c
        .get(Some(&reader), "/v1/devices")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0].device_id, "dev-a");
    assert_eq!(devices[0].rows.get("tract"), Some(&26));
    assert_eq!(devices[1].rows.get("ort"), Some(&6));
    assert_eq!(
        devices[1].fingerprint.hostname.as_deref(),
        Some("board-dev-b")
    );
    assert!(devices[0].first_seen <= devices[0].last_seen);

    // Health and metrics.
    assert_eq!(c.text(&reader, "/healthz").await, "ok\n");
    let metrics = c.get(None, "/metrics").await.text().await.unwrap();
    for line in [
        "frontier_collector_rows_total{result=\"accepted\"} 32",
        "frontier_collector_rows_total{result=\"duplicate\"} 11",
        "frontier_collector_rows_total{result=\"rejected\"} 7",
        "frontier_collector_requests_total{route=\"/v1/rows\",status=\"401\"} 4",
        "frontier_agent_spool_pending_rows{device=\"dev-b\"} 42",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}:\n{metrics}"
        );
    }
    assert!(metrics.contains(
        "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"+Inf\"}"
    ));

    // Revoked tokens stop working at once.
    let id = &device[4..20];
    assert!(store.revoke_token(id).await.unwrap());
    assert_eq!(
        c.post(
            Some(&device),
            jsonl(&[row(300, "dev-a", "tract", None)]),
            &[]
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(!store.revoke_token(id).await.unwrap());

    // Replicas over one database: overlapping batches from many clients at
    // once; every row once, whoever got it first.
    let second = Server::start(url, limits).await;
    let device2 = auth::create(store, Role::Device, None).await.unwrap();
    let fleet: Vec<LatencyRow> = (0..200)
        .map(|i| row(1000 + i, "dev-c", "tract", None))
        .collect();
    let fleet = Arc::new(fleet);
    let mut tasks = Vec::new();
    for k in 0..8 {
        let base = if k % 2 == 0 {
            server.base.clone()
        } else {
            second.base.clone()
        };
        let (fleet, token) = (fleet.clone(), device2.clone());
        tasks.push(tokio::spawn(async move {
            let c = Client {
                http: reqwest::Client::new(),
                base,
            };
            let mut accepted = 0;
            // Each client sends overlapping windows of the fleet's rows.
            for start in (k * 10..200).step_by(40) {
                let end = (start + 60).min(200);
                accepted += c.ingest(&token, jsonl(&fleet[start..end])).await.accepted;
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    assert_eq!(
        accepted, 200,
        "each row accepted exactly once across replicas"
    );
    let c_rows = c.text(&reader, "/v1/rows?device=dev-c").await;
    let ids: std::collections::HashSet<_> = c_rows.lines().collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(c_rows.lines().count(), 200);
    second.stop().await;
    server.stop().await;
}

impl Client {
    async fn enrol(&self, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.post_json(token, "/v1/enrol", body).await
    }

    async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A board's next job: `Some(lease)` or `None` (204).
    async fn next(&self, credential: &str, wait_s: f64) -> Option<Lease> {
        let r = self
            .get(Some(credential), &format!("/v1/jobs/next?wait={wait_s}"))
            .await;
        match r.status() {
            StatusCode::OK => Some(r.json().await.unwrap()),
            StatusCode::NO_CONTENT => None,
            other => panic!("next job: {other}: {}", r.text().await.unwrap()),
        }
    }

    async fn renew(&self, credential: &str, lease: &Lease) -> reqwest::Response {
        self.post_json(
            credential,
            &format!("/v1/jobs/{}/renew", lease.job.id),
            serde_json::json!({"lease_token": lease.lease_token}),
        )
        .await
    }

    async fn complete(&self, credential: &str, lease: &Lease, rows: u64) -> reqwest::Response {
        self.post_json(
            credential,
            &format!("/v1/jobs/{}/complete", lease.job.id),
            serde_json::json!({"lease_token": lease.lease_token, "state": "done", "rows": rows}),
        )
        .await
    }
}

/// Boards: a device token enrols many boards, each gets a credential bound
/// to its device id; rows for an enrolled device come only with its own
/// credential; revoking it stops the board at its next request; one active
/// credential per board, even when enrolments race on two replicas.
async fn boards(url: &str) {
    let server = Server::start(url, Limits::default()).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, Some("lab"))
        .await
        .unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let operator = auth::create(store, Role::Operator, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let enrolment = |id: &str, name: &str| {
        serde_json::json!({
            "device_id": id,
            "name": name,
            "fingerprint": {"hostname": "pi-1", "cpu_arch": "aarch64"},
            "agent_version": "0.1.0",
            "runtimes": {"ort": "1.32.0"},
            "a_field_from_a_newer_agent": true,
        })
    };
    // Only a device token enrols.
    for token in [&reader, &operator] {
        let r = c.enrol(token, enrolment("pi-1", "shelf 1")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = c.enrol(&device, enrolment("pi-1", "shelf 1")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let pi1: EnrolResponse = r.json().await.unwrap();
    assert_eq!(pi1.device_id, "pi-1");
    assert_eq!(&pi1.credential[4..20], pi1.credential_id);
    let r = c.enrol(&device, enrolment("pi-2", "shelf 2")).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "one device token, many boards"
    );
    let pi2: EnrolResponse = r.json().await.unwrap();
    // Enrolled again while its credential is active: refused, naming it.
    let r = c.enrol(&device, enrolment("pi-1", "impostor")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let msg = r.text().await.unwrap();
    assert!(
        msg.contains(&pi1.credential_id) && msg.contains("token revoke"),
        "{msg}"
    );
    // Bad enrolments.
    for (body, status) in [
        (
            serde_json::json!({"name": "no id"}),
            StatusCode::BAD_REQUEST,
        ),
        (enrolment("", "x"), StatusCode::BAD_REQUEST),
        (enrolment("pi-3", "tab\there"), StatusCode::BAD_REQUEST),
        (enrolment(&"x".repeat(300), "long"), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(
            c.enrol(&device, body.clone()).await.status(),
            status,
            "{body}"
        );
    }

    // A board uploads its own rows; another board's rows are refused whole.
    let r = c
        .ingest(&pi1.credential, jsonl(&[row(1, "pi-1", "ort", None)]))
        .await;
    assert_eq!(r.accepted, 1);
    let mixed = jsonl(&[row(2, "pi-1", "ort", None), row(3, "pi-2", "ort", None)]);
    let r = c.post(Some(&pi1.credential), mixed, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let msg = r.text().await.unwrap();
    assert!(msg.contains("bound to device pi-1"), "{msg}");
    // The device token no longer uploads for an enrolled board, but still
    // does for boards that never enrolled.
    let r = c
        .post(Some(&device), jsonl(&[row(4, "pi-2", "ort", None)]), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains(&pi2.credential_id));
    let r = c
        .ingest(&device, jsonl(&[row(5, "legacy", "tract", None)]))
        .await;
    assert_eq!(r.accepted, 1);
    assert_eq!(store.row_count().await.unwrap(), 2);
    // A board's credential reads nothing.
    assert_eq!(
        c.get(Some(&pi1.credential), "/v1/rows").await.status(),
        StatusCode::FORBIDDEN
    );

    // The fleet as readers and operators see it.
    for token in [&reader, &operator] {
        let devices: Vec<DeviceView> = c
            .get(Some(token), "/v1/devices")
            .await
            .json()
            .await
            .unwrap();
        let d = devices.iter().find(|d| d.device_id == "pi-1").unwrap();
        assert_eq!(d.name.as_deref(), Some("shelf 1"));
        assert!(d.enrolled_at.is_some());
        assert_eq!(d.agent.as_ref().unwrap()["runtimes"]["ort"], "1.32.0");
        assert_eq!(d.fingerprint.cpu_arch.as_deref(), Some("aarch64"));
        let legacy = devices.iter().find(|d| d.device_id == "legacy").unwrap();
        assert!(legacy.enrolled_at.is_none());
    }

    // Revoked: the board stops at its next request, and may enrol again.
    assert!(store.revoke_token(&pi1.credential_id).await.unwrap());
    let r = c
        .post(
            Some(&pi1.credential),
            jsonl(&[row(6, "pi-1", "ort", None)]),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .enrol(&device, enrolment("pi-1", "shelf 1, reinstalled"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let again: EnrolResponse = r.json().await.unwrap();
    assert_ne!(again.credential_id, pi1.credential_id);
    assert_eq!(
        c.ingest(&again.credential, jsonl(&[row(6, "pi-1", "ort", None)]))
            .await
            .accepted,
        1
    );

    // Racing enrolments of one new board on two replicas: one credential.
    let second = Server::start(url, Limits::default()).await;
    let mut tasks = Vec::new();
    for k in 0..8 {
        let base = if k % 2 == 0 {
            server.base.clone()
        } else {
            second.base.clone()
        };
        let (token, body) = (device.clone(), enrolment("pi-9", "raced"));
        tasks.push(tokio::spawn(async move {
            let c = Client {
                http: reqwest::Client::new(),
                base,
            };
            c.enrol(&token, body).await.status()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("racing enrolment: {other}"),
        }
    }
    assert_eq!(created, 1, "exactly one enrolment of pi-9 won");
    let active: Vec<_> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.device_id.as_deref() == Some("pi-9") && t.revoked_at_us.is_none())
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].role, "board");
    second.stop().await;
    server.stop().await;
}

/// Jobs: checked when queued, leased to one board at a time, oldest first;
/// a lease that expires returns the job; a late completion by a lost lease
/// does not count; racing leases on two replicas never share a job.
async fn jobs(url: &str) {
    let limits = Limits {
        lease: Duration::from_secs(3),
        long_poll: Duration::from_secs(5),
        // Canaries queued by the collector itself are the trainer suite's.
        canary_every: None,
        ..Limits::default()
    };
    let server = Server::start(url, limits).await;
    let store = &server.store;
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let operator = auth::create(store, Role::Operator, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let mut boards = Vec::new();
    for id in ["pi-1", "pi-2"] {
        let r = c
            .enrol(
                &device,
                serde_json::json!({"device_id": id, "name": "shelf"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        boards.push(r.json::<EnrolResponse>().await.unwrap().credential);
    }
    let (pi1, pi2) = (boards[0].clone(), boards[1].clone());
    let job = |device: &str| serde_json::json!({"device": device, "kind": "profile", "space": "ofa-mbv3", "samples": 5});
    let with = |mut j: serde_json::Value, k: &str, v: serde_json::Value| {
        j[k] = v;
        j
    };

    // Bad jobs are refused with the field and the fix; nothing is queued.
    for (body, status, want) in [
        (
            with(job("pi-1"), "kind", "benchmark".into()),
            StatusCode::BAD_REQUEST,
            "kind benchmark",
        ),
        (
            with(job("pi-1"), "space", "resnet".into()),
            StatusCode::BAD_REQUEST,
            "space resnet",
        ),
        (
            with(
                with(job("pi-1"), "samples", serde_json::Value::Null),
                "archs",
                serde_json::json!([{"ks": [9]}]),
            ),
            StatusCode::BAD_REQUEST,
            "archs: [0] is not an architecture of ofa-mbv3",
        ),
        (
            job("nobody"),
            StatusCode::NOT_FOUND,
            "device nobody: unknown",
        ),
        (
            job("shelf"),
            StatusCode::BAD_REQUEST,
            "the name of 2 devices",
        ),
        (
            serde_json::json!({"device": 3}),
            StatusCode::BAD_REQUEST,
            "not a job",
        ),
    ] {
        let r = c.post_json(&operator, "/v1/jobs", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        let msg = r.text().await.unwrap();
        assert!(msg.contains(want) && msg.contains("fix"), "{want}: {msg}");
    }
    for token in [&reader, &device, &pi1] {
        let r = c.post_json(token, "/v1/jobs", job("pi-1")).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "only operators queue jobs"
        );
    }
    assert!(store.jobs(None, None, 10).await.unwrap().is_empty());

    // Queued for pi-1, oldest first; pi-2 has none.
    let a: Job = c
        .post_json(&operator, "/v1/jobs", job("pi-1"))
        .await
        .json()
        .await
        .unwrap();
    let canary = serde_json::json!({"device": "pi-1", "kind": "canary"});
    let b: Job = c
        .post_json(&operator, "/v1/jobs", canary)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (a.state, b.spec.space.as_str()),
        (JobState::Queued, "ofa-mbv3")
    );
    assert!(c.next(&pi2, 0.0).await.is_none());
    let r = c.get(Some(&pi2), "/v1/jobs/next?wait=soon").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("fix"));
    for token in [&reader, &operator, &device] {
        assert_eq!(
            c.get(Some(token), "/v1/jobs/next").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    // A long poll returns as soon as a job for it is queued.
    let waiting = {
        let (base, pi2) = (server.base.clone(), pi2.clone());
        tokio::spawn(async move {
            let c = Client {
                http: reqwest::Client::new(),
                base,
            };
            let t0 = std::time::Instant::now();
            (c.next(&pi2, 5.0).await, t0.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let for_pi2: Job = c
        .post_json(&operator, "/v1/jobs", job("pi-2"))
        .await
        .json()
        .await
        .unwrap();
    let (got, took) = waiting.await.unwrap();
    assert_eq!(got.map(|l| l.job.id), Some(for_pi2.id.clone()));
    assert!(
        took < Duration::from_secs(3),
        "long poll woke after {took:?}"
    );

    // pi-1 leases A; pi-2 may not touch it; renewals work.
    let first = c.next(&pi1, 0.0).await.unwrap();
    assert_eq!(
        (first.job.id.as_str(), first.job.attempts),
        (a.id.as_str(), 1)
    );
    let r = c.renew(&pi2, &first).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.renew(&pi1, &first).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The board dies: the lease expires and A is leased again (before B).
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let second = c.next(&pi1, 0.0).await.unwrap();
    assert_eq!(
        (second.job.id.as_str(), second.job.attempts),
        (a.id.as_str(), 2)
    );
    // The first lease completes late: refused, nothing counted twice.
    let r = c.complete(&pi1, &first, 5).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("no longer the job's"));
    let r = c.renew(&pi1, &first).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = c.complete(&pi1, &second, 5).await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Job = r.json().await.unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.outcome.as_ref().unwrap().rows, 5);
    // The same completion again (a retried request): the same answer.
    let again: Job = c.complete(&pi1, &second, 5).await.json().await.unwrap();
    assert_eq!(again, done);
    // B's lease expires with no one taking it: its completion, late, counts.
    let lease_b = c.next(&pi1, 0.0).await.unwrap();
    assert_eq!(lease_b.job.id, b.id);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(c.complete(&pi1, &lease_b, 8).await.status(), StatusCode::OK);
    assert!(c.next(&pi1, 0.0).await.is_none());
    let r = c
        .post_json(
            &pi1,
            &format!("/v1/jobs/{}/complete", b.id),
            serde_json::json!({"lease_token": "x", "state": "queued"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Readers see the queue.
    let listed: Vec<Job> = c
        .get(Some(&reader), "/v1/jobs?device=pi-1")
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<(String, JobState, u32)> = listed
        .iter()
        .map(|j| (j.id.clone(), j.state, j.attempts))
        .collect();
    assert_eq!(
        states,
        vec![
            (b.id.clone(), JobState::Done, 1),
            (a.id.clone(), JobState::Done, 2)
        ]
    );
    for bad in [
        "/v1/jobs?state=lost",
        "/v1/jobs?limit=0",
        "/v1/jobs?limit=many",
        "/v1/jobs?device=nobody",
    ] {
        assert!(
            c.get(Some(&reader), bad).await.status().is_client_error(),
            "{bad}"
        );
    }
    server.stop().await;

    // Racing leases on two replicas: each job leased once.
    let long = Limits {
        lease: Duration::from_secs(600),
        canary_every: None,
        ..Limits::default()
    };
    let one = Server::start(url, long.clone()).await;
    let two = Server::start(url, long).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: one.base.clone(),
    };
    // pi-2's first job, whose lease ran out long ago, is back in the queue.
    let mut queued = std::collections::HashSet::from([for_pi2.id.clone()]);
    for _ in 0..10 {
        let j: Job = c
            .post_json(&operator, "/v1/jobs", job("pi-2"))
            .await
            .json()
            .await
            .unwrap();
        queued.insert(j.id);
    }
    let mut tasks = Vec::new();
    for k in 0..24 {
        let base = if k % 2 == 0 {
            one.base.clone()
        } else {
            two.base.clone()
        };
        let pi2 = pi2.clone();
        tasks.push(tokio::spawn(async move {
            let c = Client {
                http: reqwest::Client::new(),
                base,
            };
            c.next(&pi2, 0.0).await.map(|l| l.job.id)
        }));
    }
    let mut leased = Vec::new();
    for t in tasks {
        leased.extend(t.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = leased.iter().cloned().collect();
    assert_eq!(leased.len(), unique.len(), "a job leased twice: {leased:?}");
    assert_eq!(unique, queued, "every queued job leased once");
    one.stop().await;
    two.stop().await;
}

/// Readers go on from the `x-frontier-cursor` of their last read and get
/// only what was committed since.
async fn cursors(url: &str) -> (Server, Client, String, String) {
    let limits = Limits {
        page_rows: 3,
        ..Limits::default()
    };
    let server = Server::start(url, limits).await;
    let device = auth::create(&server.store, Role::Device, None)
        .await
        .unwrap();
    let reader = auth::create(&server.store, Role::Reader, None)
        .await
        .unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let rows: Vec<LatencyRow> = (0..8).map(|i| row(i, "dev-x", "tract", None)).collect();
    c.ingest(&device, jsonl(&rows[..5])).await;
    let read = |after: Option<String>| {
        let c = &c;
        let reader = reader.clone();
        async move {
            let path = match after {
                Some(a) => format!("/v1/rows?after={a}"),
                None => "/v1/rows".into(),
            };
            let r = c.get(Some(&reader), &path).await;
            assert_eq!(r.status(), StatusCode::OK);
            let cursor = r.headers()[CURSOR_HEADER].to_str().unwrap().to_string();
            (r.text().await.unwrap(), cursor)
        }
    };
    let (first, cursor) = read(None).await;
    assert_eq!(first.as_bytes(), jsonl(&rows[..5]).as_slice());
    c.ingest(&device, jsonl(&rows[5..])).await;
    let (next, cursor2) = read(Some(cursor.clone())).await;
    assert_eq!(
        next.as_bytes(),
        jsonl(&rows[5..]).as_slice(),
        "only what came since"
    );
    // Nothing new: nothing read, and the cursor never goes back (on
    // PostgreSQL it follows the server's transactions, any database's).
    let (none, cursor3) = read(Some(cursor2.clone())).await;
    assert_eq!(none, "");
    assert!(cursor3.parse::<i64>().unwrap() >= cursor2.parse::<i64>().unwrap());
    for bad in ["/v1/rows?after=-1", "/v1/rows?after=soon"] {
        assert_eq!(
            c.get(Some(&reader), bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    (server, c, device, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursors_on_sqlite() {
    let dir = scratch("sqlite-cursors");
    let (server, ..) = cursors(&format!("sqlite://{}", dir.join("collector.db").display())).await;
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On PostgreSQL a batch that took its `seq` first may commit last: a
/// reader paging by `seq` would have gone past it. Reading in commit order
/// below the oldest running transaction holds later rows back until it
/// commits, so nothing is missed and nothing read twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_is_not_missed_on_postgres() {
    use sqlx::Connection;
    let (url, db) = fresh_postgres("late").await;
    let (server, c, device, reader) = cursors(&url).await;
    // A reader polling with its cursor; what it has read, in order. The
    // horizon is the server's (other databases' transactions count too),
    // so rows may come a read later than they were committed, never twice.
    let read = |after: String| {
        let (c, reader) = (&c, reader.clone());
        async move {
            let r = c
                .get(Some(&reader), &format!("/v1/rows?after={after}"))
                .await;
            let cursor = r.headers()[CURSOR_HEADER].to_str().unwrap().to_string();
            (r.text().await.unwrap(), cursor)
        }
    };
    // A transaction left open in another database of the server holds
    // nothing back here.
    let mut elsewhere =
        sqlx::PgConnection::connect(&std::env::var("FRONTIER_TEST_POSTGRES").unwrap())
            .await
            .unwrap();
    let mut other_tx = elsewhere.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *other_tx)
        .await
        .unwrap();
    let early: Vec<LatencyRow> = (0..2)
        .map(|i| row(300 + i, "dev-early", "tract", None))
        .collect();
    c.ingest(&device, jsonl(&early)).await;
    let (first, mut cursor) = read("0".into()).await;
    assert!(
        first.contains("dev-early"),
        "committed rows are readable while another database's transaction is open"
    );
    other_tx.rollback().await.unwrap();
    let mut seen: Vec<String> = first.lines().map(String::from).collect();
    // A slow batch: its transaction begins (and takes its seq) first...
    let late = row(100, "dev-late", "tract", None);
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO rows (row_id, device_id, backend, received_at_us, row_json) VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(late.row_id.clone().unwrap())
    .bind("dev-late")
    .bind("tract")
    .bind(serde_json::to_string(&late).unwrap())
    .execute(&mut *tx)
    .await
    .unwrap();
    // ...a quick one commits meanwhile...
    let fast: Vec<LatencyRow> = (0..3)
        .map(|i| row(200 + i, "dev-fast", "tract", None))
        .collect();
    c.ingest(&device, jsonl(&fast)).await;
    // ...and is held back while the slow one is open.
    let (during, next) = read(cursor.clone()).await;
    assert!(
        !during.contains("dev-fast") && !during.contains("dev-late"),
        "rows after an open transaction wait for it: {during}"
    );
    seen.extend(during.lines().map(String::from));
    cursor = next;
    tx.commit().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|l| l.contains("dev-fast")) {
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        let (more, next) = read(cursor.clone()).await;
        seen.extend(more.lines().map(String::from));
        cursor = next;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every row once, the late batch before the one that committed after it.
    let ids: Vec<String> = seen
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["row_id"].as_str().unwrap().to_string()
        })
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a row read twice");
    assert_eq!(ids.len(), 8 + 2 + 1 + 3, "every row read");
    let pos = |id: &str| ids.iter().position(|x| x == id).unwrap();
    assert!(pos(late.row_id.as_deref().unwrap()) < pos(fast[0].row_id.as_deref().unwrap()));
    drop(conn);
    server.stop().await;
    drop_postgres(&db).await;
}

// Each suite against a fresh SQLite file and a fresh PostgreSQL database.
on_both_databases!(suite, boards, jobs);

#[tokio::test]
async fn unknown_database_urls_name_the_fix() {
    let e = Store::open("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("fix: use postgres://"), "{e}");
}

use frontier_testkit::scratch;
