//! Reports: what the profiler measured, turned into rows and readable
//! reports. Between the profiler (measurement) and the table (format).
//!
//! - [`rows`]: conversion of the profiler's measurements into table rows.
//! - [`inspect`]: the report of `frontier inspect`; [`doctor`]: of
//!   `frontier doctor`; [`check`]: of `profile --check`; [`summary`]: the
//!   human table at the end of `frontier profile`.
//!
//! Search spaces and their ONNX generation live in `frontier-spaces`; the
//! table types in `frontier-table`.

pub mod check;
pub mod doctor;
pub mod inspect;
pub mod rows;
pub mod summary;
