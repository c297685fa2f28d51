//! `frontier-collector`: agents on many boards upload latency-table rows
//! here; predictors and searches read them back in the agent's own table
//! format.
//!
//! - [`store`]: SQLite (default, one file, WAL) or PostgreSQL, one schema
//!   with versioned migrations, idempotent inserts keyed by `row_id`.
//! - [`api`]: the HTTP API v1 (axum): `POST /v1/rows`, `GET /v1/rows`,
//!   `GET /v1/devices`, `POST /v1/enrol`, `/v1/jobs...`, `GET /healthz`,
//!   `GET /metrics`.
//! - [`auth`]: bearer tokens with roles, stored as hashes; boards enrol
//!   and get a credential bound to their device.
//! - [`jobs`]: profiling jobs, checked, queued and leased to boards.
//! - [`metrics`]: Prometheus text.
//!
//! Invariant: a row is stored at most once whatever the retries, replicas
//! and crashes (the database's unique key decides), and a 2xx to
//! `POST /v1/rows` means every accepted row is committed.

pub mod api;
pub mod auth;
pub mod drift;
pub mod jobs;
pub mod metrics;
pub mod rollout;
pub mod store;
pub mod trainer;
pub mod ui;

use std::sync::Arc;

pub use api::{AppState, Limits};
pub use store::Store;
pub use trainer::TrainerConfig;

/// How a replica serves.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    pub limits: Limits,
    /// Run the trainer in the background (`None`: serve the API only; the
    /// other replicas on the same database train).
    pub trainer: Option<TrainerConfig>,
    /// The rollout evaluator's settings (it runs on every replica).
    pub rollout: rollout::RolloutConfig,
}

/// Serve the API on `listener` (and the trainer, when configured) until
/// `shutdown` resolves; requests in flight finish first, then the trainer
/// stops (a training run in progress is abandoned: its claim runs out and
/// nothing of it was stored).
pub async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(AppState::new(store, config.limits, config.rollout.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let trainer = config
        .trainer
        .map(|cfg| tokio::spawn(trainer::run(state.clone(), cfg, stopped)));
    let evaluator = tokio::spawn(rollout::run(
        state.clone(),
        config.rollout,
        stop.subscribe(),
    ));
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    let _ = evaluator.await;
    if let Some(t) = trainer {
        t.abort();
        let _ = t.await;
    }
    served
}
