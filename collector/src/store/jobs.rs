//! The job queue's statements (the rules are in [`crate::jobs`]).
//!
//! Invariant: a lease is one `UPDATE ... WHERE id = (oldest eligible) AND
//! (still eligible)`: on PostgreSQL a concurrent lease of the same row
//! waits for the first and then re-checks the condition, finding the job
//! leased; on SQLite the single writer serializes them. So a job is never
//! leased to two boards at once, on any number of replicas.

use sqlx::Row;

use super::{now_us, Store, StoreError};
use crate::jobs::{Job, JobSpec, JobState, Outcome};

/// What became of a completion.
#[derive(Debug, Clone, PartialEq)]
pub enum Completed {
    /// Recorded now.
    Recorded,
    /// The same lease completed it before (a retried request): nothing
    /// changes.
    Again(JobState),
    /// The lease expired and the job was leased again, or finished by
    /// another lease: this completion does not count.
    LeaseLost,
    Unknown,
}

/// Which device a name or id means.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceMatch {
    One(String),
    None,
    /// An enrolled name several devices share: their ids.
    Several(Vec<String>),
}

const JOB_COLUMNS: &str = "id, device_id, spec_json, state, created_at_us, attempts, leased_to, \
     lease_expires_us, finished_at_us, outcome_json";

fn job_from(r: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    let spec: String = r.try_get(2)?;
    let state: String = r.try_get(3)?;
    let outcome: Option<String> = r.try_get(9)?;
    let attempts: i32 = r
        .try_get::<i64, _>(5)
        .map(|a| a as i32)
        .or_else(|_| r.try_get(5))?;
    Ok(Job {
        id: r.try_get(0)?,
        device_id: r.try_get(1)?,
        spec: serde_json::from_str::<JobSpec>(&spec).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("jobs.spec_json: {e}").into()))
        })?,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        created_at_us: r.try_get(4)?,
        attempts: attempts.max(0) as u32,
        leased_to: r.try_get(6)?,
        lease_expires_us: r.try_get(7)?,
        finished_at_us: r.try_get(8)?,
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    })
}

impl Store {
    /// The device `key` names: its id, else its enrolled name.
    pub async fn find_device(&self, key: &str) -> Result<DeviceMatch, StoreError> {
        let by_id = sqlx::query("SELECT device_id FROM devices WHERE device_id = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(r) = by_id {
            return Ok(DeviceMatch::One(r.try_get(0)?));
        }
        let by_name =
            sqlx::query("SELECT device_id FROM devices WHERE name = $1 ORDER BY device_id")
                .bind(key)
                .fetch_all(&self.pool)
                .await?;
        let mut ids = by_name
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match ids.len() {
            0 => DeviceMatch::None,
            1 => DeviceMatch::One(ids.remove(0)),
            _ => DeviceMatch::Several(ids),
        })
    }

    /// Queue a job for `device_id`.
    pub async fn create_job(
        &self,
        id: &str,
        device_id: &str,
        spec: &JobSpec,
        created_by: &str,
    ) -> Result<Job, StoreError> {
        if !self
            .create_job_once(id, device_id, spec, created_by)
            .await?
        {
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "job {id}: not queued (an id or an open collector canary of device {device_id} exists)"
            ))));
        }
        Ok(self.job(id).await?.expect("just inserted"))
    }

    /// Queue a job unless a unique index says one like it is open (the
    /// collector's own canaries, `jobs_one_open_canary`); true if queued.
    pub async fn create_job_once(
        &self,
        id: &str,
        device_id: &str,
        spec: &JobSpec,
        created_by: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO jobs (id, device_id, kind, spec_json, state, created_at_us, created_by) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(device_id)
        .bind(spec.kind.as_str())
        .bind(serde_json::to_string(spec).expect("plain data"))
        .bind(now_us())
        .bind(created_by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let r = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(job_from).transpose()
    }

    /// Jobs, newest first, optionally of one device and in one state.
    pub async fn jobs(
        &self,
        device_id: Option<&str>,
        state: Option<JobState>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
        let mut n = 0;
        if device_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND device_id = ${n}"));
        }
        if state.is_some() {
            n += 1;
            sql.push_str(&format!(" AND state = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY created_at_us DESC, id DESC LIMIT ${}",
            n + 1
        ));
        let mut q = sqlx::query(&sql);
        if let Some(d) = device_id {
            q = q.bind(d);
        }
        if let Some(s) = state {
            q = q.bind(s.as_str());
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(job_from).collect()
    }

    /// Lease the oldest queued (or expired) job of `device_id` to
    /// `credential_id` until `now + lease_us`, under `lease_token`.
    pub async fn lease_job(
        &self,
        device_id: &str,
        credential_id: &str,
        lease_token: &str,
        lease_us: i64,
    ) -> Result<Option<Job>, StoreError> {
        // A lost race (another replica leased the same job between the
        // subquery and the update) finds 0 rows: look again, a few times.
        for _ in 0..4 {
            let now = now_us();
            let eligible = "(state = 'queued' OR (state = 'leased' AND lease_expires_us < $5))";
            let leased = sqlx::query(&format!(
                "UPDATE jobs SET state = 'leased', lease_token = $1, leased_to = $2, \
                 lease_expires_us = $3, attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM jobs WHERE device_id = $4 AND {eligible} \
                             ORDER BY created_at_us, id LIMIT 1) \
                   AND {eligible} \
                 RETURNING id"
            ))
            .bind(lease_token)
            .bind(credential_id)
            .bind(now + lease_us)
            .bind(device_id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = leased {
                let id: String = r.try_get(0)?;
                return self.job(&id).await;
            }
            let any = sqlx::query(
                "SELECT 1 FROM jobs WHERE device_id = $1 AND \
                 (state = 'queued' OR (state = 'leased' AND lease_expires_us < $2)) LIMIT 1",
            )
            .bind(device_id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if any.is_none() {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Extend a lease to `now + lease_us`; `None` when `lease_token` no
    /// longer holds the job.
    pub async fn renew_lease(
        &self,
        job_id: &str,
        lease_token: &str,
        lease_us: i64,
    ) -> Result<Option<i64>, StoreError> {
        let until = now_us() + lease_us;
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_us = $1 WHERE id = $2 AND lease_token = $3 AND state = 'leased'",
        )
        .bind(until)
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(until))
    }

    /// Give a leased job back to the queue; false when `lease_token` no
    /// longer holds it.
    pub async fn release_job(&self, job_id: &str, lease_token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_expires_us = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
        )
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record how a leased job ended. Late is fine as long as no one else
    /// has leased the job since; the same completion twice is recorded once.
    pub async fn complete_job(
        &self,
        job_id: &str,
        lease_token: &str,
        outcome: &Outcome,
    ) -> Result<Completed, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, finished_at_us = $2, outcome_json = $3 \
             WHERE id = $4 AND lease_token = $5 AND state = 'leased'",
        )
        .bind(outcome.state.as_str())
        .bind(now_us())
        .bind(serde_json::to_string(outcome).expect("plain data"))
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Completed::Recorded);
        }
        let r = sqlx::query("SELECT state, lease_token FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else {
            return Ok(Completed::Unknown);
        };
        let state: String = r.try_get(0)?;
        let token: Option<String> = r.try_get(1)?;
        let state = JobState::parse(&state).unwrap_or(JobState::Failed);
        Ok(
            if token.as_deref() == Some(lease_token)
                && matches!(state, JobState::Done | JobState::Failed)
            {
                Completed::Again(state)
            } else {
                Completed::LeaseLost
            },
        )
    }
}
