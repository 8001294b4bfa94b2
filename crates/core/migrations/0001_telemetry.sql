-- Telemetry: numeric series decoded from device messages, their samples, the batches that
-- committed them (for retention and crash checks) and a bounded raw message log per device.
-- Owned by crates/core/src/telemetry. Forward only.

-- One row per (profile, thing, series name), e.g. ('default', 'thermostat-0001', 'sample.temperature_c').
CREATE TABLE telemetry_series (
    id      INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    thing   TEXT NOT NULL,
    name    TEXT NOT NULL,
    UNIQUE (profile, thing, name)
);

-- One committed ingest transaction. The samples and raw messages of a batch have ids in
-- (previous batch's last, this batch's last], so retention deletes whole batches by id range,
-- and a check after a crash compares the samples present with the batches committed.
CREATE TABLE telemetry_batches (
    id              INTEGER PRIMARY KEY,
    committed_ms    INTEGER NOT NULL,
    messages        INTEGER NOT NULL,
    samples         INTEGER NOT NULL,
    last_sample_id  INTEGER NOT NULL,
    last_raw_id     INTEGER NOT NULL
);

-- Sample times are the app's receive times (epoch ms): device clocks drift or start at 1970.
CREATE TABLE telemetry_samples (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES telemetry_series (id) ON DELETE CASCADE,
    ts_ms     INTEGER NOT NULL,
    value     REAL NOT NULL
);

-- Covering index for chart buckets: a window query reads only this index.
CREATE INDEX telemetry_samples_by_series_time ON telemetry_samples (series_id, ts_ms, value);

-- The raw log: the last N messages per device (trimmed after every batch).
CREATE TABLE telemetry_raw (
    id          INTEGER PRIMARY KEY,
    profile     TEXT NOT NULL,
    thing       TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL
);

CREATE INDEX telemetry_raw_by_thing ON telemetry_raw (profile, thing, id);
