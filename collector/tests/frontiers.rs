//! Frontiers through the API, on SQLite and on PostgreSQL: blobs (hash
//! checked, ranged reads across chunks), publication and its refusals,
//! assignment by a board's own key or a board like it, long polls,
//! staged rollout (promoted on good field rows, rolled back on bad ones,
//! the other boards never told), decisions by hand (a rollback while the
//! canary downloads), concurrent publications, field rows stored once,
//! and predicted against lab against field latency.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{arch, drop_postgres, field_row, fresh_postgres, manifest, row, Client, Server};
use frontier_collector::api::{EnrolResponse, FrontierView, IngestReport, LatencyView, Published};
use frontier_collector::auth::{self, Role};
use frontier_collector::rollout::RolloutConfig;
use frontier_collector::{Limits, ServeConfig};
use frontier_table::frontier::{Manifest, SupernetRef};
use frontier_table::rollout::{Assignment, FieldRow, RolloutPolicy};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

fn scratch(name: &str) -> std::path::PathBuf {
    frontier_testkit::scratch(name)
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

struct Fleet {
    c: Client,
    operator: String,
    reader: String,
    boards: BTreeMap<String, String>,
}

impl Fleet {
    async fn req(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut r = self
            .c
            .http
            .request(method, format!("{}{path}", self.c.base))
            .bearer_auth(token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        r.send().await.unwrap()
    }

    async fn put_blob(&self, token: &str, sha: &str, data: &[u8]) -> StatusCode {
        self.req(
            reqwest::Method::PUT,
            token,
            &format!("/v1/blobs/{sha}"),
            Some(data.to_vec()),
            &[],
        )
        .await
        .status()
    }

    async fn publish(
        &self,
        name: &str,
        m: &Manifest,
        blobs: &BTreeMap<String, String>,
        policy: Option<RolloutPolicy>,
    ) -> reqwest::Response {
        let body = serde_json::json!({"manifest": m, "blobs": blobs, "rollout": policy});
        self.req(
            reqwest::Method::POST,
            &self.operator,
            &format!("/v1/frontiers/{name}"),
            Some(body.to_string().into_bytes()),
            &[("content-type", "application/json")],
        )
        .await
    }

    async fn assignment(&self, board: &str, name: &str) -> (StatusCode, String) {
        let r = self
            .req(
                reqwest::Method::GET,
                &self.boards[board],
                &format!("/v1/frontiers/{name}/assignment?backend=tract"),
                None,
                &[],
            )
            .await;
        (r.status(), r.text().await.unwrap())
    }

    async fn assigned(&self, board: &str, name: &str) -> Assignment {
        let (s, t) = self.assignment(board, name).await;
        assert_eq!(s, StatusCode::OK, "{board}: {t}");
        serde_json::from_str(&t).unwrap()
    }

    async fn report(&self, board: &str, name: &str, body: serde_json::Value) {
        let r = self
            .req(
                reqwest::Method::POST,
                &self.boards[board],
                &format!("/v1/frontiers/{name}/status"),
                Some(body.to_string().into_bytes()),
                &[("content-type", "application/json")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    async fn field(&self, board: &str, rows: &[FieldRow]) -> IngestReport {
        let body: String = rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        let r = self
            .req(
                reqwest::Method::POST,
                &self.boards[board],
                "/v1/field",
                Some(body.into_bytes()),
                &[("content-type", "application/x-ndjson")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn view(&self, name: &str) -> FrontierView {
        let r = self
            .req(
                reqwest::Method::GET,
                &self.reader,
                &format!("/v1/frontiers/{name}"),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Wait (bounded) until version `v` of `name` is in `state`.
    async fn wait_state(&self, name: &str, v: u32, state: &str) -> FrontierView {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let view = self.view(name).await;
            if view
                .versions
                .iter()
                .any(|x| x.version == v && x.state == state)
            {
                return view;
            }
            assert!(
                Instant::now() < until,
                "version {v} never became {state}: {:#?}",
                view.versions
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn frontiers(url: &str) {
    let config = ServeConfig {
        limits: Limits {
            long_poll: Duration::from_secs(10),
            ..Limits::default()
        },
        trainer: None,
        rollout: RolloutConfig {
            check_every: Duration::from_millis(150),
            ..Default::default()
        },
    };
    let server = Server::start_with(url, config).await;
    let store = &server.store;
    let operator = auth::create(store, Role::Operator, None).await.unwrap();
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let c = Client {
        http: reqwest::Client::builder().no_gzip().build().unwrap(),
        base: server.base.clone(),
    };
    // Boards b0..b3 share a CPU; b4 has another.
    let mut boards = BTreeMap::new();
    for i in 0..5 {
        let id = format!("b{i}");
        let cpu = if i < 4 { "Cortex-A53" } else { "Cortex-A72" };
        let body = serde_json::json!({
            "device_id": id, "name": format!("board-{i}"),
            "fingerprint": {"cpu_model": cpu, "cpu_arch": "aarch64", "logical_cores": 4},
        });
        let r = c
            .http
            .post(format!("{}/v1/enrol", c.base))
            .bearer_auth(&device)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let e: EnrolResponse = r.json().await.unwrap();
        boards.insert(id, e.credential);
    }
    let f = Fleet {
        c,
        operator,
        reader,
        boards,
    };

    // Blobs: the hash decides; only operators upload; ranges cross chunks.
    let big: Vec<u8> = (0..(2 * frontier_collector::store::CHUNK_BYTES + 12345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let m0 = b"model zero".to_vec();
    let m1 = b"model one, a little longer".to_vec();
    assert_eq!(
        f.put_blob(&f.operator, &sha(&m1), &m0).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        f.put_blob(&f.reader, &sha(&m0), &m0).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.put_blob(&f.operator, "ABC", &m0).await,
        StatusCode::BAD_REQUEST
    );
    for b in [&m0, &m1, &big] {
        assert_eq!(
            f.put_blob(&f.operator, &sha(b), b).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        f.put_blob(&f.operator, &sha(&m0), &m0).await,
        StatusCode::OK
    );
    let path = format!("/v1/blobs/{}", sha(&big));
    let r = f
        .req(reqwest::Method::GET, &f.boards["b0"], &path, None, &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), big);
    let from = frontier_collector::store::CHUNK_BYTES as u64 - 10;
    let h = format!("bytes={from}-");
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b0"],
            &path,
            None,
            &[("range", &h)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes {from}-{}/{}", big.len() - 1, big.len())
    );
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        big[from as usize..].to_vec()
    );
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b0"],
            &path,
            None,
            &[("range", "bytes=5-9")],
        )
        .await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), big[5..10].to_vec());
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b0"],
            &path,
            None,
            &[("range", "bytes=99999999-")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b0"],
            &format!("/v1/blobs/{}", sha(b"absent")),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Publications that are refused, each naming what is wrong.
    let keys = ["b0/tract/t1", "b1/tract/t1", "b2/tract/t1"];
    let man = manifest(&keys, "ofa-mbv3", 160);
    let blobs: BTreeMap<String, String> = [
        ("models/m0.onnx".to_string(), sha(&m0)),
        ("models/m1.onnx".to_string(), sha(&m1)),
    ]
    .into();
    let mut missing = blobs.clone();
    missing.insert("models/m1.onnx".into(), sha(b"never uploaded"));
    let r = f.publish("cams", &man, &missing, None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("models/m1.onnx: blob"));
    let mut only_one = blobs.clone();
    only_one.remove("models/m1.onnx");
    let r = f.publish("cams", &man, &only_one, None).await;
    assert!(r.text().await.unwrap().contains("model m1: no blob"));
    let mut weighted = man.clone();
    weighted.supernet = Some(SupernetRef {
        file: "supernet.safetensors".into(),
        sha256: sha(b"the real supernet"),
        config: "w1.0".into(),
    });
    let sn: BTreeMap<String, String> = [("supernet.safetensors".to_string(), sha(&big))].into();
    let r = f.publish("cams", &weighted, &sn, None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("supernet"));
    // A search made with --weights: the supernet is the one blob, shared
    // by its versions; a board is told to fetch only it.
    let mut weighted = man.clone();
    weighted.supernet = Some(SupernetRef {
        file: "ofa_mbv3_w1.0.safetensors".into(),
        sha256: sha(&big),
        config: "w1.0".into(),
    });
    let sn: BTreeMap<String, String> =
        [("ofa_mbv3_w1.0.safetensors".to_string(), sha(&big))].into();
    for _ in 0..2 {
        let r = f.publish("weighted", &weighted, &sn, None).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let a = f.assigned("b0", "weighted").await;
    assert_eq!(a.blobs.len(), 1);
    assert_eq!(
        (
            a.blobs[0].file.as_str(),
            a.blobs[0].sha256.clone(),
            a.blobs[0].size
        ),
        ("ofa_mbv3_w1.0.safetensors", sha(&big), big.len() as u64)
    );
    let r = f.publish("bad%20name", &man, &blobs, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = f
        .publish(
            "cams",
            &man,
            &blobs,
            Some(RolloutPolicy {
                canary_percent: 0.0,
                ..Default::default()
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = f
        .req(
            reqwest::Method::POST,
            &f.reader,
            "/v1/frontiers/cams",
            Some(
                serde_json::json!({"manifest": man, "blobs": blobs})
                    .to_string()
                    .into_bytes(),
            ),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Before any version: a board is told there is none.
    let (s, t) = f.assignment("b0", "cams").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{t}");

    // Version 1: nothing to stage against, promoted.
    let r = f.publish("cams", &man, &blobs, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Published = r.json().await.unwrap();
    assert_eq!((p.version, p.state.as_str()), (1, "promoted"));
    // Another space or input under the same name is refused.
    let r = f
        .publish("cams", &manifest(&keys, "gpt2", 160), &blobs, None)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let mut other_input = man.clone();
    other_input.input.name = "pixels".into();
    let r = f.publish("cams", &other_input, &blobs, None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("another name"));

    // Each board's key: its own, a board with its CPU, or a refusal.
    let a0 = f.assigned("b0", "cams").await;
    assert_eq!(
        (a0.version, a0.device_key.as_str(), a0.stage.as_str()),
        (1, "b0/tract/t1", "all")
    );
    assert_eq!(a0.blobs.len(), 2);
    assert_eq!(
        a0.blobs.iter().map(|b| b.size).sum::<u64>(),
        (m0.len() + m1.len()) as u64
    );
    let a3 = f.assigned("b3", "cams").await;
    assert!(keys.contains(&a3.device_key.as_str()));
    assert!(a3.key_note.as_deref().unwrap().contains("Cortex-A53"));
    let (s, t) = f.assignment("b4", "cams").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(t.contains("Cortex-A72") && t.contains("fix:"), "{t}");
    for b in ["b0", "b1", "b2", "b3"] {
        f.assigned(b, "cams").await;
        f.report(b, "cams", serde_json::json!({"serving": 1})).await;
    }

    // A long poll on the current ETag: 304 after the wait.
    let t0 = Instant::now();
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b0"],
            "/v1/frontiers/cams/assignment?backend=tract&wait=1",
            None,
            &[("if-none-match", &a0.etag())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(t0.elapsed() >= Duration::from_millis(900));

    // Version 2, canary on b1 (by name): b1's held poll wakes with it; b0 keeps 1.
    let policy = RolloutPolicy {
        canary_boards: vec!["board-1".into()],
        hold_s: 0.5,
        min_requests: 50,
        ..Default::default()
    };
    let a1 = f.assigned("b1", "cams").await;
    let poll = {
        let (http, base, tok, etag) = (
            f.c.http.clone(),
            f.c.base.clone(),
            f.boards["b1"].clone(),
            a1.etag(),
        );
        tokio::spawn(async move {
            let t = Instant::now();
            let r = http
                .get(format!(
                    "{base}/v1/frontiers/cams/assignment?backend=tract&wait=8"
                ))
                .bearer_auth(tok)
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            (r.status(), t.elapsed(), r.json::<Assignment>().await.ok())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = f.publish("cams", &man, &blobs, Some(policy.clone())).await;
    let p: Published = r.json().await.unwrap();
    assert_eq!((p.version, p.state.as_str()), (2, "canary"));
    assert_eq!(p.canary, vec!["b1"]);
    let (status, waited, got) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(got.unwrap().version, 2);
    assert_eq!(f.assigned("b1", "cams").await.stage, "canary");
    assert_eq!(f.assigned("b0", "cams").await.version, 1);
    // b1 serves it inside the bound (m0 p90 10.5 ms against 11 ms + 25%).
    f.report("b1", "cams", serde_json::json!({"serving": 2}))
        .await;
    let rows: Vec<FieldRow> = (0..2)
        .map(|k| field_row("b1", "cams", 2, "m0", k, 10.5))
        .collect();
    let rep = f.field("b1", &rows).await;
    assert_eq!((rep.accepted, rep.duplicate), (2, 0));
    // Exactly once: the same rows again are duplicates.
    let rep = f.field("b1", &rows).await;
    assert_eq!((rep.accepted, rep.duplicate), (0, 2));
    // Rows for another board, or whose id is not their content's, are refused.
    let mut forged = field_row("b0", "cams", 2, "m0", 9, 1.0);
    let rep = f.field("b1", std::slice::from_ref(&forged)).await;
    assert_eq!(rep.rejected, 1);
    forged.device_id = "b1".into();
    let rep = f.field("b1", &[forged]).await;
    assert!(rep.errors[0].reason.contains("row_id"));
    let view = f.wait_state("cams", 2, "promoted").await;
    assert_eq!(view.current, Some(2));
    let d = view
        .decisions
        .iter()
        .find(|d| d.version == 2 && d.action == "promoted")
        .unwrap();
    assert_eq!(d.decided_by, "collector");
    assert_eq!(d.evidence["boards"][0]["models"][0]["field_p90_ms"], 10.5);
    assert_eq!(f.assigned("b0", "cams").await.version, 2);
    for b in ["b0", "b2", "b3"] {
        f.report(b, "cams", serde_json::json!({"serving": 2})).await;
    }

    // Version 3, canary on b2, slower in the field than predicted: rolled
    // back, and b0 never sees it.
    let policy3 = RolloutPolicy {
        canary_boards: vec!["b2".into()],
        hold_s: 60.0,
        ..policy.clone()
    };
    let p: Published = f
        .publish("cams", &man, &blobs, Some(policy3))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p.version, 3);
    assert_eq!(f.assigned("b2", "cams").await.version, 3);
    assert_eq!(f.assigned("b0", "cams").await.version, 2);
    f.report("b2", "cams", serde_json::json!({"serving": 3}))
        .await;
    let slow: Vec<FieldRow> = (0..2)
        .map(|k| field_row("b2", "cams", 3, "m1", k, 40.0))
        .collect();
    f.field("b2", &slow).await;
    let view = f.wait_state("cams", 3, "rolled_back").await;
    let d = view
        .decisions
        .iter()
        .find(|d| d.version == 3 && d.action == "rolled_back")
        .unwrap();
    let reason = d.evidence["reason"].as_str().unwrap();
    assert!(
        reason.contains("m1") && reason.contains("b2") && reason.contains("40.00"),
        "{reason}"
    );
    assert_eq!(f.assigned("b2", "cams").await.version, 2);
    assert_eq!(f.assigned("b0", "cams").await.version, 2);

    // A canary board that cannot load the version rolls it back too.
    let policy4 = RolloutPolicy {
        canary_boards: vec!["b3".into()],
        hold_s: 60.0,
        ..policy.clone()
    };
    let p: Published = f
        .publish("cams", &man, &blobs, Some(policy4.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p.version, 4);
    f.report(
        "b3",
        "cams",
        serde_json::json!({"serving": 2, "failed": {"version": 4, "error": "no space left on device"}}),
    )
    .await;
    let view = f.wait_state("cams", 4, "rolled_back").await;
    assert!(view.decisions.iter().any(|d| d.version == 4
        && d.evidence["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no space left"))));

    // By hand: a rollback while the canary is still downloading; then a
    // promotion of it; a reader may do neither.
    let p: Published = f
        .publish("cams", &man, &blobs, Some(policy4))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p.version, 5);
    assert_eq!(f.assigned("b3", "cams").await.version, 5);
    f.report(
        "b3",
        "cams",
        serde_json::json!({"serving": 2, "downloading": 5}),
    )
    .await;
    let r = f
        .req(
            reqwest::Method::POST,
            &f.reader,
            "/v1/frontiers/cams/rollback",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A body that is not a decision decides nothing (not the default).
    let r = f
        .req(
            reqwest::Method::POST,
            &f.operator,
            "/v1/frontiers/cams/rollback",
            Some(br#"{"version": "five"}"#.to_vec()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("nothing was decided"));
    assert_eq!(f.assigned("b3", "cams").await.version, 5);
    let r = f
        .req(
            reqwest::Method::POST,
            &f.operator,
            "/v1/frontiers/cams/rollback",
            Some(br#"{"reason": "wrong labels"}"#.to_vec()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    assert_eq!(f.assigned("b3", "cams").await.version, 2);
    let r = f
        .req(
            reqwest::Method::POST,
            &f.operator,
            "/v1/frontiers/cams/promote",
            Some(br#"{"version": 5}"#.to_vec()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for b in ["b0", "b1", "b2", "b3"] {
        assert_eq!(f.assigned(b, "cams").await.version, 5, "{b}");
    }
    let r = f
        .req(
            reqwest::Method::POST,
            &f.operator,
            "/v1/frontiers/cams/promote",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Rolling back the current version returns every board to the one before.
    let r = f
        .req(
            reqwest::Method::POST,
            &f.operator,
            "/v1/frontiers/cams/rollback",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(f.assigned("b0", "cams").await.version, 2);

    // Two operators at once: two versions, the older canary superseded.
    let (ra, rb) = tokio::join!(
        f.publish("cams", &man, &blobs, Some(policy.clone())),
        f.publish("cams", &man, &blobs, Some(policy.clone()))
    );
    let (pa, pb): (Published, Published) = (ra.json().await.unwrap(), rb.json().await.unwrap());
    let mut vs = vec![pa.version, pb.version];
    vs.sort();
    assert_eq!(vs, vec![6, 7]);
    let view = f.view("cams").await;
    assert_eq!(
        view.versions.iter().find(|v| v.version == 6).unwrap().state,
        "superseded"
    );
    assert_eq!(
        view.versions.iter().find(|v| v.version == 7).unwrap().state,
        "canary"
    );
    assert_eq!(f.assigned("b1", "cams").await.version, 7);

    // A search that chose another largest resolution: served with the
    // name's input (boards resize), and said so.
    let r = f
        .publish(
            "cams",
            &manifest(&keys, "ofa-mbv3", 224),
            &blobs,
            Some(policy.clone()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Published = r.json().await.unwrap();
    assert!(p.notes[0].contains("[1, 3, 224, 224]"), "{:?}", p.notes);
    assert_eq!(
        f.assigned("b1", "cams").await.manifest.input.shape,
        vec![1, 3, 160, 160]
    );

    // Predicted, lab (a latency row of the model's architecture) and field.
    let mut lab = row(0, "b1", "tract", Some("ofa-mbv3"));
    let arch_json =
        frontier_spaces::Arch::parse(frontier_spaces::Space::OfaMbv3, &arch(128).to_string())
            .unwrap()
            .row_json();
    lab.arch = Some(arch_json);
    lab.median_ms_corrected = 10.2;
    lab.row_id = None;
    frontier_table::ensure_row_id(&mut lab);
    let rep =
        f.c.ingest(&f.boards["b1"], frontier_table::to_jsonl(&[lab]))
            .await;
    assert_eq!(rep.accepted, 1, "{rep:?}");
    let r = f
        .req(
            reqwest::Method::GET,
            &f.reader,
            "/v1/frontiers/cams/latency?version=2&device=b1",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let l: LatencyView = r.json().await.unwrap();
    let b1 = &l.boards[0];
    let m0 = b1.models.iter().find(|m| m.model == "m0").unwrap();
    assert_eq!(m0.predicted.as_ref().unwrap()["ms"], 10.0);
    assert_eq!(m0.lab.as_ref().unwrap()["median_ms"], 10.2);
    assert_eq!(m0.lab.as_ref().unwrap()["source"], "row");
    let field = m0.field.as_ref().unwrap();
    assert_eq!(
        (field.windows, field.requests, field.p90_ms),
        (2, 60, Some(10.5))
    );
    let r = f
        .req(
            reqwest::Method::GET,
            &f.boards["b1"],
            "/v1/frontiers/cams/latency",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = f
        .req(
            reqwest::Method::GET,
            &f.reader,
            "/v1/frontiers/cams/latency?version=x",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(store.field_row_count().await.unwrap(), 4);
    server.stop().await;
}

on_both_databases!(frontiers);
