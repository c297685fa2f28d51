//! Predictors the trainer made ([`crate::trainer`]): `GET /v1/predictors`
//! lists versions newest first with their cohort, metrics and freshness;
//! `GET /v1/predictors/{id}` returns the predictor file (`?format=onnx`:
//! its ONNX form); `GET /v1/cohorts` says, per cohort, how training went
//! (the last run's refusal, rows not trained on yet) and the canaries'
//! shifts.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::jobs::device_filter;
use super::{nonempty, rfc3339_us, ApiError, AppState};
use crate::auth::Role;
use crate::store::{CohortKey, PredictorFilter, PredictorRecord, Shift};
use crate::trainer::stale_reason;

/// Query of `GET /v1/predictors` and `GET /v1/cohorts`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PredictorQuery {
    /// A device id or enrolled name.
    pub device: Option<String>,
    pub space: Option<String>,
    pub backend: Option<String>,
    pub threads: Option<String>,
    /// `true`: fresh predictors only.
    pub fresh: Option<String>,
    pub limit: Option<String>,
}

/// One predictor version in `GET /v1/predictors`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictorView {
    pub id: String,
    pub cohort_id: String,
    pub cohort: serde_json::Value,
    pub created_at: String,
    /// Training rows (whole networks).
    pub rows: i64,
    pub kind: String,
    /// Cross-validated: `mape`, `within_5pct`, `within_10pct`,
    /// `kendall_tau`, `interval_coverage`, ...
    pub metrics: serde_json::Value,
    pub training_data_sha256: String,
    /// Trained on rows measured from this time on (after a shift).
    pub rows_from: Option<String>,
    pub newest_row: Option<String>,
    pub stale: bool,
    pub stale_reason: Option<String>,
    pub trained_by: Option<String>,
    pub train_ms: Option<i64>,
    /// The other board's predictor this one was transferred from (a
    /// cohort with few rows).
    #[serde(default)]
    pub from: Option<String>,
}

fn parse_u32(field: &str, v: Option<String>) -> Result<Option<u32>, ApiError> {
    nonempty(v)
        .map(|t| {
            t.parse::<u32>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{field}={t}; fix: a whole number"),
                )
            })
        })
        .transpose()
}

fn view(p: &PredictorRecord, shifts: &[Shift], cohorts: &[crate::store::Cohort]) -> PredictorView {
    let report: serde_json::Value = serde_json::from_str(&p.metrics_json).unwrap_or_default();
    let reason = stale_reason(p, shifts, cohorts);
    PredictorView {
        id: p.id.clone(),
        cohort_id: p.cohort.id.clone(),
        cohort: cohort_json(&p.cohort.key),
        created_at: rfc3339_us(p.created_at_us),
        rows: p.rows_used,
        kind: p.kind.clone(),
        metrics: report.get("metrics").cloned().unwrap_or_default(),
        training_data_sha256: p.data_sha256.clone(),
        rows_from: p.rows_from_us.map(rfc3339_us),
        newest_row: p.newest_row_us.map(rfc3339_us),
        stale: reason.is_some(),
        stale_reason: reason,
        trained_by: p.trained_by.clone(),
        train_ms: p.train_ms,
        from: report
            .get("from")
            .and_then(|f| f.as_str())
            .map(String::from),
    }
}

fn cohort_json(k: &CohortKey) -> serde_json::Value {
    serde_json::to_value(k).expect("plain data")
}

