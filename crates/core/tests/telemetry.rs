//! Telemetry against a real database file: batched ingest read back as chart buckets,
//! retention, a `kill -9` in the middle of ingest, and the sandbox's simulated devices through
//! its broker. Every wait has a deadline; nothing sleeps.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use companion_core::store::Store;
use companion_core::telemetry::{
    ChartWindow, Incoming, IngestConfig, IngestStats, Retention, Telemetry, TelemetrySubscriptions,
};
use companion_sandbox::devices::fleet::FleetSpec;
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::TempDir;
use rumqttc::{Event, Packet, QoS};
use tokio::time::timeout;

/// How long any awaited event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Set in the child process of the `kill -9` test: the database it ingests into.
const CHILD_DB: &str = "COMPANION_TELEMETRY_KILL_CHILD_DB";

/// The line the child prints once some batches are committed.
const CHILD_READY: &str = "telemetry-child: batches committed";

/// Series per message in the child's stream.
const SERIES_PER_MESSAGE: i64 = 4;

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("a sane clock")
}

fn reading(thing: &str, received_ms: i64, seq: i64) -> Incoming {
    let payload = format!(
        r#"{{"thing":"{thing}","seq":{seq},"sample":{{"a":{seq},"b":{},"c":true,"d":{{"e":1.5}},"s":"text"}}}}"#,
        seq * 2
    );
    Incoming {
        thing: thing.to_owned(),
        received_ms,
        topic: format!("dt/companion/{thing}/telemetry"),
        payload: payload.into_bytes(),
    }
}

/// Runs a pipeline over `telemetry`, feeds it `messages` with backpressure, and returns its
/// final counters.
async fn ingest_all(
    telemetry: &Telemetry,
    config: IngestConfig,
    messages: Vec<Incoming>,
) -> IngestStats {
    let (handle, writer, _frames) = telemetry.ingest(config);
    let run = tokio::spawn(writer.run());
    for message in messages {
        assert!(handle.send(message).await, "the loop accepts messages");
    }
    drop(handle);
    timeout(DEADLINE, run)
        .await
        .expect("the loop ends once the handles are gone")
        .expect("the loop does not panic")
}

#[tokio::test]
async fn batched_ingest_into_a_file_reads_back_as_chart_buckets() {
    let dir = TempDir::new("buckets");
    let store = Store::open(dir.path().join("companion.db"))
        .await
        .expect("the store opens");
    let telemetry = Telemetry::new(store.clone(), "default");
    let start = 1_764_430_000_000;
    // 1,200 messages, one every 250 ms: 300 s of data, four per one-second bucket.
    let messages = (0..1_200)
        .map(|i| reading("thermostat-0001", start + i * 250, i))
        .collect();
    let config = IngestConfig {
        batch_max_messages: 100,
        ..IngestConfig::default()
    };
    let stats = ingest_all(&telemetry, config, messages).await;
    assert_eq!(
        stats.committed_messages, 1_200,
        "every message committed: {stats:?}"
    );
    assert_eq!(stats.batches, 12, "in batches of 100: {stats:?}");
    assert_eq!(
        stats.committed_samples,
        1_200 * SERIES_PER_MESSAGE as u64,
        "four series each"
    );

    let series = telemetry.series("thermostat-0001").await.expect("series");
    assert_eq!(
        series,
        ["sample.a", "sample.b", "sample.c", "sample.d.e"],
        "dotted names"
    );
    let end = start + 1_200 * 250 - 1;
    let buckets = telemetry
        .buckets("thermostat-0001", "sample.a", ChartWindow::FiveMinutes, end)
        .await
        .expect("buckets");
    assert_eq!(buckets.len(), 300, "one point per second over five minutes");
    assert!(
        buckets.iter().all(|b| b.count == 4),
        "four samples in each bucket"
    );
    let first = &buckets[0];
    assert_eq!(
        (first.min, first.max, first.avg),
        (0.0, 3.0, 1.5),
        "the first second"
    );
    let hour = telemetry
        .buckets("thermostat-0001", "sample.a", ChartWindow::OneHour, end)
        .await
        .expect("buckets");
    assert_eq!(
        hour.iter().map(|b| b.count).sum::<u64>(),
        1_200,
        "the hour holds every sample"
    );
    assert_eq!(
        store.integrity_check().await.expect("check"),
        "ok",
        "the file is sound"
    );
}

