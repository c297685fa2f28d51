-- The trainer (collector/src/trainer.rs): a predictor per cohort, kept
-- fresh by the collector itself.
--
-- A cohort is what one predictor is for: a device, a space, a backend and
-- its version, a thread count and the agent's version. Rows name theirs in
-- these columns (taken from the row at ingest; older rows filled in here).
ALTER TABLE rows ADD COLUMN threads INTEGER;
ALTER TABLE rows ADD COLUMN backend_version TEXT;
ALTER TABLE rows ADD COLUMN agent_version TEXT;
-- The architecture as the row records it (canaries are found by it).
ALTER TABLE rows ADD COLUMN arch TEXT;
UPDATE rows SET
    threads = (row_json::jsonb ->> 'threads')::integer,
    backend_version = row_json::jsonb ->> 'backend_version',
    agent_version = row_json::jsonb ->> 'frontier_version',
    arch = row_json::jsonb ->> 'arch';

-- Cohorts the trainer has seen rows of. `id` is a hash of the cohort's
-- fields, so replicas agree on it. `changed_at_us`: when rows of it were
-- last found; `dirty_since_us`: the first such time not yet trained on;
-- `trained_for_us`: the `changed_at_us` the last finished training saw.
-- A training run claims a cohort like a job's lease (`claim_token`,
-- `claim_expires_us`): one replica trains a cohort at a time, and a claim
-- of a replica that died runs out.
CREATE TABLE cohorts (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    space TEXT NOT NULL,
    backend TEXT NOT NULL,
    backend_version TEXT NOT NULL,
    threads INTEGER NOT NULL,
    agent_version TEXT NOT NULL,
    first_seen_us BIGINT NOT NULL,
    changed_at_us BIGINT NOT NULL,
    dirty_since_us BIGINT,
    trained_for_us BIGINT,
    claim_token TEXT,
    claimed_by TEXT,
    claim_expires_us BIGINT,
    -- Why the last run made no predictor (too few rows, ...), and when.
    last_error TEXT,
    last_run_us BIGINT
);
CREATE INDEX cohorts_device ON cohorts (device_id, space, backend, threads);

-- Predictor versions. Written in the same transaction that releases the
-- cohort's claim, and only while the claim is still held: a replica that
-- lost its claim (or died mid-training) leaves nothing half-written. The
-- same training data (`data_sha256`: the sorted row ids) is never stored
-- twice for a cohort.
CREATE TABLE predictors (
    id TEXT PRIMARY KEY,
    cohort_id TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    rows_used INTEGER NOT NULL,
    data_sha256 TEXT NOT NULL,
    -- Rows measured at or after this time only (after a drift shift).
    rows_from_us BIGINT,
    -- The newest training row's measurement time.
    newest_row_us BIGINT,
    kind TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    file_json TEXT NOT NULL,
    trained_by TEXT,
    train_ms BIGINT,
    UNIQUE (cohort_id, data_sha256)
);
CREATE INDEX predictors_cohort ON predictors (cohort_id, created_at_us);

-- Shifts the canaries found: a board's canary set measured beyond its
-- history's intervals. Keyed by what canaries compare (device, space,
-- backend, threads) and the first canary row of the shifted run, so that
-- replicas detecting the same shift record it once. Predictors trained on
-- rows before a shift are stale; the trainer trains on rows after it.
CREATE TABLE shifts (
    device_id TEXT NOT NULL,
    space TEXT NOT NULL,
    backend TEXT NOT NULL,
    threads INTEGER NOT NULL,
    at_us BIGINT NOT NULL,
    detected_at_us BIGINT NOT NULL,
    ratio DOUBLE PRECISION NOT NULL,
    evidence_json TEXT NOT NULL,
    job_id TEXT,
    PRIMARY KEY (device_id, space, backend, threads, at_us)
);

-- Where the trainer's scan of new rows has got to (commit order, as
-- `GET /v1/rows` pages).
CREATE TABLE trainer_cursor (
    id INTEGER PRIMARY KEY,
    commit_key BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
INSERT INTO trainer_cursor (id, commit_key, seq) VALUES (1, -1, -1);

-- At most one canary job the collector queued by itself (at an agent's
-- start, or when the canary period is over) waits or runs per board, however
-- many replicas answer its polls at once; operators may queue more.
CREATE UNIQUE INDEX jobs_one_open_canary ON jobs (device_id)
    WHERE kind = 'canary' AND created_by = 'collector' AND state IN ('queued', 'leased');

-- A board's heartbeat (`POST /v1/heartbeat`): when, and what it said
-- (versions, idle or busy and why, spool pending, process start).
ALTER TABLE devices ADD COLUMN heartbeat_us BIGINT;
ALTER TABLE devices ADD COLUMN heartbeat_json TEXT;
