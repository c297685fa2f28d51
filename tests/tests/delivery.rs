//! Delivery from the agent's spool to the collector, end to end with the
//! real binaries: every row arrives exactly once through `kill -9` of the
//! agent, a collector killed mid-batch and down for a while, uploads of the
//! same table twice, and a disk that fills up on the agent's side.
//! Loopback only; every loop is bounded in count and time.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use frontier_tests::*;

/// These tests run one at a time: each times kills against a running
/// upload and restarts collectors on a port it just freed, which a
/// concurrent test's collector could otherwise take, and the profiling
/// tests' load would stretch the uploads past the kills.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ids_of(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["row_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Every id in `expected` stored once, and nothing else.
fn assert_exactly_once(stored: &[String], expected: &HashSet<String>) {
    let ids = ids_of(stored);
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "a row was stored twice");
    let missing = expected.difference(&unique).count();
    let unexpected = unique.difference(expected).count();
    assert!(
        missing == 0 && unexpected == 0,
        "{} stored, {} expected: {missing} missing, {unexpected} unexpected",
        unique.len(),
        expected.len()
    );
}

/// Spool a table without sending it (the collector URL is a closed port).
fn spool_only(state: &std::path::Path, table: &std::path::Path, token: &str) {
    let out = frontier(state)
        .args(["upload", "http://127.0.0.1:9", table.to_str().unwrap()])
        .args(["--token", token, "--wait", "0s"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rows wait in"), "{err}");
}

#[test]
fn kill_9_of_the_agent_twenty_times_loses_and_doubles_nothing() {
    let _serial = serial();
    let w = World::new("kill-agent");
    let (dir, data, state) = (w.dir.clone(), w.data.clone(), w.state.clone());
    let (device, reader) = (w.device.clone(), w.reader.clone());
    let collector = Collector::start(&data, "127.0.0.1:0");
    let mut expected: HashSet<String> = HashSet::new();
    let first = dir.join("first.jsonl");
    expected.extend(write_table(&first, 600, "first"));
    spool_only(&state, &first, &device);

    let mut rng = Rng(0x5EED_F00D);
    let extra = dir.join("extra.jsonl");
    expected.extend(write_table(&extra, 60, "extra"));
    let mut pending_after_kill = vec![600u64];
    for round in 0..20 {
        let mut cmd = frontier(&state);
        // Small batches, so that a kill lands between, during and right
        // after requests.
        let batch = if round % 2 == 0 { "1" } else { "3" };
        cmd.args([
            "upload",
            &collector.url,
            "--token",
            &device,
            "--batch-rows",
            batch,
        ]);
        // Some rounds also spool a table (again): killed while spooling or
        // sending, its rows still arrive once.
        if round % 4 == 1 {
            cmd.arg(&extra);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let status = frontier(&state)
            .args(["upload", "--status", "--json"])
            .output()
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        pending_after_kill.push(status["pending_rows"].as_u64().unwrap());
    }
    eprintln!("pending after each kill: {pending_after_kill:?}");
    // The kills landed mid-upload: progress was made and cut off.
    let interrupted = pending_after_kill
        .windows(2)
        .filter(|w| w[1] < w[0] && w[1] > 0)
        .count();
    assert!(
        interrupted >= 3,
        "too few kills landed mid-upload: {pending_after_kill:?}"
    );
    // The user runs the last command again; it finishes.
    let out = frontier(&state)
        .args([
            "upload",
            &collector.url,
            "--token",
            &device,
            "--wait",
            "60s",
        ])
        .arg(&extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exactly_once(&collector.rows(&reader), &expected);

    let status = frontier(&state)
        .args(["upload", "--status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["pending_rows"], 0, "{status}");
}

#[test]
fn collector_killed_mid_batch_and_down_for_a_while() {
    let _serial = serial();
    let w = World::new("kill-collector");
    let (dir, data, state) = (w.dir.clone(), w.data.clone(), w.state.clone());
    let (device, reader) = (w.device.clone(), w.reader.clone());
    let table = dir.join("t.jsonl");
    let expected: HashSet<String> = write_table(&table, 400, "faults").into_iter().collect();
    spool_only(&state, &table, &device);

    let mut collector = Collector::start(&data, "127.0.0.1:0");
    let addr = collector.addr().to_string();
    let mut upload = frontier(&state)
        .args([
            "upload",
            &collector.url,
            "--token",
            &device,
            "--batch-rows",
            "1",
            "--wait",
            "90s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the collector while batches are in flight, keep it down, bring it
    // back on the same address, twice.
    for (up, down) in [(150, 1500), (100, 2500)] {
        std::thread::sleep(Duration::from_millis(up));
        assert!(
            upload.try_wait().unwrap().is_none(),
            "the upload ended before the collector was killed"
        );
        collector.kill();
        std::thread::sleep(Duration::from_millis(down));
        collector = Collector::start(&data, &addr);
    }
    let status =
        wait_bounded(&mut upload, Duration::from_secs(120)).expect("upload finished within 120 s");
    let mut err = String::new();
    std::io::Read::read_to_string(upload.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert_exactly_once(&collector.rows(&reader), &expected);
}

#[test]
fn collector_down_the_whole_time_keeps_rows_for_later() {
    let _serial = serial();
    let w = World::new("offline");
    let (dir, data, state) = (w.dir.clone(), w.data.clone(), w.state.clone());
    let (device, reader) = (w.device.clone(), w.reader.clone());
    let table = dir.join("t.csv");
    let json = dir.join("t.jsonl");
    let expected: HashSet<String> = write_table(&json, 25, "offline").into_iter().collect();
    // The same rows as CSV: the ids come from the content, not the format.
    let rows: Vec<frontier_table::LatencyRow> = frontier_table::read(&json).unwrap();
    std::fs::write(&table, frontier_table::to_csv(&rows, true)).unwrap();

    let start = Instant::now();
    let out = frontier(&state)
        .args([
            "upload",
            "http://127.0.0.1:9",
            table.to_str().unwrap(),
            "--token",
            &device,
            "--wait",
            "2s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(20));
    let status = frontier(&state)
        .args(["upload", "--status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("pending:        25 rows"), "{text}");
    assert!(
        text.contains("127.0.0.1:9"),
        "last error names the collector: {text}"
    );

    let collector = Collector::start(&data, "127.0.0.1:0");
    // The JSON copy of the same table as well: stored once.
    let out = frontier(&state)
        .args([
            "upload",
            &collector.url,
            json.to_str().unwrap(),
            "--token",
            &device,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("25 new, 25 already there"), "{err}");
    assert_exactly_once(&collector.rows(&reader), &expected);

    // A wrong token stops at once with the fix, and keeps nothing back.
    let out = frontier(&state)
        .args([
            "upload",
            &collector.url,
            json.to_str().unwrap(),
            "--token",
            "frt_wrong",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("fix:"), "{err}");
}

/// The kill timings want short sessions: the shared fast flags, and one
/// copy per model.
const ONE_COPY: [&str; 2] = ["--instances", "1"];

#[test]
fn profile_upload_generated_subnets_and_the_table_again() {
    let _serial = serial();
    let w = World::new("profile-upload");
    let (dir, data, state) = (w.dir.clone(), w.data.clone(), w.state.clone());
    let (device, reader) = (w.device.clone(), w.reader.clone());
    let models = dir.join("models");
    let out = frontier(&state)
        .args([
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "2",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&models)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let collector = Collector::start(&data, "127.0.0.1:0");
    let table = dir.join("t.jsonl");
    let out = frontier(&state)
        .arg("profile")
        .arg(&models)
        .args(frontier_testkit::FAST)
        .args(ONE_COPY)
        .args([
            "--out",
            table.to_str().unwrap(),
            "--upload",
            &collector.url,
            "--token",
            &device,
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = collector.rows(&reader);
    assert_eq!(stored.len(), 2);
    let written: Vec<frontier_table::LatencyRow> = frontier_table::read(&table).unwrap();
    let ids: HashSet<String> = written.iter().map(|r| r.row_id.clone().unwrap()).collect();
    assert_exactly_once(&stored, &ids);
    for line in &stored {
        let r: frontier_table::LatencyRow = frontier_table::parse_line(line).unwrap();
        assert_eq!(r.space.as_deref(), Some("ofa-mbv3"));
        assert!(r.arch.is_some());
    }
    // Uploading the table the profile wrote adds nothing.
    let out = frontier(&state)
        .args([
            "upload",
            &collector.url,
            table.to_str().unwrap(),
            "--token",
            &device,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 new, 2 already there"), "{err}");
    assert_eq!(collector.rows(&reader).len(), 2);
}

#[test]
fn a_full_disk_on_the_agent_still_prints_the_results() {
    let _serial = serial();
    let dir = scratch("full-disk");
    let (state, models) = (dir.join("agent"), dir.join("models"));
    let out = frontier(&state)
        .args([
            "export",
            "--space",
            "ofa-mbv3",
            "--samples",
            "1",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&models)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut cmd = frontier(&state);
    cmd.arg("profile")
        .arg(&models)
        .args(frontier_testkit::FAST)
        .args(ONE_COPY)
        .args([
            "--json",
            "--upload",
            "http://127.0.0.1:9",
            "--token",
            "frt_x",
        ]);
    // The file-size limit stands in for a full disk: the agent's writes past
    // 64 bytes fail (EFBIG) as they would with ENOSPC.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let row: frontier_table::LatencyRow =
        frontier_table::parse_line(stdout.lines().next().unwrap()).unwrap();
    assert!(row.median_ms > 0.0);
    assert!(stderr.contains("cannot spool rows for upload"), "{stderr}");
    assert!(stderr.contains("spool"), "{stderr}");
    assert!(stderr.contains("fix: free space"), "{stderr}");
}
