//! The profiling queue over HTTP ([`crate::jobs`] has the rules):
//! operators queue jobs (`POST /v1/jobs`), readers and operators list them
//! (`GET /v1/jobs`), boards long-poll for their next one
//! (`GET /v1/jobs/next?wait=S`), renew its lease and complete it. A board
//! touches only its own device's jobs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{json_body, nonempty, rfc3339_us, ApiError, AppState};
use crate::auth::{random_hex, Principal, Role};
use crate::jobs::{Job, JobRequest, JobState, Lease, Outcome};
use crate::store::{Completed, DeviceMatch};

/// The device a request names, or the error that says why not.
pub(super) async fn device_of(state: &AppState, key: &str) -> Result<String, ApiError> {
    match state
        .store
        .find_device(key)
        .await
        .map_err(|e| state.database_error(e))?
    {
        DeviceMatch::One(id) => Ok(id),
        DeviceMatch::None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("device {key}: unknown; fix: name a device id or enrolled name from GET /v1/devices (a board appears once it enrols or uploads)"),
        )),
        DeviceMatch::Several(ids) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("device {key}: the name of {} devices ({}); fix: use the device id", ids.len(), ids.join(", ")),
        )),
    }
}

/// The device a reader's `?device=` names, if any.
pub(super) async fn device_filter(
    state: &AppState,
    key: Option<String>,
) -> Result<Option<String>, ApiError> {
    match nonempty(key) {
        Some(d) => Ok(Some(device_of(state, &d).await?)),
        None => Ok(None),
    }
}

pub(super) async fn post_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let who = state.authorize(&headers, &[Role::Operator]).await?;
    let req: JobRequest = json_body(
        body,
        state.limits.body_bytes,
        "job",
        "split its archs over several jobs",
        "{\"device\": ..., \"kind\": \"profile\", \"space\": ..., \"samples\": N}",
    )
    .await?;
    let spec = req
        .spec()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let device = device_of(&state, &req.device).await?;
    let job = state
        .store
        .create_job(&random_hex(8), &device, &spec, &who.token_id)
        .await
        .map_err(|e| state.database_error(e))?;
    state.jobs_queued.notify_waiters();
    Ok((StatusCode::CREATED, Json(job)))
}

/// Query of `GET /v1/jobs`.
#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    pub device: Option<String>,
    pub state: Option<String>,
    /// A number, parsed here so that a bad one gets the API's JSON error.
    pub limit: Option<String>,
}

pub(super) async fn get_jobs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let device = device_filter(&state, q.device).await?;
    let job_state = match nonempty(q.state) {
        Some(s) => Some(JobState::parse(&s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state={s}; fix: queued, leased, done or failed"),
            )
        })?),
        None => None,
    };
    let limit = match nonempty(q.limit) {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit={l}; fix: 1 to 1000"),
                )
            })?,
    };
    let jobs = state
        .store
        .jobs(device.as_deref(), job_state, limit)
        .await
        .map_err(|e| state.database_error(e))?;
    Ok(Json(jobs))
}

/// Query of `GET /v1/jobs/next`.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    /// Seconds to wait for a job (long poll), up to the collector's limit.
    pub wait: Option<String>,
}

/// The device a board's credential speaks for.
pub(super) fn board_device(who: &Principal) -> Result<&str, ApiError> {
    who.device_id.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "only an enrolled board's credential takes jobs; fix: enrol the board (POST /v1/enrol)",
        )
    })
}

pub(super) async fn next_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let device = board_device(&who)?.to_string();
    let wait = match nonempty(q.wait) {
        None => 0.0,
        Some(w) => w
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("wait={w}; fix: seconds, 0 or more"),
                )
            })?,
    };
    let wait = Duration::from_secs_f64(wait).min(state.limits.long_poll);
    // A board that sends no heartbeat (an older agent) still gets its
    // canaries every period.
    super::boards::ensure_canary(&state, &device, false).await?;
    let deadline = Instant::now() + wait;
    let lease_us = state.limits.lease.as_micros() as i64;
    loop {
        // Registered before looking, so that a job queued meanwhile on this
        // replica wakes the poll; other replicas' jobs are seen within 1 s.
        let queued = state.jobs_queued.notified();
        let token = random_hex(16);
        let leased = state
            .store
            .lease_job(&device, &who.token_id, &token, lease_us)
            .await
            .map_err(|e| state.database_error(e))?;
        if let Some(job) = leased {
            return Ok(Json(Lease {
                job,
                lease_token: token,
            })
            .into_response());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), queued).await;
    }
}

