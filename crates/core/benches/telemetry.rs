//! Telemetry ingest benchmark, run on purpose: `cargo bench -p companion-core --bench telemetry`.
//!
//! Feeds 1 KB JSON messages (a sandbox-like sample with 24 numeric fields and padding) through
//! the ingest pipeline into a SQLite file and prints the committed rate, the chart bucket query
//! time over the stored series, and the process's peak RSS (`VmHWM`).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use companion_core::store::Store;
use companion_core::telemetry::{ChartWindow, Incoming, IngestConfig, Telemetry};

/// Messages fed through the pipeline (`BENCH_MESSAGES` overrides).
const MESSAGES: usize = 200_000;

/// Samples of the dense series the bucket queries read: 7 days at 1 Hz.
const DENSE_SAMPLES: i64 = 7 * 24 * 3600;

fn messages() -> usize {
    std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MESSAGES)
}

/// Devices the messages are spread over.
const DEVICES: usize = 100;

/// A ~1 KB sandbox-like telemetry payload.
fn payload(thing: &str, seq: usize) -> Vec<u8> {
    let mut sample = String::new();
    for field in 0..24 {
        sample.push_str(&format!(
            "\"field_{field:02}\":{}.{:03},",
            seq % 1000,
            field * 7
        ));
    }
    let mut text = format!(
        "{{\"thing\":\"{thing}\",\"kind\":\"thermostat\",\"seq\":{seq},\"timestamp\":{},\
         \"firmware_version\":\"1.0.0\",\"sample\":{{{sample}\"hvac\":\"heating\"}},\"note\":\"",
        now_ms()
    );
    while text.len() < 1022 {
        text.push('x');
    }
    text.push_str("\"}");
    text.into_bytes()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// The process's peak resident set size in KiB, from `/proc/self/status`.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn report(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
}

async fn ingest(telemetry: &Telemetry, count: usize) -> (Duration, u64) {
    let (handle, writer, _frames) = telemetry.ingest(IngestConfig::default());
    let run = tokio::spawn(writer.run());
    let start = Instant::now();
    for seq in 0..count {
        let thing = format!("thermostat-{:04}", seq % DEVICES);
        let message = Incoming {
            topic: format!("dt/companion/{thing}/telemetry"),
            payload: payload(&thing, seq),
            thing,
            received_ms: now_ms(),
        };
        handle.send(message).await;
    }
    drop(handle);
    let stats = run.await.expect("the ingest loop does not panic");
    (start.elapsed(), stats.committed_messages)
}

/// Stores one series at 1 Hz over the last 7 days, through the pipeline.
async fn dense_series(telemetry: &Telemetry, end_ms: i64) -> Duration {
    let (handle, writer, _frames) = telemetry.ingest(IngestConfig::default());
    let run = tokio::spawn(writer.run());
    let start = Instant::now();
    for i in 0..DENSE_SAMPLES {
        let message = Incoming {
            thing: "dense".to_owned(),
            received_ms: end_ms - (DENSE_SAMPLES - i) * 1000,
            topic: "dt/companion/dense/telemetry".to_owned(),
            payload: format!("{{\"v\":{}}}", i % 977).into_bytes(),
        };
        handle.send(message).await;
    }
    drop(handle);
    run.await.expect("the ingest loop does not panic");
    start.elapsed()
}

async fn bucket_queries(telemetry: &Telemetry, end_ms: i64) {
    for window in ChartWindow::ALL {
        let start = Instant::now();
        let buckets = telemetry
            .buckets("dense", "v", window, end_ms)
            .await
            .expect("buckets");
        let samples: u64 = buckets.iter().map(|b| b.count).sum();
        report(&format!(
            "bucket query {window:?}: {} points over {samples} samples in {:.2} ms",
            buckets.len(),
            start.elapsed().as_secs_f64() * 1e3
        ));
    }
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("core-telemetry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path: PathBuf = dir.join("bench.db");
    let store = Store::open(&path).await.expect("the store opens");
    let telemetry = Telemetry::new(store.clone(), "bench");
    let (elapsed, committed) = ingest(&telemetry, messages()).await;
    let rate = committed as f64 / elapsed.as_secs_f64();
    report(&format!(
        "pipeline ingest: {committed} messages of 1 KB in {:.2} s = {rate:.0} msg/s ({:.1} MB/s), peak RSS {} MiB",
        elapsed.as_secs_f64(),
        rate * 1024.0 / 1e6,
        peak_rss_kib() / 1024
    ));
    let end_ms = now_ms();
    let took = dense_series(&telemetry, end_ms).await;
    report(&format!(
        "dense series: {DENSE_SAMPLES} one-value messages in {:.2} s",
        took.as_secs_f64()
    ));
    bucket_queries(&telemetry, end_ms).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
