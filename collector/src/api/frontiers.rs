//! Frontiers ([`crate::rollout`]): blobs, publication, a board's
//! assignment and reports, field rows, promotion and rollback, and
//! predicted against lab against field latency.
//!
//! - `PUT /v1/blobs/{sha256}` (operator): a model or supernet, stored when
//!   its SHA-256 is the one named; `GET|HEAD /v1/blobs/{sha256}` (boards,
//!   readers) with `Range: bytes=N-[M]`, so a board resumes a download.
//! - `POST /v1/frontiers/{name}` (operator): a version (manifest and the
//!   blobs of its files); `GET /v1/frontiers`, `GET /v1/frontiers/{name}`.
//! - `GET /v1/frontiers/{name}/assignment?backend=&wait=` (board): what it
//!   serves; with `If-None-Match` of the last answer's `ETag` the request
//!   is held up to `wait` seconds until that changes (304 otherwise).
//! - `POST /v1/frontiers/{name}/status` (board): serving, downloading or
//!   failed.
//! - `POST /v1/field` (board): field rows as JSON Lines, each stored once;
//!   `GET /v1/field?frontier=NAME[&version=][&device=]` (reader) reads them.
//! - `POST /v1/frontiers/{name}/promote|rollback` (operator).
//! - `GET /v1/frontiers/{name}/latency` (reader).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontier_table::frontier::Manifest;
use frontier_table::rollout::{
    parse_field_row, Assignment, FieldRow, PublishRequest, Published, ServeReport,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{json_body, nonempty, read_capped, rfc3339_us, ApiError, AppState};
use crate::auth::{Principal, Role};
use crate::rollout::{self, AssignError, FieldSummary};
use crate::store::{now_us, NewFieldRow, NewVersion, PublishError};

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "frontier name {:?}: 1 to 64 letters, digits, '-', '_' or '.'; fix: e.g. --name mbv3-cameras",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn check_sha(sha: &str) -> Result<(), ApiError> {
    if sha.len() == 64
        && sha
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{:?} is not a SHA-256 (64 lowercase hex digits); fix: sha256sum FILE",
                sha.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// `PUT /v1/blobs/{sha256}`.
pub(super) async fn put_blob(
    State(state): State<Arc<AppState>>,
    Path(sha): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, &[Role::Operator]).await?;
    check_sha(&sha)?;
    let limit = state.limits.blob_bytes;
    let (data, seen) = read_capped(body, limit, limit).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the blob could not be read ({e}); fix: upload it again"),
        )
    })?;
    if seen > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a blob is at most {limit} bytes; fix: start the collector with a larger --blob-limit-mb"),
        ));
    }
    let got = format!("{:x}", Sha256::digest(&data));
    if got != sha {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body's SHA-256 is {got}, not {sha}; nothing was stored; fix: upload the file whose hash you named (it may have been cut short)"),
        ));
    }
    let new = state
        .store
        .put_blob(&sha, &data, now_us())
        .await
        .map_err(|e| state.database_error(e))?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({"sha256": sha, "size": data.len(), "stored": new})),
    )
        .into_response())
}

/// `Range: bytes=N-` or `bytes=N-M` (one range).
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.trim().is_empty() {
        let n: u64 = b.trim().parse().ok()?;
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.trim().parse().ok()?;
        let end = if b.trim().is_empty() {
            size.saturating_sub(1)
        } else {
            b.trim().parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        (start, end)
    };
    (start <= end && start < size).then_some((start, end))
}

/// `GET /v1/blobs/{sha256}` (and HEAD).
pub(super) async fn get_blob(
    State(state): State<Arc<AppState>>,
    Path(sha): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .authorize(&headers, &[Role::Board, Role::Reader, Role::Operator])
        .await?;
    check_sha(&sha)?;
    let Some((size, chunk)) = state
        .store
        .blob_meta(&sha)
        .await
        .map_err(|e| state.database_error(e))?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no blob {sha}; fix: upload it (PUT /v1/blobs/{sha}) before publishing a manifest that names it"),
        ));
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(h) => match parse_range(h, size) {
            Some(r) => Some(r),
            None if size == 0 => None,
            None => {
                let mut r = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("Range {h:?} is not one satisfiable range of this {size}-byte blob"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
        },
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    let store = state.store.clone();
    let stream = futures_util::stream::unfold(start, move |pos| {
        let store = store.clone();
        let sha = sha.clone();
        async move {
            if len == 0 || pos > end {
                return None;
            }
            let idx = (pos / chunk as u64) as usize;
            let data = match store.blob_chunk(&sha, idx).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    return Some((
                        Err(std::io::Error::other(format!(
                            "chunk {idx} of {sha} is missing"
                        ))),
                        end + 1,
                    ))
                }
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), end + 1)),
            };
            let from = (pos - idx as u64 * chunk as u64) as usize;
            let to = ((end + 1 - idx as u64 * chunk as u64) as usize).min(data.len());
            let piece = data[from.min(to)..to].to_vec();
            let next = idx as u64 * chunk as u64 + to as u64;
            Some((
                Ok::<_, std::io::Error>(axum::body::Bytes::from(piece)),
                next,
            ))
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

