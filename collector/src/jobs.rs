//! Profiling jobs: what an operator asks a board to measure, checked before
//! it is queued, and the records the queue keeps.
//!
//! A job belongs to one device. A board leases the oldest queued job of its
//! own device for a while ([`crate::api::Limits::lease`]), renews the lease
//! while it works, and completes it with the lease's token. A lease that
//! expires (the board died, or lost its network) returns the job to the
//! queue; a completion with a lease that was given to someone else since is
//! refused, so a job is counted once. Rows are idempotent by `row_id`
//! anyway: what a dead board uploaded before dying is kept once.
//!
//! Kinds: `profile` (a space with N samples, explicit architectures, or
//! `active` with a budget and a target share within ±10%) and `canary` (the
//! fixed reference set). `verify` (a frontier's models) comes with
//! frontiers in the collector.

use serde::{Deserialize, Serialize};

use frontier_spaces::{Arch, Space};

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

/// What an operator sends (`POST /v1/jobs`, `frontier-collector job create`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    /// The device's id, or its enrolled name when that is unique.
    pub device: String,
    pub kind: String,
    #[serde(default)]
    pub space: Option<String>,
    #[serde(default)]
    pub samples: Option<u32>,
    #[serde(default)]
    pub archs: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub active: Option<Active>,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub threads: Option<u32>,
}

/// Why a job request was refused; each names the field and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("kind {0}: not a job kind; fix: use profile or canary")]
    Kind(String),
    #[error("space {0}: not a search space; fix: use one of {1}")]
    Space(String, String),
    #[error("a profile job needs a space; fix: add space (one of {0})")]
    NoSpace(String),
    #[error(
        "a profile job takes exactly one of samples, archs and active (got {0}); fix: choose one"
    )]
    What(usize),
    #[error("samples {0}: fix: 1 to 10000")]
    Samples(u32),
    #[error("archs: {0}")]
    Archs(String),
    #[error("active: {0}")]
    Active(String),
    #[error("backend {0}: fix: use tract or ort")]
    Backend(String),
    #[error("threads {0}: fix: 1 to 256")]
    Threads(u32),
    #[error("{0} applies to profile jobs only; fix: leave it out of a canary job")]
    NotForCanary(&'static str),
}

/// Largest explicit architecture list of one job.
pub const MAX_ARCHS: usize = 1000;

