//! A board in a fleet, end to end with the real binaries: `frontier agent`
//! enrols with a device token, takes no job while another process keeps
//! the CPUs busy, then takes an operator's profiling jobs, uploads their
//! rows with its own credential through the spool and reports them done;
//! a revoked credential stops it with the fix. Loopback only; every wait
//! bounded.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use frontier_tests::*;

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn get_json(url: &str, token: &str) -> serde_json::Value {
    let r = http().get(url).bearer_auth(token).send().unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

/// Poll `f` every 100 ms for at most `limit`.
fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_board_enrols_takes_jobs_and_uploads_their_rows() {
    let w = World::new("fleet-agent");
    let operator = token(&w.data, "operator");
    let collector = Collector::start(&w.data, "127.0.0.1:0");
    let token_file = w.dir.join("device.token");
    std::fs::write(&token_file, format!("{}\n", w.device)).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A token others can read is refused, with the fix.
    let out = frontier(&w.state)
        .args(["agent", "--collector", &collector.url, "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let agent = |max_jobs: &str| {
        let mut c = frontier(&w.state);
        c.args(["agent", "--collector", &collector.url, "--token-file"])
            .arg(&token_file)
            .args([
                "--device-name",
                "shelf-1",
                "--poll",
                "2s",
                "--max-jobs",
                max_jobs,
            ])
            .args(["--idle-others", "30", "--idle-pressure", "100"])
            .args(frontier_testkit::FAST)
            .args(["--instances", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    // A busy process beside it (half of two cores) from the start: the
    // board enrols, but takes no job.
    let mut hog = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let mut child = agent("2").spawn().unwrap();

    // Enrolled: the collector knows the board by name, and its credential
    // is kept where others cannot read it.
    let devices = format!("{}/v1/devices", collector.url);
    let device_id = eventually(Duration::from_secs(60), "the board enrolled", || {
        get_json(&devices, &w.reader)
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "shelf-1")
            .map(|d| d["device_id"].as_str().unwrap().to_string())
    });
    let credential = w.state.join("board.json");
    let mode = std::fs::metadata(&credential).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Two jobs: two sampled subnets, then one given architecture.
    let arch = frontier_spaces::SampleSpec::new(frontier_spaces::Space::OfaMbv3, 11)
        .sample(1)
        .unwrap()
        .remove(0);
    let mut jobs = Vec::new();
    for body in [
        serde_json::json!({"device": "shelf-1", "kind": "profile", "space": "ofa-mbv3", "samples": 2, "backend": "tract"}),
        serde_json::json!({"device": device_id, "kind": "profile", "space": "ofa-mbv3",
                           "archs": [serde_json::from_str::<serde_json::Value>(&arch.json()).unwrap()]}),
    ] {
        let r = http()
            .post(format!("{}/v1/jobs", collector.url))
            .bearer_auth(&operator)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
        let job: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        jobs.push(job["id"].as_str().unwrap().to_string());
    }
    std::thread::sleep(Duration::from_secs(5));
    let queued = get_json(
        &format!("{}/v1/jobs?state=queued", collector.url),
        &w.reader,
    );
    let while_busy = queued.as_array().unwrap().len();
    let _ = hog.kill();
    let _ = hog.wait();
    let status = wait_bounded(&mut child, Duration::from_secs(300));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{err}");
    assert!(err.contains("enrolled"), "{err}");
    assert_eq!(while_busy, 2, "no job taken while busy:\n{err}");
    assert!(
        err.contains("not taking jobs: other processes use"),
        "{err}"
    );

    // Both jobs done, their rows stored once, in the board's name.
    let listed = get_json(
        &format!("{}/v1/jobs?device={device_id}", collector.url),
        &w.reader,
    );
    let outcome: Vec<(String, String, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_string(),
                j["state"].as_str().unwrap().to_string(),
                j["outcome"]["rows"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        vec![
            (jobs[1].clone(), "done".into(), 1),
            (jobs[0].clone(), "done".into(), 2)
        ],
        "{err}"
    );
    let rows = collector.rows(&w.reader);
    assert_eq!(rows.len(), 3, "{err}");
    let archs: Vec<String> = rows
        .iter()
        .map(|l| {
            let r: frontier_table::LatencyRow = frontier_table::parse_line(l).unwrap();
            assert_eq!(r.device_id, device_id);
            assert_eq!(r.space.as_deref(), Some("ofa-mbv3"));
            r.arch.unwrap()
        })
        .collect();
    assert!(
        archs.contains(&arch.row_json()),
        "the given architecture was measured"
    );

    // Revoked: the board stops at its next request, with the fix.
    let id = get_json(&devices, &w.reader)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id.as_str())
        .map(|_| {
            let c: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&credential).unwrap()).unwrap();
            c["credential_id"].as_str().unwrap().to_string()
        })
        .unwrap();
    let out = collector_cmd(&[
        "token",
        "revoke",
        &id,
        "--data-dir",
        w.data.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let mut child = agent("1").spawn().unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{err}");
    assert!(err.contains("401") && err.contains("enrol again"), "{err}");
}