/// Check a publication's manifest against its blobs; the problems, each
/// naming the file.
async fn check_publication(
    state: &AppState,
    req: &PublishRequest,
) -> Result<Result<(), Vec<String>>, ApiError> {
    let m = &req.manifest;
    let mut problems = Vec::new();
    if frontier_spaces::Space::parse(&m.space).is_none() {
        problems.push(format!(
            "manifest space {:?} is not a space this collector knows",
            m.space
        ));
    }
    if m.models.is_empty() {
        problems.push("the manifest has no models".into());
    }
    for (file, sha) in &req.blobs {
        if check_sha(sha).is_err() {
            problems.push(format!("blobs[{file:?}] = {sha:?} is not a SHA-256"));
        }
    }
    let supernet_blob = m
        .supernet
        .as_ref()
        .and_then(|s| req.blobs.get(&s.file).map(|b| (s, b)));
    if let Some((s, b)) = supernet_blob {
        if *b != s.sha256 {
            problems.push(format!(
                "the manifest's supernet {} has SHA-256 {}, but its blob is {b}; fix: upload the supernet the search used",
                s.file, s.sha256
            ));
        }
    }
    for model in &m.models {
        if !req.blobs.contains_key(&model.file) && supernet_blob.is_none() {
            problems.push(format!(
                "model {}: no blob for its file {} and no supernet to build it from; fix: upload the file, or publish a search made with --weights and its supernet",
                model.name, model.file
            ));
        }
    }
    let named: Vec<String> = req.blobs.values().cloned().collect();
    let have = state
        .store
        .blob_sizes(&named)
        .await
        .map_err(|e| state.database_error(e))?;
    for (file, sha) in &req.blobs {
        if check_sha(sha).is_ok() && !have.contains_key(sha) {
            problems.push(format!(
                "{file}: blob {sha} is not stored; fix: PUT /v1/blobs/{sha} first"
            ));
        }
    }
    Ok(if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    })
}

/// `POST /v1/frontiers/{name}`.
pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let who = state.authorize(&headers, &[Role::Operator]).await?;
    check_name(&name)?;
    let req: PublishRequest = json_body(
        body,
        state.limits.body_bytes,
        "publication",
        "send the manifest and blob hashes, not the blobs (PUT /v1/blobs/{sha256})",
        "{\"manifest\": {...frontier.json...}, \"blobs\": {\"models/a.onnx\": \"<sha256>\"}}",
    )
    .await?;
    let mut req = req;
    let mut notes = Vec::new();
    // The name fixes what applications send. An image frontier whose
    // search chose another largest resolution is served with the name's
    // input (each board resizes to each model's own resolution, as it does
    // within a version); any other difference is refused below.
    if let Some((space, input)) = state
        .store
        .frontier_input(&name)
        .await
        .map_err(|e| state.database_error(e))?
    {
        let had: Option<frontier_table::frontier::CanonicalInput> =
            serde_json::from_str(&input).ok();
        let new = &req.manifest.input;
        if let Some(had) = had {
            let resizable = space == req.manifest.space
                && had != *new
                && had.name == new.name
                && had.dtype == new.dtype
                && had.dtype == "f32"
                && had.shape.len() == 4
                && new.shape.len() == 4
                && had.shape[..2] == new.shape[..2];
            if resizable {
                notes.push(format!(
                    "its canonical input {:?} is served as {name}'s {:?} (each model resized to its own resolution)",
                    new.shape, had.shape
                ));
                req.manifest.input = had;
            }
        }
    }
    let policy = req.rollout.clone().unwrap_or_default();
    policy
        .check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    if let Err(problems) = check_publication(&state, &req).await? {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{name}: not published: {}", problems.join("; ")),
        ));
    }
    let names: BTreeMap<String, String> = state
        .store
        .devices()
        .await
        .map_err(|e| state.database_error(e))?
        .into_iter()
        .filter_map(|d| Some((d.device_id, d.name?)))
        .collect();
    let now = now_us();
    let seen_since = now - state.rollout.board_seen.as_micros() as i64;
    let input = serde_json::to_string(&req.manifest.input).expect("plain data");
    let manifest = serde_json::to_string(&req.manifest).expect("plain data");
    let blobs = serde_json::to_string(&req.blobs).expect("plain data");
    let policy_json = serde_json::to_string(&policy).expect("plain data");
    let by = format!("operator:{}", who.token_id);
    let salt = format!("{name}/{now}");
    let r = state
        .store
        .publish_version(
            &NewVersion {
                name: &name,
                space: &req.manifest.space,
                input_json: &input,
                manifest_json: &manifest,
                blobs_json: &blobs,
                policy_json: &policy_json,
                published_by: &by,
                now_us: now,
            },
            |boards, any| rollout::stage(&policy, boards, &names, any, seen_since, &salt),
        )
        .await;
    let (version, staging) = match r {
        Ok(x) => x,
        Err(PublishError::Store(e)) => return Err(state.database_error(e)),
        Err(e @ PublishError::Mismatch { .. }) => {
            return Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
    };
    state.frontiers_changed.notify_waiters();
    Ok((
        StatusCode::CREATED,
        Json(Published {
            name,
            version,
            state: staging.state,
            canary: staging.canary,
            notes,
        }),
    ))
}

