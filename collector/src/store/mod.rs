//! Storage: SQLite (one file, WAL) or PostgreSQL, behind one [`Store`].
//!
//! Both databases run the same SQL through sqlx's `Any` driver, with `$N`
//! placeholders (SQLite reads them as numbered parameters) and
//! `ON CONFLICT` (SQLite ≥ 3.24). Only the schema differs, in
//! `migrations/sqlite` and `migrations/postgres`, each applied by sqlx's
//! migrator at start-up (embedded at compile time: no database is needed to
//! build).
//!
//! Invariants:
//! - Idempotency lives in the database: `rows.row_id` is unique and rows are
//!   inserted with `ON CONFLICT (row_id) DO NOTHING`, so any number of
//!   collector replicas over one PostgreSQL store a row once, whoever
//!   received it first. No in-process state decides what is a duplicate.
//! - A batch is one transaction: either every accepted row of it is stored
//!   and the agent gets its 2xx, or none is and the agent retries.
//! - Reading never loads a table: [`Store::rows_page`] is keyset-paged in
//!   commit order, below a horizon no later commit can fall under, so a
//!   reader that pages while rows arrive misses none
//!   ([`Store::row_horizon`]).

mod frontiers;
mod jobs;
mod trainer;
mod ui;

pub use frontiers::{
    BoardRecord, Decision, NewFieldRow, NewVersion, PublishError, Staging, VersionRecord,
    CHUNK_BYTES,
};
pub use jobs::{Completed, DeviceMatch};
pub use trainer::{
    last_shift, CanaryRow, Claim, Cohort, CohortKey, NewPredictor, PredictorFilter,
    PredictorRecord, Shift,
};
pub use ui::{BoardRowFilter, SessionRecord};

use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

/// Errors of the store. Callers branch on [`StoreError::Database`]
/// (retryable: the agent will try again) versus the others (configuration).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot migrate the database schema: {0}; fix: check that the database is writable and not from a newer frontier-collector")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{url}: not a database URL frontier-collector knows; fix: use postgres://USER@HOST/DB or sqlite://PATH")]
    UnknownUrl { url: String },
    #[error("{path}: cannot create the data directory: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// One row to store (see [`Store::insert_batch`]).
#[derive(Debug, Clone)]
pub struct NewRow {
    pub row_id: String,
    pub device_id: String,
    pub backend: String,
    pub space: Option<String>,
    pub measured_at_us: Option<i64>,
    /// The rest of the row's cohort (see [`crate::trainer`]) and its arch.
    pub threads: u32,
    pub backend_version: String,
    pub agent_version: String,
    pub arch: Option<String>,
    /// The JSON line as the agent sent it (one object, no newline).
    pub row_json: String,
}

/// What the store says of one batch: per row, whether it was new.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    pub accepted: u64,
    pub duplicate: u64,
}

/// A device's latest fingerprint, as the agent reported it in its rows
/// (and at enrolment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub device_class_id: Option<String>,
    pub hostname: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_arch: Option<String>,
    pub target_triple: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub logical_cores: Option<u32>,
    pub physical_cores: Option<u32>,
    pub cpu_max_freq_mhz: Option<u64>,
    pub governor: Option<String>,
    pub mem_total_mb: Option<u64>,
    pub cpu_features: Option<String>,
}

impl Fingerprint {
    /// Each field of `self`, else `other`'s.
    pub fn or(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            device_class_id: self.device_class_id.or(other.device_class_id),
            hostname: self.hostname.or(other.hostname),
            cpu_model: self.cpu_model.or(other.cpu_model),
            cpu_arch: self.cpu_arch.or(other.cpu_arch),
            target_triple: self.target_triple.or(other.target_triple),
            os: self.os.or(other.os),
            kernel: self.kernel.or(other.kernel),
            logical_cores: self.logical_cores.or(other.logical_cores),
            physical_cores: self.physical_cores.or(other.physical_cores),
            cpu_max_freq_mhz: self.cpu_max_freq_mhz.or(other.cpu_max_freq_mhz),
            governor: self.governor.or(other.governor),
            mem_total_mb: self.mem_total_mb.or(other.mem_total_mb),
            cpu_features: self.cpu_features.or(other.cpu_features),
        }
    }
}

