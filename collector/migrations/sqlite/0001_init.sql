-- Rows: one per latency-table row, stored as the JSON line the agent sent.
-- `row_id` is the idempotency key: a retried or replayed row is a duplicate.
CREATE TABLE rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    space TEXT,
    measured_at_us BIGINT,
    received_at_us BIGINT NOT NULL,
    row_json TEXT NOT NULL
);
CREATE INDEX rows_device_backend ON rows (device_id, backend, seq);
CREATE INDEX rows_space ON rows (space, seq);
CREATE INDEX rows_measured ON rows (measured_at_us);

CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    fingerprint_json TEXT NOT NULL,
    first_seen_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL
);

-- Bearer tokens: only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    note TEXT,
    created_at_us BIGINT NOT NULL,
    revoked_at_us BIGINT
);
