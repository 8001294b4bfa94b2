//! The telemetry tables (`migrations/0001_telemetry.sql`): batched writes, chart buckets, the
//! raw log and retention. Every batch is one transaction; bulk rows travel as one JSON array
//! per statement (`json_each`), so a batch of 500 messages is a handful of statements.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

use super::decode::Reading;

/// Series ids remembered by the writer; the cache is emptied when it grows past this.
const SERIES_CACHE: usize = 100_000;

/// A decoded message waiting for its batch.
#[derive(Debug, Clone)]
pub(crate) struct PendingMessage {
    pub thing: String,
    pub received_ms: i64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub readings: Vec<Reading>,
}

/// What one committed batch wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub messages: u64,
    pub samples: u64,
}

/// Series ids by (thing, series name), so that known series cost no query.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    ids: HashMap<(String, String), i64>,
}

impl SeriesCache {
    /// Forgets every id (after a rolled-back batch, whose new series do not exist).
    pub fn clear(&mut self) {
        self.ids.clear();
    }
}

#[derive(Serialize)]
struct RawRow<'a> {
    thing: &'a str,
    received_ms: i64,
    topic: &'a str,
    payload_hex: String,
}

/// Writes `batch` in one transaction: samples, raw messages, the batch record, and the raw
/// log trimmed to `raw_keep` messages for each device in the batch.
pub(crate) async fn write_batch(
    pool: &SqlitePool,
    profile: &str,
    batch: &[PendingMessage],
    cache: &mut SeriesCache,
    raw_keep: usize,
    committed_ms: i64,
) -> Result<Written, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let samples = insert_samples(&mut tx, profile, batch, cache).await?;
    insert_raw(&mut tx, profile, batch).await?;
    record_batch(&mut tx, batch.len(), samples, committed_ms).await?;
    trim_raw(&mut tx, profile, batch, raw_keep).await?;
    tx.commit().await?;
    Ok(Written {
        messages: batch.len() as u64,
        samples,
    })
}

