//! HTTP API v1 (`docs/COLLECTOR.md`, `docs/collector-openapi.yaml`).
//!
//! One [`AppState`] holds the store, the metrics and the limits; layers add
//! the request timeout and the metrics; handlers check the bearer token's
//! role first, so an unauthorized request ingests nothing. Errors are
//! [`ApiError`]s: a status and a JSON `{"error": ...}` that says what to fix.
//!
//! Ingest is line by line: a line that is not a row is rejected with its
//! number and reason, and the other lines of the batch are stored.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontier_table::{self as table, LatencyRow};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Principal, Role};
use crate::metrics::{Metrics, SpoolReport};
use crate::store::{Enrolment, Fingerprint, NewRow, RowFilter, Store, StoreError};

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 16 << 20,
            line_bytes: 64 << 10,
            request_timeout: Duration::from_secs(30),
            page_rows: 1000,
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub limits: Limits,
}

/// An error response: status and a message that names the fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
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
    fn database_error(&self, e: StoreError) -> ApiError {
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

/// Content types a batch may have.
const ROW_TYPES: [&str; 5] = [
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/x-jsonlines",
    "application/jsonlines",
];

/// The response to `POST /v1/rows`.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct IngestReport {
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub errors: Vec<LineRejection>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct LineRejection {
    /// 1-based line number in the (decompressed) body.
    pub line: usize,
    pub reason: String,
}

async fn read_body(limits: &Limits, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = |what: &str| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{what} exceeds {} bytes; fix: send smaller batches",
                limits.body_bytes
            ),
        )
    };
    let (raw, seen) = read_capped(body, limits.body_bytes, limits.body_bytes.saturating_mul(4))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read ({e}); fix: resend the batch"),
            )
        })?;
    if seen > limits.body_bytes {
        return Err(too_large("the body"));
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(raw),
        Some("gzip") | Some("x-gzip") => {
            // Read one byte past the limit so that a bomb stops there.
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limits.body_bytes as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not valid gzip ({e}); fix: send it uncompressed or as gzip"),
                    )
                })?;
            if out.len() > limits.body_bytes {
                return Err(too_large("the decompressed body"));
            }
            Ok(out)
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-encoding {other} is not accepted; fix: send gzip or no encoding"),
        )),
    }
}

fn fingerprint(row: &LatencyRow) -> Fingerprint {
    Fingerprint {
        device_class_id: row.device_class_id.clone(),
        hostname: row.hostname.clone(),
        cpu_model: row.cpu_model.clone(),
        cpu_arch: row.cpu_arch.clone(),
        target_triple: row.target_triple.clone(),
        os: row.os.clone(),
        kernel: row.kernel.clone(),
        logical_cores: row.logical_cores,
        physical_cores: row.physical_cores,
        cpu_max_freq_mhz: row.cpu_max_freq_mhz,
        governor: row.governor.clone(),
        mem_total_mb: row.mem_total_mb,
        cpu_features: row.cpu_features.clone(),
    }
}

