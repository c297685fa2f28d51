//! Frontier's formats: latency tables today, search spaces written as ONNX next.
//!
//! - [`table`]: the latency-table format v1 (rows, JSON Lines and CSV writers
//!   that return bytes, a reader that checks the schema version).
//! - [`rows`]: conversion of the profiler's measurements into rows.
//!
//! Invariant: with the wire types of the collector, this crate is the only
//! place that knows how anything is serialized.

pub mod rows;
pub mod table;

pub use table::{LatencyRow, OpRow, TableError};
