-- Enrolled boards. A device token enrols a board (`POST /v1/enrol`) and
-- gets back a credential bound to the board's device id: a token of role
-- `board` whose `device_id` is set. Rows for an enrolled device are
-- accepted only with its own credential.
ALTER TABLE tokens ADD COLUMN device_id TEXT;
-- At most one active credential per board: a second enrolment of the same
-- device (two racing, or a stolen device token) is refused until an
-- operator revokes the first.
CREATE UNIQUE INDEX tokens_active_board ON tokens (device_id)
    WHERE device_id IS NOT NULL AND revoked_at_us IS NULL;

-- What a board said of itself when it enrolled.
ALTER TABLE devices ADD COLUMN name TEXT;
ALTER TABLE devices ADD COLUMN enrolled_at_us BIGINT;
-- {"agent_version": ..., "runtimes": {"ort": "1.32.0", ...}}
ALTER TABLE devices ADD COLUMN agent_json TEXT;
