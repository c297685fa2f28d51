-- Sessions of the web view (collector/src/ui/session.rs). The cookie
-- carries a random secret; only its SHA-256 is stored. A session speaks
-- for the token that signed in (its role, and it ends when that token is
-- revoked) until it expires; `csrf` is the token every form must carry.
CREATE TABLE ui_sessions (
    id_sha256 TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at_us);

-- The board page: a board's rows newest first, its field rows by time.
CREATE INDEX rows_device_seq ON rows (device_id, seq);
CREATE INDEX field_rows_by_device ON field_rows (device_id, window_start_us);
