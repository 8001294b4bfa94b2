-- The fleet registry: the things of each profile and their job executions.
-- Owned by crates/core/src/registry. Forward only.

CREATE TABLE things (
    profile            TEXT NOT NULL,
    name               TEXT NOT NULL,
    -- 'provisioned' | 'imported' | 'discovered'
    source             TEXT NOT NULL,
    model              TEXT,
    firmware_version   TEXT,
    -- A JSON object of string attributes.
    attributes         TEXT NOT NULL DEFAULT '{}',
    signal_dbm         INTEGER,
    -- 1 online, 0 offline, NULL never heard of.
    online             INTEGER,
    last_seen_ms       INTEGER,
    disconnect_reason  TEXT,
    -- The newest lifecycle event applied: its versionNumber, time and kind (0 connect, 1 disconnect).
    presence_version   INTEGER,
    presence_ms        INTEGER,
    presence_rank      INTEGER,
    -- The classic shadow: its newest version seen and whether desired differs from reported.
    shadow_version     INTEGER,
    out_of_sync        INTEGER NOT NULL DEFAULT 0,
    added_ms           INTEGER NOT NULL,
    PRIMARY KEY (profile, name)
) WITHOUT ROWID;

CREATE INDEX things_by_online ON things (profile, online, name);
CREATE INDEX things_by_last_seen ON things (profile, last_seen_ms);
CREATE INDEX things_out_of_sync ON things (profile, name) WHERE out_of_sync = 1;

CREATE TABLE job_executions (
    profile          TEXT NOT NULL,
    thing            TEXT NOT NULL,
    job_id           TEXT NOT NULL,
    -- QUEUED | IN_PROGRESS | SUCCEEDED | FAILED | TIMED_OUT | REJECTED | REMOVED | CANCELED
    status           TEXT NOT NULL,
    -- statusDetails as a JSON object of strings; progress is statusDetails.progress when numeric.
    status_details   TEXT NOT NULL DEFAULT '{}',
    progress         REAL,
    version_number   INTEGER NOT NULL,
    execution_number INTEGER,
    queued_at        INTEGER,
    started_at       INTEGER,
    last_updated_at  INTEGER,
    PRIMARY KEY (profile, thing, job_id),
    FOREIGN KEY (profile, thing) REFERENCES things (profile, name) ON DELETE CASCADE
) WITHOUT ROWID;

-- "Has jobs": pending executions per thing.
CREATE INDEX job_executions_pending ON job_executions (profile, thing)
    WHERE status IN ('QUEUED', 'IN_PROGRESS');
