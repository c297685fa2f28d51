//! `frontier serve` end to end on a small frontier (a search over a
//! synthetic predictor): both request encodings, status, metrics, bad
//! input that leaves the server serving, a missing model file, SIGHUP
//! reload and a graceful SIGTERM. Loopback only; every wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{frontier, scratch, synthetic_predictor};

/// A frontier of 3 models of a synthetic device ("dev", tract, 1 thread).
fn small_frontier(dir: &Path) -> PathBuf {
    search_frontier(dir, &["--max-latency-ms", "8"])
}

/// `small_frontier`'s search with other `extra` flags.
fn search_frontier(dir: &Path, extra: &[&str]) -> PathBuf {
    let p = synthetic_predictor(dir, "dev", 30, 1);
    let out = dir.join("f");
    let mut args = vec![
        "search",
        "--space",
        "ofa-mbv3",
        "--predictor",
        p.to_str().unwrap(),
        "--accuracy",
        "macs",
        "--population",
        "12",
        "--generations",
        "3",
        "--models",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = frontier(&args, dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("frontier.json")
}

struct Server {
    child: Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
    /// Log lines before `listening`.
    early: Vec<serde_json::Value>,
}

impl Server {
    // The child is killed and waited for by `Drop`.
    #[allow(clippy::zombie_processes)]
    fn start(manifest: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_frontier"))
            .args([
                "serve",
                "--frontier",
                manifest.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--json",
            ])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut early = Vec::new();
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the server says where it listens within 60 s");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == "listening" {
                let addr = v["addr"].as_str().unwrap().to_string();
                return Server {
                    child,
                    addr,
                    log: rx,
                    early,
                };
            }
            early.push(v);
        }
    }

    fn wait_log(&self, event: &str, limit: Duration) -> serde_json::Value {
        if let Some(v) = self.early.iter().find(|v| v["event"] == event) {
            return v.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let line = self
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no {event} in the log within {limit:?}"));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == event {
                return v;
            }
        }
    }

    fn signal(&self, sig: i32) {
        unsafe { libc_kill(self.child.id() as i32, sig) };
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 request: (status, headers, body).
fn http(addr: &str, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A server refusing an oversize body answers and closes before the
    // body is sent: the write fails, the answer is still there to read.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// `frontier serve` on `manifest` that must refuse to start: its stderr.
fn serve_refused(manifest: &Path, dir: &Path) -> String {
    let o = frontier(
        &[
            "serve",
            "--frontier",
            manifest.to_str().unwrap(),
            "--slo-ms",
            "10",
            "--listen",
            "127.0.0.1:0",
        ],
        dir,
    );
    assert!(!o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

#[test]
fn serves_switches_reports_and_survives_bad_input() {
    let dir = scratch("serve");
    let manifest = small_frontier(&dir);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let shape: Vec<usize> = serde_json::from_value(m["input"]["shape"].clone()).unwrap();
    let n: usize = shape.iter().product();
    let names: Vec<String> = m["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    let server = Server::start(&manifest, &["--slo-ms", "1000"]);
    let addr = server.addr.clone();

    // JSON request: served by a frontier model, named in body and header.
    let body = serde_json::json!({"shape": shape, "data": vec![0.25; n]}).to_string();
    let (code, head, b) = http(
        &addr,
        "POST",
        "/v1/infer",
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&b));
    let r = json(&b);
    let model = r["model"].as_str().unwrap();
    assert!(names.iter().any(|x| x == model));
    assert!(head
        .to_ascii_lowercase()
        .contains(&format!("x-frontier-model: {model}")));
    assert_eq!(r["outputs"][0]["shape"], serde_json::json!([1, 1000]));
    // A generous SLO: the most accurate model serves.
    assert_eq!(model, names.last().unwrap(), "{r}");
    // Octet-stream: the f32 bytes of the canonical input.
    let raw: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 7) as f32 / 7.0).to_le_bytes())
        .collect();
    let (code, _, b) = http(&addr, "POST", "/v1/infer", "application/octet-stream", &raw);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&b));

    // Bad input: a clear error each, and the server keeps serving.
    let nan: Vec<u8> = (0..n).flat_map(|_| f32::NAN.to_le_bytes()).collect();
    let huge = format!("{{\"shape\": {shape:?}, \"data\": [1e999]}}");
    let wrong_len = serde_json::json!({"shape": shape, "data": vec![0.0; 10]}).to_string();
    let wrong_shape =
        serde_json::json!({"shape": [1, 3, 8, 8], "data": vec![0.0; 192]}).to_string();
    let wrong_dtype = serde_json::json!({"shape": shape, "data": [1], "dtype": "u8"}).to_string();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "not an input",
        ),
        ("application/json", wrong_len.into_bytes(), 400, "10 values"),
        (
            "application/json",
            wrong_shape.into_bytes(),
            400,
            "this frontier takes",
        ),
        (
            "application/json",
            wrong_dtype.into_bytes(),
            400,
            "dtype u8",
        ),
        ("application/json", huge.into_bytes(), 400, "not an input"),
        ("application/octet-stream", nan, 400, "NaN or infinite"),
        (
            "application/octet-stream",
            vec![0u8; 12],
            400,
            "f32 little-endian",
        ),
        ("application/octet-stream", vec![0u8; 64 << 20], 413, ""),
        (
            "text/plain",
            b"hi".to_vec(),
            415,
            "application/octet-stream",
        ),
    ];
    for (ctype, body, want, msg) in cases {
        let (code, _, b) = http(&addr, "POST", "/v1/infer", ctype, &body);
        assert_eq!(code, want, "{ctype}: {}", String::from_utf8_lossy(&b));
        assert!(
            String::from_utf8_lossy(&b).contains(msg),
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    let (code, _, _) = http(
        &addr,
        "POST",
        "/v1/infer",
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(code, 200);

    // Status and metrics.
    let (code, _, b) = http(&addr, "GET", "/v1/status", "application/json", b"");
    assert_eq!(code, 200);
    let st = json(&b);
    assert_eq!(st["current_model"], *names.last().unwrap());
    assert_eq!(st["variants"].as_array().unwrap().len(), 3);
    assert_eq!(st["requests"], 3);
    assert_eq!(st["failed"], 0);
    assert!(st["load"]["cores"].as_u64().unwrap() >= 1);
    let (_, _, b) = http(&addr, "GET", "/metrics", "text/plain", b"");
    let text = String::from_utf8_lossy(&b);
    assert!(
        text.contains("frontier_serve_latency_seconds_count 3"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "frontier_serve_current_model{{model=\"{}\",threads=\"1\"}} 1",
        names.last().unwrap()
    )));
    assert_eq!(http(&addr, "GET", "/healthz", "text/plain", b"").0, 200);

    // SIGHUP: the manifest is reloaded; requests keep working.
    server.signal(1);
    server.wait_log("reloaded", Duration::from_secs(60));
    let (code, _, _) = http(
        &addr,
        "POST",
        "/v1/infer",
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(code, 200);
    // SIGTERM: drains and exits 0 with a summary.
    server.signal(15);
    let stopped = server.wait_log("stopped", Duration::from_secs(30));
    assert_eq!(stopped["failed"], 0);
}

#[test]
fn an_unreachable_slo_serves_the_fastest_and_missing_files_are_reported() {
    let dir = scratch("serve-slo");
    let manifest = small_frontier(&dir);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let models = m["models"].as_array().unwrap();
    let fastest = models[0]["name"].as_str().unwrap().to_string();
    // One model file gone: the others serve, the missing one is named.
    let gone = manifest
        .parent()
        .unwrap()
        .join(models[1]["file"].as_str().unwrap());
    std::fs::remove_file(&gone).unwrap();
    let server = Server::start(&manifest, &["--slo-ms", "0.001"]);
    let warn = server.wait_log("warning", Duration::from_secs(5));
    assert!(
        warn["message"].as_str().unwrap().contains("is missing"),
        "{warn}"
    );
    let (_, _, b) = http(&server.addr, "GET", "/v1/status", "application/json", b"");
    let st = json(&b);
    assert_eq!(st["current_model"], fastest.as_str());
    assert_eq!(st["slo_unreachable"], true);
    let (_, _, b) = http(&server.addr, "GET", "/metrics", "text/plain", b"");
    assert!(String::from_utf8_lossy(&b).contains("frontier_serve_slo_unreachable 1"));
    drop(server);
    // Every file gone: a clear error, exit 1.
    for x in models {
        let _ = std::fs::remove_file(manifest.parent().unwrap().join(x["file"].as_str().unwrap()));
    }
    let e = serve_refused(&manifest, &dir);
    assert!(e.contains("no model of") && e.contains("is missing"), "{e}");
    // An SLO that is not a duration: named, with the fix.
    let o = frontier(
        &[
            "serve",
            "--frontier",
            manifest.to_str().unwrap(),
            "--slo-ms=-5",
        ],
        &dir,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--slo-ms -5"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The flow of real weights: `export --weights` and `search --weights`
/// write the supernet's subnets (the bytes `generate_weighted` gives); the
/// manifest names the supernet; `serve` with no model files builds every
/// model from the supernet beside the manifest and answers with the
/// network's own logits; a different supernet is refused by its hash.
#[test]
fn a_frontier_served_from_its_supernet() {
    use frontier_spaces::ofa_mbv3;
    use frontier_spaces::supernet::Supernet;
    let dir = scratch("serve-supernet");
    let supernet = frontier_testkit::supernet_fixtures().join("ofa_mbv3_w1.0.safetensors");
    let net = Supernet::from_bytes(&std::fs::read(&supernet).unwrap(), "fixture").unwrap();

    // export --weights --arch: the materialized subnet, and its manifest line says so.
    let arch = r#"{"ks":[3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5],"e":[3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4],"d":[2,3,4,2,3],"r":160}"#;
    let one = dir.join("one.onnx");
    let o = frontier(
        &[
            "export",
            "--space",
            "ofa-mbv3",
            "--weights",
            supernet.to_str().unwrap(),
            "--arch",
            arch,
            "--out",
            one.to_str().unwrap(),
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = ofa_mbv3::Arch::from_json(arch).unwrap();
    let want = ofa_mbv3::generate_weighted(&a, &net.subnet(&a).unwrap())
        .unwrap()
        .onnx;
    assert!(
        std::fs::read(&one).unwrap() == want,
        "export --weights writes the materialized subnet"
    );
    let line = json(&o.stdout);
    assert_eq!(
        line["supernet_sha256"].as_str().map(str::len),
        Some(64),
        "{line}"
    );

    // search --weights: the manifest names the supernet; models are weighted.
    let manifest = search_frontier(&dir, &["--weights", supernet.to_str().unwrap()]);
    let out = manifest.parent().unwrap().to_path_buf();
    let m = json(&std::fs::read(&manifest).unwrap());
    assert_eq!(m["schema_version"], "1.1");
    assert_eq!(m["supernet"]["file"], "ofa_mbv3_w1.0.safetensors");
    assert!(m["supernet"]["config"]
        .as_str()
        .unwrap()
        .contains("kernels [3, 5, 7]"));
    let first = &m["models"][0];
    let a = ofa_mbv3::Arch::from_json(&first["arch"].to_string()).unwrap();
    let want = ofa_mbv3::generate_weighted(&a, &net.subnet(&a).unwrap())
        .unwrap()
        .onnx;
    let file = out.join(first["file"].as_str().unwrap());
    assert!(
        std::fs::read(&file).unwrap() == want,
        "search --weights writes weighted models"
    );

    // A board with the manifest and the supernet only.
    std::fs::remove_dir_all(out.join("models")).unwrap();
    std::fs::copy(&supernet, out.join("ofa_mbv3_w1.0.safetensors")).unwrap();
    let server = Server::start(&manifest, &["--slo-ms", "1000"]);
    let r = m["input"]["shape"][2].as_u64().unwrap() as usize;
    let body: Vec<u8> = (0..3 * r * r)
        .flat_map(|i| ((i % 7) as f32 / 7.0).to_le_bytes())
        .collect();
    let (status, _, b) = http(
        &server.addr,
        "POST",
        "/v1/infer",
        "application/octet-stream",
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let answer = json(&b);
    let served = answer["model"].as_str().unwrap().to_string();
    assert!(m["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"] == served.as_str()));
    drop(server);

    // Another supernet beside the manifest: refused by its SHA-256.
    let mut other = std::fs::read(&supernet).unwrap();
    let n = other.len();
    other[n - 1] ^= 1;
    std::fs::write(out.join("ofa_mbv3_w1.0.safetensors"), other).unwrap();
    let e = serve_refused(&manifest, &dir);
    assert!(e.contains("SHA-256") && e.contains("fix:"), "{e}");
}

/// A model file the user exported stands in for a generated one when it is
/// the architecture its entry claims (here PyTorch's own export of a
/// reference subnet); another architecture's file is refused with the
/// model, both counts and the fix.
#[test]
fn stand_in_model_files_must_be_their_architecture() {
    let dir = scratch("serve-stand-in");
    let manifest = small_frontier(&dir);
    let base = manifest.parent().unwrap().to_path_buf();
    let fixture = common::fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let mut m = json(&std::fs::read(&manifest).unwrap());
    let name = m["models"][1]["name"].as_str().unwrap().to_string();
    let file = m["models"][1]["file"].as_str().unwrap().to_string();
    std::fs::copy(&fixture, base.join(&file)).unwrap();
    let e = serve_refused(&manifest, &dir);
    assert!(e.contains(&name) && e.contains("fix:"), "{e}");

    // The entry now claims the fixture's architecture: it serves.
    let index: serde_json::Value =
        json(&std::fs::read(common::fixtures().join("index.json")).unwrap());
    m["models"][1]["arch"] = index["models"][0]["config"].clone();
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let server = Server::start(&manifest, &["--slo-ms", "1000"]);
    let (status, _, _) = http(&server.addr, "GET", "/v1/status", "application/json", b"");
    assert_eq!(status, 200);
}