/// One version in `GET /v1/frontiers/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionView {
    pub version: u32,
    pub state: String,
    pub canary: Vec<String>,
    pub models: usize,
    pub devices: Vec<String>,
    pub published_by: String,
    pub published_at: String,
    pub decided_at: Option<String>,
    pub policy: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoardView {
    pub device_id: String,
    pub device_key: Option<String>,
    pub assigned: Option<u32>,
    pub serving: Option<u32>,
    pub serving_since: Option<String>,
    pub downloading: Option<u32>,
    pub failed_version: Option<u32>,
    pub failed_error: Option<String>,
    pub seen_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionView {
    pub version: u32,
    pub at: String,
    pub action: String,
    pub decided_by: String,
    pub evidence: serde_json::Value,
}

/// `GET /v1/frontiers/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrontierView {
    pub name: String,
    /// The highest promoted version.
    pub current: Option<u32>,
    pub versions: Vec<VersionView>,
    pub boards: Vec<BoardView>,
    pub decisions: Vec<DecisionView>,
}

pub(super) async fn get_frontiers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<FrontierView>>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let names = state
        .store
        .frontier_names()
        .await
        .map_err(|e| state.database_error(e))?;
    let mut out = Vec::new();
    for n in names {
        out.push(frontier_view(&state, &n).await?);
    }
    Ok(Json(out))
}

async fn frontier_view(state: &AppState, name: &str) -> Result<FrontierView, ApiError> {
    let store = &state.store;
    let versions = store
        .versions(name)
        .await
        .map_err(|e| state.database_error(e))?;
    if versions.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no frontier named {name}; fix: GET /v1/frontiers lists them"),
        ));
    }
    let boards = store
        .frontier_boards(name)
        .await
        .map_err(|e| state.database_error(e))?;
    let decisions = store
        .decisions(name)
        .await
        .map_err(|e| state.database_error(e))?;
    Ok(FrontierView {
        name: name.to_string(),
        current: rollout::current(&versions).map(|v| v.version),
        versions: versions
            .iter()
            .map(|v| {
                let m = Manifest::parse(&v.manifest_json).ok();
                VersionView {
                    version: v.version,
                    state: v.state.clone(),
                    canary: v.canary.clone(),
                    models: m.as_ref().map(|m| m.models.len()).unwrap_or(0),
                    devices: m.map(|m| m.devices).unwrap_or_default(),
                    published_by: v.published_by.clone(),
                    published_at: rfc3339_us(v.published_at_us),
                    decided_at: v.decided_at_us.map(rfc3339_us),
                    policy: serde_json::from_str(&v.policy_json).unwrap_or_default(),
                }
            })
            .collect(),
        boards: boards
            .into_iter()
            .map(|b| BoardView {
                device_id: b.device_id,
                device_key: b.device_key,
                assigned: b.assigned,
                serving: b.serving,
                serving_since: b.serving_since_us.map(rfc3339_us),
                downloading: b.downloading,
                failed_version: b.failed_version,
                failed_error: b.failed_error,
                seen_at: rfc3339_us(b.seen_at_us),
            })
            .collect(),
        decisions: decisions
            .into_iter()
            .map(|d| DecisionView {
                version: d.version,
                at: rfc3339_us(d.at_us),
                action: d.action,
                decided_by: d.decided_by,
                evidence: serde_json::from_str(&d.evidence_json).unwrap_or_default(),
            })
            .collect(),
    })
}

