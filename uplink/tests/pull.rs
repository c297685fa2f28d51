//! A board's downloads against a scripted HTTP server on loopback: a
//! collector that goes away mid-download (the next attempt resumes from
//! the bytes kept, with a `Range` request), a full disk (the error names
//! the file and nothing half-written is used), bytes that do not hash to
//! the blob's id (deleted, started over), and a version laid out as a
//! manifest directory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontier_table::rollout::BlobRef;
use frontier_uplink::fleet::Credential;
use frontier_uplink::frontiers::{file_sha256, PullError, Puller};
use sha2::{Digest, Sha256};

/// How the server answers the next blob request.
#[derive(Clone, Copy)]
enum Mode {
    /// Send the first `n` bytes of a full answer, then close.
    CutAfter(usize),
    /// Honour `Range`.
    Whole,
    /// Send other bytes.
    Wrong,
}

struct Script {
    blob: Vec<u8>,
    modes: Vec<Mode>,
    ranges: Vec<Option<String>>,
}

/// Serve `/v1/blobs/...` by the script, one mode per request.
fn server(script: Arc<Mutex<Script>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut range = None;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range:") {
                    range = Some(v.trim().to_string());
                }
            }
            let mut sc = script.lock().unwrap();
            sc.ranges.push(range.clone());
            let mode = if sc.modes.is_empty() {
                Mode::Whole
            } else {
                sc.modes.remove(0)
            };
            let blob = sc.blob.clone();
            drop(sc);
            let start: usize = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let body: Vec<u8> = match mode {
                Mode::Wrong => blob.iter().map(|b| b ^ 1).collect(),
                _ => blob[start..].to_vec(),
            };
            let status = if start > 0 {
                format!(
                    "206 Partial Content\r\nContent-Range: bytes {start}-{}/{}",
                    blob.len() - 1,
                    blob.len()
                )
            } else {
                "200 OK".to_string()
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let n = match mode {
                Mode::CutAfter(n) => n.min(body.len()),
                _ => body.len(),
            };
            let _ = s.write_all(&body[..n]);
            let _ = s.flush();
            // Closing here with bytes missing is the collector going away.
        }
    });
    format!("http://{addr}")
}

fn puller(url: &str, dir: &Path) -> Puller {
    let c = Credential {
        collector: url.to_string(),
        device_id: "b0".into(),
        credential: "frt_0_0".into(),
        credential_id: "0".into(),
    };
    Puller::new(
        c,
        "cams",
        "tract",
        dir.to_path_buf(),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn blob_of(data: &[u8]) -> BlobRef {
    BlobRef {
        file: "models/m0.onnx".into(),
        sha256: format!("{:x}", Sha256::digest(data)),
        size: data.len() as u64,
    }
}

#[test]
fn a_broken_download_resumes_from_its_bytes() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let script = Arc::new(Mutex::new(Script {
        blob: data.clone(),
        modes: vec![Mode::CutAfter(100_000), Mode::Whole],
        ranges: Vec::new(),
    }));
    let url = server(script.clone());
    let dir = frontier_testkit::scratch("pull-resume");
    let p = puller(&url, &dir);
    let b = blob_of(&data);
    let e = p.fetch(&b).unwrap_err();
    assert!(matches!(e, PullError::Fleet(_)), "{e}");
    let part = dir.join("blobs").join(format!("{}.part", b.sha256));
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept >= 100_000 && kept < data.len() as u64, "{kept}");
    let done = p.fetch(&b).unwrap();
    assert_eq!(std::fs::read(&done).unwrap(), data);
    assert!(!part.exists());
    let ranges = script.lock().unwrap().ranges.clone();
    assert_eq!(ranges, vec![None, Some(format!("bytes={kept}-"))]);
    // Whole already: no request.
    p.fetch(&b).unwrap();
    assert_eq!(script.lock().unwrap().ranges.len(), 2);
}

#[test]
fn bytes_that_do_not_hash_are_deleted() {
    let data = b"a model".to_vec();
    let script = Arc::new(Mutex::new(Script {
        blob: data.clone(),
        modes: vec![Mode::Wrong, Mode::Whole],
        ranges: Vec::new(),
    }));
    let dir = frontier_testkit::scratch("pull-hash");
    let p = puller(&server(script), &dir);
    let b = blob_of(&data);
    match p.fetch(&b) {
        Err(PullError::Hash { sha256, .. }) => assert_eq!(sha256, b.sha256),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.join("blobs")).unwrap().count(), 0);
    assert_eq!(file_sha256(&p.fetch(&b).unwrap()).unwrap(), b.sha256);
}

#[test]
fn a_full_disk_is_reported_with_the_file() {
    let data = vec![7u8; 50_000];
    let script = Arc::new(Mutex::new(Script {
        blob: data.clone(),
        modes: vec![],
        ranges: Vec::new(),
    }));
    let dir = frontier_testkit::scratch("pull-full");
    let p = puller(&server(script), &dir);
    let b = blob_of(&data);
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let part = dir.join("blobs").join(format!("{}.part", b.sha256));
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();
    match p.fetch(&b) {
        Err(e @ PullError::Disk { .. }) => {
            let m = e.to_string();
            assert!(m.contains(".part") && m.contains("free space"), "{m}");
            assert!(m.to_lowercase().contains("no space"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.join("blobs").join(&b.sha256).exists());
    // Space again: the download completes.
    std::fs::remove_file(&part).unwrap();
    assert_eq!(std::fs::read(p.fetch(&b).unwrap()).unwrap(), data);
}

#[test]
fn a_version_is_laid_out_and_a_changed_assignment_stops_it() {
    let data = b"model bytes".to_vec();
    let script = Arc::new(Mutex::new(Script {
        blob: data.clone(),
        modes: vec![],
        ranges: Vec::new(),
    }));
    let dir = frontier_testkit::scratch("pull-layout");
    let p = puller(&server(script), &dir);
    let manifest: frontier_table::frontier::Manifest = serde_json::from_value(serde_json::json!({
        "schema_version": "1.1", "space": "ofa-mbv3",
        "accuracy": {"source": "macs", "description": "proxy"},
        "input": {"name": "input", "dtype": "f32", "shape": [1, 3, 128, 128]},
        "devices": ["b0/tract/t1"],
        "search": {"algorithm": "nsga2", "population": 1, "generations": 1, "seed": 0, "evaluations": 1,
                   "hypervolume": 0.0, "random_search_hypervolume": 0.0,
                   "constraints": {"max_latency_ms": [null], "max_params": null}, "seconds": 0.0},
        "created_at": "2026-12-06T00:00:00.000Z", "frontier_version": "0.1.0", "models": []
    }))
    .unwrap();
    let mut a = frontier_table::rollout::Assignment {
        name: "cams".into(),
        version: 3,
        stage: "all".into(),
        device_key: "b0/tract/t1".into(),
        key_note: None,
        manifest,
        blobs: vec![blob_of(&data)],
    };
    assert!(matches!(
        p.materialize(&a, || false),
        Err(PullError::Changed)
    ));
    let m = p.materialize(&a, || true).unwrap();
    assert_eq!(m, dir.join("v3").join("frontier.json"));
    assert_eq!(std::fs::read(dir.join("v3/models/m0.onnx")).unwrap(), data);
    p.remember(&a, None).unwrap();
    assert_eq!(p.remembered().unwrap().0.version, 3);
    // A file name that leaves the directory is refused.
    a.blobs[0].file = "../../etc/x".into();
    a.version = 4;
    assert!(matches!(
        p.materialize(&a, || true),
        Err(PullError::Input(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
