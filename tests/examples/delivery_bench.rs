//! Benchmarks behind docs/BENCHMARKS.md, "Collector and spool":
//!
//! 1. ingest rows/s into SQLite and PostgreSQL with batches of 1, 100 and
//!    1000 rows (new rows, loopback HTTP, gzip off, one client);
//! 2. spool append cost per row with fsync, one row per append and 100;
//! 3. end-to-end delay from a row appended to the spool to the same row
//!    returned by `GET /v1/rows` (spool → sender → collector → reader).
//!
//! Each figure is the median of `--reps` repetitions (default 5) with the
//! min-max in brackets; the configurations are interleaved per repetition
//! so that the machine's drift hits them alike.
//!
//!     FRONTIER_TEST_POSTGRES=$(./scripts/postgres.sh) \
//!       cargo run --release -p frontier-tests --example delivery_bench -- [--reps 5]

use std::time::{Duration, Instant};

use frontier_collector::auth::{self, Role};
use frontier_collector::Store;
use frontier_table::{self as table, LatencyRow};
use frontier_uplink::{Sender, SenderConfig, Spool};

fn row(tag: &str, i: usize) -> LatencyRow {
    let mut r = frontier_tests::synthetic_row("bench-device", tag, i);
    // Now, so that `since` finds it in the end-to-end figure.
    r.measured_at = table::now_rfc3339();
    table::ensure_row_id(&mut r);
    r
}

struct Collector {
    url: String,
    store: Store,
    device: String,
    reader: String,
    _rt: tokio::runtime::Runtime,
}

fn start(db_url: &str) -> Collector {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, listener) = rt.block_on(async {
        let store = Store::open(db_url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (store, listener)
    });
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (device, reader) = rt.block_on(async {
        (
            auth::create(&store, Role::Device, None).await.unwrap(),
            auth::create(&store, Role::Reader, None).await.unwrap(),
        )
    });
    let s = store.clone();
    rt.spawn(async move {
        frontier_collector::serve(s, listener, Default::default(), std::future::pending())
            .await
            .unwrap();
    });
    Collector {
        url,
        store,
        device,
        reader,
        _rt: rt,
    }
}

fn postgres_db(name: &str) -> Option<String> {
    let base = std::env::var("FRONTIER_TEST_POSTGRES").ok()?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
        let db = format!("frontier_bench_{name}_{}", std::process::id());
        sqlx::Executor::execute(&mut c, format!("DROP DATABASE IF EXISTS {db}").as_str())
            .await
            .unwrap();
        sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {db}").as_str())
            .await
            .unwrap();
        let i = base.rfind('/').unwrap();
        Some(format!("{}/{db}", &base[..i]))
    })
}

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (m, v[0], v[v.len() - 1])
}