/// Body of `POST /v1/jobs/{id}/renew`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub lease_token: String,
}

/// Body of `POST /v1/jobs/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub lease_token: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The job `id` if it is this board's.
pub(super) async fn own_job(state: &AppState, who: &Principal, id: &str) -> Result<Job, ApiError> {
    let device = board_device(who)?;
    let job = state
        .store
        .job(id)
        .await
        .map_err(|e| state.database_error(e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("job {id}: unknown")))?;
    if job.device_id != device {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "job {id} is for device {}, and this credential is bound to device {device}",
                job.device_id
            ),
        ));
    }
    Ok(job)
}

pub(super) fn lease_lost(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("job {id}: this lease is no longer the job's (it expired and the job was leased again, or another lease finished it); fix: stop working on it: its rows are kept, the job is not counted twice"),
    )
}

/// Largest body of a renewal or completion.
const SMALL_BODY: usize = 16 << 10;

/// The answer to a renewal.
#[derive(Debug, Serialize, Deserialize)]
pub struct Renewed {
    pub lease_expires: String,
}

/// A board's `{"lease_token"}` for its own job `id` (`what` names the
/// request in errors).
async fn lease_request(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    body: Body,
    what: &str,
) -> Result<LeaseRequest, ApiError> {
    let who = state.authorize(headers, &[Role::Board]).await?;
    let req: LeaseRequest = json_body(
        body,
        SMALL_BODY,
        what,
        "send the lease token only",
        "{\"lease_token\": ...}",
    )
    .await?;
    own_job(state, &who, id).await?;
    Ok(req)
}

pub(super) async fn renew_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Renewed>, ApiError> {
    let req = lease_request(&state, &headers, &id, body, "lease renewal").await?;
    let lease_us = state.limits.lease.as_micros() as i64;
    match state
        .store
        .renew_lease(&id, &req.lease_token, lease_us)
        .await
        .map_err(|e| state.database_error(e))?
    {
        Some(until) => Ok(Json(Renewed {
            lease_expires: rfc3339_us(until),
        })),
        None => Err(lease_lost(&id)),
    }
}

/// `POST /v1/jobs/{id}/release`: a board that stops mid-job (SIGTERM)
/// gives the job back to the queue at once, instead of holding it until
/// its lease runs out. The rows it uploaded are kept (once, by row id).
pub(super) async fn release_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Job>, ApiError> {
    let req = lease_request(&state, &headers, &id, body, "lease release").await?;
    let db = |e| state.database_error(e);
    if !state
        .store
        .release_job(&id, &req.lease_token)
        .await
        .map_err(db)?
    {
        return Err(lease_lost(&id));
    }
    state.jobs_queued.notify_waiters();
    let job = state.store.job(&id).await.map_err(db)?;
    Ok(Json(job.expect("released above")))
}

pub(super) async fn complete_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Job>, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let req: CompleteRequest = json_body(
        body,
        SMALL_BODY,
        "job outcome",
        "shorten the message",
        "{\"lease_token\": ..., \"state\": \"done\"|\"failed\", \"rows\": N, \"message\": ...}",
    )
    .await?;
    if !matches!(req.outcome.state, JobState::Done | JobState::Failed) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "state {}; fix: a job ends done or failed",
                req.outcome.state.as_str()
            ),
        ));
    }
    if req
        .outcome
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > 4096)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "message: at most 4096 characters",
        ));
    }
    own_job(&state, &who, &id).await?;
    match state
        .store
        .complete_job(&id, &req.lease_token, &req.outcome)
        .await
        .map_err(|e| state.database_error(e))?
    {
        Completed::Recorded | Completed::Again(_) => {}
        Completed::LeaseLost => return Err(lease_lost(&id)),
        Completed::Unknown => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("job {id}: unknown"),
            ))
        }
    }
    let job = state
        .store
        .job(&id)
        .await
        .map_err(|e| state.database_error(e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("job {id}: unknown")))?;
    Ok(Json(job))
}
