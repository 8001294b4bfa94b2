use std::time::Duration;

use super::db::{PendingMessage, SeriesCache, write_batch};
use super::*;

const MINUTE: i64 = 60_000;

fn message(thing: &str, received_ms: i64, value: f64) -> PendingMessage {
    let payload = format!(r#"{{"sample":{{"v":{value}}}}}"#).into_bytes();
    PendingMessage {
        thing: thing.to_owned(),
        received_ms,
        topic: format!("dt/companion/{thing}/telemetry"),
        readings: decode(&payload, &DecodeOptions::default()).expect("a JSON object"),
        payload,
    }
}

async fn telemetry() -> Telemetry {
    let store = Store::open_in_memory().await.expect("an in-memory store");
    Telemetry::new(store, "test")
}

async fn write(telemetry: &Telemetry, batch: &[PendingMessage], committed_ms: i64, keep: usize) {
    write_batch(
        telemetry.store.write(),
        telemetry.profile(),
        batch,
        &mut SeriesCache::default(),
        keep,
        committed_ms,
    )
    .await
    .expect("the batch is written");
}

#[test]
fn every_window_has_three_hundred_buckets() {
    for window in ChartWindow::ALL {
        let (from, to) = window.range(1_764_430_000_123);
        assert_eq!(
            (to - from) / window.bucket_ms(),
            POINTS_PER_WINDOW,
            "{window:?} spans 300 buckets"
        );
        assert_eq!(
            from % window.bucket_ms(),
            0,
            "{window:?} starts on a bucket edge"
        );
    }
    let sizes: Vec<i64> = ChartWindow::ALL.iter().map(|w| w.bucket_ms()).collect();
    assert_eq!(
        sizes,
        [1_000, 12_000, 288_000, 2_016_000],
        "bucket sizes in ms"
    );
}

#[test]
fn the_window_ends_with_the_bucket_that_holds_its_end() {
    let (from, to) = ChartWindow::FiveMinutes.range(10_500);
    assert_eq!(to, 11_000, "the bucket [10 s, 11 s) is the last");
    assert_eq!(from, 11_000 - 300_000, "five minutes before");
    assert_eq!(
        bucket_start(-1, 1_000),
        -1_000,
        "times before the epoch round down"
    );
    assert_eq!(
        bucket_start(2_999, 1_000),
        2_000,
        "a bucket holds its start, not its end"
    );
}

#[tokio::test]
async fn buckets_give_min_max_average_and_count_per_bucket() {
    let telemetry = telemetry().await;
    let batch: Vec<PendingMessage> = [(0, 1.0), (400, 3.0), (999, 5.0), (1_000, 10.0)]
        .into_iter()
        .map(|(at, v)| message("t", 100_000 + at, v))
        .collect();
    write(&telemetry, &batch, 0, 500).await;
    let buckets = telemetry
        .buckets("t", "sample.v", ChartWindow::FiveMinutes, 101_000)
        .await
        .expect("buckets");
    assert_eq!(
        buckets,
        [
            Bucket {
                start_ms: 100_000,
                min: 1.0,
                max: 5.0,
                avg: 3.0,
                count: 3
            },
            Bucket {
                start_ms: 101_000,
                min: 10.0,
                max: 10.0,
                avg: 10.0,
                count: 1
            },
        ],
        "two one-second buckets"
    );
    let outside = telemetry
        .buckets(
            "t",
            "sample.v",
            ChartWindow::FiveMinutes,
            100_000 + 10 * MINUTE,
        )
        .await
        .expect("buckets");
    assert!(
        outside.is_empty(),
        "samples older than the window are left out"
    );
}

#[tokio::test]
async fn retention_by_age_deletes_whole_old_batches_only() {
    let telemetry = telemetry().await;
    write(
        &telemetry,
        &[message("t", 1, 1.0), message("t", 2, 2.0)],
        1_000,
        500,
    )
    .await;
    write(&telemetry, &[message("t", 3, 3.0)], 5_000, 500).await;
    let retention = Retention {
        max_age: Some(Duration::from_secs(2)),
        max_bytes: None,
    };
    let report = telemetry
        .apply_retention(&retention, 6_000)
        .await
        .expect("retention runs");
    assert_eq!(
        report.by_age, 2,
        "the batch committed 5 s ago had two samples"
    );
    let totals = telemetry.totals().await.expect("totals");
    assert_eq!(
        (totals.samples, totals.batches, totals.raw_messages),
        (1, 1, 1),
        "the young batch stays whole"
    );
}

#[tokio::test]
async fn retention_by_size_deletes_oldest_batches_until_the_database_fits() {
    let telemetry = telemetry().await;
    for b in 0..40 {
        let batch: Vec<PendingMessage> = (0..50)
            .map(|i| message(&format!("d{i}"), b * 100 + i, 1.0))
            .collect();
        write(&telemetry, &batch, b, 1_000).await;
    }
    let before = telemetry.store.used_bytes().await.expect("size");
    let limit = before / 2;
    let report = telemetry
        .apply_retention(
            &Retention {
                max_age: None,
                max_bytes: Some(limit),
            },
            0,
        )
        .await
        .expect("retention runs");
    let after = telemetry.store.used_bytes().await.expect("size");
    assert!(after <= limit, "{after} bytes fit in {limit}");
    assert!(report.by_size > 0, "samples were deleted");
    let oldest: i64 = sqlx::query_scalar("SELECT min(committed_ms) FROM telemetry_batches")
        .fetch_one(telemetry.store.read())
        .await
        .expect("the oldest batch");
    assert!(
        oldest > 0,
        "the oldest batches went first (oldest left: {oldest})"
    );
}

#[tokio::test]
async fn the_raw_log_keeps_the_newest_messages_of_each_device() {
    let telemetry = telemetry().await;
    let batch: Vec<PendingMessage> = (0..10)
        .flat_map(|i| [message("a", i, 1.0), message("b", i, 2.0)])
        .collect();
    write(&telemetry, &batch, 0, 3).await;
    let log = telemetry.raw_log("a", 100).await.expect("the raw log");
    let times: Vec<i64> = log.iter().map(|m| m.received_ms).collect();
    assert_eq!(times, [9, 8, 7], "the newest three, newest first");
    assert_eq!(
        log[0].payload,
        br#"{"sample":{"v":1}}"#.to_vec(),
        "the payload bytes are kept as received"
    );
    assert_eq!(
        telemetry.raw_log("b", 100).await.expect("log").len(),
        3,
        "per device"
    );
}
