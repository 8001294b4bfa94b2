//! Telemetry: device messages decoded into numeric series, stored in SQLite in batches, read
//! back as chart buckets, and forwarded to the UI at a bounded frame rate.
//!
//! * [`subscriptions`]: which topics carry telemetry, per device model.
//! * [`decode`]: JSON payloads to readings (`sample.temperature_c = 20.5`).
//! * [`ingest`]: the bounded queue and the batch writer ([`IngestHandle`] + [`IngestLoop`]).
//! * [`coalesce`]: at most 30 UI frames per second, latest value per series.
//! * [`Telemetry`]: queries (chart buckets, the raw log) and retention.
//!
//! Chart buckets are computed when read, with `GROUP BY` over a covering index
//! `(series_id, ts_ms, value)`, not kept in rollup tables. Measured with the benchmark
//! (`cargo bench -p companion-core --bench telemetry`) on one 1 Hz series, on two cores
//! shared with other builds: 5 min and 1 h windows read in 2-7 ms, 24 h (86,400 samples) in
//! 22-32 ms, 7 d (604,800 samples) in 130-220 ms. Ingest, on the other hand, is bound by
//! SQLite's writes (60,000-140,000 samples per second here, falling as the index grows), and
//! rollups would add four upserts per sample; the slowest read, the 7-day chart, is opened
//! rarely and can be cached by the UI.

pub mod coalesce;
mod db;
pub mod decode;
pub mod ingest;
pub mod subscriptions;

use std::time::Duration;

pub use coalesce::{Coalescer, Frame, SeriesUpdate};
pub use decode::{DecodeError, DecodeOptions, Reading, decode};
pub use ingest::{Incoming, IngestConfig, IngestHandle, IngestLoop, IngestStats, now_ms};
pub use subscriptions::TelemetrySubscriptions;

use crate::store::{Store, StoreError};

/// Why a telemetry query or write failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The database failed.
    #[error("the telemetry store failed: {0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TelemetryError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}

/// A chart's time span; each has a bucket size that gives 300 points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChartWindow {
    /// The last 5 minutes, 1 s buckets.
    FiveMinutes,
    /// The last hour, 12 s buckets.
    OneHour,
    /// The last 24 hours, 288 s (4.8 min) buckets.
    OneDay,
    /// The last 7 days, 2016 s (33.6 min) buckets.
    SevenDays,
}

/// Points per chart window.
pub const POINTS_PER_WINDOW: i64 = 300;

impl ChartWindow {
    /// Every window, shortest first.
    pub const ALL: [Self; 4] = [
        Self::FiveMinutes,
        Self::OneHour,
        Self::OneDay,
        Self::SevenDays,
    ];

    /// The window's length in milliseconds.
    pub fn span_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Self::FiveMinutes => 5 * MINUTE,
            Self::OneHour => 60 * MINUTE,
            Self::OneDay => 24 * 60 * MINUTE,
            Self::SevenDays => 7 * 24 * 60 * MINUTE,
        }
    }

    /// The bucket size: the span over [`POINTS_PER_WINDOW`].
    pub fn bucket_ms(self) -> i64 {
        self.span_ms() / POINTS_PER_WINDOW
    }

    /// The time range `[from, to)` of the window ending at `end_ms`: whole buckets, the last
    /// one containing `end_ms`.
    pub fn range(self, end_ms: i64) -> (i64, i64) {
        let bucket = self.bucket_ms();
        let to = bucket_start(end_ms, bucket) + bucket;
        (to - self.span_ms(), to)
    }
}

/// The start of the bucket of size `bucket_ms` that holds `ts_ms` (buckets are aligned to the
/// epoch, so the same sample lands in the same bucket in every query).
pub fn bucket_start(ts_ms: i64, bucket_ms: i64) -> i64 {
    ts_ms.div_euclid(bucket_ms) * bucket_ms
}

/// One chart point: the samples of one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The bucket's start, epoch milliseconds.
    pub start_ms: i64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The mean.
    pub avg: f64,
    /// How many samples.
    pub count: u64,
}

/// One message of a device's raw log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RawMessage {
    /// When it was received, epoch milliseconds.
    pub received_ms: i64,
    /// Its topic.
    pub topic: String,
    /// Its payload bytes, as received.
    pub payload: Vec<u8>,
}

/// How much telemetry to keep. Whole batches go, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Batches committed longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// While the database's used pages exceed this, the oldest batches are deleted. Freed
    /// pages are reused by later batches, so the file stops growing near this size.
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    /// Seven days (the longest chart window) and 256 MiB.
    fn default() -> Self {
        Self {
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            max_bytes: Some(256 * 1024 * 1024),
        }
    }
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Samples deleted for age.
    pub by_age: u64,
    /// Samples deleted for size.
    pub by_size: u64,
}

