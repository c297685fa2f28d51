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
    // Only the operator's jobs here; the canaries are the next test's.
    let Fleet {
        w,
        operator,
        collector,
        token_file,
    } = fleet("fleet-agent", &["--canary-every", "0"]);
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

    // Both jobs done, their rows stored once, in the board's name; each
    // job measured the space's reference subnets beside its models.
    let listed = get_json(
        &format!("{}/v1/jobs?device={device_id}", collector.url),
        &w.reader,
    );
    let refs = frontier_spaces::CANARY_SUBNETS as u64;
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
            (jobs[1].clone(), "done".into(), 1 + refs),
            (jobs[0].clone(), "done".into(), 2 + refs)
        ],
        "{err}"
    );
    let rows = collector.rows(&w.reader);
    assert_eq!(rows.len(), 3 + 2 * refs as usize, "{err}");
    let mut invocations = std::collections::BTreeMap::<String, (usize, usize)>::new();
    let archs: Vec<String> = rows
        .iter()
        .map(|l| {
            let r: frontier_table::LatencyRow = frontier_table::parse_line(l).unwrap();
            assert_eq!(r.device_id, device_id);
            assert_eq!(r.space.as_deref(), Some("ofa-mbv3"));
            let n = invocations
                .entry(r.invocation.clone().unwrap())
                .or_default();
            if r.is_reference() {
                n.1 += 1;
            } else {
                n.0 += 1;
            }
            r.arch.unwrap()
        })
        .collect();
    let mut per_job: Vec<(usize, usize)> = invocations.into_values().collect();
    per_job.sort();
    assert_eq!(
        per_job,
        vec![(1, refs as usize), (2, refs as usize)],
        "one invocation per job, its references beside its models"
    );
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

fn post_job(url: &str, operator: &str, body: serde_json::Value) -> String {
    let r = http()
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(operator)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let job: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    job["id"].as_str().unwrap().to_string()
}

/// A collector on loopback with `args`, an operator token, and the device
/// token in a file only its owner reads (what `frontier agent
/// --token-file` asks for).
struct Fleet {
    w: World,
    operator: String,
    collector: Collector,
    token_file: std::path::PathBuf,
}

fn fleet(name: &str, args: &[&str]) -> Fleet {
    let w = World::new(name);
    let operator = token(&w.data, "operator");
    let collector = Collector::start_with(&w.data, "127.0.0.1:0", args);
    let token_file = w.dir.join("device.token");
    std::fs::write(&token_file, format!("{}\n", w.device)).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Fleet {
        w,
        operator,
        collector,
        token_file,
    }
}

/// Lines of a child's stderr as they come, kept for the failure message.
fn follow(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(err)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The fleet loop without a person: the agent's start queues its canaries,
/// it runs them and an operator's job, the collector's trainer makes a
/// predictor from the rows by itself, and `frontier predict --predictor
/// collector:URL?device=NAME` uses it. Then SIGTERM mid-job: the agent
/// finishes the models it is measuring, uploads them, gives the job back
/// and exits cleanly.
#[test]
fn the_collector_trains_a_boards_predictor_and_a_stopped_agent_gives_its_job_back() {
    let Fleet {
        w,
        operator,
        collector,
        token_file,
    } = fleet(
        "fleet-trainer",
        &["--train-quiet", "1s", "--train-max-wait", "10s"],
    );
    let agent = |max_jobs: &str| {
        let mut c = frontier(&w.state);
        c.args(["agent", "--collector", &collector.url, "--token-file"])
            .arg(&token_file)
            .args([
                "--device-name",
                "shelf-2",
                "--poll",
                "2s",
                "--max-jobs",
                max_jobs,
            ])
            .args(["--idle-others", "100", "--idle-pressure", "100"])
            .args(["--backend", "tract"])
            .args(frontier_testkit::FAST)
            .args(["--instances", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let mut child = agent("2").spawn().unwrap();
    let devices = format!("{}/v1/devices", collector.url);
    let device_id = eventually(Duration::from_secs(60), "the board enrolled", || {
        get_json(&devices, &w.reader)
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "shelf-2" && d["heartbeat_at"].is_string())
            .map(|d| d["device_id"].as_str().unwrap().to_string())
    });
    post_job(
        &collector.url,
        &operator,
        serde_json::json!({"device": "shelf-2", "kind": "profile", "space": "ofa-mbv3", "samples": 12}),
    );
    let status = wait_bounded(&mut child, Duration::from_secs(400));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{err}");
    // The canaries first (queued at the agent's start), then the job.
    let jobs = get_json(
        &format!("{}/v1/jobs?device={device_id}", collector.url),
        &w.reader,
    );
    let kinds: Vec<(String, String)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["spec"]["kind"].as_str().unwrap().to_string(),
                j["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("profile".to_string(), "done".to_string()),
            ("canary".to_string(), "done".to_string())
        ],
        "{err}"
    );
    // A predictor of the 17 rows (the job's 12 and the 5 canaries; the
    // job's reference rows align it, they are not trained on), trained
    // by the collector itself.
    let listed = eventually(Duration::from_secs(90), "a predictor trained", || {
        let l = get_json(
            &format!("{}/v1/predictors?device=shelf-2", collector.url),
            &w.reader,
        );
        l.as_array()
            .unwrap()
            .first()
            .filter(|p| p["rows"] == 17)
            .cloned()
    });
    assert_eq!(listed["stale"], false);
    assert_eq!(listed["cohort"]["backend"], "tract");
    assert!(listed["metrics"]["within_10pct"].is_number(), "{listed}");
    let arch = frontier_spaces::SampleSpec::new(frontier_spaces::Space::OfaMbv3, 5)
        .sample(1)
        .unwrap()
        .remove(0)
        .json();
    let source = format!("collector:{}?device=shelf-2&backend=tract", collector.url);
    let out = frontier(&w.state)
        .args(["predict", "--predictor", &source, "--arch", &arch, "--json"])
        .env("FRONTIER_TOKEN", &w.reader)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(listed["id"].as_str().unwrap()),
        "says which predictor: {stderr}"
    );
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(line["predicted_ms"].as_f64().unwrap() > 0.0, "{stdout}");
    // An unknown device: the collector's refusal, with its fix.
    let out = frontier(&w.state)
        .args(["predict", "--predictor"])
        .arg(format!("collector:{}?device=nobody", collector.url))
        .args(["--arch", &arch])
        .env("FRONTIER_TOKEN", &w.reader)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("unknown") && stderr.contains("fix:"),
        "{stderr}"
    );

    // SIGTERM mid-job: the running batch finishes, its rows are uploaded,
    // the job goes back to the queue, the agent exits 0.
    let rows_before = collector.rows(&w.reader).len();
    let job = post_job(
        &collector.url,
        &operator,
        serde_json::json!({"device": "shelf-2", "kind": "profile", "space": "ofa-mbv3", "samples": 12}),
    );
    let mut child = agent("1").spawn().unwrap();
    let lines = follow(&mut child);
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(120);
    // Once the first batch is being measured.
    let started = format!(
        "job {job}: measuring models 1-4 of {}",
        12 + frontier_spaces::CANARY_SUBNETS
    );
    while !seen.iter().any(|l: &String| l.contains(&started)) {
        assert!(Instant::now() < end, "the job did not start: {seen:?}");
        if let Ok(l) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_bounded(&mut child, Duration::from_secs(180));
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        seen.push(l);
    }
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("stopped by a signal")
                && l.contains("back in the collector's queue")),
        "{seen:#?}"
    );
    let j = get_json(
        &format!("{}/v1/jobs?device={device_id}", collector.url),
        &w.reader,
    );
    let this = j
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == job.as_str())
        .unwrap();
    assert_eq!(this["state"], "queued", "{this}");
    let uploaded = collector.rows(&w.reader).len() - rows_before;
    assert_eq!(uploaded, 4, "the finished batch's rows only\n{seen:#?}");
}