#[tokio::test]
async fn retention_on_a_file_keeps_the_young_batches_and_fits_the_size() {
    let dir = TempDir::new("retention");
    let store = Store::open(dir.path().join("companion.db"))
        .await
        .expect("the store opens");
    let telemetry = Telemetry::new(store.clone(), "default");
    let now = now_ms();
    let messages = (0..5_000)
        .map(|i| reading(&format!("d{}", i % 50), now + i, i))
        .collect();
    let config = IngestConfig {
        batch_max_messages: 250,
        ..IngestConfig::default()
    };
    ingest_all(&telemetry, config, messages).await;

    let young = Retention {
        max_age: Some(Duration::from_secs(3600)),
        max_bytes: None,
    };
    let report = telemetry
        .apply_retention(&young, now_ms())
        .await
        .expect("retention");
    assert_eq!(report.by_age, 0, "nothing is an hour old");

    let used = store.used_bytes().await.expect("size");
    let small = Retention {
        max_age: None,
        max_bytes: Some(used / 3),
    };
    let report = telemetry
        .apply_retention(&small, now_ms())
        .await
        .expect("retention");
    let totals = telemetry.totals().await.expect("totals");
    assert!(report.by_size > 0, "samples were deleted for size");
    assert!(
        store.used_bytes().await.expect("size") <= used / 3,
        "the database fits"
    );
    assert_eq!(
        totals.samples, totals.batch_samples,
        "only whole batches went: {totals:?}"
    );

    let everything = Retention {
        max_age: Some(Duration::ZERO),
        max_bytes: None,
    };
    telemetry
        .apply_retention(&everything, now_ms() + 1)
        .await
        .expect("retention");
    let totals = telemetry.totals().await.expect("totals");
    assert_eq!(
        (totals.samples, totals.batches),
        (0, 0),
        "all batches aged out: {totals:?}"
    );
}

/// Not a test of its own: the child process of the `kill -9` test. Without the environment
/// variable it returns at once.
#[tokio::test]
async fn kill_child_ingests_until_killed() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = Store::open(PathBuf::from(path))
        .await
        .expect("the child opens the store");
    let telemetry = Telemetry::new(store, "default");
    let config = IngestConfig {
        batch_max_messages: 200,
        raw_log_per_device: 1_000_000,
        ..IngestConfig::default()
    };
    let (handle, writer, _frames) = telemetry.ingest(config);
    let run = tokio::spawn(writer.run());
    let mut announced = false;
    for seq in 0.. {
        assert!(
            handle.send(reading("d", now_ms(), seq)).await,
            "the loop runs"
        );
        if !announced && handle.stats().batches >= 5 {
            announced = true;
            let mut out = std::io::stdout();
            writeln!(out, "{CHILD_READY}").expect("stdout");
            out.flush().expect("stdout");
        }
    }
    drop(handle);
    let _ = run.await;
}

