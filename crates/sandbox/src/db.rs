//! The sandbox's SQLite database (`<data dir>/sandbox.db`, WAL mode): persisted shadows and
//! the thing registry. Migrations live in `crates/sandbox/migrations` and only move forward.
//! Queries use sqlx's runtime API, so no `DATABASE_URL` or `.sqlx` cache is needed to build.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use companion_awsiot::shadow::{Shadow, StoredShadow};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ShadowName, ThingName};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// File name of the database in the data directory.
pub const DATABASE_FILE: &str = "sandbox.db";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Opening, migrating or querying failed.
    #[error(
        "the sandbox database failed: {0}; check that the data directory is writable and not used by another sandbox"
    )]
    Sql(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error(
        "cannot migrate the sandbox database: {0}; it may come from a newer version — use another data directory"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded.
    #[error("a stored {what} is corrupt: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
}

/// Opens (creating if needed) the database in `data_dir`, in WAL mode, and migrates it.
pub async fn open(data_dir: &Path) -> Result<SqlitePool, DbError> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(data_dir.join(DATABASE_FILE))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL with NORMAL survives a crash of the process; only an OS crash or power loss can
        // lose the last commits. FULL would sync the disk on every shadow update.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Shadow persistence: one row per shadow, the engine's own [`StoredShadow`] as JSON.
#[derive(Debug, Clone)]
pub struct ShadowDb {
    pool: SqlitePool,
}

impl ShadowDb {
    /// Shadow persistence over `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Every stored shadow.
    pub async fn load_all(&self) -> Result<Vec<((ThingName, ShadowKind), Shadow)>, DbError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT thing_name, shadow_name, stored FROM shadows")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(|row| decode_shadow(&row)).collect()
    }

    /// Saves one shadow (insert or replace).
    pub async fn save(
        &self,
        thing: &ThingName,
        kind: &ShadowKind,
        shadow: &Shadow,
        now_ms: u64,
    ) -> Result<(), DbError> {
        let stored = serde_json::to_string(&shadow.to_stored()).map_err(|e| DbError::Corrupt {
            what: "shadow",
            detail: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO shadows (thing_name, shadow_name, stored, updated_at_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (thing_name, shadow_name) DO UPDATE SET stored = excluded.stored, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(thing.as_str())
        .bind(shadow_name(kind))
        .bind(stored)
        .bind(millis(now_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn shadow_name(kind: &ShadowKind) -> &str {
    match kind {
        ShadowKind::Classic => "",
        ShadowKind::Named(name) => name.as_str(),
    }
}

fn decode_shadow(
    (thing, name, stored): &(String, String, String),
) -> Result<((ThingName, ShadowKind), Shadow), DbError> {
    let corrupt = |detail: String| DbError::Corrupt {
        what: "shadow",
        detail,
    };
    let thing = ThingName::new(thing.as_str()).map_err(|e| corrupt(e.to_string()))?;
    let kind = if name.is_empty() {
        ShadowKind::Classic
    } else {
        ShadowKind::Named(ShadowName::new(name.as_str()).map_err(|e| corrupt(e.to_string()))?)
    };
    let stored: StoredShadow = serde_json::from_str(stored).map_err(|e| corrupt(e.to_string()))?;
    Ok(((thing, kind), Shadow::from_stored(stored)))
}

/// A thing in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    /// The thing name.
    pub name: String,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Ids of the certificates attached to it.
    pub certificate_ids: Vec<String>,
    /// When it was registered (epoch ms).
    pub created_at_ms: u64,
    /// When a client with its name last connected (epoch ms).
    pub last_seen_ms: Option<u64>,
}

/// Certificate status, as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    /// Issued by fleet provisioning, not yet registered.
    PendingActivation,
    /// Registered (RegisterThing) or issued directly.
    Active,
    /// Unusable: stands for AWS deleting a provisioning certificate whose ownership token
    /// expired unused (a tombstone, so that the gateway keeps refusing it).
    Revoked,
}

impl CertificateStatus {
    /// AWS's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingActivation => "PENDING_ACTIVATION",
            Self::Active => "ACTIVE",
            Self::Revoked => "REVOKED",
        }
    }
}

/// The thing registry (things, their attributes, certificates and last-seen time).
#[derive(Debug, Clone)]
pub struct Registry {
    pool: SqlitePool,
}

impl Registry {
    /// The registry over `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Records an issued certificate.
    pub async fn add_certificate(
        &self,
        id: &str,
        pem: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO certificates (id, pem, status, created_at_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(pem)
        .bind(status.as_str())
        .bind(millis(now_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes those of `ids` that are still PENDING_ACTIVATION (their token expired).
    pub async fn revoke_pending(&self, ids: &[String]) -> Result<(), DbError> {
        for id in ids {
            sqlx::query(
                "UPDATE certificates SET status = 'REVOKED' WHERE id = ? AND status = 'PENDING_ACTIVATION'",
            )
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Creates or updates a thing (attributes are replaced) and, when given, activates a
    /// certificate and attaches it to the thing.
    pub async fn register_thing(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        certificate_id: Option<&str>,
        now_ms: u64,
    ) -> Result<(), DbError> {
        let attributes = serde_json::to_string(attributes).map_err(|e| DbError::Corrupt {
            what: "thing attributes",
            detail: e.to_string(),
        })?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO things (name, attributes, created_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET attributes = excluded.attributes",
        )
        .bind(name)
        .bind(attributes)
        .bind(millis(now_ms))
        .execute(&mut *tx)
        .await?;
        if let Some(id) = certificate_id {
            sqlx::query("UPDATE certificates SET status = 'ACTIVE', thing_name = ? WHERE id = ?")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `name` connected at `now_ms`; false when no such thing is registered.
    pub async fn touch(&self, name: &str, now_ms: u64) -> Result<bool, DbError> {
        let result = sqlx::query("UPDATE things SET last_seen_ms = ? WHERE name = ?")
            .bind(millis(now_ms))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// One thing, with its certificate ids.
    pub async fn thing(&self, name: &str) -> Result<Option<Thing>, DbError> {
        let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT name, attributes, created_at_ms, last_seen_ms FROM things WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some((name, attributes, created, last_seen)) = row else {
            return Ok(None);
        };
        let certificate_ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM certificates WHERE thing_name = ? ORDER BY created_at_ms",
        )
        .bind(&name)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(Thing {
            attributes: serde_json::from_str(&attributes).map_err(|e| DbError::Corrupt {
                what: "thing attributes",
                detail: e.to_string(),
            })?,
            name,
            certificate_ids: certificate_ids.into_iter().map(|(id,)| id).collect(),
            created_at_ms: u64::try_from(created).unwrap_or_default(),
            last_seen_ms: last_seen.and_then(|t| u64::try_from(t).ok()),
        }))
    }

    /// Every thing name, sorted.
    pub async fn thing_names(&self) -> Result<Vec<String>, DbError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM things ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    /// A certificate's status, if the registry knows it.
    pub async fn certificate_status(&self, id: &str) -> Result<Option<String>, DbError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT status FROM certificates WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(status,)| status))
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
