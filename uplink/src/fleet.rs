//! The board's side of the fleet (`docs/COLLECTOR.md`): enrolment, and the
//! job lease protocol, over blocking HTTP.
//!
//! A board enrols once with a device token and keeps the credential it gets
//! in its state directory ([`Credential::save`]: mode 600, written whole
//! then renamed), then speaks with that credential alone: rows of an
//! enrolled device are accepted only with it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use frontier_table::jobs::{BatchReply, BatchRequest, JobState, Lease, Outcome};
use frontier_table::LatencyRow;
use serde::{Deserialize, Serialize};

use crate::sender::{SendError, Sender, SenderConfig};
use crate::Spool;

/// What went wrong talking to the collector. Callers branch on
/// [`FleetError::Retry`] (the network or the collector's database: try
/// again later) against the others (stop and say the fix).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{0}")]
    Retry(String),
    #[error("{url}: {status}: {message}; fix: {fix}")]
    Refused {
        url: String,
        status: u16,
        message: String,
        fix: &'static str,
    },
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
}

/// A board's identity at one collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub collector: String,
    pub device_id: String,
    /// The bearer token (role `board`).
    pub credential: String,
    pub credential_id: String,
}

impl Credential {
    /// The credential in `path`, if there is one (refused when others may
    /// read it).
    pub fn load(path: &Path) -> Result<Option<Credential>, FleetError> {
        let err = |detail: String| FleetError::File {
            path: path.display().to_string(),
            detail,
        };
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::config::private_text(path).map_err(|e| FleetError::File {
            path: path.display().to_string(),
            detail: format!("the board's credential: {e}"),
        })?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            err(format!(
                "not a board credential ({e}); fix: remove it to enrol again"
            ))
        })
    }

    /// Write it to `path` with mode 600 (a temporary file, fsynced, then
    /// renamed: never half written).
    pub fn save(&self, path: &Path) -> Result<(), FleetError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |e: std::io::Error| FleetError::File {
            path: path.display().to_string(),
            detail: format!("cannot write the board's credential: {e}"),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("plain data"))
            .and_then(|_| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// What a board says of itself when it enrols.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Enrolment {
    pub device_id: String,
    pub name: Option<String>,
    pub fingerprint: serde_json::Value,
    pub agent_version: Option<String>,
    pub runtimes: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Enrolled {
    device_id: String,
    credential: String,
    credential_id: String,
}

pub(crate) fn client(timeout: Duration) -> Result<reqwest::blocking::Client, FleetError> {
    crate::sender::http_client(timeout).map_err(FleetError::Retry)
}

/// The error of a response that was not a success.
pub(crate) fn refused(url: &str, status: u16, text: &str) -> FleetError {
    let message = crate::sender::error_message(text);
    if matches!(status, 408 | 429 | 500..=599) {
        return FleetError::Retry(format!("{url}: {status}: {message}"));
    }
    let fix = match status {
        401 => "the credential was revoked or the token is wrong: remove the board's credential file to enrol again with a device token",
        403 => "use a device token to enrol, and the board's own credential after",
        404 | 405 => "check the collector URL (the base, e.g. http://host:8787) and that it is new enough for jobs",
        409 => "an operator revokes the board's old credential (frontier-collector token revoke ID), then the board enrols again",
        _ => "upgrade the agent or the collector so that they agree",
    };
    FleetError::Refused {
        url: url.to_string(),
        status,
        message,
        fix,
    }
}

pub(crate) fn send_error(url: &str, e: reqwest::Error) -> FleetError {
    FleetError::Retry(format!("{url}: {e}"))
}

/// Enrol this board at `collector` with a device token.
pub fn enrol(
    collector: &str,
    device_token: &str,
    board: &Enrolment,
) -> Result<Credential, FleetError> {
    let url = format!("{collector}/v1/enrol");
    let r = client(Duration::from_secs(30))?
        .post(&url)
        .bearer_auth(device_token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(board).expect("plain data"))
        .send()
        .map_err(|e| send_error(&url, e))?;
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    if status != 201 {
        return Err(refused(&url, status, &text));
    }
    let e: Enrolled = serde_json::from_str(&text)
        .map_err(|e| refused(&url, status, &format!("not an enrolment answer: {e}")))?;
    Ok(Credential {
        collector: collector.to_string(),
        device_id: e.device_id,
        credential: e.credential,
        credential_id: e.credential_id,
    })
}

/// A board's connection for jobs.
#[derive(Clone)]
pub struct Board {
    credential: Credential,
    client: reqwest::blocking::Client,
}

impl Board {
    /// `long_poll`: the longest wait a request may hold (the HTTP timeout
    /// is that plus a margin).
    pub fn new(credential: Credential, long_poll: Duration) -> Result<Board, FleetError> {
        Ok(Board {
            credential,
            client: client(long_poll + Duration::from_secs(30))?,
        })
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.credential.collector)
    }

    /// The next job of this board, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Result<Option<Lease>, FleetError> {
        let url = self.url(&format!("/v1/jobs/next?wait={}", wait.as_secs_f64()));
        let r = self
            .client
            .get(&url)
            .bearer_auth(&self.credential.credential)
            .send()
            .map_err(|e| send_error(&url, e))?;
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        match status {
            200 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| refused(&url, status, &format!("not a lease: {e}"))),
            204 => Ok(None),
            _ => Err(refused(&url, status, &text)),
        }
    }

    /// POST `body` as JSON with the board's credential: the URL, status
    /// and text of the answer.
    fn send_json(&self, path: &str, body: String) -> Result<(String, u16, String), FleetError> {
        let url = self.url(path);
        let r = self
            .client
            .post(&url)
            .bearer_auth(&self.credential.credential)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .map_err(|e| send_error(&url, e))?;
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        Ok((url, status, text))
    }

    fn post(&self, path: &str, body: serde_json::Value) -> Result<Option<String>, FleetError> {
        let (url, status, text) = self.send_json(path, body.to_string())?;
        match status {
            200 => Ok(Some(text)),
            // The lease is no longer ours.
            409 => Ok(None),
            _ => Err(refused(&url, status, &text)),
        }
    }

    /// Extend a lease; `false` when it is no longer this board's.
    pub fn renew(&self, lease: &Lease) -> Result<bool, FleetError> {
        Ok(self
            .post(
                &format!("/v1/jobs/{}/renew", lease.job.id),
                serde_json::json!({"lease_token": lease.lease_token}),
            )?
            .is_some())
    }

    /// The next batch of an active job, chosen by the collector; `None`
    /// when the collector does not plan batches (an older one: the route
    /// is missing), so the board plans its own.
    pub fn batch(
        &self,
        lease: &Lease,
        req: &BatchRequest,
    ) -> Result<Option<BatchReply>, FleetError> {
        let (url, status, text) = self.send_json(
            &format!("/v1/jobs/{}/batch", lease.job.id),
            serde_json::to_string(req).expect("plain data"),
        )?;
        match status {
            200 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| refused(&url, status, &format!("not a batch: {e}"))),
            404 if text.trim().is_empty() => Ok(None),
            _ => Err(refused(&url, status, &text)),
        }
    }

    /// Give a job back to the queue (this board stops mid-job); `false`
    /// when the lease was no longer this board's.
    pub fn release(&self, lease: &Lease) -> Result<bool, FleetError> {
        Ok(self
            .post(
                &format!("/v1/jobs/{}/release", lease.job.id),
                serde_json::json!({"lease_token": lease.lease_token}),
            )?
            .is_some())
    }

    /// Tell the collector this board is alive and what it is doing
    /// (`POST /v1/heartbeat`). A collector too old to know heartbeats
    /// (404) is not an error: the board runs without them.
    pub fn heartbeat(&self, body: &serde_json::Value) -> Result<(), FleetError> {
        let (url, status, text) = self.send_json("/v1/heartbeat", body.to_string())?;
        match status {
            200 | 404 => Ok(()),
            _ => Err(refused(&url, status, &text)),
        }
    }

    /// Report how a job ended; `false` when the lease was lost meanwhile
    /// (the job was given to another lease and this outcome does not count).
    pub fn complete(&self, lease: &Lease, outcome: &Outcome) -> Result<bool, FleetError> {
        let mut body = serde_json::to_value(outcome).expect("plain data");
        body["lease_token"] = lease.lease_token.clone().into();
        Ok(self
            .post(&format!("/v1/jobs/{}/complete", lease.job.id), body)?
            .is_some())
    }
}

