//! Search: from per-device predictors and an accuracy source to a frontier
//! manifest. Pure computation over bytes and structs (no files, no
//! network, no tract): the agent reads and writes the files; an ONNX
//! accuracy model runs through a `frontier_profiler::backend::Backend` the
//! caller passes in.
//!
//! - [`nsga2`]: NSGA-II and the random search it is compared with,
//!   hypervolume, each device's frontier.
//! - [`accuracy`]: the accuracy sources (`macs`, `params`, `table:`,
//!   `onnx:`) and the pool a table restricts the search to.
//! - [`manifest`]: `--max-latency-ms` limits per device, the manifest of a
//!   finished search (models chosen, named, with their latencies), and
//!   matching a verification session's rows back to the manifest's models.

pub mod accuracy;
pub mod manifest;
pub mod nsga2;

pub use nsga2::{
    device_frontier, hypervolume, search, Candidate, Constraints, Outcome, SearchConfig,
    SearchError,
};
