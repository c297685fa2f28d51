//! Frontier's profiler: trustworthy latency of ONNX models on the device it runs on.
//!
//! - [`backend`]: the three-level backend trait (backend, prepared model, state);
//!   [`tract_backend`] is the embedded default; [`fake`] is a scripted backend
//!   for tests of the harness.
//!   [`ort_backend`] (ONNX Runtime, loaded at run time) is on for non-musl
//!   targets; [`check`] compares two backends' outputs.
//! - [`inputs`]: declared inputs, `--input` specs, seeded random data.
//! - [`harness`]: warm-up, interleaved rounds, the calibration probe, the stop
//!   rule and the `unstable` flag.
//! - [`interval`]: the calibrated interval of a corrected median (drift,
//!   placement, session) that the stop rule and the flag are decided on.
//! - [`stats`]: descriptive statistics with their references.
//! - [`fingerprint`]: what device this is and what load it was under.
//! - [`memory`]: resident memory added by loading and running a model.
//!
//! Invariants: the profiler never touches the network and never serializes
//! its results (tables are the `export` crate's business; the only JSON it
//! reads is ONNX Runtime's profiler trace); the harness reads time only
//! through [`clock::Clock`] so its logic is testable with scripted timings.

pub mod backend;
pub mod check;
pub mod clock;
pub mod fake;
pub mod fingerprint;
pub mod harness;
pub mod inputs;
pub mod interval;
pub mod memory;
#[cfg(all(feature = "ort", not(target_env = "musl")))]
pub mod ort_backend;
pub mod probe;
pub mod stats;
#[cfg(feature = "tract")]
pub mod tract_backend;

use std::path::PathBuf;

pub use backend::{Availability, Backend, ModelState, PrepareOptions, PreparedModel};

/// Version of Frontier, recorded in every table row.
pub const FRONTIER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything that can go wrong while profiling one model. Every message
/// names the file (or the flag) and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: no such file; fix: check the path (directories are searched for *.onnx)")]
    NotFound { path: PathBuf },

    #[error("{path}: cannot read: {source}; fix: check the file's permissions")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a valid ONNX model ({reason}); fix: re-export it, or check it was copied completely")]
    NotOnnx { path: PathBuf, reason: String },

    #[error("{path}: {backend} does not support operator {op}; fix: try another backend (`frontier doctor` lists them) or export with a different opset")]
    UnsupportedOperator {
        path: PathBuf,
        backend: &'static str,
        op: String,
    },

    #[error("{path}: {backend} could not prepare the model: {detail}")]
    Prepare {
        path: PathBuf,
        backend: &'static str,
        detail: String,
    },

    #[error("{path}: input '{input}' has symbolic dimensions {declared}; fix: give them with --input {example}")]
    SymbolicDim {
        path: PathBuf,
        input: String,
        declared: String,
        example: String,
    },

    #[error("{path}: input '{input}' is declared with shape {declared} but --input gives {given} dimensions (a different rank); fix: give one value per dimension")]
    InputRankMismatch {
        path: PathBuf,
        input: String,
        declared: String,
        given: usize,
    },

    #[error(
        "--input '{spec}': {reason}; expected NAME=d0,d1,...[:dtype], e.g. input=1,3,224,224:f32"
    )]
    InvalidInputSpec { spec: String, reason: String },

    #[error("{path}: {what} needs {bytes} bytes but only {budget} are available; fix: give a smaller shape with --input")]
    TooLarge {
        path: PathBuf,
        what: String,
        bytes: u64,
        budget: u64,
    },

    #[error("{path}: {backend} failed while running the model: {detail}")]
    Run {
        path: PathBuf,
        backend: &'static str,
        detail: String,
    },

    #[error("backend {backend} is not usable here: {reason}; fix: {fix}")]
    BackendUnavailable {
        backend: String,
        reason: String,
        fix: String,
    },

    #[error("backend {backend} is not compiled into this binary (a static musl build has tract only); fix: use --backend tract or a gnu build")]
    BackendNotBuilt { backend: String },

    #[error("no backend works here; `frontier doctor` says why")]
    NoBackend,
}