/// How [`run_jobs`] runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The long poll's wait for a job.
    pub poll: Duration,
    /// Stop after this many jobs (`None`: until `stop`).
    pub max_jobs: Option<u64>,
    /// How long to keep sending a job's rows before reporting it; what is
    /// left stays spooled and goes before the next job.
    pub drain_wait: Duration,
    /// Set (by [`stop_on_signals`]'s handler) to stop: the measuring
    /// closure sees it between models, the loop before the next job.
    pub stop: &'static AtomicBool,
    /// How long to wait before asking again when the board is not ready
    /// (the `ready` check of [`run_jobs`] said why).
    pub not_ready_retry: Duration,
    /// Between heartbeats (also sent while a job runs).
    pub heartbeat: Duration,
    /// What every heartbeat says of this agent: `started_at_us` (this
    /// process's start: a new value tells the collector to run the
    /// canaries), `agent_version`, `runtimes`.
    pub hello: serde_json::Value,
}

/// What the loop is doing, as heartbeats say it.
struct Pulse<'a> {
    board: &'a Board,
    opts: &'a RunOptions,
    next_at: Instant,
    /// The last heartbeat error, said once.
    failing: Option<String>,
}

impl Pulse<'_> {
    /// Send a heartbeat if one is due (or `force`).
    fn beat(
        &mut self,
        force: bool,
        busy: Option<&str>,
        job: Option<&str>,
        spool: Option<&Spool>,
        log: &mut dyn FnMut(&str),
    ) {
        if !force && Instant::now() < self.next_at {
            return;
        }
        self.next_at = Instant::now() + self.opts.heartbeat;
        let mut body = self.opts.hello.clone();
        if !body.is_object() {
            body = serde_json::json!({});
        }
        body["idle"] = (busy.is_none() && job.is_none()).into();
        body["busy_reason"] = busy.into();
        body["job_id"] = job.into();
        if let Some(p) = spool.and_then(|s| s.pending().ok()) {
            body["spool_pending"] = p.records.into();
        }
        match self.board.heartbeat(&body) {
            Ok(()) => self.failing = None,
            Err(e) => {
                let e = e.to_string();
                if self.failing.as_deref() != Some(&e) {
                    log(&format!("heartbeat: {e}"));
                }
                self.failing = Some(e);
            }
        }
    }
}

