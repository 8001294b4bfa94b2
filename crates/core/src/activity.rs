//! The activity log: connection changes and errors, kept in SQLite (bounded), and exports of it
//! and of the provisioning audit as CSV or JSON.

use serde::Serialize;
use sqlx::FromRow;

use crate::store::{Store, StoreError};

/// Events kept; older ones are deleted as new ones arrive.
pub const KEEP: i64 = 5_000;

/// What kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The broker connection changed.
    Connection,
    /// Something failed.
    Error,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Error => "error",
        }
    }
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct Event {
    /// Its id.
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// `connection` or `error`.
    pub kind: String,
    /// What happened, in a sentence.
    pub summary: String,
}

/// The activity log in the app's database.
#[derive(Debug, Clone)]
pub struct ActivityLog {
    store: Store,
}

impl ActivityLog {
    /// The log in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Appends an event and trims the log to [`KEEP`] events.
    pub async fn record(&self, kind: Kind, at_ms: i64, summary: &str) -> Result<(), StoreError> {
        let mut tx = self
            .store
            .write()
            .begin()
            .await
            .map_err(StoreError::Query)?;
        sqlx::query("INSERT INTO activity_events (at_ms, kind, summary) VALUES (?, ?, ?)")
            .bind(at_ms)
            .bind(kind.as_str())
            .bind(summary)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Query)?;
        sqlx::query(
            "DELETE FROM activity_events WHERE id <= (SELECT max(id) FROM activity_events) - ?",
        )
        .bind(KEEP)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Query)?;
        tx.commit().await.map_err(StoreError::Query)?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
        sqlx::query_as(
            "SELECT id, at_ms, kind, summary FROM activity_events ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(self.store.read())
        .await
        .map_err(StoreError::Query)
    }
}

/// Rows as CSV (RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled,
/// CRLF line ends), with a header line.
pub fn to_csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to memory cannot fail; a record that could not be written is left out.
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let csv = to_csv(
            &["a", "b"],
            &[
                vec!["plain".into(), "with, comma".into()],
                vec!["say \"hi\"".into(), "two\nlines".into()],
            ],
        );
        assert_eq!(
            csv,
            "a,b\r\nplain,\"with, comma\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    #[tokio::test]
    async fn the_log_keeps_the_newest_events() {
        let store = Store::open_in_memory().await.expect("store");
        let log = ActivityLog::new(store);
        log.record(Kind::Connection, 1, "Connected.")
            .await
            .expect("record");
        log.record(Kind::Error, 2, "Lost.").await.expect("record");
        let events = log.list(10).await.expect("list");
        let summaries: Vec<&str> = events.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(summaries, ["Lost.", "Connected."], "newest first");
        assert_eq!(events[0].kind, "error");
    }
}