/// Check one line; the row to store, or why not.
fn check_line(line: &[u8], limits: &Limits) -> Result<(NewRow, Fingerprint), String> {
    if line.len() > limits.line_bytes {
        return Err(format!(
            "line is {} bytes, more than the limit of {}",
            line.len(),
            limits.line_bytes
        ));
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let row: LatencyRow = table::parse_line(text).map_err(|e| e.to_string())?;
    let row_id = row.row_id.clone().ok_or(
        "no row_id; fix: upload with frontier upload, which gives every row its content id",
    )?;
    if !table::valid_row_id(&row_id) {
        return Err(format!(
            "row_id '{}' is not 8-128 characters of [0-9A-Za-z_-]",
            row_id.chars().take(40).collect::<String>()
        ));
    }
    for (name, value) in [("device_id", &row.device_id), ("backend", &row.backend)] {
        if value.is_empty() || value.len() > 256 {
            return Err(format!("{name} must be 1-256 characters"));
        }
    }
    let measured_at_us = table::parse_rfc3339(&row.measured_at).map(|d| d.as_micros() as i64);
    if measured_at_us.is_none() {
        return Err(format!(
            "measured_at '{}' is not an RFC 3339 time",
            row.measured_at.chars().take(40).collect::<String>()
        ));
    }
    let fp = fingerprint(&row);
    Ok((
        NewRow {
            row_id,
            device_id: row.device_id,
            backend: row.backend,
            space: row.space,
            measured_at_us,
            row_json: text.trim().to_string(),
        },
        fp,
    ))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Token and content type of a batch, checked before its body is read.
async fn check_batch_head(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = state
        .authorize(headers, &[Role::Device, Role::Board])
        .await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if !content_type
        .as_deref()
        .is_some_and(|t| ROW_TYPES.contains(&t))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-type {} is not a batch of rows; fix: send JSON Lines as application/x-ndjson",
                content_type.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    Ok(who)
}

/// Whose rows these are: a board's credential uploads its own device's
/// rows only, and an enrolled device's rows come only with its credential.
async fn check_devices(
    state: &AppState,
    who: &Principal,
    devices: &[(String, Fingerprint)],
) -> Result<(), ApiError> {
    for (device, _) in devices {
        match &who.device_id {
            Some(own) if own != device => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "rows for device {device}, but this credential is bound to device {own}; nothing was stored; fix: upload each board's rows with its own credential"
                    ),
                ))
            }
            Some(_) => {}
            None => {
                let bound = state
                    .store
                    .board_credential(device)
                    .await
                    .map_err(|e| state.database_error(e))?;
                if let Some(id) = bound {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "device {device} is enrolled: its rows are accepted only with its own credential ({id}); nothing was stored; fix: upload from that board with its credential, or revoke it (frontier-collector token revoke {id})"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Read a body, keeping its first `keep` bytes; past them keep reading (up
/// to `cap`) and discard, so that a client still sending gets the answer
/// rather than a reset connection. Returns the bytes kept and the bytes seen.
async fn read_capped(body: Body, keep: usize, cap: usize) -> Result<(Vec<u8>, usize), axum::Error> {
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

async fn post_rows(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReport>, ApiError> {
    let who = match check_batch_head(&state, &headers).await {
        Ok(who) => who,
        Err(e) => {
            // Let the client finish sending, so that it reads this answer
            // rather than a broken pipe (bounded: a few times the body limit).
            let _ = read_capped(body, 0, state.limits.body_bytes.saturating_mul(4)).await;
            return Err(e);
        }
    };
    let body = read_body(&state.limits, &headers, body).await?;
    let mut report = IngestReport::default();
    let mut rows = Vec::new();
    let mut devices: Vec<(String, Fingerprint)> = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match check_line(line, &state.limits) {
            Ok((row, fp)) => {
                match devices.iter_mut().find(|(d, _)| *d == row.device_id) {
                    Some(d) => d.1 = fp,
                    None => devices.push((row.device_id.clone(), fp)),
                }
                rows.push(row);
            }
            Err(reason) => report.errors.push(LineRejection {
                line: i + 1,
                reason,
            }),
        }
    }
    report.rejected = report.errors.len() as u64;
    check_devices(&state, &who, &devices).await?;
    let inserted = state
        .store
        .insert_batch(&rows, &devices, crate::store::now_us())
        .await
        .map_err(|e| state.database_error(e))?;
    report.accepted = inserted.accepted;
    report.duplicate = inserted.duplicate;
    let m = &state.metrics;
    Metrics::add(&m.rows_accepted, report.accepted);
    Metrics::add(&m.rows_duplicate, report.duplicate);
    Metrics::add(&m.rows_rejected, report.rejected);
    if let [(device, _)] = devices.as_slice() {
        m.observe_spool(
            device,
            SpoolReport {
                pending_rows: header_u64(&headers, "x-frontier-spool-pending"),
                free_bytes: header_u64(&headers, "x-frontier-spool-free-bytes"),
            },
        );
    }
    Ok(Json(report))
}

/// Query of `GET /v1/rows`.
#[derive(Debug, Default, Deserialize)]
pub struct RowsQuery {
    pub device: Option<String>,
    pub backend: Option<String>,
    pub space: Option<String>,
    /// RFC 3339: rows measured at or after.
    pub since: Option<String>,
    /// `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

async fn get_rows(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<RowsQuery>,
) -> Result<Response, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let csv = match q.format.as_deref() {
        None | Some("") | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("format={other}: fix: use format=jsonl or format=csv"),
            ))
        }
    };
    let since_us = match nonempty(q.since) {
        None => None,
        Some(s) => Some(
            table::parse_rfc3339(&s)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("since={s} is not an RFC 3339 time; fix: e.g. since=2026-11-28T00:00:00Z"),
                    )
                })?
                .as_micros() as i64,
        ),
    };
    let filter = RowFilter {
        device: nonempty(q.device),
        backend: nonempty(q.backend),
        space: nonempty(q.space),
        since_us,
    };
    // Check the database before the head is sent: a stream that fails later
    // can only be cut off.
    let first = state
        .store
        .rows_page(&filter, 0, state.limits.page_rows)
        .await
        .map_err(|e| state.database_error(e))?;
    let stream = rows_stream(state.clone(), filter, first, csv);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Pages of rows as body chunks: JSON Lines as stored, or CSV through the