/// What a job's measuring may ask of the collector while it runs.
pub trait JobIo {
    /// Spool and send rows now (an active job's batches, so that the
    /// collector plans the next batch from them). Spooled rows count for
    /// the job's outcome; sending is bounded, what is left goes later.
    fn upload(&mut self, rows: &mut [LatencyRow]) -> Result<(), String>;
    /// The next batch of an active job ([`Board::batch`]).
    fn batch(&mut self, req: &BatchRequest) -> Result<Option<BatchReply>, String>;
}

struct Io<'a> {
    board: &'a Board,
    lease: &'a Lease,
    spool: &'a mut Spool,
    drain_wait: Duration,
    uploaded: u64,
}

impl JobIo for Io<'_> {
    fn upload(&mut self, rows: &mut [LatencyRow]) -> Result<(), String> {
        self.spool.append_rows(rows).map_err(|e| {
            format!(
                "cannot spool the rows in {}: {e}",
                self.spool.dir().display()
            )
        })?;
        self.uploaded += rows.len() as u64;
        drain(self.board, self.spool, self.drain_wait, &mut |_| {}).map_err(|e| e.to_string())
    }

    fn batch(&mut self, req: &BatchRequest) -> Result<Option<BatchReply>, String> {
        // A network error is retried a few times: the rows wait in the
        // spool meanwhile, and the plan needs them.
        let mut last = String::new();
        for attempt in 0..5u32 {
            match self.board.batch(self.lease, req) {
                Ok(r) => return Ok(r),
                Err(FleetError::Retry(e)) => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(500 << attempt));
                    let _ = drain(self.board, self.spool, self.drain_wait, &mut |_| {});
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "the collector did not answer for the next batch: {last}"
        ))
    }
}

/// What a job's measuring gave.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub rows: Vec<LatencyRow>,
    /// Why it stopped before the end (SIGTERM): its rows are uploaded and
    /// the job goes back to the queue to run again.
    pub interrupted: Option<String>,
}

/// Set by SIGTERM and SIGINT once [`stop_on_signals`] ran.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    STOP.store(true, Ordering::SeqCst);
}

/// SIGTERM and SIGINT set [`STOP`] instead of killing the process, so that
/// the agent finishes the model it is measuring, uploads, gives its job
/// back and exits.
pub fn stop_on_signals() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_stop_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_stop_signal as *const () as libc::sighandler_t,
        );
    }
    &STOP
}

/// One job as [`run_jobs`] ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub job_id: String,
    pub state: JobState,
    pub rows: u64,
    /// Whether the collector counted the outcome (`false`: the lease was
    /// lost meanwhile, or the collector could not be told).
    pub counted: bool,
}

/// Sleep up to `d`, waking early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}