/// Rows/s for `total` new rows posted in batches of `batch`.
fn ingest(
    c: &Collector,
    http: &reqwest::blocking::Client,
    tag: &str,
    batch: usize,
    total: usize,
) -> f64 {
    let rows: Vec<LatencyRow> = (0..total).map(|i| row(tag, i)).collect();
    let bodies: Vec<Vec<u8>> = rows.chunks(batch).map(table::to_jsonl).collect();
    let start = Instant::now();
    for b in bodies {
        let r = http
            .post(format!("{}/v1/rows", c.url))
            .bearer_auth(&c.device)
            .header("content-type", "application/x-ndjson")
            .body(b)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = std::env::temp_dir().join(format!("frontier-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();

    let mut dbs = vec![(
        "sqlite",
        start(&format!("sqlite://{}", tmp.join("collector.db").display())),
    )];
    match postgres_db("ingest") {
        Some(url) => dbs.push(("postgres", start(&url))),
        None => eprintln!("FRONTIER_TEST_POSTGRES unset: PostgreSQL skipped in this run"),
    }
    let http = reqwest::blocking::Client::new();

    // 1. Ingest. Row counts keep each measurement near a second or more.
    let configs = [(1usize, 300usize), (100, 5_000), (1000, 20_000)];
    let mut ingest_results: Vec<Vec<f64>> = vec![Vec::new(); dbs.len() * configs.len()];
    for rep in 0..reps {
        for (di, (_, c)) in dbs.iter().enumerate() {
            for (ci, (batch, total)) in configs.iter().enumerate() {
                let tag = format!("ingest-{rep}-{batch}");
                ingest_results[di * configs.len() + ci]
                    .push(ingest(c, &http, &tag, *batch, *total));
            }
        }
    }
    println!("## ingest (rows/s, median [min-max] of {reps})");
    for (di, (name, c)) in dbs.iter().enumerate() {
        for (ci, (batch, total)) in configs.iter().enumerate() {
            let (m, lo, hi) = median_range(ingest_results[di * configs.len() + ci].clone());
            println!("{name:8} batch {batch:5} ({total} rows): {m:9.0} [{lo:.0}-{hi:.0}]");
        }
        let stored = c._rt.block_on(c.store.row_count()).unwrap();
        println!("{name:8} rows stored: {stored}");
    }

    // 2. Spool appends with fsync.
    let mut one = Vec::new();
    let mut hundred = Vec::new();
    for rep in 0..reps {
        let dir = tmp.join(format!("spool-{rep}"));
        let mut spool = Spool::open(&dir).unwrap();
        let lines: Vec<Vec<u8>> = (0..300)
            .map(|i| {
                let mut l = table::to_jsonl(&[row("spool", rep * 1000 + i)]);
                l.pop();
                l
            })
            .collect();
        let t = Instant::now();
        for l in &lines[..100] {
            spool.append(std::slice::from_ref(l)).unwrap();
        }
        one.push(t.elapsed().as_secs_f64() * 1e6 / 100.0);
        let t = Instant::now();
        spool.append(&lines[100..200]).unwrap();
        hundred.push(t.elapsed().as_secs_f64() * 1e6 / 100.0);
    }
    println!("## spool append (µs per row, median [min-max] of {reps})");
    let (m, lo, hi) = median_range(one);
    println!("1 row per append (fsync each):   {m:8.1} [{lo:.1}-{hi:.1}]");
    let (m, lo, hi) = median_range(hundred);
    println!("100 rows per append (one fsync): {m:8.1} [{lo:.1}-{hi:.1}]");

    // 3. End to end: appended → sent → queryable.
    println!("## end-to-end delay, spool append to GET /v1/rows (ms, median [min-max] of 50)");
    for (name, c) in &dbs {
        let dir = tmp.join(format!("e2e-{name}"));
        let mut spool = Spool::open(&dir).unwrap();
        let sender = Sender::new(SenderConfig::new(&c.url, &c.device)).unwrap();
        let mut delays = Vec::new();
        let (mut t_append, mut t_send) = (Vec::new(), Vec::new());
        for i in 0..50 {
            let r = row(&format!("e2e-{name}"), i);
            let since = r.measured_at.clone();
            let mut l = table::to_jsonl(std::slice::from_ref(&r));
            l.pop();
            let t = Instant::now();
            spool.append(&[l]).unwrap();
            t_append.push(t.elapsed().as_secs_f64() * 1e3);
            let ts = Instant::now();
            sender
                .drain(&spool, Instant::now() + Duration::from_secs(10))
                .unwrap();
            t_send.push(ts.elapsed().as_secs_f64() * 1e3);
            let id = r.row_id.clone().unwrap();
            loop {
                let text = http
                    .get(format!(
                        "{}/v1/rows?device=bench-device&since={since}",
                        c.url
                    ))
                    .bearer_auth(&c.reader)
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                if text.contains(&id) {
                    break;
                }
            }
            delays.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (m, lo, hi) = median_range(delays);
        let (a, _, _) = median_range(t_append);
        let (d, _, _) = median_range(t_send);
        println!("{name:8}: {m:6.2} [{lo:.2}-{hi:.2}] (append {a:.2}, send {d:.2}, the rest is the reader's query)");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