/// A device seen by the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    pub fingerprint: Fingerprint,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Rows stored per backend, sorted by backend.
    pub rows: Vec<(String, u64)>,
    /// Set when the board enrolled: its name, when, and its agent's
    /// versions (JSON text).
    pub name: Option<String>,
    pub enrolled_at_us: Option<i64>,
    pub agent_json: Option<String>,
    /// The board's last heartbeat: when, and what it said (JSON text).
    pub heartbeat_us: Option<i64>,
    pub heartbeat_json: Option<String>,
}

/// Filters of `GET /v1/rows`.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    pub device: Option<String>,
    pub backend: Option<String>,
    pub space: Option<String>,
    /// Rows measured at or after this time (µs since the epoch).
    pub since_us: Option<i64>,
}

/// `xmin:xmax:xip,...` of `pg_current_snapshot()`: (xmax, the running ids).
fn parse_snapshot(text: &str) -> Option<(i64, Vec<i64>)> {
    let mut parts = text.split(':');
    let _xmin: i64 = parts.next()?.parse().ok()?;
    let xmax: i64 = parts.next()?.parse().ok()?;
    let running = match parts.next() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<Vec<i64>>>()?,
    };
    Some((xmax, running))
}

/// A row's place in commit order: its commit key (see
/// [`Store::row_horizon`]) and its `seq`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    pub commit: i64,
    pub seq: i64,
}

impl RowKey {
    /// Before every row committed at or after `commit`.
    pub fn from_commit(commit: i64) -> RowKey {
        RowKey { commit, seq: -1 }
    }
}

/// A stored bearer token (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub role: String,
    pub note: Option<String>,
    pub created_at_us: i64,
    pub revoked_at_us: Option<i64>,
    /// The device a board's credential is bound to.
    pub device_id: Option<String>,
}

/// An active token as [`crate::auth::verify`] checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveToken {
    pub secret_sha256: String,
    pub role: String,
    pub device_id: Option<String>,
}

/// What a board says of itself when it enrols.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    pub device_id: String,
    pub name: Option<String>,
    pub fingerprint: Fingerprint,
    /// `{"agent_version": ..., "runtimes": {...}}` as JSON text.
    pub agent_json: String,
}

