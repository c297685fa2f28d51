//! `frontier serve --frontier collector:URL/NAME`: the board's assigned
//! version at start (or the one it served last when the collector is
//! away), a thread that follows the assignment and swaps generations, and
//! the field rows.
//!
//! Rules:
//! - The old generation serves until the new one is loaded and warmed; a
//!   version that fails to download (a full disk, the collector gone) or
//!   to load is reported (`failed`) and the old one keeps serving. A
//!   download that broke off resumes from its bytes on the next try.
//! - A field window never spans two versions: the window is cut just
//!   before a swap.
//! - Field rows are appended to their own spool before they are sent, so
//!   a kill or an unreachable collector loses none and the collector's
//!   content ids store each once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use frontier_switcher::http::log;
use frontier_switcher::{FieldWindow, Switcher};
use frontier_table::rollout::{
    field_row_id, percentile, Assignment, FailedVersion, FieldRow, ServeReport,
    FIELD_SCHEMA_VERSION,
};
use frontier_uplink::frontiers::{PullError, Puller};
use frontier_uplink::{Sender, SenderConfig, Spool};

use crate::cli::ServeArgs;

/// The longest an assignment request is held.
const LONG_POLL: Duration = Duration::from_secs(60);
/// How long a start waits for an unreachable collector before it gives up
/// (when no version was served here before).
const START_PATIENCE: Duration = Duration::from_secs(60);

/// The version to start with.
pub struct Pulled {
    pub manifest: PathBuf,
    pub assignment: Assignment,
    puller: Arc<Puller>,
    json: bool,
}

/// `URL/NAME` of `collector:URL/NAME`.
fn parse_target(target: &str) -> anyhow::Result<(String, String)> {
    let t = target.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some((url, name))
            if (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > "https://".len()
                && !name.is_empty() =>
        {
            Ok((url.to_string(), name.to_string()))
        }
        _ => anyhow::bail!(
            "--frontier collector:{target}: not collector:URL/NAME; fix: e.g. --frontier collector:http://collector:8787/mbv3-cameras"
        ),
    }
}

