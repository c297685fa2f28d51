//! The agent's side of uploading rows to a `frontier-collector`.
//!
//! - [`spool`]: the durable, checksummed spool every row is appended to
//!   before anything is sent (its format and rules are in its module doc).
//! - [`sender`]: batches the spool to the collector and acknowledges in the
//!   spool only after the collector's 2xx; backoff with jitter.
//! - [`config`]: the collector URL and token from flags, environment or the
//!   config file (which must not expose a token).
//! - [`fleet`]: enrolment, heartbeats and the job lease protocol, for
//!   `frontier agent`.
//! - [`frontiers`]: publishing a search to the collector, and a board's
//!   pull of the version assigned to it (resumable, verified downloads).
//! - [`predictors`]: a predictor the collector trained
//!   (`collector:URL?device=NAME`), for `search`, `predict` and `train --from`.
//!
//! Delivery is exactly once end to end: at least once from here (nothing is
//! deleted before it is acknowledged), and the collector stores each
//! `row_id` once.

pub mod config;
pub mod fleet;
pub mod frontiers;
pub mod predictors;
pub mod sender;
pub mod spool;

pub use sender::{DrainReport, Sender, SenderConfig, Status};
pub use spool::Spool;
