//! Fleet active profiling: the collector chooses each batch of a board's
//! `active` job (`POST /v1/jobs/{id}/batch`).
//!
//! Stateless over replicas: each request rebuilds the plan from the rows
//! of the board's cohort stored so far (since the canaries' last shift):
//! their architectures count as measured, a predictor is fitted to them
//! (with fewer than [`crate::trainer::TRANSFER_BELOW`] rows also as a
//! transfer of the most similar board's fresh predictor, the better fit
//! kept), and the next batch is the candidates of a seeded pool whose
//! predicted interval is widest (`frontier_train::planner`). The job is
//! done when the fit's cross-validated share within ±10% reaches the job's
//! target on enough rows, or no candidate is left; the board keeps the time
//! budget (it stops asking when it is spent).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use frontier_spaces::ofa_mbv3::BLOCK_SPACE;
use frontier_spaces::{SampleSpec, Space};
use frontier_table::jobs::{BatchReply, BatchRequest};
use frontier_table::{self as table, LatencyRow};
use frontier_train::planner::Planner;

use super::jobs::{lease_lost, own_job};
use super::{json_body, ApiError, AppState};
use crate::auth::Role;
use crate::store::CohortKey;

pub(super) async fn post_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<BatchReply>, ApiError> {
    let who = state.authorize(&headers, &[Role::Board]).await?;
    let req: BatchRequest = json_body(
        body,
        16 << 10,
        "batch request",
        "send the lease token and the cohort only",
        "{\"lease_token\": ..., \"backend\": ..., \"backend_version\": ..., \"threads\": 1, \"agent_version\": ...}",
    )
    .await?;
    let job = own_job(&state, &who, &id).await?;
    let db = |e| state.database_error(e);
    // Asking for a batch renews the lease (and checks it is this board's).
    let lease_us = state.limits.lease.as_micros() as i64;
    if state
        .store
        .renew_lease(&id, &req.lease_token, lease_us)
        .await
        .map_err(db)?
        .is_none()
    {
        return Err(lease_lost(&id));
    }
    let Some(active) = job.spec.active.clone() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("job {id} is not an active job; fix: run its samples or archs as they are"),
        ));
    };
    let space = Space::parse(&job.spec.space).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("job {id}: space {} unknown here", job.spec.space),
        )
    })?;
    let key = CohortKey {
        device_id: job.device_id.clone(),
        space: job.spec.space.clone(),
        backend: req.backend.clone(),
        backend_version: req.backend_version.clone(),
        threads: req.threads,
        agent_version: req.agent_version.clone(),
    };
    let shifts = state.store.shifts(Some(&key.device_id)).await.map_err(db)?;
    let from = crate::store::last_shift(&shifts, &key);
    let lines = state
        .store
        .cohort_rows(&key, BLOCK_SPACE, from)
        .await
        .map_err(db)?;
    let rows: Vec<LatencyRow> = lines
        .iter()
        .filter_map(|l| table::parse_line::<LatencyRow>(l).ok())
        .filter(|r| r.space.as_deref() == Some(space.name()))
        .collect();
    // Reference rows (a job's fixed reference subnets) put the jobs on one
    // scale; they are not subnets the plan measured.
    let measured = rows.iter().filter(|r| !r.is_reference()).count();
    let source = if measured < crate::trainer::TRANSFER_BELOW {
        crate::trainer::transfer_source(&state, &key)
            .await
            .map_err(db)?
    } else {
        None
    };
    let seed = job.seed();
    let target = active.target;
    // Fitting is CPU work: off the async threads.
    let plan = tokio::task::spawn_blocking(move || -> Result<BatchReply, String> {
        let mut planner = Planner::new(SampleSpec::new(space, seed)).map_err(|e| e.to_string())?;
        let source_id = source.as_ref().map(|(id, _)| id.clone());
        if let Some((_, file)) = source {
            planner = planner.with_source(file.fitted);
        }
        let mut reply = BatchReply {
            rows: measured as u64,
            ..BatchReply::default()
        };
        if measured == 0 {
            reply.archs = arch_values(&planner.first_batch().map_err(|e| e.to_string())?);
            return Ok(reply);
        }
        let metrics = planner.resume(&rows).map_err(|e| e.to_string())?;
        reply.within_10pct = metrics.map(|m| m.within_10pct);
        reply.source = source_id.filter(|_| {
            planner
                .trained()
                .is_some_and(|t| t.kind == frontier_predictor::Kind::Transfer)
        });
        if let Some(done) = planner.reached(target) {
            reply.done = Some(done);
            return Ok(reply);
        }
        match planner.next_batch() {
            Some(b) => reply.archs = arch_values(&b),
            None => reply.done = Some("every candidate of the pool was measured".into()),
        }
        Ok(reply)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("job {id}: {e}")))?;
    Ok(Json(plan))
}

fn arch_values(batch: &[frontier_spaces::Arch]) -> Vec<serde_json::Value> {
    batch
        .iter()
        .map(|a| serde_json::from_str(&a.row_json()).expect("an arch is JSON"))
        .collect()
}
