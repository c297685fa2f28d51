//! Profiling jobs on the wire: what the collector queues for a board and
//! what the board reports back (`docs/COLLECTOR.md`). The collector checks
//! requests against the search spaces; these are the plain records both
//! sides read.

use serde::{Deserialize, Serialize};

/// What a job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Profile,
    Canary,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Profile => "profile",
            JobKind::Canary => "canary",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "profile" => Some(JobKind::Profile),
            "canary" => Some(JobKind::Canary),
            _ => None,
        }
    }
}

/// Active profiling: the collector picks each next batch until the
/// predictor's cross-validated share within ±10% reaches `target` or the
/// budget is spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub budget_s: u64,
    pub target: f64,
}

/// A job's parameters as stored and as the board receives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub kind: JobKind,
    /// The search space (`profile`; `canary` defaults to ofa-mbv3).
    pub space: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Architectures, validated, in the form rows record them (keys sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archs: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Active>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Leased,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Leased => "leased",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "queued" => Some(JobState::Queued),
            "leased" => Some(JobState::Leased),
            "done" => Some(JobState::Done),
            "failed" => Some(JobState::Failed),
            _ => None,
        }
    }
}

/// How a board says a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `done` or `failed`.
    pub state: JobState,
    /// Rows the job produced (uploaded through the board's spool).
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub message: Option<String>,
}

/// A job as the queue keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub device_id: String,
    pub spec: JobSpec,
    pub state: JobState,
    pub created_at_us: i64,
    /// Leases given so far (a job re-leased after an expiry has 2 or more).
    pub attempts: u32,
    /// The credential holding (or last holding) the lease.
    pub leased_to: Option<String>,
    pub lease_expires_us: Option<i64>,
    pub finished_at_us: Option<i64>,
    pub outcome: Option<Outcome>,
}

impl Job {
    /// The job's seed, from its id: a job that runs again draws the same
    /// subnets, and the collector plans an active job's pool with the same
    /// seed on every replica.
    pub fn seed(&self) -> u64 {
        u64::from_str_radix(&self.id.chars().take(16).collect::<String>(), 16).unwrap_or(0)
    }
}

/// A lease as the board receives it: the job and the token that renews
/// and completes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub job: Job,
    pub lease_token: String,
}

/// A board's request for the next batch of an `active` job
/// (`POST /v1/jobs/{id}/batch`): its lease, and the cohort it measures in
/// (the rows of that cohort are what the collector plans from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    pub lease_token: String,
    pub backend: String,
    pub backend_version: String,
    pub threads: u32,
    /// The agent's (`frontier`'s) version, as its rows record it.
    pub agent_version: String,
}

/// The collector's answer: the next architectures to measure (the space's
/// JSON), or why the job is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BatchReply {
    #[serde(default)]
    pub archs: Vec<serde_json::Value>,
    /// Set when the job is done: the target reached, or no candidate left.
    #[serde(default)]
    pub done: Option<String>,
    /// Rows of the cohort planned from (the subnets measured; reference rows
    /// are not counted).
    #[serde(default)]
    pub rows: u64,
    /// The plan's predictor: cross-validated share within ±10%, if fitted.
    #[serde(default)]
    pub within_10pct: Option<f64>,
    /// The other board's predictor a few-shot fit transferred from.
    #[serde(default)]
    pub source: Option<String>,
}
