//! The fleet's boards: `GET /v1/devices` and enrolment (`POST /v1/enrol`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{json_body, rfc3339_us, ApiError, AppState};
use crate::auth::{self, Role};
use crate::store::{Enrolment, Fingerprint};

/// One device in `GET /v1/devices`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceView {
    pub device_id: String,
    pub fingerprint: Fingerprint,
    pub first_seen: String,
    pub last_seen: String,
    /// Rows per backend.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// Set once the board enrolled: its name, when, and its agent's
    /// versions (`agent_version`, `runtimes`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enrolled_at: Option<String>,
    #[serde(default)]
    pub agent: Option<serde_json::Value>,
    /// The board's last heartbeat: when, and what it said (idle or busy
    /// and why, the job it runs, rows waiting in its spool, versions).
    #[serde(default)]
    pub heartbeat_at: Option<String>,
    #[serde(default)]
    pub heartbeat: Option<serde_json::Value>,
}

pub(super) async fn get_devices(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let devices = state
        .store
        .devices()
        .await
        .map_err(|e| state.database_error(e))?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceView {
                first_seen: rfc3339_us(d.first_seen_us),
                last_seen: rfc3339_us(d.last_seen_us),
                device_id: d.device_id,
                fingerprint: d.fingerprint,
                rows: d.rows.into_iter().collect(),
                name: d.name,
                enrolled_at: d.enrolled_at_us.map(rfc3339_us),
                agent: d.agent_json.and_then(|a| serde_json::from_str(&a).ok()),
                heartbeat_at: d.heartbeat_us.map(rfc3339_us),
                heartbeat: d.heartbeat_json.and_then(|h| serde_json::from_str(&h).ok()),
            })
            .collect(),
    ))
}

/// The body of `POST /v1/enrol`.
/// Fields a newer agent adds are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The agent's device id (its fingerprint's hash, as in its rows).
    pub device_id: String,
    /// A name for people (`--device-name`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fingerprint: Fingerprint,
    #[serde(default)]
    pub agent_version: Option<String>,
    /// Runtime name to version, e.g. `{"ort": "1.32.0", "tract": "0.21.13"}`.
    #[serde(default)]
    pub runtimes: std::collections::BTreeMap<String, String>,
}

/// The answer to an enrolment: the board's credential, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub device_id: String,
    pub credential: String,
    pub credential_id: String,
}

/// Largest enrolment body.
const ENROL_BYTES: usize = 64 << 10;

/// A device id or name: 1 to `max` characters, no control characters.
pub(super) fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{field} must be 1-{max} characters without control characters"),
        ));
    }
    Ok(())
}

pub(super) async fn post_enrol(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<EnrolResponse>), ApiError> {
    let who = state.authorize(&headers, &[Role::Device]).await?;
    let req: EnrolRequest = json_body(
        body,
        ENROL_BYTES,
        "enrolment",
        "send the fingerprint's fields only",
        "{\"device_id\": ..., \"name\": ..., \"fingerprint\": {...}, \"agent_version\": ..., \"runtimes\": {...}}",
    )
    .await?;
    check_text("device_id", &req.device_id, 256)?;
    if let Some(name) = &req.name {
        check_text("name", name, 128)?;
    }
    let board = Enrolment {
        device_id: req.device_id.clone(),
        name: req.name.clone(),
        fingerprint: req.fingerprint.clone(),
        agent_json: serde_json::json!({
            "agent_version": req.agent_version,
            "runtimes": req.runtimes,
        })
        .to_string(),
    };
    match auth::enrol(&state.store, &board, &who.token_id).await {
        Ok((credential, credential_id)) => Ok((
            StatusCode::CREATED,
            Json(EnrolResponse {
                device_id: req.device_id,
                credential,
                credential_id,
            }),
        )),
        Err(e @ auth::EnrolError::Enrolled { .. }) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(auth::EnrolError::Store(e)) => Err(state.database_error(e)),
    }
}

/// The body of `POST /v1/heartbeat`: what a board's agent says of itself
/// every minute or so. Fields a newer agent adds are kept as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When this agent process started (µs since the epoch): a new value
    /// is a restart, after which the board's canaries run again.
    pub started_at_us: i64,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub runtimes: std::collections::BTreeMap<String, String>,
    /// Whether it would take a job now, and why not.
    #[serde(default)]
    pub idle: Option<bool>,
    #[serde(default)]
    pub busy_reason: Option<String>,
    #[serde(default)]
    pub spool_pending: Option<u64>,
    /// The job it is running.
    #[serde(default)]
    pub job_id: Option<String>,
}

/// What the collector answers a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatReply {
    /// A canary job queued by this heartbeat.
    pub canary_job: Option<String>,
}

pub(super) async fn post_heartbeat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<HeartbeatReply>, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let device = super::jobs::board_device(&who)?.to_string();
    let beat: Heartbeat = json_body(
        body,
        ENROL_BYTES,
        "heartbeat",
        "send the heartbeat's fields only",
        "{\"started_at_us\": ..., \"agent_version\": ..., \"runtimes\": {...}, \"idle\": true}",
    )
    .await?;
    let json = serde_json::to_string(&beat).expect("plain data");
    let before = state
        .store
        .heartbeat(&device, &json, crate::store::now_us())
        .await
        .map_err(|e| state.database_error(e))?;
    let restarted = before
        .and_then(|b| serde_json::from_str::<Heartbeat>(&b).ok())
        .is_none_or(|b| b.started_at_us != beat.started_at_us);
    let canary_job = ensure_canary(&state, &device, restarted).await?;
    Ok(Json(HeartbeatReply { canary_job }))
}

/// Queue a canary job for `device` when none is waiting or running and
/// the agent `restarted` or the newest is older than the canary period.
pub(super) async fn ensure_canary(
    state: &AppState,
    device: &str,
    restarted: bool,
) -> Result<Option<String>, ApiError> {
    let Some(every) = state.limits.canary_every else {
        return Ok(None);
    };
    let db = |e| state.database_error(e);
    let (newest, open) = state.store.canary_jobs(device).await.map_err(db)?;
    let now = crate::store::now_us();
    let due = restarted || newest.is_none_or(|t| now - t >= every.as_micros() as i64);
    if open || !due {
        return Ok(None);
    }
    let spec = frontier_table::jobs::JobSpec {
        kind: frontier_table::jobs::JobKind::Canary,
        space: frontier_spaces::Space::OfaMbv3.name().to_string(),
        samples: None,
        archs: None,
        active: None,
        backend: None,
        threads: None,
    };
    let id = auth::random_hex(12);
    let queued = state
        .store
        .create_job_once(&id, device, &spec, crate::jobs::COLLECTOR)
        .await
        .map_err(db)?;
    if queued {
        state.jobs_queued.notify_waiters();
    }
    Ok(queued.then_some(id))
}
