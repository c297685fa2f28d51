//! Frontier's formats: latency tables, and search spaces written as ONNX.
//!
//! - [`table`]: re-export of `frontier-table` (latency-table format v1).
//! - [`rows`]: conversion of the profiler's measurements into rows.
//! - [`onnx`]: a small ONNX graph builder on tract-onnx's protobuf types.
//! - [`inspect`]: the report of `frontier inspect`; [`doctor`]: of `frontier doctor`.
//! - [`manifest`]: the `manifest.jsonl` lines written beside generated models.
//! - [`gpt2`]: LiteTransformerSearch's GPT-2 decoder space (Hugging Face
//!   `GPT2Model`): parameter counts, ONNX generation, encodings, sampling.
//! - [`ofa_mbv3`]: Once-for-All's MobileNetV3 space: architectures, channel
//!   plans, parameter and MAC counts, ONNX generation, encodings, sampling.
//!
//! Generation is a pure function of (space, architecture, seed): the same
//! inputs give the same bytes.
//!
//! Invariant: with the wire types of the collector, this crate is the only
//! place that knows how anything is serialized.

pub mod check;
pub mod doctor;
pub mod gpt2;
pub mod inspect;
pub mod manifest;
pub mod ofa_mbv3;
pub mod onnx;
pub mod rows;
pub mod sampler;

/// The table types live in their own crate (the collector and the predictor
/// read them too); re-exported under their old path.
pub use frontier_table as table;
pub use table::{LatencyRow, OpRow, TableError};