pub(super) async fn get_predictors(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PredictorQuery>,
) -> Result<Json<Vec<PredictorView>>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let device = device_filter(&state, q.device.clone()).await?;
    let limit = parse_u32("limit", q.limit)?.unwrap_or(100).clamp(1, 1000) as i64;
    let fresh = match nonempty(q.fresh).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("fresh={other}; fix: true or false"),
            ))
        }
    };
    let filter = PredictorFilter {
        device_id: device.clone(),
        space: nonempty(q.space),
        backend: nonempty(q.backend),
        threads: parse_u32("threads", q.threads)?,
    };
    let db = |e| state.database_error(e);
    let records = state.store.predictors(&filter, limit).await.map_err(db)?;
    let shifts = state.store.shifts(device.as_deref()).await.map_err(db)?;
    let cohorts = state.store.cohorts(device.as_deref()).await.map_err(db)?;
    Ok(Json(
        records
            .iter()
            .map(|p| view(p, &shifts, &cohorts))
            .filter(|v| !fresh || !v.stale)
            .collect(),
    ))
}

/// Query of `GET /v1/predictors/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileQuery {
    /// `json` (default) or `onnx`.
    pub format: Option<String>,
}

pub(super) async fn get_predictor(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let Some((record, file_json)) = state
        .store
        .predictor(&id)
        .await
        .map_err(|e| state.database_error(e))?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("predictor {id}: unknown; fix: take an id from GET /v1/predictors"),
        ));
    };
    let header_of = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("-"));
    match nonempty(q.format).as_deref() {
        None | Some("json") => {
            let mut r = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                file_json,
            )
                .into_response();
            r.headers_mut()
                .insert("x-frontier-predictor-id", header_of(&record.id));
            Ok(r)
        }
        Some("onnx") => {
            let file = frontier_predictor::PredictorFile::from_json(&file_json).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("predictor {id}: its stored file does not read back: {e}"),
                )
            })?;
            let meta = [
                ("frontier_predictor_version", file.schema_version.clone()),
                ("frontier_predictor_id", record.id.clone()),
                ("frontier_kind", file.kind.name().to_string()),
                ("frontier_device_id", file.device_id.clone()),
                ("frontier_backend", file.backend.clone()),
                ("frontier_backend_version", file.backend_version.clone()),
                ("frontier_threads", file.threads.to_string()),
                (
                    "frontier_training_data_sha256",
                    file.training_data_sha256.clone(),
                ),
            ];
            let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let bytes = frontier_predictor::onnx::to_onnx(&file.fitted, &meta).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("predictor {id} ({} kind) has no ONNX form: {e}; fix: read it as JSON and predict with frontier predict", file.kind.name()),
                )
            })?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )],
                bytes,
            )
                .into_response())
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("format={other}; fix: json or onnx"),
        )),
    }
}

/// One cohort in `GET /v1/cohorts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CohortView {
    pub id: String,
    #[serde(flatten)]
    pub key: serde_json::Value,
    pub first_seen: String,
    /// When rows of it last arrived.
    pub changed_at: String,
    /// Rows waiting to be trained on since then.
    pub pending_since: Option<String>,
    pub last_run: Option<String>,
    /// Why the last run made no predictor.
    pub last_error: Option<String>,
    /// The canaries' shifts of its device, space, backend and threads.
    pub shifts: Vec<Shift>,
}

pub(super) async fn get_cohorts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PredictorQuery>,
) -> Result<Json<Vec<CohortView>>, ApiError> {
    state
        .authorize(&headers, &[Role::Reader, Role::Operator])
        .await?;
    let device = device_filter(&state, q.device).await?;
    let db = |e| state.database_error(e);
    let cohorts = state.store.cohorts(device.as_deref()).await.map_err(db)?;
    let shifts = state.store.shifts(device.as_deref()).await.map_err(db)?;
    Ok(Json(
        cohorts
            .into_iter()
            .map(|c| CohortView {
                shifts: shifts.iter().filter(|s| s.is_of(&c.key)).cloned().collect(),
                id: c.id,
                key: cohort_json(&c.key),
                first_seen: rfc3339_us(c.first_seen_us),
                changed_at: rfc3339_us(c.changed_at_us),
                pending_since: c.dirty_since_us.map(rfc3339_us),
                last_run: c.last_run_us.map(rfc3339_us),
                last_error: c.last_error,
            })
            .collect(),
    ))
}