pub fn start(args: &ServeArgs, target: &str, backend: &str) -> anyhow::Result<Pulled> {
    let (url, name) = parse_target(target)?;
    let credential = crate::board::credential(&crate::board::Enrol {
        collector: Some(&url),
        token_file: args.token_file.as_deref(),
        device_name: args.device_name.clone(),
        ort: &args.ort,
    })?;
    let dir = frontier_session::probe_ref::state_dir()
        .context("no state directory for the frontier's files; fix: set FRONTIER_STATE_DIR")?
        .join("frontiers")
        .join(&name);
    let puller = Arc::new(Puller::new(credential, &name, backend, dir, LONG_POLL)?);
    let began = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        let outcome = puller
            .assignment(None, Duration::ZERO)
            .and_then(|a| a.ok_or_else(|| PullError::Refused("no assignment".into())))
            .and_then(|a| {
                let _ = puller.report(&ServeReport {
                    serving: None,
                    failed: None,
                    downloading: Some(a.version),
                });
                puller.materialize(&a, || true).map(|m| (a, m))
            });
        let e = match outcome {
            Ok((assignment, manifest)) => {
                if let Some(note) = &assignment.key_note {
                    log(args.json, "warning", serde_json::json!({"message": note}));
                }
                return Ok(Pulled {
                    manifest,
                    assignment,
                    puller,
                    json: args.json,
                });
            }
            Err(e) => e,
        };
        if let Some((a, m)) = puller.remembered() {
            log(
                args.json,
                "warning",
                serde_json::json!({"message": format!("{e}; serving version {} of {name} kept here until the collector answers", a.version)}),
            );
            return Ok(Pulled {
                manifest: m,
                assignment: a,
                puller,
                json: args.json,
            });
        }
        let retry = matches!(
            e,
            PullError::Fleet(frontier_uplink::fleet::FleetError::Retry(_))
        );
        if !retry || began.elapsed() > START_PATIENCE {
            return Err(anyhow::Error::new(e).context(format!(
                "--frontier collector:{target}: no version to serve"
            )));
        }
        log(
            args.json,
            "waiting",
            serde_json::json!({"message": format!("{e}; trying again in {} s", delay.as_secs())}),
        );
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// Field windows into rows, the spool and the collector.
struct FieldSink {
    spool: Mutex<Spool>,
    sender: Sender,
    device_id: String,
    name: String,
    backend: String,
    version: AtomicU32,
    json: bool,
}

/// The rows of one window.
fn rows_of(w: &FieldWindow, s: &FieldSink) -> Vec<FieldRow> {
    let start = w
        .start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    w.models
        .iter()
        .filter(|m| m.requests > 0 || m.failed > 0 || m.switches_in > 0)
        .map(|m| {
            let mut r = FieldRow {
                schema_version: FIELD_SCHEMA_VERSION.into(),
                device_id: s.device_id.clone(),
                frontier: s.name.clone(),
                version: s.version.load(Ordering::Relaxed),
                model: m.model.clone(),
                backend: s.backend.clone(),
                threads: m.threads,
                window_start: frontier_table::rfc3339(start),
                window_s: (w.seconds * 1e3).round() / 1e3,
                requests: m.requests,
                failed: m.failed,
                slo_misses: m.slo_misses,
                slo_ms: w.slo_ms,
                switches_in: m.switches_in,
                inference_p50_ms: percentile(&m.inference_ms, 0.5),
                inference_p90_ms: percentile(&m.inference_ms, 0.9),
                inference_p99_ms: percentile(&m.inference_ms, 0.99),
                e2e_p50_ms: percentile(&m.e2e_ms, 0.5),
                e2e_p90_ms: percentile(&m.e2e_ms, 0.9),
                e2e_p99_ms: percentile(&m.e2e_ms, 0.99),
                load_mean: m.load_mean,
                load_max: m.load_max,
                agent_version: env!("CARGO_PKG_VERSION").into(),
                row_id: None,
            };
            r.row_id = Some(field_row_id(&r));
            r
        })
        .collect()
}

impl FieldSink {
    /// Cut the window: its rows into the spool (fsynced).
    fn cut(&self, sw: &Switcher) {
        let w = sw.take_field();
        let rows = rows_of(&w, self);
        if rows.is_empty() {
            return;
        }
        let lines: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| serde_json::to_vec(r).expect("plain data"))
            .collect();
        let mut spool = self.spool.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = spool.append(&lines) {
            log(
                self.json,
                "field rows lost",
                serde_json::json!({"error": e.to_string(), "rows": rows.len()}),
            );
        }
    }

    /// Send what the spool holds, for at most `wait`.
    fn send(&self, wait: Duration) {
        let spool = self.spool.lock().unwrap_or_else(|p| p.into_inner());
        match self.sender.drain(&spool, Instant::now() + wait) {
            Ok(r) if r.pending > 0 => log(
                self.json,
                "field rows waiting",
                serde_json::json!({"pending": r.pending, "last_error": r.last_error}),
            ),
            Ok(_) => {}
            Err(e) => log(
                self.json,
                "field rows not sent",
                serde_json::json!({"error": e.to_string()}),
            ),
        }
    }
}

/// The threads that follow the assignment and send field rows.
pub struct Follower {
    stop: Arc<AtomicBool>,
    sink: Arc<FieldSink>,
    switcher: Switcher,
}

impl Pulled {
    /// Report the start, then follow the assignment and send field rows
    /// until [`Follower::finish`].
    pub fn follow(self, switcher: Switcher, args: &ServeArgs) -> anyhow::Result<Follower> {
        let puller = self.puller.clone();
        let json = self.json;
        if let Err(e) = puller.report(&ServeReport {
            serving: Some(self.assignment.version),
            failed: None,
            downloading: None,
        }) {
            log(
                json,
                "warning",
                serde_json::json!({"message": format!("could not report the version served: {e}")}),
            );
        }
        if let Err(e) = puller.remember(&self.assignment, None) {
            log(
                json,
                "warning",
                serde_json::json!({"message": e.to_string()}),
            );
        }
        let cred = puller.credential().clone();
        let mut config = SenderConfig::new(&cred.collector, &cred.credential);
        config.path = "/v1/field";
        let spool_dir = frontier_session::probe_ref::state_dir()
            .context("no state directory; fix: set FRONTIER_STATE_DIR")?
            .join("frontiers")
            .join(puller.name())
            .join("field-spool");
        let sink = Arc::new(FieldSink {
            spool: Mutex::new(Spool::open(&spool_dir)?),
            sender: Sender::new(config)?,
            device_id: cred.device_id.clone(),
            name: puller.name().to_string(),
            backend: switcher.status().backend,
            version: AtomicU32::new(self.assignment.version),
            json,
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (sink, stop, sw) = (sink.clone(), stop.clone(), switcher.clone());
            let every = args.field_every.max(Duration::from_millis(200));
            std::thread::Builder::new()
                .name("frontier-field".into())
                .spawn(move || {
                    let mut next = Instant::now() + every;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100).min(every));
                        if Instant::now() >= next {
                            next += every;
                            sink.cut(&sw);
                            sink.send(every.min(Duration::from_secs(30)));
                        }
                    }
                })?;
        }
        {
            let (sink, stop, sw) = (sink.clone(), stop.clone(), switcher.clone());
            let current = self.assignment;
            std::thread::Builder::new()
                .name("frontier-pull".into())
                .spawn(move || follow(&puller, &sink, &sw, current, &stop, json))?;
        }
        Ok(Follower {
            stop,
            sink,
            switcher,
        })
    }
}

