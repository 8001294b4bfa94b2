-- One row per provisioning attempt: what was done to which device, step by step, and with which
-- certificate. Secrets (PoP, passwords, Wi-Fi passphrases) are never stored.
CREATE TABLE provisioning_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    device_name TEXT NOT NULL,
    transport TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    -- running, succeeded, wifi_only, failed, cancelled
    result TEXT NOT NULL,
    -- JSON: [{"step": "...", "state": "...", "detail": "..."}]
    steps TEXT NOT NULL,
    ssid TEXT,
    thing_name TEXT,
    certificate_id TEXT,
    -- An issued certificate that never reached the device stays recorded here.
    certificate_delivered INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

CREATE INDEX provisioning_attempts_started ON provisioning_attempts (started_ms DESC);
