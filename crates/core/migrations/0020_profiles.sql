-- Saved connection profiles, the active one, and the public metadata of vault identities.
-- Owned by crates/core/src/profiles.rs. Forward only. Nothing here is secret: profiles name
-- their keys and passwords by vault name, and identities hold what a certificate says about
-- itself; the keys and passwords stay in the OS keyring.

CREATE TABLE profiles (
    name        TEXT PRIMARY KEY,
    -- companion_core::profile::Profile as JSON.
    profile     TEXT NOT NULL,
    -- Unix seconds.
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- At most one row: the profile commands use when none is named.
CREATE TABLE active_profile (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    name  TEXT NOT NULL REFERENCES profiles (name) ON DELETE CASCADE
);

-- One row per vault identity, kept in step with the keyring by crates/core/src/profiles.rs.
CREATE TABLE identities (
    name                TEXT PRIMARY KEY,   -- the keyring accounts derive from it
    keyring_service     TEXT NOT NULL,      -- the vault's service name when it was stored
    backend             TEXT NOT NULL,      -- VaultBackend, e.g. 'SecretService'
    key_algorithm       TEXT NOT NULL,      -- KeyAlgorithm, e.g. 'EcdsaP256'
    subject             TEXT,               -- NULL while the CSR is pending
    issuer              TEXT,
    fingerprint_sha256  TEXT UNIQUE,        -- AWS certificateId
    serial              TEXT,
    not_before          INTEGER,            -- Unix seconds
    not_after           INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) WITHOUT ROWID;
