//! Frontiers' statements: blobs, versions, the boards that serve them,
//! rollout decisions and field rows (the rules are in [`crate::rollout`]).
//!
//! Invariants:
//! - A blob is listed only with all of its chunks (one transaction), and
//!   its id is the SHA-256 of its bytes (checked by the caller before it
//!   stores): whatever is listed can be served whole.
//! - Version numbers come from the `(name, version)` key: a publication
//!   takes `MAX + 1` inside its transaction and retries on a conflict, so
//!   concurrent publications get distinct numbers on any number of replicas.
//! - A version's state changes by an `UPDATE ... WHERE state = (expected)`
//!   in the transaction that records the decision: a decision is recorded
//!   once even when every replica's evaluator reaches it.

use sqlx::Row;

use super::{Store, StoreError};

/// Bytes per stored chunk of a blob.
pub const CHUNK_BYTES: usize = 1 << 20;

/// A version of a frontier as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub name: String,
    pub version: u32,
    pub manifest_json: String,
    pub blobs_json: String,
    pub policy_json: String,
    pub state: String,
    pub canary: Vec<String>,
    pub published_by: String,
    pub published_at_us: i64,
    pub decided_at_us: Option<i64>,
}

/// A board that serves a frontier, as it last reported.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardRecord {
    pub name: String,
    pub device_id: String,
    pub device_key: Option<String>,
    pub assigned: Option<u32>,
    pub serving: Option<u32>,
    pub serving_since_us: Option<i64>,
    pub downloading: Option<u32>,
    pub failed_version: Option<u32>,
    pub failed_error: Option<String>,
    pub seen_at_us: i64,
}

/// A rollout decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub name: String,
    pub version: u32,
    pub at_us: i64,
    pub action: String,
    pub decided_by: String,
    pub evidence_json: String,
}

/// What a publication asks for (the version number is the store's).
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub name: &'a str,
    pub space: &'a str,
    pub input_json: &'a str,
    pub manifest_json: &'a str,
    pub blobs_json: &'a str,
    pub policy_json: &'a str,
    pub published_by: &'a str,
    pub now_us: i64,
}

/// How the new version goes out, decided inside the publication's
/// transaction from the boards serving the name then.
pub struct Staging {
    pub state: String,
    pub canary: Vec<String>,
    pub decision: Option<(String, String)>,
}

/// Why a publication was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("frontier {name} serves space {had} with input {had_input}; this version is for {space} with input {input}; fix: publish it under another name")]
    Mismatch {
        name: String,
        had: String,
        had_input: String,
        space: String,
        input: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A field row as stored.
#[derive(Debug, Clone)]
pub struct NewFieldRow {
    pub row_id: String,
    pub device_id: String,
    pub frontier: String,
    pub version: u32,
    pub model: String,
    pub window_start_us: i64,
    pub requests: u64,
    pub row_json: String,
}

const VERSION_COLUMNS: &str =
    "name, version, manifest_json, blobs_json, policy_json, state, canary_json, \
     published_by, published_at_us, decided_at_us";

fn version_from(r: &sqlx::any::AnyRow) -> Result<VersionRecord, StoreError> {
    let canary: String = r.try_get(6)?;
    Ok(VersionRecord {
        name: r.try_get(0)?,
        version: r.try_get::<i64, _>(1)? as u32,
        manifest_json: r.try_get(2)?,
        blobs_json: r.try_get(3)?,
        policy_json: r.try_get(4)?,
        state: r.try_get(5)?,
        canary: serde_json::from_str(&canary).unwrap_or_default(),
        published_by: r.try_get(7)?,
        published_at_us: r.try_get(8)?,
        decided_at_us: r.try_get(9)?,
    })
}

const BOARD_COLUMNS: &str =
    "name, device_id, device_key, assigned, serving, serving_since_us, downloading, \
     failed_version, failed_error, seen_at_us";

fn opt_u32(r: &sqlx::any::AnyRow, i: usize) -> Result<Option<u32>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(i)?.map(|v| v as u32))
}

fn board_from(r: &sqlx::any::AnyRow) -> Result<BoardRecord, StoreError> {
    Ok(BoardRecord {
        name: r.try_get(0)?,
        device_id: r.try_get(1)?,
        device_key: r.try_get(2)?,
        assigned: opt_u32(r, 3)?,
        serving: opt_u32(r, 4)?,
        serving_since_us: r.try_get(5)?,
        downloading: opt_u32(r, 6)?,
        failed_version: opt_u32(r, 7)?,
        failed_error: r.try_get(8)?,
        seen_at_us: r.try_get(9)?,
    })
}