impl JobRequest {
    /// The job this request describes, checked: a known kind and space,
    /// architectures inside the space, sane counts.
    pub fn spec(&self) -> Result<JobSpec, JobError> {
        let kind = JobKind::parse(&self.kind).ok_or_else(|| JobError::Kind(self.kind.clone()))?;
        let space = match (&self.space, kind) {
            (Some(s), _) => {
                Space::parse(s).ok_or_else(|| JobError::Space(s.clone(), Space::names()))?
            }
            (None, JobKind::Canary) => Space::OfaMbv3,
            (None, JobKind::Profile) => return Err(JobError::NoSpace(Space::names())),
        };
        if let Some(b) = &self.backend {
            if !["tract", "ort"].contains(&b.as_str()) {
                return Err(JobError::Backend(b.clone()));
            }
        }
        if let Some(t) = self.threads {
            if !(1..=256).contains(&t) {
                return Err(JobError::Threads(t));
            }
        }
        let given = [
            self.samples.is_some(),
            self.archs.is_some(),
            self.active.is_some(),
        ];
        let mut archs = None;
        match kind {
            JobKind::Canary => {
                for (name, set) in [
                    ("samples", given[0]),
                    ("archs", given[1]),
                    ("active", given[2]),
                ] {
                    if set {
                        return Err(JobError::NotForCanary(name));
                    }
                }
            }
            JobKind::Profile => {
                let n = given.iter().filter(|g| **g).count();
                if n != 1 {
                    return Err(JobError::What(n));
                }
                if let Some(s) = self.samples {
                    if !(1..=10_000).contains(&s) {
                        return Err(JobError::Samples(s));
                    }
                }
                if let Some(list) = &self.archs {
                    if list.is_empty() || list.len() > MAX_ARCHS {
                        return Err(JobError::Archs(format!(
                            "{} architectures; fix: 1 to {MAX_ARCHS}",
                            list.len()
                        )));
                    }
                    let mut checked = Vec::with_capacity(list.len());
                    for (i, a) in list.iter().enumerate() {
                        let arch = Arch::parse(space, &a.to_string()).map_err(|e| {
                            JobError::Archs(format!(
                                "[{i}] is not an architecture of {}: {e}; fix: give them as rows and `frontier export` write them",
                                space.name()
                            ))
                        })?;
                        checked.push(
                            serde_json::from_str(&arch.row_json()).expect("the space writes JSON"),
                        );
                    }
                    archs = Some(checked);
                }
                if let Some(a) = &self.active {
                    if !(60..=86_400).contains(&a.budget_s) {
                        return Err(JobError::Active(format!(
                            "budget {} s; fix: 1 minute to 24 hours",
                            a.budget_s
                        )));
                    }
                    if !(a.target > 0.0 && a.target <= 1.0) {
                        return Err(JobError::Active(format!(
                            "target {}; fix: a share within ±10% in (0, 1], e.g. 0.95",
                            a.target
                        )));
                    }
                }
            }
        }
        Ok(JobSpec {
            kind,
            space: space.name().to_string(),
            samples: self.samples,
            archs,
            active: self.active.clone(),
            backend: self.backend.clone(),
            threads: self.threads,
        })
    }
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

/// A lease as the board receives it: the job and the token that renews
/// and completes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub job: Job,
    pub lease_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str) -> JobRequest {
        JobRequest {
            device: "pi-1".into(),
            kind: kind.into(),
            space: Some("ofa-mbv3".into()),
            samples: Some(20),
            ..JobRequest::default()
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let ok = req("profile").spec().unwrap();
        assert_eq!((ok.kind, ok.samples), (JobKind::Profile, Some(20)));
        let cases: Vec<(JobRequest, &str)> = vec![
            (req("benchmark"), "kind benchmark"),
            (
                JobRequest {
                    space: Some("resnet".into()),
                    ..req("profile")
                },
                "space resnet",
            ),
            (
                JobRequest {
                    space: None,
                    ..req("profile")
                },
                "needs a space",
            ),
            (
                JobRequest {
                    samples: None,
                    ..req("profile")
                },
                "exactly one of samples, archs and active (got 0)",
            ),
            (
                JobRequest {
                    samples: Some(0),
                    ..req("profile")
                },
                "samples 0",
            ),
            (
                JobRequest {
                    samples: None,
                    archs: Some(vec![serde_json::json!({"ks": [9]})]),
                    ..req("profile")
                },
                "archs: [0] is not an architecture of ofa-mbv3",
            ),
            (
                JobRequest {
                    samples: None,
                    active: Some(Active {
                        budget_s: 900,
                        target: 1.5,
                    }),
                    ..req("profile")
                },
                "target 1.5",
            ),
            (
                JobRequest {
                    backend: Some("tvm".into()),
                    ..req("profile")
                },
                "backend tvm",
            ),
            (
                JobRequest {
                    threads: Some(0),
                    ..req("profile")
                },
                "threads 0",
            ),
            (req("canary"), "samples applies to profile jobs only"),
        ];
        for (r, want) in cases {
            let e = r.spec().unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("fix"), "{want}: {e}");
        }
        let canary = JobRequest {
            samples: None,
            space: None,
            ..req("canary")
        }
        .spec()
        .unwrap();
        assert_eq!(canary.space, "ofa-mbv3");
    }

    #[test]
    fn explicit_architectures_are_kept_in_the_space_form() {
        let space = Space::OfaMbv3;
        let arch = frontier_spaces::SampleSpec::new(space, 7)
            .sample(1)
            .unwrap()
            .remove(0);
        let r = JobRequest {
            samples: None,
            archs: Some(vec![serde_json::from_str(&arch.json()).unwrap()]),
            ..req("profile")
        };
        let spec = r.spec().unwrap();
        assert_eq!(
            spec.archs.unwrap()[0].to_string(),
            arch.row_json(),
            "stored as rows record it"
        );
    }
}
