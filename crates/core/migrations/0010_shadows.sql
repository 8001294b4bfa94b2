-- Shadows (crates/core/src/shadows): the offline outbox of desired-state edits, the local
-- history of shadow documents, and the last known document of each shadow.
-- `shadow` is '' for the classic shadow, otherwise the shadow's name.

-- Every desired-state edit, in the order it was made (`id`). Edits are sent strictly in `id`
-- order; a row leaves 'queued' only when its outcome is known.
CREATE TABLE shadow_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    thing           TEXT    NOT NULL,
    shadow          TEXT    NOT NULL DEFAULT '',
    desired         TEXT    NOT NULL,            -- the JSON object merged into desired
    base_version    INTEGER,                     -- the version the edit was based on
    after_edit      INTEGER REFERENCES shadow_outbox (id),
                                                 -- or: based on what this earlier edit produces
    client_token    TEXT    NOT NULL UNIQUE,     -- the same on every attempt
    status          TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'pending', 'applied', 'conflict',
                                      'rejected', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,  -- publishes so far (counted before each one)
    version         INTEGER,                     -- the version the service gave the edit
    detail          TEXT,                        -- JSON: the conflict or the rejection
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX shadow_outbox_by_status ON shadow_outbox (status, id);
CREATE INDEX shadow_outbox_by_shadow ON shadow_outbox (thing, shadow, status);

-- previous/current of each `/update/documents` event, at most a bounded number per shadow.
CREATE TABLE shadow_history (
    thing           TEXT    NOT NULL,
    shadow          TEXT    NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,            -- current's version
    previous        TEXT,                        -- JSON view, NULL when the update created it
    current         TEXT    NOT NULL,            -- JSON view
    client_token    TEXT,                        -- the token of the update that made it
    timestamp       INTEGER NOT NULL,            -- epoch seconds, from the event
    PRIMARY KEY (thing, shadow, version)
);

-- The last known document of each shadow, shown on start while offline.
CREATE TABLE shadow_view (
    thing           TEXT    NOT NULL,
    shadow          TEXT    NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,
    document        TEXT    NOT NULL,            -- JSON view; '{}' with exists = 0 after a delete
    exists_now      INTEGER NOT NULL DEFAULT 1,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (thing, shadow)
);