fn decision_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

async fn insert_decision(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &Decision,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rollout_decisions (id, name, version, at_us, action, decided_by, evidence_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(decision_id())
    .bind(&d.name)
    .bind(d.version as i64)
    .bind(d.at_us)
    .bind(&d.action)
    .bind(&d.decided_by)
    .bind(&d.evidence_json)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Store a blob whose SHA-256 (`sha256`, checked by the caller) is its
    /// id. Returns false when it was stored already.
    pub async fn put_blob(&self, sha256: &str, data: &[u8], now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO blobs (sha256, size, chunk_bytes, created_at_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(data.len() as i64)
        .bind(CHUNK_BYTES as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (i, chunk) in data.chunks(CHUNK_BYTES).enumerate() {
            sqlx::query("INSERT INTO blob_chunks (sha256, idx, data) VALUES ($1, $2, $3)")
                .bind(sha256)
                .bind(i as i64)
                .bind(chunk.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A blob's size and chunk size, if it is stored.
    pub async fn blob_meta(&self, sha256: &str) -> Result<Option<(u64, usize)>, StoreError> {
        let r = sqlx::query("SELECT size, chunk_bytes FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some((
                r.try_get::<i64, _>(0)? as u64,
                r.try_get::<i64, _>(1)? as usize,
            )),
            None => None,
        })
    }

    /// The sizes of those of `sha256s` that are stored.
    pub async fn blob_sizes(
        &self,
        sha256s: &[String],
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for s in sha256s {
            if let Some((size, _)) = self.blob_meta(s).await? {
                out.insert(s.clone(), size);
            }
        }
        Ok(out)
    }

    /// Chunk `idx` of a blob.
    pub async fn blob_chunk(
        &self,
        sha256: &str,
        idx: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let r = sqlx::query("SELECT data FROM blob_chunks WHERE sha256 = $1 AND idx = $2")
            .bind(sha256)
            .bind(idx as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some(r.try_get::<Vec<u8>, _>(0)?),
            None => None,
        })
    }

    /// Store a new version of `v.name`: the name's space and input must
    /// match its earlier versions'; `stage` decides, from the boards that
    /// serve the name now, how it goes out. Versions still in their canary
    /// stage are superseded (their boards move to the new one). Returns the
    /// version's number and staging.
    pub async fn publish_version(
        &self,
        v: &NewVersion<'_>,
        stage: impl Fn(&[BoardRecord], bool) -> Staging,
    ) -> Result<(u32, Staging), PublishError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_publish(v, &stage).await {
                Err(PublishError::Store(StoreError::Database(e)))
                    if attempt < 8 && is_conflict(&e) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(
                        fastrand::u64(5..50) * attempt,
                    ))
                    .await;
                }
                other => return other,
            }
        }
    }

    async fn try_publish(
        &self,
        v: &NewVersion<'_>,
        stage: &impl Fn(&[BoardRecord], bool) -> Staging,
    ) -> Result<(u32, Staging), PublishError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO frontiers (name, space, input_json, policy_json, created_at_us) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(v.name)
        .bind(v.space)
        .bind(v.input_json)
        .bind(v.policy_json)
        .bind(v.now_us)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let f = sqlx::query("SELECT space, input_json FROM frontiers WHERE name = $1")
            .bind(v.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let (space, input): (String, String) = (
            f.try_get(0).map_err(StoreError::from)?,
            f.try_get(1).map_err(StoreError::from)?,
        );
        if space != v.space || input != v.input_json {
            return Err(PublishError::Mismatch {
                name: v.name.to_string(),
                had: space,
                had_input: input,
                space: v.space.to_string(),
                input: v.input_json.to_string(),
            });
        }
        let max: Option<i64> =
            sqlx::query("SELECT MAX(version) FROM frontier_versions WHERE name = $1")
                .bind(v.name)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .try_get(0)
                .map_err(StoreError::from)?;
        let version = max.unwrap_or(0) as u32 + 1;
        let boards = sqlx::query(&format!(
            "SELECT {BOARD_COLUMNS} FROM frontier_boards WHERE name = $1 ORDER BY device_id"
        ))
        .bind(v.name)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .iter()
        .map(board_from)
        .collect::<Result<Vec<_>, _>>()?;
        let any_promoted: i64 = sqlx::query(
            "SELECT COUNT(*) FROM frontier_versions WHERE name = $1 AND state = 'promoted'",
        )
        .bind(v.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .try_get(0)
        .map_err(StoreError::from)?;
        let staging = stage(&boards, any_promoted > 0);
        // Canary versions before this one: superseded, with a decision.
        let older = sqlx::query(
            "SELECT version FROM frontier_versions WHERE name = $1 AND state = 'canary'",
        )
        .bind(v.name)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        for r in &older {
            let old: i64 = r.try_get(0).map_err(StoreError::from)?;
            sqlx::query(
                "UPDATE frontier_versions SET state = 'superseded', decided_at_us = $3 \
                 WHERE name = $1 AND version = $2 AND state = 'canary'",
            )
            .bind(v.name)
            .bind(old)
            .bind(v.now_us)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            insert_decision(
                &mut tx,
                &Decision {
                    name: v.name.to_string(),
                    version: old as u32,
                    at_us: v.now_us,
                    action: "superseded".into(),
                    decided_by: v.published_by.to_string(),
                    evidence_json: serde_json::json!({"reason": format!("version {version} was published during its canary stage")}).to_string(),
                },
            )
            .await?;
        }
        sqlx::query(&format!(
            "INSERT INTO frontier_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(v.name)
        .bind(version as i64)
        .bind(v.manifest_json)
        .bind(v.blobs_json)
        .bind(v.policy_json)
        .bind(&staging.state)
        .bind(serde_json::to_string(&staging.canary).expect("strings"))
        .bind(v.published_by)
        .bind(v.now_us)
        .bind((staging.state != "canary").then_some(v.now_us))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        insert_decision(
            &mut tx,
            &Decision {
                name: v.name.to_string(),
                version,
                at_us: v.now_us,
                action: "published".into(),
                decided_by: v.published_by.to_string(),
                evidence_json:
                    serde_json::json!({"state": staging.state, "canary": staging.canary})
                        .to_string(),
            },
        )
        .await?;
        if let Some((action, evidence)) = &staging.decision {
            insert_decision(
                &mut tx,
                &Decision {
                    name: v.name.to_string(),
                    version,
                    at_us: v.now_us,
                    action: action.clone(),
                    decided_by: "collector".into(),
                    evidence_json: evidence.clone(),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok((version, staging))
    }

    /// The space and canonical input (JSON) every version of `name` has.
    pub async fn frontier_input(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        let r = sqlx::query("SELECT space, input_json FROM frontiers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// What changes whenever a version of `name` is published or changes
    /// state: (versions, highest version, sum of decision times; a sum, so
    /// that a decision changes it whatever the replicas' clocks say).
    pub async fn frontier_marker(&self, name: &str) -> Result<(i64, i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*), COALESCE(MAX(version), 0), \
             CAST(COALESCE(SUM(COALESCE(decided_at_us, 0)), 0) AS BIGINT) \
             FROM frontier_versions WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
    }

    /// Every version of `name`, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM frontier_versions WHERE name = $1 ORDER BY version"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(version_from)
        .collect()
    }

    /// Versions in their canary stage, of every name.
    pub async fn canary_versions(&self) -> Result<Vec<VersionRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM frontier_versions WHERE state = 'canary' ORDER BY name, version"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(version_from)
        .collect()
    }

    /// Names of the published frontiers.
    pub async fn frontier_names(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT name FROM frontiers ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Move a version from one of `from` to `to`, recording `decision`;
    /// false (nothing recorded) when its state was none of `from`.
    pub async fn decide(
        &self,
        from: &[&str],
        to: &str,
        decision: &Decision,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let list = from
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(", ");
        let done = sqlx::query(&format!(
            "UPDATE frontier_versions SET state = $3, decided_at_us = $4 \
             WHERE name = $1 AND version = $2 AND state IN ({list})"
        ))
        .bind(&decision.name)
        .bind(decision.version as i64)
        .bind(to)
        .bind(decision.at_us)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_decision(&mut tx, decision).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Decisions about `name`, oldest first.
    pub async fn decisions(&self, name: &str) -> Result<Vec<Decision>, StoreError> {
        sqlx::query(
            "SELECT name, version, at_us, action, decided_by, evidence_json FROM rollout_decisions \
             WHERE name = $1 ORDER BY at_us, action",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Decision {
                name: r.try_get(0)?,
                version: r.try_get::<i64, _>(1)? as u32,
                at_us: r.try_get(2)?,
                action: r.try_get(3)?,
                decided_by: r.try_get(4)?,
                evidence_json: r.try_get(5)?,
            })
        })
        .collect()
    }

    /// The boards that serve (or asked to serve) `name`.
    pub async fn frontier_boards(&self, name: &str) -> Result<Vec<BoardRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {BOARD_COLUMNS} FROM frontier_boards WHERE name = $1 ORDER BY device_id"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(board_from)
        .collect()
    }

    /// A board asked for its assignment: it serves `name`, by `device_key`,
    /// and is told `assigned`.
    pub async fn board_assigned(
        &self,
        name: &str,
        device_id: &str,
        device_key: Option<&str>,
        assigned: Option<u32>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO frontier_boards (name, device_id, device_key, assigned, seen_at_us) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, device_id) DO UPDATE SET \
             device_key = excluded.device_key, assigned = excluded.assigned, seen_at_us = excluded.seen_at_us",
        )
        .bind(name)
        .bind(device_id)
        .bind(device_key)
        .bind(assigned.map(|v| v as i64))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A board's report of what it serves, downloads or failed on.
    pub async fn board_report(
        &self,
        name: &str,
        device_id: &str,
        serving: Option<u32>,
        downloading: Option<u32>,
        failed: Option<(u32, &str)>,
        now: i64,
    ) -> Result<(), StoreError> {
        let serving = serving.map(|v| v as i64);
        sqlx::query(
            "INSERT INTO frontier_boards (name, device_id, serving, serving_since_us, downloading, \
             failed_version, failed_error, seen_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $4) \
             ON CONFLICT (name, device_id) DO UPDATE SET \
             serving_since_us = CASE WHEN frontier_boards.serving IS NOT DISTINCT FROM excluded.serving \
                 THEN frontier_boards.serving_since_us ELSE excluded.serving_since_us END, \
             serving = excluded.serving, downloading = excluded.downloading, \
             failed_version = COALESCE(excluded.failed_version, frontier_boards.failed_version), \
             failed_error = CASE WHEN excluded.failed_version IS NULL THEN frontier_boards.failed_error \
                 ELSE excluded.failed_error END, \
             seen_at_us = excluded.seen_at_us",
        )
        .bind(name)
        .bind(device_id)
        .bind(serving)
        .bind(now)
        .bind(downloading.map(|v| v as i64))
        .bind(failed.map(|f| f.0 as i64))
        .bind(failed.map(|f| f.1.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Store field rows once each (by `row_id`): (accepted, duplicate).
    pub async fn insert_field_rows(
        &self,
        rows: &[NewFieldRow],
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (mut accepted, mut duplicate) = (0, 0);
        for r in rows {
            let done = sqlx::query(
                "INSERT INTO field_rows (row_id, device_id, frontier, version, model, window_start_us, \
                 requests, row_json, received_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (row_id) DO NOTHING",
            )
            .bind(&r.row_id)
            .bind(&r.device_id)
            .bind(&r.frontier)
            .bind(r.version as i64)
            .bind(&r.model)
            .bind(r.window_start_us)
            .bind(r.requests as i64)
            .bind(&r.row_json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                accepted += 1;
            } else {
                duplicate += 1;
            }
        }
        tx.commit().await?;
        Ok((accepted, duplicate))
    }

    /// Field rows of a frontier (of one version and one board, when
    /// given), as JSON text, oldest window first.
    pub async fn field_rows(
        &self,
        name: &str,
        version: Option<u32>,
        device_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let mut q = String::from("SELECT row_json FROM field_rows WHERE frontier = $1");
        let mut n = 1;
        if version.is_some() {
            n += 1;
            q.push_str(&format!(" AND version = ${n}"));
        }
        if device_id.is_some() {
            n += 1;
            q.push_str(&format!(" AND device_id = ${n}"));
        }
        q.push_str(" ORDER BY window_start_us, device_id, model");
        let mut q = sqlx::query(&q).bind(name);
        if let Some(v) = version {
            q = q.bind(v as i64);
        }
        if let Some(d) = device_id {
            q = q.bind(d);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Field rows stored (tests, benchmarks).
    pub async fn field_row_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM field_rows")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    /// The newest latency row of a device for an architecture (its
    /// `row_json` form), backend and thread count: the lab's measurement.
    pub async fn lab_row(
        &self,
        device_id: &str,
        arch: &str,
        backend: &str,
        threads: u32,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query(
            "SELECT row_json FROM rows WHERE device_id = $1 AND arch = $2 AND backend = $3 AND threads = $4 \
             ORDER BY measured_at_us DESC LIMIT 1",
        )
        .bind(device_id)
        .bind(arch)
        .bind(backend)
        .bind(threads as i32)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }
}

/// A unique-key conflict or a serialization failure: the publication
/// raced another and is retried.
fn is_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            code == "23505"
                || code == "40001"
                || code.starts_with("1555")
                || code == "2067"
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
