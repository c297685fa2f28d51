-- Profiling jobs (collector/src/jobs.rs). A lease is given by one UPDATE
-- that re-checks the state it read, so two replicas never lease one job at
-- once; `lease_token` (random per lease) is what renews and completes it.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    created_by TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    leased_to TEXT,
    lease_expires_us BIGINT,
    finished_at_us BIGINT,
    outcome_json TEXT
);
-- A board's next job: the oldest queued (or expired) one of its device.
CREATE INDEX jobs_device_state ON jobs (device_id, state, created_at_us);
