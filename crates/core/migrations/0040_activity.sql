-- What happened in the app, for the Activity page: connection changes and errors. Provisioning
-- attempts have their own table (0030).
CREATE TABLE activity_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    -- connection, error
    kind TEXT NOT NULL,
    summary TEXT NOT NULL
);

CREATE INDEX activity_events_at ON activity_events (at_ms DESC);
