//! Ships the spool to a collector: batches over HTTP (gzip JSON Lines),
//! acknowledged in the spool only after the collector's 2xx.
//!
//! Failures the collector may recover from (no connection, timeouts, 408,
//! 429, 5xx) are retried with exponential backoff and jitter until the
//! caller's deadline; the rows stay in the spool for the next run. Failures
//! only the user can fix (401, 403, 404, other 4xx) stop at once with the
//! fix. A batch over the collector's body limit (413) is halved; a single
//! row over it is set aside in `rejected.jsonl`, as are the rows the
//! collector rejects, with its reason, so nothing is dropped silently.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::spool::{Position, Spool, SpoolError};

/// How the sender talks to the collector.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The collector's base URL (`http://host:8787`).
    pub url: String,
    /// A `device` token (or a board's credential).
    pub token: String,
    /// The route rows go to: `/v1/rows` (latency rows) or `/v1/field`
    /// (`frontier serve`'s field rows).
    pub path: &'static str,
    /// Rows per request.
    pub batch_rows: usize,
    /// Payload bytes per request (before gzip).
    pub batch_bytes: usize,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// First backoff; doubles per failure up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl SenderConfig {
    pub fn new(url: &str, token: &str) -> SenderConfig {
        SenderConfig {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            path: "/v1/rows",
            batch_rows: 500,
            batch_bytes: 4 << 20,
            request_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Errors the sender stops on.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the collector at {url} refused the request ({status}): {message}; fix: {fix}")]
    Refused {
        url: String,
        status: u16,
        message: String,
        fix: &'static str,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub sent: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Rows still in the spool (the deadline came first).
    pub pending: u64,
    /// The last error that was retried, if the drain did not finish.
    pub last_error: Option<String>,
    /// Torn or corrupt spool records skipped (file and offset).
    pub warnings: Vec<String>,
}

impl DrainReport {
    /// What a drain did, for a person: a line of counts, and a warning
    /// with the fix when rows are left in the spool at `spool_dir`.
    pub fn describe(&self, url: &str, spool_dir: &std::path::Path) -> String {
        let mut s = format!(
            "uploaded {} rows to {url} ({} new, {} already there, {} rejected); {} pending\n",
            self.sent, self.accepted, self.duplicate, self.rejected, self.pending
        );
        if self.pending > 0 {
            s += &format!(
                "warning: {} rows wait in {} ({}); fix: run `frontier upload` when the collector is reachable\n",
                self.pending,
                spool_dir.display(),
                self.last_error.as_deref().unwrap_or("not sent in time")
            );
        }
        s
    }
}

/// The collector's answer to a batch (its `IngestReport`).
#[derive(Debug, Default, Deserialize)]
struct Ingest {
    accepted: u64,
    duplicate: u64,
    rejected: u64,
    #[serde(default)]
    errors: Vec<Rejection>,
}

#[derive(Debug, Deserialize)]
struct Rejection {
    line: usize,
    reason: String,
}

/// `status.json` in the spool: for `frontier upload --status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub collector: Option<String>,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub delivered_total: u64,
    pub rejected_total: u64,
}

impl Status {
    fn path(spool: &Spool) -> PathBuf {
        spool.dir().join("status.json")
    }

    pub fn load(spool: &Spool) -> Status {
        std::fs::read_to_string(Status::path(spool))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Best effort: the status is advice, delivery does not depend on it.
    fn save(&self, spool: &Spool) {
        let path = Status::path(spool);
        let tmp = path.with_extension("json.tmp");
        if std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("plain data")).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

enum Outcome {
    Delivered(Ingest),
    Retry(String),
    TooLarge,
}

/// An error with its causes ("error sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Free bytes on the spool's file system.
fn free_bytes(spool: &Spool) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(spool.dir().as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed out-parameter.
    (unsafe { libc::statvfs(path.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// The backoff before retry `attempt` (0-based): exponential, capped, with
/// "equal jitter" (half fixed, half random), so agents that lost the same
/// collector do not come back in step.
pub fn backoff(config: &SenderConfig, attempt: u32) -> Duration {
    let exp = config
        .min_backoff
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(config.max_backoff);
    exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
}

/// The agent's HTTP client (rustls, its user agent): `timeout` per request.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("frontier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// The collector's `{"error": ...}`, else the start of the body.
pub(crate) fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// Sends the spool's rows.
pub struct Sender {
    config: SenderConfig,
    client: reqwest::blocking::Client,
}

impl Sender {
    pub fn new(config: SenderConfig) -> Result<Sender, SendError> {
        let client = http_client(config.request_timeout).map_err(SendError::Client)?;
        Ok(Sender { config, client })
    }

    fn post(&self, records: &[Vec<u8>], spool: &Spool, pending: u64) -> Result<Outcome, SendError> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for r in records {
            gz.write_all(r)
                .and_then(|_| gz.write_all(b"\n"))
                .expect("writes to memory");
        }
        let body = gz.finish().expect("writes to memory");
        let url = format!("{}{}", self.config.url, self.config.path);
        let mut req = self
            .client
            .post(&url)
            .bearer_auth(&self.config.token)
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .header("x-frontier-spool-pending", pending.to_string());
        if let Some(free) = free_bytes(spool) {
            req = req.header("x-frontier-spool-free-bytes", free.to_string());
        }
        let resp = match req.body(body).send() {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Retry(format!("{url}: {}", chain(&e)))),
        };
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let message = || error_message(&text);
        let refused = |fix: &'static str| SendError::Refused {
            url: url.clone(),
            status,
            message: message(),
            fix,
        };
        match status {
            200..=299 => match serde_json::from_str::<Ingest>(&text) {
                Ok(i) => Ok(Outcome::Delivered(i)),
                // A 2xx that is not the collector's report: something else
                // answers at this URL; the rows must not count as delivered.
                Err(_) => Err(refused(
                    "check the collector URL: this is not a frontier collector",
                )),
            },
            401 => Err(refused(
                "set a valid device token (--token, FRONTIER_TOKEN or the config file)",
            )),
            403 => Err(refused("use a token created with --role device")),
            404 | 405 => Err(refused(
                "check the collector URL (it should be the base, e.g. http://host:8787)",
            )),
            413 => Ok(Outcome::TooLarge),
            408 | 429 | 500..=599 => Ok(Outcome::Retry(format!("{url}: {status}: {}", message()))),
            _ => Err(refused(
                "upgrade the agent or the collector so that they agree",
            )),
        }
    }

    /// Send every pending row, retrying until `deadline`. Rows left when it
    /// passes stay in the spool ([`DrainReport::pending`]).
    pub fn drain(&self, spool: &Spool, deadline: Instant) -> Result<DrainReport, SendError> {
        let mut report = DrainReport::default();
        let mut status = Status::load(spool);
        status.collector = Some(self.config.url.clone());
        let mut batch_rows = self.config.batch_rows.max(1);
        let mut attempt = 0u32;
        let mut pending = spool.pending()?.records;
        loop {
            let batch = spool.read_batch(batch_rows, self.config.batch_bytes)?;
            for w in &batch.warnings {
                if !report.warnings.contains(w) {
                    report.warnings.push(w.clone());
                }
            }
            if batch.records.is_empty() {
                spool.ack(batch.end)?;
                break;
            }
            status.last_attempt = Some(frontier_table::now_rfc3339());
            let outcome = self.post(&batch.records, spool, pending);
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    status.last_error = Some(e.to_string());
                    status.last_error_at = status.last_attempt.clone();
                    status.save(spool);
                    return Err(e);
                }
            };
            match outcome {
                Outcome::Delivered(ingest) => {
                    set_aside(spool, &batch.records, &ingest.errors);
                    spool.ack(batch.end)?;
                    let n = batch.records.len() as u64;
                    report.sent += n;
                    report.accepted += ingest.accepted;
                    report.duplicate += ingest.duplicate;
                    report.rejected += ingest.rejected;
                    pending = pending.saturating_sub(n);
                    status.last_success = status.last_attempt.clone();
                    status.delivered_total += ingest.accepted + ingest.duplicate;
                    status.rejected_total += ingest.rejected;
                    status.save(spool);
                    attempt = 0;
                }
                Outcome::TooLarge if batch.records.len() > 1 => {
                    batch_rows = (batch.records.len() / 2).max(1);
                }
                Outcome::TooLarge => {
                    set_aside(
                        spool,
                        &batch.records,
                        &[Rejection {
                            line: 1,
                            reason: "larger than the collector's body limit (413)".into(),
                        }],
                    );
                    spool.ack(first_end(&batch.ends))?;
                    report.rejected += 1;
                    pending = pending.saturating_sub(1);
                }
                Outcome::Retry(e) => {
                    status.last_error = Some(e.clone());
                    status.last_error_at = status.last_attempt.clone();
                    status.save(spool);
                    report.last_error = Some(e);
                    let wait = backoff(&self.config, attempt);
                    attempt += 1;
                    if Instant::now() + wait > deadline {
                        break;
                    }
                    std::thread::sleep(wait);
                }
            }
        }
        report.pending = spool.pending()?.records;
        if report.pending == 0 {
            report.last_error = None;
        }
        Ok(report)
    }
}

/// Read rows from a collector (`GET /v1/rows` with a reader token); `query`
/// holds its filters (`device`, `backend`, `space`, `since`).
pub fn fetch_rows(
    url: &str,
    token: &str,
    query: &[(&str, &str)],
) -> Result<Vec<frontier_table::LatencyRow>, SendError> {
    let url = format!("{}/v1/rows", url.trim_end_matches('/'));
    let refused = |status: u16, message: String, fix: &'static str| SendError::Refused {
        url: url.clone(),
        status,
        message,
        fix,
    };
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| SendError::Client(e.to_string()))?
        .get(&url)
        .query(query)
        .bearer_auth(token)
        .send()
        .map_err(|e| {
            refused(
                0,
                e.to_string(),
                "check that the collector runs and the URL",
            )
        })?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .map_err(|e| refused(status, e.to_string(), "retry; the answer was cut off"))?;
    if !(200..300).contains(&status) {
        let fix = match status {
            401 | 403 => "use a token created with --role reader",
            _ => "check the collector URL",
        };
        return Err(refused(status, text.chars().take(200).collect(), fix));
    }
    frontier_table::parse(
        std::path::Path::new(&url),
        frontier_table::Format::JsonLines,
        &text,
    )
    .map_err(|e| {
        refused(
            status,
            e.to_string(),
            "upgrade frontier to read this collector's rows",
        )
    })
}