/// table writer (header once, first).
fn rows_stream(
    state: Arc<AppState>,
    filter: RowFilter,
    first: Vec<(i64, String)>,
    csv: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct Cursor {
        state: Arc<AppState>,
        filter: RowFilter,
        page: Option<Vec<(i64, String)>>,
        header_due: bool,
        /// A failure to report after the rows already read.
        error: Option<std::io::Error>,
    }
    let cursor = Cursor {
        state,
        filter,
        page: Some(first),
        header_due: csv,
        error: None,
    };
    futures_util::stream::unfold(cursor, move |mut c| async move {
        if let Some(e) = c.error.take() {
            // Cuts the response off: the client sees a truncated body, not a
            // short table that looks complete.
            return Some((Err(e), c));
        }
        let page = c.page.take()?;
        let Some(last) = page.last().map(|(seq, _)| *seq) else {
            // An empty CSV still gets its header.
            if std::mem::take(&mut c.header_due) {
                let header = table::csv_header(&LatencyRow::default()) + "\n";
                return Some((Ok(Bytes::from(header)), c));
            }
            return None;
        };
        let mut chunk = Vec::new();
        for (_, json) in &page {
            if csv {
                match table::parse_line::<LatencyRow>(json) {
                    Ok(row) => chunk.extend(table::to_csv(&[row], c.header_due)),
                    Err(e) => c.error = Some(std::io::Error::other(e.to_string())),
                }
                c.header_due = false;
            } else {
                chunk.extend_from_slice(json.as_bytes());
                chunk.push(b'\n');
            }
        }
        if page.len() as i64 == c.state.limits.page_rows && c.error.is_none() {
            match c
                .state
                .store
                .rows_page(&c.filter, last, c.state.limits.page_rows)
                .await
            {
                Ok(next) => c.page = Some(next),
                Err(e) => {
                    Metrics::add(&c.state.metrics.db_errors, 1);
                    c.error = Some(std::io::Error::other(e.to_string()));
                }
            }
        }
        Some((Ok(Bytes::from(chunk)), c))
    })
}

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
}

fn rfc3339_us(us: i64) -> String {
    table::rfc3339(Duration::from_micros(us.max(0) as u64))
}

async fn get_devices(
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
fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{field} must be 1-{max} characters without control characters"),
        ));
    }
    Ok(())
}

async fn post_enrol(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<EnrolResponse>), ApiError> {
    let who = state.authorize(&headers, &[Role::Device]).await?;
    let (raw, seen) = read_capped(body, ENROL_BYTES, ENROL_BYTES.saturating_mul(4))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read ({e}); fix: resend it"),
            )
        })?;
    if seen > ENROL_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an enrolment is at most {ENROL_BYTES} bytes"),
        ));
    }
    let req: EnrolRequest = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("not an enrolment ({e}); fix: send JSON {{\"device_id\": ..., \"name\": ..., \"fingerprint\": {{...}}, \"agent_version\": ..., \"runtimes\": {{...}}}}"),
        )
    })?;
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
