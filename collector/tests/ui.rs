//! The web view over HTTP, on SQLite and on PostgreSQL: signing in (a
//! token pasted with spaces; device tokens and unknown ones refused; the
//! token never echoed), the cookie's flags, forged, expired and revoked
//! sessions, every page rendered from a seeded fleet with a board name
//! full of HTML (escaped everywhere), filters with impossible values,
//! paging through a long table and downloading it, and actions: refused
//! without the CSRF token, with another session's, from another site and
//! for a reader; done for an operator. (The same pages in a real browser:
//! `tests/tests/ui_browser.rs`.)

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{drop_postgres, field_row, fresh_postgres, jsonl, manifest, row, Server};
use frontier_collector::auth::{self, Role};
use frontier_collector::{Limits, ServeConfig};
use reqwest::{header, StatusCode};
use sha2::{Digest, Sha256};

fn scratch(name: &str) -> std::path::PathBuf {
    frontier_testkit::scratch(name)
}

const EVIL: &str = "<img src=x onerror=alert(1)>\"shelf\"&'1'";

struct Ui {
    http: reqwest::Client,
    base: String,
}

impl Ui {
    async fn get(&self, cookie: Option<&str>, path: &str) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, format!("frontier_ui={c}"));
        }
        r.send().await.unwrap()
    }

    async fn page(&self, cookie: &str, path: &str) -> String {
        let r = self.get(Some(cookie), path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        r.text().await.unwrap()
    }

    async fn post(
        &self,
        cookie: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, format!("frontier_ui={c}"));
        }
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.send().await.unwrap()
    }

    /// Sign in: the session cookie's value.
    async fn login(&self, token: &str) -> String {
        let r = self
            .post(None, "/ui/login", &[("token", token)], None)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/ui");
        let c = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=28800"] {
            assert!(c.contains(flag), "{c}");
        }
        c.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string()
    }
}

/// Rows in the board page's row table.
fn table_rows(page: &str) -> usize {
    let t = &page[page.find("id=\"rowtable\"").expect("the row table")..];
    t[..t.find("</table>").unwrap()].matches("<tr><td>").count()
}

fn csrf_of(page: &str) -> String {
    let i = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[i..i + 64].to_string()
}

