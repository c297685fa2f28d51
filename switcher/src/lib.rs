//! Serving a frontier: the models of a frontier manifest loaded on this
//! device, and a switcher that keeps the most accurate one whose latency
//! at the current load fits the SLO in front of requests.
//!
//! - [`load`]: load signals from `/proc` (PSI, others' CPU, run queue,
//!   memory), sampled by a background thread.
//! - [`policy`]: which (model, threads) variant serves: latency curves over
//!   contention, corrected by observed p95, with hysteresis. Pure.
//! - [`Switcher`] (`engine.rs`): loads and warms the variants (within a
//!   memory budget, most useful first), serves [`Switcher::infer`] on the
//!   current one, observes latencies, runs the policy every 100 ms on a
//!   controller thread, swaps the current variant atomically (in-flight
//!   requests finish on the one they started with), quarantines variants
//!   that fail, and keeps counters for status and metrics.
//!
//! - [`http`] (feature `http`): the routes `frontier serve` runs.
//!
//! An application can embed the switcher without HTTP.

mod engine;
#[cfg(feature = "http")]
pub mod http;
pub mod load;
pub mod policy;
mod resize;

pub use engine::{
    FieldStats, FieldWindow, InferError, ObservationStatus, Request, Response, ServeConfig,
    StartError, Status, SwitchEvent, SwitchMode, Switcher, VariantCorrection, VariantStatus,
};
pub use resize::resize_bilinear_nchw;