/// Row counts, for status displays and crash checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct TelemetryTotals {
    /// Samples stored.
    pub samples: i64,
    /// Batches stored.
    pub batches: i64,
    /// Samples the stored batches say they wrote.
    pub batch_samples: i64,
    /// Messages the stored batches say they wrote.
    pub batch_messages: i64,
    /// Raw messages kept.
    pub raw_messages: i64,
}

/// The telemetry of one connection profile: queries, retention, and the ingest pipeline.
#[derive(Debug, Clone)]
pub struct Telemetry {
    store: Store,
    profile: String,
}

impl Telemetry {
    /// Telemetry of `profile` in `store`.
    pub fn new(store: Store, profile: impl Into<String>) -> Self {
        Self {
            store,
            profile: profile.into(),
        }
    }

    /// The profile this telemetry belongs to.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// A new ingest pipeline writing into this profile's telemetry: the handle to offer
    /// messages, the loop the caller runs, and the UI frames.
    pub fn ingest(
        &self,
        config: IngestConfig,
    ) -> (IngestHandle, IngestLoop, tokio::sync::mpsc::Receiver<Frame>) {
        ingest::pipeline(self.store.clone(), self.profile.clone(), config)
    }

    /// The chart points of `thing`'s `series` for `window` ending at `end_ms`, oldest first;
    /// buckets without samples are left out.
    pub async fn buckets(
        &self,
        thing: &str,
        series: &str,
        window: ChartWindow,
        end_ms: i64,
    ) -> Result<Vec<Bucket>, TelemetryError> {
        let rows = db::bucket_rows(
            self.store.read(),
            (&self.profile, thing, series),
            window.bucket_ms(),
            window.range(end_ms),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Bucket {
                start_ms: r.start_ms,
                min: r.min,
                max: r.max,
                avg: r.avg,
                count: u64::try_from(r.count).unwrap_or(0),
            })
            .collect())
    }

    /// The names of `thing`'s series, sorted.
    pub async fn series(&self, thing: &str) -> Result<Vec<String>, TelemetryError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM telemetry_series WHERE profile = ?1 AND thing = ?2 ORDER BY name",
        )
        .bind(&self.profile)
        .bind(thing)
        .fetch_all(self.store.read())
        .await?)
    }

    /// The newest `limit` messages of `thing`'s raw log, newest first.
    pub async fn raw_log(
        &self,
        thing: &str,
        limit: usize,
    ) -> Result<Vec<RawMessage>, TelemetryError> {
        Ok(sqlx::query_as(
            "SELECT received_ms, topic, payload FROM telemetry_raw \
             WHERE profile = ?1 AND thing = ?2 ORDER BY id DESC LIMIT ?3",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.store.read())
        .await?)
    }

    /// Row counts of the telemetry tables (all profiles).
    pub async fn totals(&self) -> Result<TelemetryTotals, TelemetryError> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM telemetry_samples) AS samples, \
                    (SELECT count(*) FROM telemetry_batches) AS batches, \
                    (SELECT coalesce(sum(samples), 0) FROM telemetry_batches) AS batch_samples, \
                    (SELECT coalesce(sum(messages), 0) FROM telemetry_batches) AS batch_messages, \
                    (SELECT count(*) FROM telemetry_raw) AS raw_messages",
        )
        .fetch_one(self.store.read())
        .await?)
    }

    /// Deletes telemetry beyond `retention`, oldest batches first; `now_ms` is the clock.
    pub async fn apply_retention(
        &self,
        retention: &Retention,
        now_ms: i64,
    ) -> Result<RetentionReport, TelemetryError> {
        let mut report = RetentionReport::default();
        if let Some(age) = retention.max_age {
            report.by_age = self
                .delete_older_than(now_ms.saturating_sub(duration_ms(age)))
                .await?;
        }
        if let Some(max_bytes) = retention.max_bytes {
            report.by_size = self.shrink_to(max_bytes).await?;
        }
        Ok(report)
    }

    async fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64, TelemetryError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT max(id) FROM telemetry_batches WHERE committed_ms < ?1")
                .bind(cutoff_ms)
                .fetch_one(self.store.write())
                .await?;
        match last {
            Some(last) => Ok(db::delete_batches_through(self.store.write(), last).await?),
            None => Ok(0),
        }
    }

    /// Deletes the oldest tenth of the batches until the used size fits.
    async fn shrink_to(&self, max_bytes: u64) -> Result<u64, TelemetryError> {
        let mut deleted = 0;
        while self.store.used_bytes().await? > max_bytes {
            let Some(last) = self.oldest_tenth().await? else {
                break;
            };
            deleted += db::delete_batches_through(self.store.write(), last).await?;
        }
        Ok(deleted)
    }

    /// The last batch id of the oldest tenth of the batches (at least one).
    async fn oldest_tenth(&self) -> Result<Option<i64>, TelemetryError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM telemetry_batches ORDER BY id \
             LIMIT 1 OFFSET (SELECT max(count(*) / 10 - 1, 0) FROM telemetry_batches)",
        )
        .fetch_optional(self.store.write())
        .await?)
    }
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