async fn insert_samples(
    tx: &mut Transaction<'_, Sqlite>,
    profile: &str,
    batch: &[PendingMessage],
    cache: &mut SeriesCache,
) -> Result<u64, sqlx::Error> {
    let mut rows: Vec<(i64, i64, f64)> = Vec::new();
    for message in batch {
        for reading in &message.readings {
            let id = series_id(tx, profile, &message.thing, &reading.series, cache).await?;
            rows.push((id, message.received_ms, reading.value));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "INSERT INTO telemetry_samples (series_id, ts_ms, value) \
         SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)",
    )
    .bind(json(&rows))
    .execute(&mut **tx)
    .await?;
    Ok(rows.len() as u64)
}

async fn series_id(
    tx: &mut Transaction<'_, Sqlite>,
    profile: &str,
    thing: &str,
    name: &str,
    cache: &mut SeriesCache,
) -> Result<i64, sqlx::Error> {
    let key = (thing.to_owned(), name.to_owned());
    if let Some(id) = cache.ids.get(&key) {
        return Ok(*id);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO telemetry_series (profile, thing, name) VALUES (?1, ?2, ?3) \
         ON CONFLICT (profile, thing, name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(profile)
    .bind(thing)
    .bind(name)
    .fetch_one(&mut **tx)
    .await?;
    if cache.ids.len() >= SERIES_CACHE {
        cache.clear();
    }
    cache.ids.insert(key, id);
    Ok(id)
}

async fn insert_raw(
    tx: &mut Transaction<'_, Sqlite>,
    profile: &str,
    batch: &[PendingMessage],
) -> Result<(), sqlx::Error> {
    let rows: Vec<RawRow<'_>> = batch
        .iter()
        .map(|m| RawRow {
            thing: &m.thing,
            received_ms: m.received_ms,
            topic: &m.topic,
            payload_hex: hex::encode(&m.payload),
        })
        .collect();
    sqlx::query(
        "INSERT INTO telemetry_raw (profile, thing, received_ms, topic, payload) \
         SELECT ?1, value ->> 'thing', value ->> 'received_ms', value ->> 'topic', \
                unhex(value ->> 'payload_hex') \
         FROM json_each(?2)",
    )
    .bind(profile)
    .bind(json(&rows))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn record_batch(
    tx: &mut Transaction<'_, Sqlite>,
    messages: usize,
    samples: u64,
    committed_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO telemetry_batches (committed_ms, messages, samples, last_sample_id, last_raw_id) \
         VALUES (?1, ?2, ?3, \
                 (SELECT coalesce(max(id), 0) FROM telemetry_samples), \
                 (SELECT coalesce(max(id), 0) FROM telemetry_raw))",
    )
    .bind(committed_ms)
    .bind(i64::try_from(messages).unwrap_or(i64::MAX))
    .bind(i64::try_from(samples).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn trim_raw(
    tx: &mut Transaction<'_, Sqlite>,
    profile: &str,
    batch: &[PendingMessage],
    keep: usize,
) -> Result<(), sqlx::Error> {
    let things: BTreeSet<&str> = batch.iter().map(|m| m.thing.as_str()).collect();
    // The cut-off id per device is computed once (MATERIALIZED), not once per raw row.
    sqlx::query(
        "WITH cut AS MATERIALIZED ( \
           SELECT t.value AS thing, \
                  (SELECT k.id FROM telemetry_raw AS k \
                   WHERE k.profile = ?1 AND k.thing = t.value \
                   ORDER BY k.id DESC LIMIT 1 OFFSET ?3) AS last_dropped \
           FROM json_each(?2) AS t) \
         DELETE FROM telemetry_raw WHERE id IN ( \
           SELECT r.id FROM cut \
           JOIN telemetry_raw AS r ON r.profile = ?1 AND r.thing = cut.thing \
                                  AND r.id <= cut.last_dropped)",
    )
    .bind(profile)
    .bind(json(&things))
    .bind(i64::try_from(keep).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialising plain numbers, strings and tuples cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// One chart bucket row.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub(crate) struct BucketRow {
    pub start_ms: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

/// Buckets of `bucket_ms` of one series in `[from_ms, to_ms)`, oldest first.
pub(crate) async fn bucket_rows(
    pool: &SqlitePool,
    series: (&str, &str, &str),
    bucket_ms: i64,
    (from_ms, to_ms): (i64, i64),
) -> Result<Vec<BucketRow>, sqlx::Error> {
    let (profile, thing, name) = series;
    sqlx::query_as(
        "SELECT (s.ts_ms / ?4) * ?4 AS start_ms, min(s.value) AS min, max(s.value) AS max, \
                avg(s.value) AS avg, count(*) AS count \
         FROM telemetry_samples AS s \
         WHERE s.series_id = (SELECT id FROM telemetry_series \
                              WHERE profile = ?1 AND thing = ?2 AND name = ?3) \
           AND s.ts_ms >= ?5 AND s.ts_ms < ?6 \
         GROUP BY start_ms ORDER BY start_ms",
    )
    .bind(profile)
    .bind(thing)
    .bind(name)
    .bind(bucket_ms)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await
}

/// Deletes the batches up to `last_batch` with their samples and raw messages.
pub(crate) async fn delete_batches_through(
    pool: &SqlitePool,
    last_batch: i64,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let bounds: Option<(i64, i64)> =
        sqlx::query_as("SELECT last_sample_id, last_raw_id FROM telemetry_batches WHERE id = ?1")
            .bind(last_batch)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((last_sample, last_raw)) = bounds else {
        return Ok(0);
    };
    let samples = sqlx::query("DELETE FROM telemetry_samples WHERE id <= ?1")
        .bind(last_sample)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM telemetry_raw WHERE id <= ?1")
        .bind(last_raw)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM telemetry_batches WHERE id <= ?1")
        .bind(last_batch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(samples)
}
