//! HTTP API v1 (`docs/COLLECTOR.md`, `docs/collector-openapi.yaml`).
//!
//! One [`AppState`] holds the store, the metrics and the limits; layers add
//! the request timeout and the metrics; handlers check the bearer token's
//! role first, so an unauthorized request ingests nothing. Errors are
//! [`ApiError`]s: a status and a JSON `{"error": ...}` that says what to fix.
//!
//! Rooms: [`rows`] (ingest, line by line: a line that is not a row is
//! rejected with its number and reason, the other lines of the batch are
//! stored; and reading back, a page at a time), [`boards`] (the fleet's
//! devices, enrolment and heartbeats), [`jobs`] (the profiling queue),
//! [`predictors`] (the trainer's predictor versions and cohorts),
//! [`active`] (the batches of a board's active job), [`frontiers`] (blobs,
//! published frontiers, boards' assignments and field rows, rollout).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontier_table as table;
use serde::Serialize;

use crate::auth::{self, Principal, Role};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

mod active;
mod boards;
mod frontiers;
mod jobs;
mod predictors;
mod rows;

use boards::{get_devices, post_enrol, post_heartbeat};
pub use boards::{DeviceView, EnrolRequest, EnrolResponse, Heartbeat, HeartbeatReply};
pub use frontier_table::rollout::Published;
pub use frontiers::{
    BoardLatency, BoardView, DecisionView, FrontierView, LatencyView, ModelLatency, VersionView,
};
use jobs::{complete_job, get_jobs, next_job, post_job, release_job, renew_job};
pub use jobs::{CompleteRequest, LeaseRequest};
use predictors::{get_cohorts, get_predictor, get_predictors};
pub use predictors::{CohortView, PredictorView};
use rows::{get_rows, post_rows};
pub use rows::{IngestReport, LineRejection, RowsQuery, CURSOR_HEADER};

/// Limits of the API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, before and after gzip (413 past it).
    pub body_bytes: usize,
    /// Largest single row line (that line is rejected past it).
    pub line_bytes: usize,
    /// Time to produce a response's head (408 past it).
    pub request_timeout: Duration,
    /// Rows per database page when streaming `GET /v1/rows`.
    pub page_rows: i64,
    /// How long a job's lease lasts without a renewal.
    pub lease: Duration,
    /// The longest a board's `GET /v1/jobs/next?wait=` is held open.
    pub long_poll: Duration,
    /// How often each board runs its canaries (a canary job is queued when
    /// its agent starts and when the newest is older than this); `None`:
    /// never by itself.
    pub canary_every: Option<Duration>,
    /// Largest blob (`PUT /v1/blobs/...`): models and supernets.
    pub blob_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 16 << 20,
            line_bytes: 64 << 10,
            request_timeout: Duration::from_secs(30),
            page_rows: 1000,
            lease: Duration::from_secs(600),
            long_poll: Duration::from_secs(60),
            canary_every: Some(Duration::from_secs(6 * 3600)),
            blob_bytes: 512 << 20,
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub limits: Limits,
    /// Wakes this replica's long polls when a job is queued here (other
    /// replicas' jobs are found by polling the database).
    pub jobs_queued: tokio::sync::Notify,
    /// Wakes this replica's held assignment requests when a frontier's
    /// versions change here (other replicas' changes are found by polling).
    pub frontiers_changed: tokio::sync::Notify,
    pub rollout: crate::rollout::RolloutConfig,
}

impl AppState {
    pub fn new(store: Store, limits: Limits, rollout: crate::rollout::RolloutConfig) -> AppState {
        AppState {
            store,
            metrics: Metrics::default(),
            limits,
            jobs_queued: tokio::sync::Notify::new(),
            frontiers_changed: tokio::sync::Notify::new(),
            rollout,
        }
    }
}

