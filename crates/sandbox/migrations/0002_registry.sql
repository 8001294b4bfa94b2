-- The thing registry: things and the certificates issued to them.
CREATE TABLE things (
    name          TEXT    PRIMARY KEY,
    -- JSON object of string attributes.
    attributes    TEXT    NOT NULL DEFAULT '{}',
    created_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER
);

CREATE TABLE certificates (
    id            TEXT    PRIMARY KEY,   -- lowercase hex SHA-256 of the DER
    pem           TEXT    NOT NULL,
    status        TEXT    NOT NULL,      -- PENDING_ACTIVATION | ACTIVE
    thing_name    TEXT    REFERENCES things (name),
    created_at_ms INTEGER NOT NULL
);

CREATE INDEX certificates_by_thing ON certificates (thing_name);
