-- Every shadow the Shadow service knows, including deleted ones (their version is kept).
CREATE TABLE shadows (
    thing_name    TEXT    NOT NULL,
    -- '' for the classic (unnamed) shadow.
    shadow_name   TEXT    NOT NULL,
    -- companion_awsiot::shadow::StoredShadow as JSON.
    stored        TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (thing_name, shadow_name)
);
