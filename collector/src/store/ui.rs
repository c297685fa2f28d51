//! The web view's statements: sessions, and the board page's queries
//! (a board's rows newest first, a page at a time; its field rows).

use sqlx::Row;

use super::{Store, StoreError};

/// A signed-in session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub token_id: String,
    pub role: String,
    pub csrf: String,
    pub expires_at_us: i64,
}

/// Filters of the board page's rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardRowFilter {
    pub space: Option<String>,
    pub backend: Option<String>,
    pub threads: Option<u32>,
    /// Measured at or after (µs since the epoch).
    pub since_us: Option<i64>,
    /// Measured before.
    pub until_us: Option<i64>,
}

impl Store {
    pub async fn create_session(
        &self,
        id_sha256: &str,
        s: &SessionRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at_us < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO ui_sessions (id_sha256, token_id, role, csrf, created_at_us, expires_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_sha256)
        .bind(&s.token_id)
        .bind(&s.role)
        .bind(&s.csrf)
        .bind(now)
        .bind(s.expires_at_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session of a cookie's hash: unexpired, and its token not
    /// revoked.
    pub async fn session(
        &self,
        id_sha256: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let r = sqlx::query(
            "SELECT s.token_id, s.role, s.csrf, s.expires_at_us FROM ui_sessions s \
             JOIN tokens t ON t.id = s.token_id AND t.revoked_at_us IS NULL \
             WHERE s.id_sha256 = $1 AND s.expires_at_us > $2",
        )
        .bind(id_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(SessionRecord {
                token_id: r.try_get(0)?,
                role: r.try_get(1)?,
                csrf: r.try_get(2)?,
                expires_at_us: r.try_get(3)?,
            }),
            None => None,
        })
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM ui_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A board's rows, newest first: `limit` of them with `seq` below
    /// `before` (the page's cursor), as (seq, row JSON).
    pub async fn board_rows(
        &self,
        device_id: &str,
        f: &BoardRowFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut sql = String::from("SELECT seq, row_json FROM rows WHERE device_id = $1");
        let mut n = 1;
        let mut texts = Vec::new();
        for (col, v) in [("space", &f.space), ("backend", &f.backend)] {
            if let Some(v) = v {
                n += 1;
                sql.push_str(&format!(" AND {col} = ${n}"));
                texts.push(v.clone());
            }
        }
        let mut ints: Vec<i64> = Vec::new();
        for (cond, v) in [
            ("threads =", f.threads.map(i64::from)),
            ("measured_at_us >=", f.since_us),
            ("measured_at_us <", f.until_us),
            ("seq <", before),
        ] {
            if let Some(v) = v {
                n += 1;
                let (col, op) = cond.split_once(' ').expect("column and operator");
                sql.push_str(&format!(" AND {col} {op} ${n}"));
                ints.push(v);
            }
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", n + 1));
        let mut q = sqlx::query(&sql).bind(device_id);
        for t in texts {
            q = q.bind(t);
        }
        for (i, v) in ints.into_iter().enumerate() {
            // `threads` is INTEGER in the rows table.
            q = if i == 0 && f.threads.is_some() {
                q.bind(v as i32)
            } else {
                q.bind(v)
            };
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// A board's field rows of every frontier, the newest `limit`, oldest
    /// first.
    pub async fn device_field_rows(
        &self,
        device_id: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = sqlx::query(
            "SELECT row_json FROM field_rows WHERE device_id = $1 ORDER BY window_start_us DESC LIMIT $2",
        )
        .bind(device_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        v.reverse();
        Ok(v)
    }
}

impl Store {
    /// Jobs per state (the fleet and jobs pages' counts).
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