pub(super) async fn get_frontier(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<FrontierView>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    check_name(&name)?;
    Ok(Json(frontier_view(&state, &name).await?))
}

fn board_of(who: &Principal) -> Result<String, ApiError> {
    who.device_id.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "only a board's own credential may do this; fix: frontier serve enrols the board (device token in FRONTIER_TOKEN)",
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct AssignmentQuery {
    pub backend: Option<String>,
    /// Seconds to hold the request while the assignment is the one named by
    /// `If-None-Match`.
    pub wait: Option<f64>,
}

/// `GET /v1/frontiers/{name}/assignment`.
pub(super) async fn get_assignment(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<AssignmentQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let device = board_of(&who)?;
    check_name(&name)?;
    let backend = nonempty(q.backend).unwrap_or_else(|| "tract".into());
    let wait = Duration::from_secs_f64(q.wait.unwrap_or(0.0).clamp(0.0, 3600.0))
        .min(state.limits.long_poll);
    let have = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let deadline = Instant::now() + wait;
    // The assignment is worked out again only when the name's versions
    // change (a cheap query each second, on every replica), so a fleet's
    // held polls cost one small query per board per second.
    let mut marker = None;
    let mut etag = String::new();
    loop {
        // Wake on this replica's publications and decisions; poll for the
        // other replicas'.
        let changed = state.frontiers_changed.notified();
        let now_marker = state
            .store
            .frontier_marker(&name)
            .await
            .map_err(|e| state.database_error(e))?;
        if marker != Some(now_marker) {
            marker = Some(now_marker);
            let a = rollout::assignment(&state.store, &name, &device, &backend).await;
            let a: Assignment = match a {
                Ok(a) => a,
                Err(AssignError::Store(e)) => return Err(state.database_error(e)),
                Err(e @ AssignError::Unknown(_)) => {
                    let _ = state
                        .store
                        .board_assigned(&name, &device, None, None, now_us())
                        .await;
                    return Err(ApiError::new(StatusCode::NOT_FOUND, e.to_string()));
                }
                Err(e @ AssignError::Refused(_)) => {
                    let _ = state
                        .store
                        .board_assigned(&name, &device, None, None, now_us())
                        .await;
                    return Err(ApiError::new(StatusCode::CONFLICT, e.to_string()));
                }
            };
            state
                .store
                .board_assigned(
                    &name,
                    &device,
                    Some(&a.device_key),
                    Some(a.version),
                    now_us(),
                )
                .await
                .map_err(|e| state.database_error(e))?;
            etag = a.etag();
            if have.as_deref() != Some(etag.as_str()) {
                let mut r = Json(&a).into_response();
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                return Ok(r);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            return Ok(r);
        }
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
        }
    }
}

/// `POST /v1/frontiers/{name}/status`.
pub(super) async fn post_status(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let device = board_of(&who)?;
    check_name(&name)?;
    let r: ServeReport = json_body(
        body,
        64 << 10,
        "serve report",
        "send a smaller error message",
        "{\"serving\": 3, \"downloading\": 4, \"failed\": {\"version\": 4, \"error\": \"...\"}}",
    )
    .await?;
    let failed = r.failed.as_ref().map(|f| (f.version, clip(&f.error, 4000)));
    state
        .store
        .board_report(&name, &device, r.serving, r.downloading, failed, now_us())
        .await
        .map_err(|e| state.database_error(e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/field`: JSON Lines of [`FieldRow`].
pub(super) async fn post_field(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<super::IngestReport>, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let device = board_of(&who)?;
    let raw = super::rows::read_body(&state.limits, &headers, body).await?;
    let text = String::from_utf8_lossy(&raw);
    let mut report = super::IngestReport::default();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: FieldRow = match parse_field_row(line) {
            Ok(r) => r,
            Err(e) => {
                report.rejected += 1;
                report.errors.push(super::LineRejection {
                    line: i + 1,
                    reason: e,
                });
                continue;
            }
        };
        let problem = if row.device_id != device {
            Some(format!(
                "device_id {} is not this credential's device {device}",
                row.device_id
            ))
        } else if row.row_id.as_deref()
            != Some(frontier_table::rollout::field_row_id(&row).as_str())
        {
            Some("row_id is not the row's content id; fix: let frontier serve write the row".into())
        } else {
            frontier_table::parse_rfc3339(&row.window_start)
                .is_none()
                .then(|| format!("window_start {:?}: not RFC 3339", row.window_start))
        };
        if let Some(reason) = problem {
            report.rejected += 1;
            report.errors.push(super::LineRejection {
                line: i + 1,
                reason,
            });
            continue;
        }
        let window_start_us = frontier_table::parse_rfc3339(&row.window_start)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        rows.push(NewFieldRow {
            row_id: row.row_id.clone().unwrap_or_default(),
            device_id: row.device_id.clone(),
            frontier: row.frontier.clone(),
            version: row.version,
            model: row.model.clone(),
            window_start_us,
            requests: row.requests,
            row_json: line.to_string(),
        });
    }
    let (accepted, duplicate) = state
        .store
        .insert_field_rows(&rows, now_us())
        .await
        .map_err(|e| state.database_error(e))?;
    report.accepted = accepted;
    report.duplicate = duplicate;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
pub struct FieldQuery {
    pub frontier: Option<String>,
    pub version: Option<String>,
    pub device: Option<String>,
}

/// `GET /v1/field?frontier=NAME[&version=V][&device=ID]`: the field rows,
/// as JSON Lines, oldest window first.
pub(super) async fn get_field(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FieldQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let Some(name) = nonempty(q.frontier) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "frontier= is required; fix: GET /v1/field?frontier=NAME",
        ));
    };
    check_name(&name)?;
    let version = match nonempty(q.version) {
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("version={v}; fix: a version number"),
            )
        })?),
        None => None,
    };
    let rows = state
        .store
        .field_rows(&name, version, nonempty(q.device).as_deref())
        .await
        .map_err(|e| state.database_error(e))?;
    let mut body = rows.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct DecideRequest {
    pub version: Option<u32>,
    /// Why (recorded with the decision).
    pub reason: Option<String>,
}

/// `POST /v1/frontiers/{name}/promote` and `/rollback`.
async fn decide_by_hand(
    state: Arc<AppState>,
    name: String,
    headers: HeaderMap,
    body: Body,
    promote: bool,
) -> Result<Json<DecisionView>, ApiError> {
    let who = state.authorize(&headers, &[Role::Operator]).await?;
    check_name(&name)?;
    // No body means the default version; a body that is not a decision is
    // refused (read as the default, a typo would roll back another version).
    let (raw, seen) = read_capped(body, 64 << 10, 256 << 10).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read ({e}); fix: resend it"),
        )
    })?;
    if seen > 64 << 10 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a decision is at most 65536 bytes; fix: send a shorter reason",
        ));
    }
    let req: DecideRequest = if raw.iter().all(u8::is_ascii_whitespace) {
        DecideRequest::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("not a decision ({e}); nothing was decided; fix: send JSON {{\"version\": 3, \"reason\": \"...\"}} or no body"),
            )
        })?
    };
    let by = format!("operator:{}", who.token_id);
    let d = match rollout::by_hand(&state.store, &name, req.version, promote, &by, req.reason).await
    {
        Ok(d) => d,
        Err(rollout::HandError::Store(e)) => return Err(state.database_error(e)),
        Err(e @ rollout::HandError::Unknown(_)) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
        }
        Err(e) => return Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
    };
    state.frontiers_changed.notify_waiters();
    Ok(Json(DecisionView {
        version: d.version,
        at: rfc3339_us(d.at_us),
        action: d.action,
        decided_by: d.decided_by,
        evidence: serde_json::from_str(&d.evidence_json).unwrap_or_default(),
    }))
}

pub(super) async fn promote(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DecisionView>, ApiError> {
    decide_by_hand(state, name, headers, body, true).await
}

pub(super) async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DecisionView>, ApiError> {
    decide_by_hand(state, name, headers, body, false).await
}

#[derive(Debug, Deserialize)]
pub struct LatencyQuery {
    pub version: Option<String>,
    pub device: Option<String>,
}

/// Predicted, lab and field latency of one model on one board.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelLatency {
    pub model: String,
    pub threads: u32,
    pub predicted: Option<serde_json::Value>,
    /// The search's `--verify` on this key, else the board's newest
    /// latency row of this architecture.
    pub lab: Option<serde_json::Value>,
    pub field: Option<FieldSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoardLatency {
    pub device_id: String,
    pub device_key: Option<String>,
    pub version: u32,
    pub models: Vec<ModelLatency>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyView {
    pub name: String,
    pub boards: Vec<BoardLatency>,
}

/// `GET /v1/frontiers/{name}/latency`.
pub(super) async fn get_latency(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<LatencyQuery>,
    headers: HeaderMap,
) -> Result<Json<LatencyView>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    check_name(&name)?;
    let version: Option<u32> = match nonempty(q.version) {
        Some(v) => Some(v.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("version={v}; fix: a version number"),
            )
        })?),
        None => None,
    };
    let store = &state.store;
    let versions = store
        .versions(&name)
        .await
        .map_err(|e| state.database_error(e))?;
    if versions.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no frontier named {name}"),
        ));
    }
    let boards = store
        .frontier_boards(&name)
        .await
        .map_err(|e| state.database_error(e))?;
    let device = nonempty(q.device);
    let mut out = Vec::new();
    for b in boards {
        if device.as_deref().is_some_and(|d| d != b.device_id) {
            continue;
        }
        let Some(v) = version.or(b.serving).or(b.assigned) else {
            continue;
        };
        let Some(rec) = versions.iter().find(|x| x.version == v) else {
            continue;
        };
        let Ok(manifest) = Manifest::parse(&rec.manifest_json) else {
            continue;
        };
        let key = b.device_key.clone().unwrap_or_default();
        let backend = key.split('/').nth(1).unwrap_or("").to_string();
        let rows: Vec<FieldRow> = store
            .field_rows(&name, Some(v), Some(&b.device_id))
            .await
            .map_err(|e| state.database_error(e))?
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect();
        let mut field = rollout::summarize(&rows);
        let mut models = Vec::new();
        let default_threads: u32 = key
            .rsplit('/')
            .next()
            .and_then(|t| t.trim_start_matches('t').parse().ok())
            .unwrap_or(1);
        let mut pairs: Vec<(String, u32)> = manifest
            .models_for(&key)
            .iter()
            .map(|m| (m.name.clone(), default_threads))
            .collect();
        for k in field.keys() {
            if !pairs.contains(k) {
                pairs.push(k.clone());
            }
        }
        for (model, threads) in pairs {
            let mkey = {
                let mut p: Vec<String> = key.split('/').map(str::to_string).collect();
                if p.len() == 3 {
                    p[2] = format!("t{threads}");
                }
                p.join("/")
            };
            let entry = manifest.models.iter().find(|m| m.name == model);
            let lat = entry.and_then(|m| m.latency.get(&mkey));
            let predicted = lat.and_then(|l| {
                l.predicted_ms
                    .map(|p| serde_json::json!({"ms": p, "interval_ms": l.interval_ms}))
            });
            let mut lab = lat
                .and_then(|l| l.measured_ms)
                .map(|ms| serde_json::json!({"median_ms": ms, "source": "verify"}));
            if lab.is_none() {
                if let Some(m) = entry {
                    let arch = frontier_spaces::Space::parse(&manifest.space)
                        .and_then(|s| frontier_spaces::Arch::parse(s, &m.arch.to_string()).ok())
                        .map(|a| a.row_json());
                    if let Some(arch) = arch {
                        if let Some(j) = store
                            .lab_row(&b.device_id, &arch, &backend, threads)
                            .await
                            .map_err(|e| state.database_error(e))?
                        {
                            let r: serde_json::Value = serde_json::from_str(&j).unwrap_or_default();
                            lab = Some(serde_json::json!({
                                "median_ms": r["median_ms_corrected"],
                                "p90_ms": r["p90_ms"],
                                "measured_at": r["measured_at"],
                                "source": "row",
                            }));
                        }
                    }
                }
            }
            models.push(ModelLatency {
                field: field.remove(&(model.clone(), threads)),
                model,
                threads,
                predicted,
                lab,
            });
        }
        out.push(BoardLatency {
            device_id: b.device_id,
            device_key: b.device_key,
            version: v,
            models,
        });
    }
    Ok(Json(LatencyView { name, boards: out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 9)));
        assert_eq!(parse_range("bytes=4-6", 10), Some((4, 6)));
        assert_eq!(parse_range("bytes=4-100", 10), Some((4, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("éé", 3), "é");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn names() {
        assert!(check_name("mbv3-cameras_2.x").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("<script>").is_err());
        assert!(check_sha(&"a".repeat(64)).is_ok());
        assert!(check_sha(&"A".repeat(64)).is_err());
    }
}
