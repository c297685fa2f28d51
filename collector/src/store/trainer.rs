//! The trainer's statements (the rules are in [`crate::trainer`]): the scan
//! of new rows, cohorts and their claims, predictor versions, canary rows
//! and shifts, heartbeats.
//!
//! Invariants:
//! - A cohort is claimed by one `UPDATE ... WHERE (claim free or run out)`,
//!   as a job is leased: two replicas never train one cohort at once.
//! - A predictor is inserted in the transaction that releases its claim,
//!   and only if the claim is still this run's: a run whose claim ran out
//!   (and was taken by another replica) stores nothing.

use sqlx::Row;

use super::{now_us, RowKey, Store, StoreError};

/// What one predictor is for.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CohortKey {
    pub device_id: String,
    pub space: String,
    pub backend: String,
    pub backend_version: String,
    pub threads: u32,
    /// The agent's (`frontier`'s) version.
    pub agent_version: String,
}

impl CohortKey {
    /// A stable id: the same on every replica.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.device_id.as_str(),
            self.space.as_str(),
            self.backend.as_str(),
            self.backend_version.as_str(),
            &self.threads.to_string(),
            self.agent_version.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("c{}", &hex[..20])
    }

    /// What canaries compare across: the same device, space, backend and
    /// threads, whatever the versions.
    pub fn canary_group(&self) -> (String, String, String, u32) {
        (
            self.device_id.clone(),
            self.space.clone(),
            self.backend.clone(),
            self.threads,
        )
    }
}

/// A cohort as the trainer tracks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Cohort {
    pub id: String,
    #[serde(flatten)]
    pub key: CohortKey,
    pub first_seen_us: i64,
    pub changed_at_us: i64,
    pub dirty_since_us: Option<i64>,
    pub trained_for_us: Option<i64>,
    pub last_error: Option<String>,
    pub last_run_us: Option<i64>,
}

/// A cohort claimed for one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub cohort: Cohort,
    pub token: String,
}

/// A predictor version to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPredictor {
    pub id: String,
    pub rows_used: i64,
    pub data_sha256: String,
    pub rows_from_us: Option<i64>,
    pub newest_row_us: Option<i64>,
    pub kind: String,
    pub metrics_json: String,
    pub file_json: String,
    pub trained_by: String,
    pub train_ms: i64,
}

/// A stored predictor version (without its file).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictorRecord {
    pub id: String,
    pub cohort: Cohort,
    pub created_at_us: i64,
    pub rows_used: i64,
    pub data_sha256: String,
    pub rows_from_us: Option<i64>,
    pub newest_row_us: Option<i64>,
    pub kind: String,
    pub metrics_json: String,
    pub trained_by: Option<String>,
    pub train_ms: Option<i64>,
}

/// A shift the canaries found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shift {
    pub device_id: String,
    pub space: String,
    pub backend: String,
    pub threads: u32,
    /// The first canary row of the shifted run (rows from here on are the
    /// new state).
    pub at_us: i64,
    pub detected_at_us: i64,
    /// The canaries' median ratio to their history.
    pub ratio: f64,
    pub evidence: serde_json::Value,
    /// The re-profiling job queued for it.
    pub job_id: Option<String>,
}

impl Shift {
    /// Whether this shift is of `key`'s canary group (its device, space,
    /// backend and threads, whatever the versions).
    pub fn is_of(&self, key: &CohortKey) -> bool {
        self.device_id == key.device_id
            && self.space == key.space
            && self.backend == key.backend
            && self.threads == key.threads
    }
}

/// The newest shift among `shifts` of `key`'s canary group.
pub fn last_shift(shifts: &[Shift], key: &CohortKey) -> Option<i64> {
    shifts
        .iter()
        .filter(|s| s.is_of(key))
        .map(|s| s.at_us)
        .max()
}

/// One canary row: its arch, when it was measured, the row.
#[derive(Debug, Clone)]
pub struct CanaryRow {
    pub arch: String,
    pub measured_at_us: i64,
    pub row_json: String,
}

const COHORT_COLUMNS: &str =
    "c.id, c.device_id, c.space, c.backend, c.backend_version, c.threads, \
     c.agent_version, c.first_seen_us, c.changed_at_us, c.dirty_since_us, c.trained_for_us, \
     c.last_error, c.last_run_us";

