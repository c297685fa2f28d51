//! `POST /v1/rows` (ingest, line by line) and `GET /v1/rows` (read back a
//! page at a time, as JSON Lines or CSV).

use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontier_table::{self as table, LatencyRow};
use serde::{Deserialize, Serialize};

use super::{nonempty, read_capped, ApiError, AppState, Limits};
use crate::auth::{Principal, Role};
use crate::metrics::{Metrics, SpoolReport};
use crate::store::{Fingerprint, NewRow, RowFilter, RowKey};

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

pub(super) async fn read_body(
    limits: &Limits,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, ApiError> {
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
            threads: row.threads,
            backend_version: row.backend_version,
            agent_version: row.frontier_version,
            arch: row.arch,
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

pub(super) async fn post_rows(
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
    /// A previous response's `x-frontier-cursor`: only rows committed since.
    pub after: Option<String>,
}

/// The header that tells a reader where to continue (`?after=`).
pub const CURSOR_HEADER: &str = "x-frontier-cursor";

pub(super) async fn get_rows(
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
    let from = match nonempty(q.after) {
        None => 0,
        Some(a) => a.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("after={a}; fix: the x-frontier-cursor header of a previous response"),
            )
        })?,
    };
    // Check the database before the head is sent: a stream that fails later
    // can only be cut off. Every row below the horizon is committed and no
    // later commit falls below it, so the horizon is where the reader goes
    // on from (sent first, as a header).
    let horizon = state
        .store
        .row_horizon()
        .await
        .map_err(|e| state.database_error(e))?;
    let first = state
        .store
        .rows_page(
            &filter,
            RowKey::from_commit(from),
            horizon,
            state.limits.page_rows,
        )
        .await
        .map_err(|e| state.database_error(e))?;
    let stream = rows_stream(state.clone(), filter, horizon, first, csv);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::HeaderName::from_static(CURSOR_HEADER),
                horizon.max(from).to_string(),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Pages of rows as body chunks: JSON Lines as stored, or CSV through the
/// table writer (header once, first).
fn rows_stream(
    state: Arc<AppState>,
    filter: RowFilter,
    horizon: i64,
    first: Vec<(RowKey, String)>,
    csv: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct Cursor {
        state: Arc<AppState>,
        filter: RowFilter,
        horizon: i64,
        page: Option<Vec<(RowKey, String)>>,
        header_due: bool,
        /// A failure to report after the rows already read.
        error: Option<std::io::Error>,
    }
    let cursor = Cursor {
        state,
        filter,
        horizon,
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
        let Some(last) = page.last().map(|(key, _)| *key) else {
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
                .rows_page(&c.filter, last, c.horizon, c.state.limits.page_rows)
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
