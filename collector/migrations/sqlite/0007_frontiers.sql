-- Frontiers in the fleet (collector/src/rollout.rs): published versions,
-- their blobs, which board serves what, field latency and every rollout
-- decision with its evidence.

-- Content-addressed blobs (models, supernets), in chunks of 1 MiB so that
-- a ranged read (a board resuming a download) reads only what it sends.
-- A blob row is written in the same transaction as its chunks: a blob that
-- is listed is whole.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    chunk_bytes BIGINT NOT NULL,
    created_at_us BIGINT NOT NULL
);
CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL,
    idx BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, idx)
);

-- One row per frontier name: what every version must agree on (space and
-- canonical input) and the default rollout policy.
CREATE TABLE frontiers (
    name TEXT PRIMARY KEY,
    space TEXT NOT NULL,
    input_json TEXT NOT NULL,
    policy_json TEXT NOT NULL,
    created_at_us BIGINT NOT NULL
);

-- Versions, numbered per name from 1 by the (name, version) key: two
-- operators publishing at once get two numbers. `state`: canary, promoted,
-- rolled_back or superseded. The current version of the fleet is the
-- highest promoted one; a canary version goes to `canary_json`'s boards.
CREATE TABLE frontier_versions (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    manifest_json TEXT NOT NULL,
    blobs_json TEXT NOT NULL,
    policy_json TEXT NOT NULL,
    state TEXT NOT NULL,
    canary_json TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at_us BIGINT NOT NULL,
    decided_at_us BIGINT,
    PRIMARY KEY (name, version)
);

-- Boards that serve a name: what they were assigned, serve, download or
-- failed on. `serving_since_us`: when they began serving `serving`.
CREATE TABLE frontier_boards (
    name TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_key TEXT,
    assigned BIGINT,
    serving BIGINT,
    serving_since_us BIGINT,
    downloading BIGINT,
    failed_version BIGINT,
    failed_error TEXT,
    seen_at_us BIGINT NOT NULL,
    PRIMARY KEY (name, device_id)
);

-- Rollout decisions: promote or roll back, by the collector or an
-- operator, with the evidence as JSON.
CREATE TABLE rollout_decisions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    action TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    evidence_json TEXT NOT NULL
);
CREATE INDEX rollout_decisions_by_name ON rollout_decisions (name, at_us);

-- Field latency: one row per board, model and window (`frontier serve`),
-- stored once by its content id.
CREATE TABLE field_rows (
    row_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    frontier TEXT NOT NULL,
    version BIGINT NOT NULL,
    model TEXT NOT NULL,
    window_start_us BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    row_json TEXT NOT NULL,
    received_at_us BIGINT NOT NULL
);
CREATE INDEX field_rows_by_frontier ON field_rows (frontier, version, device_id, model, window_start_us);