/// The collector's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    kind: Kind,
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (creating and migrating) the store at `url`: `postgres://...`,
    /// `postgresql://...` or `sqlite://PATH`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Kind::Postgres
        } else if url.starts_with("sqlite:") {
            Kind::Sqlite
        } else {
            return Err(StoreError::UnknownUrl { url: url.into() });
        };
        let url = match kind {
            // Create the file on first use.
            Kind::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; more connections only queue on its lock.
            .max_connections(if kind == Kind::Sqlite { 4 } else { 16 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == Kind::Sqlite {
                        // WAL: readers do not block the writer; synchronous=FULL:
                        // a 2xx means the batch survives a power cut.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match kind {
            Kind::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Kind::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, kind })
    }

    /// The SQLite store of a data directory: `DIR/collector.db`.
    pub async fn open_data_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::DataDir {
            path: dir.to_path_buf(),
            source: e,
        })?;
        Store::open(&format!("sqlite://{}", dir.join("collector.db").display())).await
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Store a batch in one transaction; rows whose `row_id` is already
    /// stored (or repeated within the batch) count as duplicates. The device
    /// of each row is recorded with `fingerprint` and `seen_us`.
    pub async fn insert_batch(
        &self,
        rows: &[NewRow],
        devices: &[(String, Fingerprint)],
        seen_us: i64,
    ) -> Result<Inserted, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Inserted::default();
        for r in rows {
            let done = sqlx::query(
                "INSERT INTO rows (row_id, device_id, backend, space, measured_at_us, received_at_us, row_json, \
                 threads, backend_version, agent_version, arch) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (row_id) DO NOTHING",
            )
            .bind(&r.row_id)
            .bind(&r.device_id)
            .bind(&r.backend)
            .bind(&r.space)
            .bind(r.measured_at_us)
            .bind(seen_us)
            .bind(&r.row_json)
            .bind(r.threads as i32)
            .bind(&r.backend_version)
            .bind(&r.agent_version)
            .bind(&r.arch)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                out.accepted += 1;
            } else {
                out.duplicate += 1;
            }
        }
        for (device_id, fp) in devices {
            // Rows say what they carry; what they leave out (a table
            // written by hand, an older agent) keeps what the board said
            // when it enrolled or in earlier rows.
            let stored: Option<String> =
                sqlx::query("SELECT fingerprint_json FROM devices WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            let fp = match stored.and_then(|s| serde_json::from_str::<Fingerprint>(&s).ok()) {
                Some(old) => fp.clone().or(old),
                None => fp.clone(),
            };
            let fp = serde_json::to_string(&fp).expect("plain data");
            sqlx::query(
                "INSERT INTO devices (device_id, fingerprint_json, first_seen_us, last_seen_us) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (device_id) DO UPDATE SET \
                 fingerprint_json = excluded.fingerprint_json, \
                 first_seen_us = CASE WHEN excluded.first_seen_us < devices.first_seen_us \
                     THEN excluded.first_seen_us ELSE devices.first_seen_us END, \
                 last_seen_us = CASE WHEN excluded.last_seen_us > devices.last_seen_us \
                     THEN excluded.last_seen_us ELSE devices.last_seen_us END",
            )
            .bind(device_id)
            .bind(fp)
            .bind(seen_us)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The column rows are read in commit order by: on PostgreSQL the
    /// inserting transaction's id (`txid`), on SQLite `seq` (one writer at
    /// a time: the order of `seq` is the order of commits).
    pub(crate) fn commit_column(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "txid",
            Kind::Sqlite => "seq",
        }
    }

    /// The reading horizon: every row whose commit key is below it is
    /// committed, and no row committed later can get a key below it. On
    /// PostgreSQL, the oldest transaction of this database still running
    /// when the snapshot was taken (else the snapshot's `xmax`): a batch
    /// that began before a later one but commits after it is held back until
    /// it commits, instead of being skipped by a reader that paged past it.
    /// Transactions of other databases on the same server do not count. On
    /// SQLite, one past the newest `seq`.
    pub async fn row_horizon(&self) -> Result<i64, StoreError> {
        match self.kind {
            Kind::Sqlite => {
                let r = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM rows")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(r.try_get::<i64, _>(0)?)
            }
            Kind::Postgres => {
                // The snapshot first: a transaction that takes its id after
                // it gets one at or above its xmax, above the horizon.
                let snap: String = sqlx::query("SELECT pg_current_snapshot()::text")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                let (xmax, running) = parse_snapshot(&snap).ok_or_else(|| {
                    StoreError::Database(sqlx::Error::Decode(
                        format!("pg_current_snapshot() = {snap:?}").into(),
                    ))
                })?;
                if running.is_empty() {
                    return Ok(xmax);
                }
                // Then which of those still run in this database (a
                // transaction that ended meanwhile has committed its rows).
                let ours = sqlx::query(
                    "SELECT backend_xid::text FROM pg_stat_activity \
                     WHERE datname = current_database() AND backend_xid IS NOT NULL",
                )
                .fetch_all(&self.pool)
                .await?;
                let ours: Vec<i64> = ours
                    .iter()
                    .filter_map(|r| r.try_get::<String, _>(0).ok()?.parse().ok())
                    .collect();
                Ok(running
                    .into_iter()
                    .filter(|x| ours.contains(x))
                    .min()
                    .unwrap_or(xmax))
            }
        }
    }

    /// Up to `limit` rows after `after` and below `horizon` (see
    /// [`Store::row_horizon`]) that pass `filter`, as (key, JSON line), in
    /// commit order.
    pub async fn rows_page(
        &self,
        filter: &RowFilter,
        after: RowKey,
        horizon: i64,
        limit: i64,
    ) -> Result<Vec<(RowKey, String)>, StoreError> {
        let c = self.commit_column();
        // Only the filters given are in the statement, so that the
        // database can use its indexes (`$2 IS NULL OR ...` defeats them:
        // SQLite then scans every row for each page).
        let mut sql =
            format!("SELECT {c}, seq, row_json FROM rows WHERE ({c}, seq) > ($1, $2) AND {c} < $3");
        let mut n = 3;
        let mut texts: Vec<&str> = Vec::new();
        // SQLite's planner, given a range on `measured_at_us` beside
        // `ORDER BY seq`, walks the whole table in seq order (13 ms for the
        // last 20 of 50,000 rows); as a subquery the time index serves it
        // (0.7 ms). PostgreSQL plans the plain form well (2 ms) and the
        // subquery badly (a semi-join over the table, 160 ms).
        let since_subquery = filter.since_us.is_some() && self.kind == Kind::Sqlite;
        let mut device_param = None;
        for (column, value) in [
            ("device_id", &filter.device),
            ("backend", &filter.backend),
            ("space", &filter.space),
        ] {
            if let Some(v) = value {
                n += 1;
                if column == "device_id" {
                    device_param = Some(n);
                }
                // In the subquery form the device is matched there.
                if !(column == "device_id" && since_subquery) {
                    sql.push_str(&format!(" AND {column} = ${n}"));
                }
                texts.push(v);
            }
        }
        if filter.since_us.is_some() {
            n += 1;
            if since_subquery {
                let device = device_param
                    .map(|d| format!(" AND device_id = ${d}"))
                    .unwrap_or_default();
                sql.push_str(&format!(
                    " AND seq IN (SELECT seq FROM rows WHERE measured_at_us >= ${n}{device})"
                ));
            } else {
                sql.push_str(&format!(" AND measured_at_us >= ${n}"));
            }
        }
        sql.push_str(&format!(" ORDER BY {c}, seq LIMIT ${}", n + 1));
        let mut query = sqlx::query(&sql)
            .bind(after.commit)
            .bind(after.seq)
            .bind(horizon);
        for t in texts {
            query = query.bind(t);
        }
        if let Some(since) = filter.since_us {
            query = query.bind(since);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    RowKey {
                        commit: r.try_get::<i64, _>(0)?,
                        seq: r.try_get::<i64, _>(1)?,
                    },
                    r.try_get::<String, _>(2)?,
                ))
            })
            .collect()
    }

    /// Every device with its row counts per backend.
    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let devices = sqlx::query(
            "SELECT device_id, fingerprint_json, first_seen_us, last_seen_us, name, enrolled_at_us, agent_json, \
             heartbeat_us, heartbeat_json FROM devices ORDER BY device_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let counts = sqlx::query(
            "SELECT device_id, backend, COUNT(*) FROM rows GROUP BY device_id, backend ORDER BY device_id, backend",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(devices.len());
        for d in &devices {
            let device_id: String = d.try_get(0)?;
            let fp: String = d.try_get(1)?;
            let rows = counts
                .iter()
                .filter(|c| c.try_get::<String, _>(0).ok().as_deref() == Some(&device_id))
                .map(|c| Ok((c.try_get::<String, _>(1)?, c.try_get::<i64, _>(2)? as u64)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            out.push(Device {
                fingerprint: serde_json::from_str(&fp).unwrap_or_default(),
                device_id,
                first_seen_us: d.try_get(2)?,
                last_seen_us: d.try_get(3)?,
                rows,
                name: d.try_get(4)?,
                enrolled_at_us: d.try_get(5)?,
                agent_json: d.try_get(6)?,
                heartbeat_us: d.try_get(7)?,
                heartbeat_json: d.try_get(8)?,
            });
        }
        Ok(out)
    }

    /// Rows stored, for tests and the benchmarks.
    pub async fn row_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM rows")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    pub async fn insert_token(
        &self,
        id: &str,
        secret_sha256: &str,
        role: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (id, secret_sha256, role, note, created_at_us) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(secret_sha256)
        .bind(role)
        .bind(note)
        .bind(now_us())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The token `id` if it exists and is not revoked.
    pub async fn active_token(&self, id: &str) -> Result<Option<ActiveToken>, StoreError> {
        let row = sqlx::query(
            "SELECT secret_sha256, role, device_id FROM tokens WHERE id = $1 AND revoked_at_us IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ActiveToken {
                secret_sha256: r.try_get(0)?,
                role: r.try_get(1)?,
                device_id: r.try_get(2)?,
            })
        })
        .transpose()
        .map_err(StoreError::Database)
    }

    /// The id of `device_id`'s active board credential, if it is enrolled.
    pub async fn board_credential(&self, device_id: &str) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT id FROM tokens WHERE device_id = $1 AND revoked_at_us IS NULL")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::Database)
    }

    /// Create a board's credential (role `board`, bound to its device) and
    /// record the board, in one transaction. `Some(existing credential id)`
    /// when the device already has an active one: the database's unique
    /// index decides, so two racing enrolments (on any replicas) cannot
    /// both succeed.
    pub async fn enrol(
        &self,
        board: &Enrolment,
        token_id: &str,
        secret_sha256: &str,
        note: &str,
    ) -> Result<Option<String>, StoreError> {
        if let Some(existing) = self.board_credential(&board.device_id).await? {
            return Ok(Some(existing));
        }
        let now = now_us();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tokens (id, secret_sha256, role, note, created_at_us, device_id) \
             VALUES ($1, $2, 'board', $3, $4, $5)",
        )
        .bind(token_id)
        .bind(secret_sha256)
        .bind(note)
        .bind(now)
        .bind(&board.device_id)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                return Ok(Some(
                    self.board_credential(&board.device_id)
                        .await?
                        .unwrap_or_else(|| "(revoked meanwhile)".into()),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let fp = serde_json::to_string(&board.fingerprint).expect("plain data");
        sqlx::query(
            "INSERT INTO devices (device_id, fingerprint_json, first_seen_us, last_seen_us, name, enrolled_at_us, agent_json) \
             VALUES ($1, $2, $3, $3, $4, $3, $5) ON CONFLICT (device_id) DO UPDATE SET \
             fingerprint_json = excluded.fingerprint_json, name = excluded.name, \
             enrolled_at_us = excluded.enrolled_at_us, agent_json = excluded.agent_json, \
             last_seen_us = CASE WHEN excluded.last_seen_us > devices.last_seen_us \
                 THEN excluded.last_seen_us ELSE devices.last_seen_us END",
        )
        .bind(&board.device_id)
        .bind(fp)
        .bind(now)
        .bind(&board.name)
        .bind(&board.agent_json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, note, created_at_us, revoked_at_us, device_id FROM tokens ORDER BY created_at_us, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRecord {
                    id: r.try_get(0)?,
                    role: r.try_get(1)?,
                    note: r.try_get(2)?,
                    created_at_us: r.try_get(3)?,
                    revoked_at_us: r.try_get(4)?,
                    device_id: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }

    /// Revoke a token; false if no active token has that id.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at_us = $1 WHERE id = $2 AND revoked_at_us IS NULL",
        )
        .bind(now_us())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_snapshot;

    #[test]
    fn snapshots_are_read() {
        assert_eq!(parse_snapshot("10:20:"), Some((20, vec![])));
        assert_eq!(parse_snapshot("10:20:12,15"), Some((20, vec![12, 15])));
        assert_eq!(parse_snapshot("10:20"), Some((20, vec![])));
        assert_eq!(parse_snapshot("ten:20:"), None);
    }
}