/// An active job planned by the collector, run by a real agent: one
/// invocation, its reference subnets measured with the first batch and
/// again once the budget is spent, every row uploaded.
#[test]
fn a_collector_planned_active_job_measures_its_references_at_start_and_end() {
    let Fleet {
        w,
        operator,
        collector,
        token_file,
    } = fleet("fleet-active", &["--canary-every", "0"]);
    let mut child = frontier(&w.state)
        .args(["agent", "--collector", &collector.url, "--token-file"])
        .arg(&token_file)
        .args([
            "--device-name",
            "shelf-3",
            "--poll",
            "1s",
            "--max-jobs",
            "1",
        ])
        .args(["--idle-others", "100", "--idle-pressure", "100"])
        .args(["--backend", "tract"])
        .args(frontier_testkit::FAST)
        .args(["--instances", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let devices = format!("{}/v1/devices", collector.url);
    eventually(Duration::from_secs(60), "the board enrolled", || {
        get_json(&devices, &w.reader)
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "shelf-3")
            .then_some(())
    });
    // The shortest budget (a batch or two fit in it); a target a fit of
    // so few rows rarely meets.
    let job = post_job(
        &collector.url,
        &operator,
        serde_json::json!({"device": "shelf-3", "kind": "profile", "space": "ofa-mbv3",
                           "active": {"budget_s": 60, "target": 1.0}, "backend": "tract"}),
    );
    let status = wait_bounded(&mut child, Duration::from_secs(300));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{err}");
    assert!(err.contains("the collector planned 8 subnets"), "{err}");
    assert!(
        err.contains(&format!("job {job}: measuring the reference subnets again")),
        "{err}"
    );
    let rows: Vec<frontier_table::LatencyRow> = collector
        .rows(&w.reader)
        .iter()
        .map(|l| frontier_table::parse_line(l).unwrap())
        .collect();
    let invocations: std::collections::BTreeSet<_> =
        rows.iter().map(|r| r.invocation.clone().unwrap()).collect();
    assert_eq!(invocations.len(), 1, "one job, one invocation");
    let (references, models): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.is_reference());
    assert!(
        models.len() >= 8 && models.len() % 8 == 0,
        "{}",
        models.len()
    );
    let n = frontier_spaces::CANARY_SUBNETS;
    assert_eq!(
        references.len(),
        2 * n,
        "at the start and at the end\n{err}"
    );
    for a in frontier_spaces::canary_archs(frontier_spaces::Space::OfaMbv3) {
        let twice = references
            .iter()
            .filter(|r| r.arch.as_deref() == Some(a.row_json().as_str()))
            .count();
        assert_eq!(twice, 2, "{}", a.json());
    }
}