async fn ui(url: &str) {
    let server = Server::start_with(
        url,
        ServeConfig {
            limits: Limits::default(),
            ..Default::default()
        },
    )
    .await;
    let store = &server.store;
    let reader = auth::create(store, Role::Reader, None).await.unwrap();
    let operator = auth::create(store, Role::Operator, None).await.unwrap();
    let device = auth::create(store, Role::Device, None).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let u = Ui {
        http: http.clone(),
        base: server.base.clone(),
    };
    // Seed: three boards (one named with HTML), heartbeats, 120 rows of one
    // board over two thread counts, a frontier with field rows, a job.
    let mut creds = BTreeMap::new();
    for (id, name) in [("dev-a", EVIL), ("dev-b", "shelf-2"), ("dev-c", "shelf-3")] {
        let r = http
            .post(format!("{}/v1/enrol", server.base))
            .bearer_auth(&device)
            .json(&serde_json::json!({"device_id": id, "name": name,
                "fingerprint": {"cpu_model": "Cortex-A72 <b>", "cpu_arch": "aarch64", "logical_cores": 4},
                "runtimes": {"tract": "0.21.13"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let e: serde_json::Value = r.json().await.unwrap();
        creds.insert(id, e["credential"].as_str().unwrap().to_string());
    }
    for (id, idle) in [("dev-a", true), ("dev-b", false)] {
        let r = http
            .post(format!("{}/v1/heartbeat", server.base))
            .bearer_auth(&creds[id])
            .json(&serde_json::json!({"started_at_us": 1, "idle": idle, "busy_reason": "others use 80% <i>", "spool_pending": 3}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
    let mut rows = Vec::new();
    for i in 0..120 {
        let mut r = row(i, "dev-a", "tract", Some("ofa-mbv3"));
        r.threads = if i % 4 == 0 { 2 } else { 1 };
        r.row_id = None;
        frontier_table::ensure_row_id(&mut r);
        rows.push(r);
    }
    let r = http
        .post(format!("{}/v1/rows", server.base))
        .bearer_auth(&creds["dev-a"])
        .header("content-type", "application/x-ndjson")
        .body(jsonl(&rows))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let blob = b"model".to_vec();
    let sha = format!("{:x}", Sha256::digest(&blob));
    let r = http
        .put(format!("{}/v1/blobs/{sha}", server.base))
        .bearer_auth(&operator)
        .body(blob)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let m = manifest(&["dev-a/tract/t1"], "ofa-mbv3", 160);
    let blobs: BTreeMap<String, String> = m
        .models
        .iter()
        .map(|x| (x.file.clone(), sha.clone()))
        .collect();
    for _ in 0..2 {
        let r = http
            .post(format!("{}/v1/frontiers/cams", server.base))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"manifest": m, "blobs": blobs}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    for b in ["dev-a", "dev-b"] {
        let r = http
            .post(format!("{}/v1/frontiers/cams/status", server.base))
            .bearer_auth(&creds[b])
            .json(&serde_json::json!({"serving": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let mut field: Vec<_> = (0..5)
        .map(|k| field_row("dev-a", "cams", 2, "m0", k, 10.0 + k as f64))
        .collect();
    field[2].switches_in = 3;
    field[2].row_id = Some(frontier_table::rollout::field_row_id(&{
        let mut x = field[2].clone();
        x.row_id = None;
        x
    }));
    let body: String = field
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    let r = http
        .post(format!("{}/v1/field", server.base))
        .bearer_auth(&creds["dev-a"])
        .body(body)
        .send()
        .await
        .unwrap();
    let rep: serde_json::Value = r.json().await.unwrap();
    assert_eq!(rep["accepted"], 5, "{rep}");

    // Without a session: the sign-in page.
    let r = u.get(None, "/ui").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/ui/login");
    let r = u.get(None, "/ui/login").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"token\""));
    // Refusals, none of which echoes the token.
    let r = u.post(None, "/ui/login", &[("token", &device)], None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.text().await.unwrap().contains(&device));
    let r = u
        .post(
            None,
            "/ui/login",
            &[("token", "frt_0000000000000000_00")],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A reader's token pasted with spaces and a line break.
    let padded = format!("  {reader}\n ");
    let rs = u.login(&padded).await;
    // Behind a TLS proxy the cookie is Secure too.
    let r = http
        .post(format!("{}/ui/login", server.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", reader.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
    let os = u.login(&operator).await;

    // The fleet: every value escaped.
    let fleet = u.page(&rs, "/ui").await;
    assert!(!fleet.contains("<img src=x"), "unescaped board name");
    assert!(fleet.contains("&#60;img src=x onerror=alert(1)&#62;&#34;shelf&#34;&#38;&#39;1&#39;"));
    assert!(
        !fleet.contains("A72 <b>")
            && !fleet.contains("80% <i>")
            && fleet.contains("Cortex-A72 &#60;b&#62;")
    );
    assert!(fleet.contains("busy: others use 80% &#60;i&#62;"));
    assert!(fleet.contains("cams v2"));
    assert!(fleet.contains("/ui/boards/dev-a"));
    assert!(!fleet.contains(&reader) && !fleet.contains(&operator));
    // A query string never reaches the page.
    let page = u
        .page(&rs, "/ui?notice=%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert!(!page.contains("<script>") && !page.contains("&#60;script"));

    // A board: rows 50 at a time, newest first; filters; downloads.
    let board = u.page(&rs, "/ui/boards/dev-a").await;
    assert!(board.contains("&#60;img src=x") && !board.contains("<img"));
    assert_eq!(table_rows(&board), 50, "50 rows on the first page");
    let next = |p: &str| {
        p.find("id=\"next\" href=\"").map(|i| {
            p[i + 16..]
                .split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#38;", "&")
        })
    };
    let mut seen = 50;
    let mut link = next(&board);
    while let Some(l) = link {
        assert!(seen <= 120, "paging does not end: {l}");
        let p = u.page(&rs, &l).await;
        seen += table_rows(&p);
        link = next(&p);
    }
    assert_eq!(seen, 120);
    let two = u.page(&rs, "/ui/boards/dev-a?threads=2").await;
    assert_eq!(table_rows(&two), 30);
    for bad in [
        "threads=abc",
        "threads=0",
        "threads=-1",
        "since=2026-13-45",
        "since=2027-01-02&until=2026-01-01",
        "space=%3Cscript%3E",
        "before=-3",
    ] {
        let r = u.get(Some(&rs), &format!("/ui/boards/dev-a?{bad}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let t = r.text().await.unwrap();
        assert!(t.contains("fix:") && !t.contains("<script>"), "{bad}: {t}");
    }
    let r = u.get(Some(&rs), "/ui/boards/nobody").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = u
        .get(Some(&rs), "/ui/boards/dev-a/rows.csv?threads=1")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("dev-a.csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 90);
    let r = u.get(Some(&rs), "/ui/boards/dev-a/rows.jsonl").await;
    let lines: Vec<frontier_table::LatencyRow> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    assert!(lines
        .windows(2)
        .all(|w| w[0].measured_at <= w[1].measured_at));
    let r = u.get(None, "/ui/boards/dev-a/rows.csv").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Frontiers and jobs: a reader sees no forms to act with.
    let f = u.page(&rs, "/ui/frontiers").await;
    assert!(f.contains("<svg") && f.contains("promoted (current)"));
    assert!(!f.contains("Roll back</button>"));
    let jobs = u.page(&rs, "/ui/jobs").await;
    assert!(!jobs.contains("id=\"create-job\""));
    let rcsrf = csrf_of(&fleet);

    // Actions.
    let job = [
        ("device", "dev-b"),
        ("kind", "profile"),
        ("space", "ofa-mbv3"),
        ("samples", "5"),
        ("backend", ""),
    ];
    let with = |csrf: &str| {
        let mut v: Vec<(&'static str, String)> =
            job.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.push(("csrf", csrf.to_string()));
        v
    };
    let post_job =
        |cookie: String, v: Vec<(&'static str, String)>, origin: Option<&'static str>| {
            let http = http.clone();
            let base = server.base.clone();
            async move {
                let mut r = http
                    .post(format!("{base}/ui/jobs"))
                    .header(header::COOKIE, format!("frontier_ui={cookie}"))
                    .form(&v);
                if let Some(o) = origin {
                    r = r.header(header::ORIGIN, o);
                }
                r.send().await.unwrap()
            }
        };
    // (The heartbeats queued canary jobs.)
    let jobs0 = store.jobs(None, None, 100).await.unwrap().len();
    let ojobs = u.page(&os, "/ui/jobs").await;
    assert!(ojobs.contains("id=\"create-job\""));
    let ocsrf = csrf_of(&ojobs);
    let r = post_job(rs.clone(), with(&rcsrf), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a reader acted");
    assert!(r.text().await.unwrap().contains("reader may look"));
    let no_csrf: Vec<(&'static str, String)> =
        job.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let r = post_job(os.clone(), no_csrf, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = post_job(os.clone(), with(&rcsrf), None).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "another session's CSRF token"
    );
    let r = post_job(os.clone(), with(&ocsrf), Some("http://evil.example")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another site");
    assert_eq!(store.jobs(None, None, 100).await.unwrap().len(), jobs0);
    let host = server.base.trim_start_matches("http://").to_string();
    let origin: &'static str = Box::leak(format!("http://{host}").into_boxed_str());
    let r = post_job(os.clone(), with(&ocsrf), Some(origin)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/ui/jobs?notice=job");
    assert_eq!(store.jobs(None, None, 100).await.unwrap().len(), jobs0 + 1);
    assert!(u
        .page(&os, "/ui/jobs?notice=job")
        .await
        .contains("The job was queued."));
    let r = u
        .post(
            Some(&os),
            "/ui/frontiers/cams/rollback",
            &[("csrf", &ocsrf), ("version", "2")],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let f = u.page(&os, "/ui/frontiers").await;
    assert!(f.contains("rolled back") && f.contains("from the web view"));
    assert!(f.contains("Promote</button>"));

    // Forged, expired and revoked sessions; signing out.
    let r = u.get(Some(&"ab".repeat(32)), "/ui").await;
    assert_eq!(r.headers()[header::LOCATION], "/ui/login?expired=1");
    let r = u.get(Some("not-a-cookie"), "/ui").await;
    assert_eq!(r.headers()[header::LOCATION], "/ui/login?expired=1");
    let expired = "cd".repeat(32);
    store
        .create_session(
            &format!("{:x}", Sha256::digest(expired.as_bytes())),
            &frontier_collector::store::SessionRecord {
                token_id: reader.split('_').nth(1).unwrap().to_string(),
                role: "reader".into(),
                csrf: "x".repeat(64),
                expires_at_us: frontier_collector::store::now_us() - 1,
            },
            frontier_collector::store::now_us() - 2_000_000,
        )
        .await
        .unwrap();
    let r = u.get(Some(&expired), "/ui").await;
    assert_eq!(r.headers()[header::LOCATION], "/ui/login?expired=1");
    let r = u
        .post(Some(&rs), "/ui/logout", &[("csrf", "wrong")], None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = u
        .post(Some(&rs), "/ui/logout", &[("csrf", &rcsrf)], None)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = u.get(Some(&rs), "/ui").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Revoking the operator's token ends its session.
    let id = operator.split('_').nth(1).unwrap();
    assert!(store.revoke_token(id).await.unwrap());
    let r = u.get(Some(&os), "/ui").await;
    assert_eq!(r.headers()[header::LOCATION], "/ui/login?expired=1");
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.stop().await;
}

on_both_databases!(ui);