/// Send what the spool holds with the board's credential, for at most
/// `wait`. A refusal (a revoked credential) is an error; the network is not.
fn drain(
    board: &Board,
    spool: &Spool,
    wait: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<(), FleetError> {
    let c = board.credential();
    let sender = Sender::new(SenderConfig::new(&c.collector, &c.credential))
        .map_err(|e| FleetError::Retry(e.to_string()))?;
    match sender.drain(spool, Instant::now() + wait) {
        Ok(report) => {
            if report.pending > 0 {
                log(&format!(
                    "{} rows stay spooled in {} for the next attempt",
                    report.pending,
                    spool.dir().display()
                ));
            }
            Ok(())
        }
        Err(SendError::Refused {
            url,
            status,
            message,
            ..
        }) => Err(refused(&url, status, &message)),
        Err(e) => {
            log(&format!("upload: {e}; the rows stay spooled"));
            Ok(())
        }
    }
}

/// The board's job loop: send what is spooled; wait until `ready` says
/// the board may measure (idle enough, by the caller's thresholds) without
/// holding a lease meanwhile; lease the next job (a long poll), renew its
/// lease while `measure` runs it, spool and send its rows (exactly once, as
/// every upload), report its outcome. A collector that cannot be reached
/// is retried with backoff (up to a minute between tries) while rows wait
/// in the spool; a refusal (a revoked credential) ends the loop with its
/// fix.
pub fn run_jobs(
    board: &Board,
    spool: &mut Spool,
    opts: &RunOptions,
    ready: &mut dyn FnMut() -> Result<(), String>,
    measure: &mut dyn FnMut(&Lease, &mut dyn JobIo) -> Result<Measured, String>,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<JobReport>, FleetError> {
    let mut done = Vec::new();
    let mut failures = 0u32;
    let mut waiting: Option<String> = None;
    let mut pulse = Pulse {
        board,
        opts,
        next_at: Instant::now(),
        failing: None,
    };
    let backoff =
        |failures: u32| Duration::from_millis(500 << failures.min(7)).min(Duration::from_secs(60));
    while !opts.stop.load(Ordering::Relaxed)
        && opts.max_jobs.is_none_or(|m| (done.len() as u64) < m)
    {
        drain(board, spool, opts.drain_wait, log)?;
        let readiness = ready();
        pulse.beat(
            false,
            readiness.as_ref().err().map(String::as_str),
            None,
            Some(spool),
            log,
        );
        if let Err(why) = readiness {
            if waiting.as_deref() != Some(why.as_str()) {
                log(&format!("not taking jobs: {why}"));
            }
            waiting = Some(why);
            nap(opts.not_ready_retry, opts.stop);
            continue;
        }
        if waiting.take().is_some() {
            log("idle again: taking jobs");
        }
        let lease = match board.next(opts.poll) {
            Ok(Some(l)) => l,
            Ok(None) => continue,
            Err(FleetError::Retry(e)) => {
                failures += 1;
                log(&format!(
                    "collector: {e}; retrying in {:?}",
                    backoff(failures)
                ));
                nap(backoff(failures), opts.stop);
                continue;
            }
            Err(e) => return Err(e),
        };
        failures = 0;
        if opts.stop.load(Ordering::Relaxed) {
            // Stopped during the poll: give the job straight back.
            let _ = board.release(&lease);
            break;
        }
        log(&format!(
            "job {}: {} on {} (attempt {})",
            lease.job.id,
            lease.job.spec.kind.as_str(),
            lease.job.spec.space,
            lease.job.attempts
        ));
        // Renew at a third of the lease, so that two renewals may fail
        // before it runs out.
        let left_us = lease
            .job
            .lease_expires_us
            .map(|t| t - now_us())
            .unwrap_or(600_000_000)
            .max(3_000_000);
        let every = Duration::from_micros(left_us as u64 / 3);
        let finished = AtomicBool::new(false);
        let job_id = lease.job.id.clone();
        let measured = std::thread::scope(|scope| {
            // Renews the lease and keeps the heartbeats going meanwhile.
            let pulse = &mut pulse;
            let renewer = scope.spawn(|| {
                let mut lost = false;
                let mut renew_at = Instant::now() + every;
                pulse.beat(true, None, Some(&job_id), None, &mut |_| {});
                while !finished.load(Ordering::Relaxed) {
                    let next = renew_at.min(pulse.next_at);
                    nap(next.saturating_duration_since(Instant::now()), &finished);
                    if finished.load(Ordering::Relaxed) {
                        break;
                    }
                    pulse.beat(false, None, Some(&job_id), None, &mut |_| {});
                    if Instant::now() >= renew_at {
                        renew_at = Instant::now() + every;
                        if let Ok(false) = board.renew(&lease) {
                            lost = true;
                            break;
                        }
                    }
                }
                lost
            });
            let mut io = Io {
                board,
                lease: &lease,
                spool,
                drain_wait: opts.drain_wait,
                uploaded: 0,
            };
            let m = measure(&lease, &mut io);
            finished.store(true, Ordering::Relaxed);
            (m, io.uploaded, renewer.join().unwrap_or(false))
        });
        let (result, uploaded, lost) = measured;
        if lost {
            log(&format!(
                "job {}: the lease was lost while measuring (the collector gave the job to another lease); its rows are still uploaded",
                lease.job.id
            ));
        }
        let result = match result {
            Ok(Measured {
                mut rows,
                interrupted: Some(why),
            }) => {
                // Keep what was measured, give the job back, stop.
                let kept = spool.append_rows(&mut rows);
                if kept.is_ok() {
                    drain(board, spool, opts.drain_wait, log)?;
                }
                let released = board.release(&lease).unwrap_or(false);
                log(&format!(
                    "job {}: {why} after {} rows ({}); {}",
                    lease.job.id,
                    rows.len() as u64 + uploaded,
                    match kept {
                        Ok(()) => "spooled for upload".to_string(),
                        Err(e) => format!("cannot spool them: {e}"),
                    },
                    if released {
                        "the job is back in the collector's queue"
                    } else {
                        "the job goes back to the queue when its lease runs out"
                    }
                ));
                done.push(JobReport {
                    job_id: lease.job.id.clone(),
                    state: JobState::Queued,
                    rows: rows.len() as u64 + uploaded,
                    counted: false,
                });
                break;
            }
            Ok(m) => Ok(m.rows),
            Err(e) => Err(e),
        };
        let outcome = match result {
            Ok(mut rows) => match spool.append_rows(&mut rows) {
                Ok(()) => {
                    drain(board, spool, opts.drain_wait, log)?;
                    Outcome {
                        state: JobState::Done,
                        rows: rows.len() as u64 + uploaded,
                        message: None,
                    }
                }
                Err(e) => Outcome {
                    state: JobState::Failed,
                    rows: 0,
                    message: Some(format!(
                        "cannot spool the rows in {}: {e}",
                        spool.dir().display()
                    )),
                },
            },
            Err(message) => Outcome {
                state: JobState::Failed,
                rows: uploaded,
                message: Some(message),
            },
        };
        // The outcome is idempotent: retry it a few times.
        let mut counted = false;
        for attempt in 0..5 {
            match board.complete(&lease, &outcome) {
                Ok(c) => {
                    counted = c;
                    break;
                }
                Err(FleetError::Retry(e)) => {
                    log(&format!("job {}: reporting: {e}", lease.job.id));
                    nap(backoff(attempt + 1), opts.stop);
                }
                Err(e) => return Err(e),
            }
        }
        log(&format!(
            "job {}: {} with {} rows{}",
            lease.job.id,
            outcome.state.as_str(),
            outcome.rows,
            if counted {
                ""
            } else {
                " (not counted: the lease was lost or the collector unreachable; the job will run again)"
            }
        ));
        done.push(JobReport {
            job_id: lease.job.id.clone(),
            state: outcome.state,
            rows: outcome.rows,
            counted,
        });
    }
    Ok(done)
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_credential_is_written_private_and_read_back() {
        let dir = frontier_testkit::scratch("fleet-credential");
        let path = dir.join("state/board.json");
        assert_eq!(Credential::load(&path).unwrap(), None);
        let c = Credential {
            collector: "http://127.0.0.1:8787".into(),
            device_id: "9f2c".into(),
            credential: format!("frt_{}_{}", "a".repeat(16), "b".repeat(64)),
            credential_id: "a".repeat(16),
        };
        c.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Credential::load(&path).unwrap(), Some(c));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Credential::load(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refusals_say_the_fix_and_retries_are_told_apart() {
        assert!(matches!(refused("u", 503, "{}"), FleetError::Retry(_)));
        let e = refused("u", 409, r#"{"error": "device x is enrolled already"}"#).to_string();
        assert!(
            e.contains("enrolled already") && e.contains("token revoke"),
            "{e}"
        );
        let e = refused("u", 401, "").to_string();
        assert!(e.contains("enrol again"), "{e}");
    }
}
