//! `frontier upload`, `profile --upload`, `collector:` tables and
//! predictors in a build
//! without the `upload` feature (the HTTP client and TLS left out to make
//! the binary smaller): each says so, with the fix.

use std::time::Duration;

use anyhow::bail;
use frontier_table::LatencyRow;

use crate::cli::UploadArgs;

const NOT_BUILT: &str = "this frontier was built without uploads (cargo feature `upload`); fix: use a build with it, or copy the table (--out) to a machine that has one and run `frontier upload URL TABLE` there";

pub struct Upload;

impl Upload {
    pub fn prepare(_url: Option<&str>, _token: Option<&str>) -> anyhow::Result<Upload> {
        bail!(NOT_BUILT)
    }

    pub fn finish(self, _rows: &mut [LatencyRow], _wait: Duration) -> anyhow::Result<()> {
        bail!(NOT_BUILT)
    }
}

pub fn fetch(_url: &str, _token: Option<&str>) -> anyhow::Result<Vec<LatencyRow>> {
    bail!(NOT_BUILT)
}

pub fn fetch_predictor(_rest: &str) -> anyhow::Result<(String, String)> {
    bail!(NOT_BUILT)
}

pub fn run(_args: UploadArgs) -> anyhow::Result<i32> {
    bail!(NOT_BUILT)
}

pub fn run_agent() -> anyhow::Result<i32> {
    bail!(NOT_BUILT)
}