fn first_end(ends: &[Position]) -> Position {
    ends.first().copied().unwrap_or_default()
}

/// Keep rejected rows with the collector's reason in `rejected.jsonl`.
fn set_aside(spool: &Spool, records: &[Vec<u8>], errors: &[Rejection]) {
    if errors.is_empty() {
        return;
    }
    let path = spool.dir().join("rejected.jsonl");
    let mut out = Vec::new();
    for e in errors {
        let Some(raw) = e.line.checked_sub(1).and_then(|i| records.get(i)) else {
            continue;
        };
        let line = serde_json::json!({
            "rejected_at": frontier_table::now_rfc3339(),
            "reason": e.reason,
            "row": String::from_utf8_lossy(raw),
        });
        out.extend(serde_json::to_vec(&line).expect("plain data"));
        out.push(b'\n');
        eprintln!(
            "warning: the collector rejected a row: {} (kept in {})",
            e.reason,
            path.display()
        );
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&out).and_then(|_| f.sync_data()));
    if let Err(e) = written {
        eprintln!(
            "warning: {}: cannot keep rejected rows: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let c = SenderConfig::new("http://x", "t");
        for attempt in 0..40 {
            let exp = (c.min_backoff * 2u32.saturating_pow(attempt.min(20))).min(c.max_backoff);
            let b = backoff(&c, attempt);
            assert!(
                b >= exp / 2 && b <= exp,
                "attempt {attempt}: {b:?} vs {exp:?}"
            );
        }
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(&c, 3)).collect();
        assert!(draws.len() > 1, "no jitter");
    }
}