impl Follower {
    /// The last window into the spool, and a few seconds to send it (what
    /// is not sent goes with the next start).
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.sink.cut(&self.switcher);
        self.sink.send(Duration::from_secs(5));
    }
}

/// Follow the assignment until `stop`: a new version downloaded, loaded
/// and reported; a failure reported with the old version still serving.
fn follow(
    puller: &Puller,
    sink: &FieldSink,
    sw: &Switcher,
    mut current: Assignment,
    stop: &AtomicBool,
    json: bool,
) {
    let mut etag = Some(current.etag());
    let mut backoff = Duration::from_secs(1);
    // After a download failure (disk, network), when to try again.
    let mut retry_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if retry_at.is_some_and(|t| Instant::now() >= t) {
            etag = None;
            retry_at = None;
        }
        let wait = match retry_at {
            Some(t) => t.saturating_duration_since(Instant::now()).min(LONG_POLL),
            None => LONG_POLL,
        };
        let next = match puller.assignment(etag.as_deref(), wait) {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(e) => {
                log(
                    json,
                    "assignment",
                    serde_json::json!({"error": e.to_string(), "retry_in_s": backoff.as_secs()}),
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        etag = Some(next.etag());
        if next.version == current.version && next.device_key == current.device_key {
            continue;
        }
        let report = |r: ServeReport| {
            if let Err(e) = puller.report(&r) {
                log(
                    json,
                    "warning",
                    serde_json::json!({"message": format!("could not report to the collector: {e}")}),
                );
            }
        };
        report(ServeReport {
            serving: Some(current.version),
            failed: None,
            downloading: Some(next.version),
        });
        log(
            json,
            "pulling",
            serde_json::json!({"version": next.version, "stage": next.stage, "blobs": next.blobs.len()}),
        );
        let tag = next.etag();
        let next_version = next.version;
        let still = || {
            !matches!(
                puller.assignment(Some(&tag), Duration::ZERO),
                Ok(Some(ref a)) if a.etag() != tag
            )
        };
        let failure = match puller.materialize(&next, still) {
            Ok(path) => {
                sink.cut(sw);
                match sw.reload_from(path, Some(next.device_key.clone())) {
                    Ok(warnings) => {
                        sink.version.store(next.version, Ordering::Relaxed);
                        log(
                            json,
                            "serving",
                            serde_json::json!({"version": next.version, "stage": next.stage, "warnings": warnings}),
                        );
                        report(ServeReport {
                            serving: Some(next.version),
                            failed: None,
                            downloading: None,
                        });
                        if let Err(e) = puller.remember(&next, Some(&current)) {
                            log(
                                json,
                                "warning",
                                serde_json::json!({"message": e.to_string()}),
                            );
                        }
                        current = next;
                        None
                    }
                    // A version that does not load here: not retried
                    // until the assignment changes.
                    Err(e) => Some((e.to_string(), false)),
                }
            }
            Err(PullError::Changed) => {
                etag = None;
                None
            }
            Err(e) => {
                let again = matches!(
                    e,
                    PullError::Disk { .. } | PullError::Fleet(_) | PullError::Hash { .. }
                );
                Some((e.to_string(), again))
            }
        };
        if let Some((error, again)) = failure {
            log(
                json,
                "version failed",
                serde_json::json!({"version": next_version, "error": error, "note": format!("version {} keeps serving", current.version)}),
            );
            report(ServeReport {
                serving: Some(current.version),
                failed: Some(FailedVersion {
                    version: next_version,
                    error,
                }),
                downloading: None,
            });
            if again {
                retry_at = Some(Instant::now() + Duration::from_secs(30));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("http://h:8787/mbv3").unwrap(),
            ("http://h:8787".to_string(), "mbv3".to_string())
        );
        assert_eq!(
            parse_target("https://c.example/api/x/").unwrap(),
            ("https://c.example/api".to_string(), "x".to_string())
        );
        assert!(parse_target("http://h:8787").is_err());
        assert!(parse_target("h/x").is_err());
    }
}