/// An error response: status and a message that names the fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl AppState {
    pub(crate) fn database_error(&self, e: StoreError) -> ApiError {
        Metrics::add(&self.metrics.db_errors, 1);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the collector's database did not answer ({e}); nothing was stored: retry later"
            ),
        )
    }

    /// Check the bearer token: 401 without a valid one, 403 for a role
    /// not in `allowed`. Returns who it speaks for.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        allowed: &[Role],
    ) -> Result<Principal, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no bearer token; fix: send 'Authorization: Bearer TOKEN' (frontier-collector token create)",
            ));
        };
        match auth::verify(&self.store, token).await {
            Ok(Some(p)) if allowed.contains(&p.role) => Ok(p),
            Ok(Some(p)) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "a {} token may not do this; fix: use a {} token",
                    p.role.as_str(),
                    allowed
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            )),
            Ok(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown or revoked token; fix: create one with frontier-collector token create (a board whose credential was revoked enrols again)",
            )),
            Err(e) => Err(self.database_error(e)),
        }
    }
}

/// The router with every route and layer.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/v1/rows", post(post_rows).get(get_rows))
        .route("/v1/devices", get(get_devices))
        .route("/v1/enrol", post(post_enrol))
        .route("/v1/heartbeat", post(post_heartbeat))
        .route("/v1/predictors", get(get_predictors))
        .route("/v1/predictors/{id}", get(get_predictor))
        .route("/v1/cohorts", get(get_cohorts))
        .route("/v1/jobs", post(post_job).get(get_jobs))
        .route("/v1/jobs/next", get(next_job))
        .route("/v1/jobs/{id}/renew", post(renew_job))
        .route("/v1/jobs/{id}/complete", post(complete_job))
        .route("/v1/jobs/{id}/release", post(release_job))
        .route("/v1/jobs/{id}/batch", post(active::post_batch))
        .route(
            "/v1/blobs/{sha256}",
            get(frontiers::get_blob)
                .put(frontiers::put_blob)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/v1/frontiers", get(frontiers::get_frontiers))
        .route(
            "/v1/frontiers/{name}",
            get(frontiers::get_frontier).post(frontiers::publish),
        )
        .route(
            "/v1/frontiers/{name}/assignment",
            get(frontiers::get_assignment),
        )
        .route("/v1/frontiers/{name}/status", post(frontiers::post_status))
        .route("/v1/frontiers/{name}/promote", post(frontiers::promote))
        .route("/v1/frontiers/{name}/rollback", post(frontiers::rollback))
        .route("/v1/frontiers/{name}/latency", get(frontiers::get_latency))
        .route(
            "/v1/field",
            post(frontiers::post_field).get(frontiers::get_field),
        )
        .merge(crate::ui::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let start = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_request(
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// Read a body, keeping its first `keep` bytes; past them keep reading (up
/// to `cap`) and discard, so that a client still sending gets the answer
/// rather than a reset connection. Returns the bytes kept and the bytes seen.
/// A JSON body of at most `limit` bytes: 413 past it (with `fix_large`),
/// 400 when it is not a `what` (with `example`, the shape to send).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    body: Body,
    limit: usize,
    what: &str,
    fix_large: &str,
    example: &str,
) -> Result<T, ApiError> {
    let (raw, seen) = read_capped(body, limit, limit.saturating_mul(4))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read ({e}); fix: resend it"),
            )
        })?;
    if seen > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a {what} is at most {limit} bytes; fix: {fix_large}"),
        ));
    }
    serde_json::from_slice(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("not a {what} ({e}); fix: send JSON {example}"),
        )
    })
}

pub(crate) async fn read_capped(
    body: Body,
    keep: usize,
    cap: usize,
) -> Result<(Vec<u8>, usize), axum::Error> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen <= keep {
            kept.extend_from_slice(&chunk);
        } else if seen > cap {
            break;
        }
    }
    Ok((kept, seen))
}

pub(crate) fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub(crate) fn rfc3339_us(us: i64) -> String {
    table::rfc3339(Duration::from_micros(us.max(0) as u64))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| state.database_error(e))?;
    Ok("ok\n")
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
