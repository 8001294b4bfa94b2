//! The app's SQLite database: one file per installation, in WAL mode, opened through sqlx.
//!
//! Writes go through a single-connection pool ([`Store::write`]), so they never wait on each
//! other's locks; reads use a separate read-only pool ([`Store::read`]) that WAL lets run while
//! a write transaction is open. Migrations live next to their tables in `crates/core/migrations`
//! (`0001`-`0009` for telemetry and the registry, `0010` on for shadows), only move forward, and
//! run at [`Store::open`]. Queries use sqlx's runtime API (`query`, `query_as` with `FromRow`),
//! so building needs no `DATABASE_URL` and no `.sqlx` cache.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Every migration of `companion-core`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The write connection's page cache in KiB (a hard cap). The chart index takes inserts at one
/// place per series, so a batch touches thousands of pages; with SQLite's default 2 MiB they
/// are read back from disk on every batch once the index outgrows it. The benchmark's 200,000
/// message ingest ran 2x faster with 32 MiB (1,505 → 3,092 msg/s, peak RSS 40 → 71 MiB).
const WRITE_CACHE_KIB: u32 = 32 * 1024;

/// How many connections read at the same time.
const READERS: u32 = 4;

/// SQLite's result codes for a file that is not a sound database.
const DAMAGED_CODES: [&str; 2] = ["11", "26"];

/// Why the database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error(
        "cannot open the database at {path}: {source}; check that the folder exists and is writable"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// sqlx's error.
        source: sqlx::Error,
    },
    /// The file is not a database or its pages are corrupt.
    #[error("the database at {path} is damaged: {detail}; move it away and restart")]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot update the database at {path} to this version of the app: {source}; it may come from a newer version — move it away or use that version"
    )]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// sqlx's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("a database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// The open database: a write handle and a read handle over the same file.
#[derive(Debug, Clone)]
pub struct Store {
    write: SqlitePool,
    read: SqlitePool,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens the database at `path`, creating it if needed, switches it to WAL and applies
    /// pending migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let write = connect(write_options(&path), 1, &path).await?;
        migrate(&write, &path).await?;
        let read = connect(read_options(&path), READERS, &path).await?;
        Ok(Self {
            write,
            read,
            path: Some(path),
        })
    }

    /// A private database in memory, migrated, for tests and for running without a data
    /// folder. An in-memory database lives in one connection, so both handles share it.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?
            .foreign_keys(true);
        let pool = connect(options, 1, &path).await?;
        migrate(&pool, &path).await?;
        Ok(Self {
            write: pool.clone(),
            read: pool,
            path: None,
        })
    }

    /// The single-connection pool every write goes through.
    pub fn write(&self) -> &SqlitePool {
        &self.write
    }

    /// The read-only pool for queries.
    pub fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// The database file; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when sound).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let line: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.write)
            .await?;
        Ok(line)
    }

    /// The bytes the database's pages hold, free pages excluded (what retention by size
    /// measures).
    pub async fn used_bytes(&self) -> Result<u64, StoreError> {
        let (pages, free, size): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT page_count FROM pragma_page_count()), \
                    (SELECT freelist_count FROM pragma_freelist_count()), \
                    (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&self.write)
        .await?;
        Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
    }

    /// Closes both pools, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

fn write_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL survives a crash of the process; only an OS crash or a power loss can
        // lose the last commits, never corrupt the file. FULL would sync on every batch.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", format!("-{WRITE_CACHE_KIB}"))
}

fn read_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

async fn connect(
    options: SqliteConnectOptions,
    connections: u32,
    path: &Path,
) -> Result<SqlitePool, StoreError> {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| open_error(path, source))
}

async fn migrate(pool: &SqlitePool, path: &Path) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|source| match source {
        sqlx::migrate::MigrateError::Execute(e) if is_damage(&e) => damaged(path, &e),
        source => StoreError::Migrate {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn open_error(path: &Path, source: sqlx::Error) -> StoreError {
    if is_damage(&source) {
        damaged(path, &source)
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// True for SQLITE_CORRUPT and SQLITE_NOTADB (also in their extended forms).
fn is_damage(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    db.code().is_some_and(|code| {
        let primary = code.parse::<i64>().map(|c| (c & 0xff).to_string());
        primary.is_ok_and(|c| DAMAGED_CODES.contains(&c.as_str()))
    })
}

fn damaged(path: &Path, error: &sqlx::Error) -> StoreError {
    let detail = error
        .as_database_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned());
    StoreError::Damaged {
        path: path.to_path_buf(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_store_is_migrated_and_sound() {
        let store = Store::open_in_memory().await.expect("an in-memory store");
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('things', 'telemetry_samples')",
        )
        .fetch_one(store.read())
        .await
        .expect("the schema can be read");
        assert_eq!(tables, 2, "both migrations ran");
        let check = store.integrity_check().await.expect("integrity_check runs");
        assert_eq!(check, "ok", "a new database is sound");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_reported_as_damaged() {
        let path = std::env::temp_dir().join(format!(
            "core-store-garbage-{}-{}.db",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, vec![0x5a; 8192]).expect("a garbage file");
        let error = Store::open(&path).await.expect_err("garbage is refused");
        let _ = std::fs::remove_file(&path);
        let message = error.to_string();
        assert!(
            matches!(error, StoreError::Damaged { .. }),
            "the error names the damage: {message}"
        );
        assert!(
            message.contains("move it away and restart"),
            "the message says what to do: {message}"
        );
    }
}