#[tokio::test]
async fn a_kill_9_during_ingest_leaves_a_sound_database_without_partial_batches() {
    let dir = TempDir::new("kill9");
    let db = dir.path().join("companion.db");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "kill_child_ingests_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("the child's stdout");
    let (ready_tx, ready_rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(CHILD_READY));
        let _ = ready_tx.send(ready);
    });
    let ready = ready_rx.recv_timeout(DEADLINE);
    // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no checkpoint runs.
    child.kill().expect("SIGKILL is delivered");
    child.wait().expect("the child is reaped");
    assert_eq!(
        ready,
        Ok(true),
        "the child committed batches before it was killed"
    );

    let store = Store::open(&db)
        .await
        .expect("the database opens after a kill -9");
    assert_eq!(
        store.integrity_check().await.expect("check"),
        "ok",
        "integrity_check is ok"
    );
    let totals = Telemetry::new(store, "default")
        .totals()
        .await
        .expect("totals");
    assert!(
        totals.batches >= 5,
        "the announced batches survived: {totals:?}"
    );
    assert_eq!(
        totals.samples, totals.batch_samples,
        "no partial batch: {totals:?}"
    );
    assert_eq!(
        totals.batch_samples,
        totals.batch_messages * SERIES_PER_MESSAGE,
        "every committed message has all its series: {totals:?}"
    );
    assert_eq!(
        totals.raw_messages, totals.batch_messages,
        "raw log matches batches: {totals:?}"
    );
}

#[tokio::test]
async fn telemetry_from_the_sandbox_devices_reaches_the_store_through_the_broker() {
    let dir = TempDir::new("sandbox");
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
        .await
        .expect("the sandbox starts");
    let store = Store::open(dir.path().join("companion.db"))
        .await
        .expect("the store opens");
    let telemetry = Telemetry::new(store, "sandbox");
    let subscriptions = TelemetrySubscriptions::default();
    let (client, mut eventloop) =
        companion_sandbox::connect::client("telemetry-test", &sandbox.plain_endpoint(), 64)
            .expect("an MQTT client");
    for filter in subscriptions.fleet_filters() {
        client
            .subscribe(filter, QoS::AtMostOnce)
            .await
            .expect("subscribe is queued");
    }
    let (handle, writer, mut frames) = telemetry.ingest(IngestConfig {
        batch_interval: Duration::from_millis(20),
        ..IngestConfig::default()
    });
    let run = tokio::spawn(writer.run());
    let mut spec = FleetSpec {
        seed: 7,
        count: 3,
        ..FleetSpec::default()
    };
    spec.firmware.telemetry_interval = Duration::from_millis(50);
    let fleet = sandbox.spawn_fleet(&spec).await.expect("the fleet starts");

    let pump = async {
        let mut things = std::collections::BTreeSet::new();
        while things.len() < 3 || handle.stats().committed_messages < 30 {
            let event = eventloop.poll().await.expect("the connection stays up");
            if let Event::Incoming(Packet::Publish(publish)) = event {
                let thing = subscriptions
                    .thing_of(&publish.topic)
                    .expect("a telemetry topic");
                things.insert(thing.to_owned());
                handle.offer(Incoming {
                    thing: thing.to_owned(),
                    received_ms: now_ms(),
                    topic: publish.topic.clone(),
                    payload: publish.payload.to_vec(),
                });
            }
        }
        things
    };
    let things = timeout(DEADLINE, pump)
        .await
        .expect("telemetry arrives and is committed");
    assert_eq!(
        things.into_iter().collect::<Vec<_>>(),
        ["light-0003", "plug-0002", "thermostat-0001"],
        "all three devices publish"
    );
    let frame = timeout(DEADLINE, frames.recv())
        .await
        .expect("a UI frame")
        .expect("frames");
    assert!(!frame.updates.is_empty(), "a frame carries values");
    let series = telemetry.series("thermostat-0001").await.expect("series");
    assert!(
        series.iter().any(|s| s == "sample.temperature_c"),
        "the thermostat's temperature is a series: {series:?}"
    );
    let log = telemetry
        .raw_log("plug-0002", 10)
        .await
        .expect("the raw log");
    assert!(!log.is_empty(), "the plug's messages are in its raw log");
    drop(handle);
    let stats = timeout(DEADLINE, run)
        .await
        .expect("the loop ends")
        .expect("no panic");
    assert_eq!(stats.dropped, 0, "nothing dropped at this rate: {stats:?}");
    fleet.shutdown().await.expect("the fleet stops");
    sandbox.shutdown().await;
}