fn int(r: &sqlx::any::AnyRow, i: usize) -> Result<i64, sqlx::Error> {
    r.try_get::<i64, _>(i)
        .or_else(|_| r.try_get::<i32, _>(i).map(i64::from))
}

fn cohort_from(r: &sqlx::any::AnyRow) -> Result<Cohort, StoreError> {
    Ok(Cohort {
        id: r.try_get(0)?,
        key: CohortKey {
            device_id: r.try_get(1)?,
            space: r.try_get(2)?,
            backend: r.try_get(3)?,
            backend_version: r.try_get(4)?,
            threads: int(r, 5)?.max(0) as u32,
            agent_version: r.try_get(6)?,
        },
        first_seen_us: r.try_get(7)?,
        changed_at_us: r.try_get(8)?,
        dirty_since_us: r.try_get(9)?,
        trained_for_us: r.try_get(10)?,
        last_error: r.try_get(11)?,
        last_run_us: r.try_get(12)?,
    })
}

/// Which predictors to list.
#[derive(Debug, Clone, Default)]
pub struct PredictorFilter {
    pub device_id: Option<String>,
    pub space: Option<String>,
    pub backend: Option<String>,
    pub threads: Option<u32>,
}

impl Store {
    /// Where the trainer's scan has got to.
    pub async fn trainer_cursor(&self) -> Result<RowKey, StoreError> {
        let r = sqlx::query("SELECT commit_key, seq FROM trainer_cursor WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(RowKey {
            commit: r.try_get(0)?,
            seq: r.try_get(1)?,
        })
    }

    /// Move the cursor from `from` to `to`; false when another replica
    /// moved it meanwhile (its scan covered the same rows).
    pub async fn advance_trainer_cursor(
        &self,
        from: RowKey,
        to: RowKey,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE trainer_cursor SET commit_key = $1, seq = $2 \
             WHERE id = 1 AND commit_key = $3 AND seq = $4",
        )
        .bind(to.commit)
        .bind(to.seq)
        .bind(from.commit)
        .bind(from.seq)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The cohorts of up to `limit` rows after `after` and below
    /// `horizon`, in commit order, and the last row's key. Rows without a
    /// space are in no cohort; rows of `block_space` count for `parent`.
    pub async fn scan_cohorts(
        &self,
        after: RowKey,
        horizon: i64,
        limit: i64,
        (block_space, parent): (&str, &str),
    ) -> Result<(Vec<CohortKey>, Option<RowKey>), StoreError> {
        let c = self.commit_column();
        let rows = sqlx::query(&format!(
            "SELECT {c}, seq, device_id, space, backend, backend_version, threads, agent_version \
             FROM rows WHERE ({c}, seq) > ($1, $2) AND {c} < $3 ORDER BY {c}, seq LIMIT $4"
        ))
        .bind(after.commit)
        .bind(after.seq)
        .bind(horizon)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut keys = std::collections::BTreeSet::new();
        let mut last = None;
        for r in &rows {
            last = Some(RowKey {
                commit: r.try_get(0)?,
                seq: r.try_get(1)?,
            });
            let space: Option<String> = r.try_get(3)?;
            let (Some(space), Some(version), Some(threads), Some(agent)) = (
                space,
                r.try_get::<Option<String>, _>(5)?,
                r.try_get::<Option<i64>, _>(6)
                    .or_else(|_| r.try_get::<Option<i32>, _>(6).map(|t| t.map(i64::from)))?,
                r.try_get::<Option<String>, _>(7)?,
            ) else {
                continue;
            };
            let space = if space == block_space {
                parent.to_string()
            } else {
                space
            };
            keys.insert(CohortKey {
                device_id: r.try_get(2)?,
                space,
                backend: r.try_get(4)?,
                backend_version: version,
                threads: threads.max(0) as u32,
                agent_version: agent,
            });
        }
        Ok((keys.into_iter().collect(), last))
    }

    /// Record that `keys` have new rows, found at `now`.
    pub async fn touch_cohorts(&self, keys: &[CohortKey], now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for k in keys {
            sqlx::query(
                "INSERT INTO cohorts (id, device_id, space, backend, backend_version, threads, \
                 agent_version, first_seen_us, changed_at_us, dirty_since_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) \
                 ON CONFLICT (id) DO UPDATE SET changed_at_us = $8, \
                 dirty_since_us = COALESCE(cohorts.dirty_since_us, $8)",
            )
            .bind(k.id())
            .bind(&k.device_id)
            .bind(&k.space)
            .bind(&k.backend)
            .bind(&k.backend_version)
            .bind(k.threads as i32)
            .bind(&k.agent_version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claim the cohort that has waited longest with rows not trained on,
    /// once it has had no new rows for `quiet_us` or has waited `max_wait_us`
    /// (rows that keep arriving do not hold training back for ever). The
    /// claim lasts `claim_us`.
    pub async fn claim_cohort(
        &self,
        now: i64,
        quiet_us: i64,
        max_wait_us: i64,
        claim_us: i64,
        replica: &str,
    ) -> Result<Option<Claim>, StoreError> {
        let free =
            "dirty_since_us IS NOT NULL AND (claim_expires_us IS NULL OR claim_expires_us < $1)";
        for _ in 0..4 {
            let candidate = sqlx::query(&format!(
                "SELECT id FROM cohorts WHERE {free} \
                 AND (changed_at_us <= $2 OR dirty_since_us <= $3) \
                 ORDER BY dirty_since_us, id LIMIT 1"
            ))
            .bind(now)
            .bind(now - quiet_us)
            .bind(now - max_wait_us)
            .fetch_optional(&self.pool)
            .await?;
            let Some(candidate) = candidate else {
                return Ok(None);
            };
            let id: String = candidate.try_get(0)?;
            let token = crate::auth::random_hex(16);
            let done = sqlx::query(&format!(
                "UPDATE cohorts SET claim_token = $4, claimed_by = $5, claim_expires_us = $6 \
                 WHERE id = $7 AND {free} AND (changed_at_us <= $2 OR dirty_since_us <= $3)"
            ))
            .bind(now)
            .bind(now - quiet_us)
            .bind(now - max_wait_us)
            .bind(&token)
            .bind(replica)
            .bind(now + claim_us)
            .bind(&id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                let cohort = self.cohort(&id).await?.expect("claimed above");
                return Ok(Some(Claim { cohort, token }));
            }
        }
        Ok(None)
    }

    pub async fn cohort(&self, id: &str) -> Result<Option<Cohort>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {COHORT_COLUMNS} FROM cohorts c WHERE c.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(cohort_from).transpose()
    }

    /// Every cohort of a device (all devices with `None`).
    pub async fn cohorts(&self, device_id: Option<&str>) -> Result<Vec<Cohort>, StoreError> {
        let rows = match device_id {
            Some(d) => {
                sqlx::query(&format!(
                    "SELECT {COHORT_COLUMNS} FROM cohorts c WHERE c.device_id = $1 ORDER BY c.id"
                ))
                .bind(d)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COHORT_COLUMNS} FROM cohorts c ORDER BY c.id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(cohort_from).collect()
    }

    /// The rows of a cohort (with its block rows, `block_space`), measured
    /// at or after `from_us`, as JSON lines.
    pub async fn cohort_rows(
        &self,
        key: &CohortKey,
        block_space: &str,
        from_us: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT row_json FROM rows WHERE device_id = $1 AND backend = $2 \
             AND (space = $3 OR space = $4) AND threads = $5 AND backend_version = $6 \
             AND agent_version = $7 AND measured_at_us >= $8 ORDER BY seq",
        )
        .bind(&key.device_id)
        .bind(&key.backend)
        .bind(&key.space)
        .bind(block_space)
        .bind(key.threads as i32)
        .bind(&key.backend_version)
        .bind(&key.agent_version)
        .bind(from_us.unwrap_or(i64::MIN))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Whether `cohort_id` has a predictor of exactly this data.
    pub async fn predictor_of_data(
        &self,
        cohort_id: &str,
        data_sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT id FROM predictors WHERE cohort_id = $1 AND data_sha256 = $2")
            .bind(cohort_id)
            .bind(data_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get(0)).transpose()?)
    }

    /// End a training run: store its predictor (if any) and release the
    /// claim, in one transaction, only while `claim` still holds the
    /// cohort. Rows found after the claim keep the cohort dirty. False:
    /// the claim was lost and nothing was written.
    pub async fn finish_claim(
        &self,
        claim: &Claim,
        predictor: Option<&NewPredictor>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_us();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE cohorts SET claim_token = NULL, claimed_by = NULL, claim_expires_us = NULL, \
             trained_for_us = $1, last_error = $2, last_run_us = $3, \
             dirty_since_us = CASE WHEN changed_at_us > $1 THEN changed_at_us ELSE NULL END \
             WHERE id = $4 AND claim_token = $5",
        )
        .bind(claim.cohort.changed_at_us)
        .bind(error)
        .bind(now)
        .bind(&claim.cohort.id)
        .bind(&claim.token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(p) = predictor {
            sqlx::query(
                "INSERT INTO predictors (id, cohort_id, created_at_us, rows_used, data_sha256, \
                 rows_from_us, newest_row_us, kind, metrics_json, file_json, trained_by, train_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (cohort_id, data_sha256) DO NOTHING",
            )
            .bind(&p.id)
            .bind(&claim.cohort.id)
            .bind(now)
            .bind(p.rows_used)
            .bind(&p.data_sha256)
            .bind(p.rows_from_us)
            .bind(p.newest_row_us)
            .bind(&p.kind)
            .bind(&p.metrics_json)
            .bind(&p.file_json)
            .bind(&p.trained_by)
            .bind(p.train_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Predictor versions, newest first.
    pub async fn predictors(
        &self,
        f: &PredictorFilter,
        limit: i64,
    ) -> Result<Vec<PredictorRecord>, StoreError> {
        let mut sql = format!(
            "SELECT {COHORT_COLUMNS}, p.id, p.created_at_us, p.rows_used, p.data_sha256, \
             p.rows_from_us, p.newest_row_us, p.kind, p.metrics_json, p.trained_by, p.train_ms \
             FROM predictors p JOIN cohorts c ON c.id = p.cohort_id WHERE 1 = 1"
        );
        let mut n = 0;
        let mut texts: Vec<&str> = Vec::new();
        for (column, value) in [
            ("c.device_id", &f.device_id),
            ("c.space", &f.space),
            ("c.backend", &f.backend),
        ] {
            if let Some(v) = value {
                n += 1;
                sql.push_str(&format!(" AND {column} = ${n}"));
                texts.push(v);
            }
        }
        if f.threads.is_some() {
            n += 1;
            sql.push_str(&format!(" AND c.threads = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY p.created_at_us DESC, p.id DESC LIMIT ${}",
            n + 1
        ));
        let mut q = sqlx::query(&sql);
        for t in texts {
            q = q.bind(t);
        }
        if let Some(t) = f.threads {
            q = q.bind(t as i32);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(predictor_from).collect()
    }

    /// One predictor version and its file.
    pub async fn predictor(
        &self,
        id: &str,
    ) -> Result<Option<(PredictorRecord, String)>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {COHORT_COLUMNS}, p.id, p.created_at_us, p.rows_used, p.data_sha256, \
             p.rows_from_us, p.newest_row_us, p.kind, p.metrics_json, p.trained_by, p.train_ms, \
             p.file_json FROM predictors p JOIN cohorts c ON c.id = p.cohort_id WHERE p.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else { return Ok(None) };
        Ok(Some((predictor_from(&r)?, r.try_get(23)?)))
    }

    /// The canary rows of a device, space, backend and thread count whose
    /// arch is one of `archs`, oldest first.
    pub async fn canary_rows(
        &self,
        (device_id, space, backend, threads): &(String, String, String, u32),
        archs: &[String],
    ) -> Result<Vec<CanaryRow>, StoreError> {
        if archs.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT arch, measured_at_us, row_json FROM rows WHERE device_id = $1 AND backend = $2 \
             AND space = $3 AND threads = $4 AND arch IN (",
        );
        for i in 0..archs.len() {
            sql.push_str(&format!("{}${}", if i > 0 { ", " } else { "" }, i + 5));
        }
        sql.push_str(") ORDER BY measured_at_us, seq");
        let mut q = sqlx::query(&sql)
            .bind(device_id)
            .bind(backend)
            .bind(space)
            .bind(*threads as i32);
        for a in archs {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(CanaryRow {
                    arch: r.try_get(0)?,
                    measured_at_us: r.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
                    row_json: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Record a shift; false when it was recorded already (by another
    /// replica, or an earlier scan).
    pub async fn insert_shift(&self, s: &Shift) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO shifts (device_id, space, backend, threads, at_us, detected_at_us, ratio, \
             evidence_json, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device_id, space, backend, threads, at_us) DO NOTHING",
        )
        .bind(&s.device_id)
        .bind(&s.space)
        .bind(&s.backend)
        .bind(s.threads as i32)
        .bind(s.at_us)
        .bind(s.detected_at_us)
        .bind(s.ratio)
        .bind(s.evidence.to_string())
        .bind(&s.job_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Shifts of a device (all devices with `None`), oldest first.
    pub async fn shifts(&self, device_id: Option<&str>) -> Result<Vec<Shift>, StoreError> {
        let cols = "device_id, space, backend, threads, at_us, detected_at_us, ratio, evidence_json, job_id";
        let rows = match device_id {
            Some(d) => {
                sqlx::query(&format!(
                    "SELECT {cols} FROM shifts WHERE device_id = $1 ORDER BY at_us"
                ))
                .bind(d)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {cols} FROM shifts ORDER BY at_us"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let evidence: String = r.try_get(7)?;
                Ok(Shift {
                    device_id: r.try_get(0)?,
                    space: r.try_get(1)?,
                    backend: r.try_get(2)?,
                    threads: int(r, 3)?.max(0) as u32,
                    at_us: r.try_get(4)?,
                    detected_at_us: r.try_get(5)?,
                    ratio: r.try_get(6)?,
                    evidence: serde_json::from_str(&evidence).unwrap_or_default(),
                    job_id: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Every device's latest fingerprint, in one query.
    pub async fn fingerprints(
        &self,
    ) -> Result<std::collections::HashMap<String, super::Fingerprint>, StoreError> {
        let rows = sqlx::query("SELECT device_id, fingerprint_json FROM devices")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id: String = r.try_get(0).ok()?;
                let fp: String = r.try_get(1).ok()?;
                Some((id, serde_json::from_str(&fp).ok()?))
            })
            .collect())
    }

    /// Record a board's heartbeat.
    pub async fn heartbeat(
        &self,
        device_id: &str,
        json: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let before = sqlx::query("SELECT heartbeat_json FROM devices WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        sqlx::query(
            "UPDATE devices SET heartbeat_us = $1, heartbeat_json = $2, \
             last_seen_us = CASE WHEN last_seen_us < $1 THEN $1 ELSE last_seen_us END \
             WHERE device_id = $3",
        )
        .bind(now)
        .bind(json)
        .bind(device_id)
        .execute(&self.pool)
        .await?;
        Ok(before.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten()))
    }

    /// When the newest canary job of a device was created, and whether one
    /// is waiting or running.
    pub async fn canary_jobs(&self, device_id: &str) -> Result<(Option<i64>, bool), StoreError> {
        let r = sqlx::query(
            "SELECT MAX(created_at_us), \
             COUNT(CASE WHEN state = 'queued' OR state = 'leased' THEN 1 END) \
             FROM jobs WHERE device_id = $1 AND kind = 'canary'",
        )
        .bind(device_id)
        .fetch_one(&self.pool)
        .await?;
        let newest: Option<i64> = r.try_get(0)?;
        let open: i64 = int(&r, 1)?;
        Ok((newest, open > 0))
    }
}

fn predictor_from(r: &sqlx::any::AnyRow) -> Result<PredictorRecord, StoreError> {
    Ok(PredictorRecord {
        cohort: cohort_from(r)?,
        id: r.try_get(13)?,
        created_at_us: r.try_get(14)?,
        rows_used: int(r, 15)?,
        data_sha256: r.try_get(16)?,
        rows_from_us: r.try_get(17)?,
        newest_row_us: r.try_get(18)?,
        kind: r.try_get(19)?,
        metrics_json: r.try_get(20)?,
        trained_by: r.try_get(21)?,
        train_ms: r.try_get(22)?,
    })
}
