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
//! fixed reference set, queued by the collector itself at each agent start
//! and every canary period, [`crate::api::Limits::canary_every`]). `verify` (a frontier's models) comes with
//! frontiers in the collector.

use serde::{Deserialize, Serialize};

use frontier_spaces::{Arch, Space};

/// `created_by` of the jobs the collector queues by itself (a board's
/// canaries; the trainer's re-profiling after a shift).
pub const COLLECTOR: &str = "collector";
pub use frontier_table::jobs::{Active, Job, JobKind, JobSpec, JobState, Lease, Outcome};

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
