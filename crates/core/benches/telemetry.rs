//! Telemetry ingest benchmark, run on purpose: `cargo bench -p companion-core --bench telemetry`.
//!
//! 1. Pipeline: 1 KB JSON messages (a sandbox-like sample with 24 numeric fields and padding)
//!    fed straight into the ingest pipeline and committed to a SQLite file.
//! 2. Chart buckets: one series at 1 Hz over 7 days, queried for each window.
//! 3. Live stream: a local Mosquitto (Debian package `mosquitto`) carries 1 KB QoS 0 messages
//!    from a publisher to `mosquitto_sub` and to the engine (rumqttc → ingest → SQLite) in the
//!    same run, paced and then as fast as the publisher goes; prints the ratio of the engine's
//!    committed rate to `mosquitto_sub`'s received rate.
//! 4. Registry: 10,000 things, list and filter times.
//!
//! Peak RSS (`VmHWM`) is printed after each part.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;

use companion_core::registry::{NewThing, Registry, Source, ThingFilter, ThingQuery};
use companion_core::store::Store;
use companion_core::telemetry::{
    ChartWindow, Incoming, IngestConfig, Telemetry, TelemetrySubscriptions,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

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

/// Mosquitto on a loopback port, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &std::path::Path) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let conf = dir.join("mosquitto.conf");
        let text =
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n");
        std::fs::write(&conf, text).ok()?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::yield_now();
        }
        Some(Self { child, port })
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto_sub` counting messages; sends (count, time of the last) when it exits.
fn mosquitto_sub(port: u16, count: usize) -> (Child, std_mpsc::Receiver<(usize, Instant)>) {
    let (subscribed_tx, subscribed_rx) = std_mpsc::channel();
    let (done_tx, done_rx) = std_mpsc::channel();
    // Line-buffered, so that the SUBACK debug line arrives when it happens.
    let mut child = Command::new("stdbuf")
        .args([
            "-oL",
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "0",
            "-d",
        ])
        .args([
            "-t",
            "dt/companion/+/telemetry",
            "-C",
            &count.to_string(),
            "-W",
            "120",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub runs (apt-get install mosquitto-clients)");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut received = 0;
        let mut last = Instant::now();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("SUBACK") {
                let _ = subscribed_tx.send(());
            } else if line.starts_with('{') {
                received += 1;
                last = Instant::now();
            }
        }
        let _ = done_tx.send((received, last));
    });
    subscribed_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("mosquitto_sub subscribes");
    (child, done_rx)
}

/// The engine's side: rumqttc into the pipeline. Returns (committed, time of the last commit,
/// dropped).
async fn engine_subscriber(
    telemetry: Telemetry,
    port: u16,
    count: usize,
    subscribed: tokio::sync::oneshot::Sender<()>,
) -> (u64, Instant, u64) {
    let mut options = MqttOptions::new("bench-engine", "127.0.0.1", port);
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let subscriptions = TelemetrySubscriptions::default();
    for filter in subscriptions.fleet_filters() {
        client
            .subscribe(filter, QoS::AtMostOnce)
            .await
            .expect("subscribe");
    }
    let (handle, writer, _frames) = telemetry.ingest(IngestConfig::default());
    let run = tokio::spawn(writer.run());
    let mut subscribed = Some(subscribed);
    let mut seen = 0;
    while seen < count {
        let polled = tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await;
        let Ok(Ok(event)) = polled else { break };
        match event {
            Event::Incoming(Packet::SubAck(_)) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                seen += 1;
                let thing = subscriptions
                    .thing_of(&p.topic)
                    .unwrap_or("unknown")
                    .to_owned();
                handle.offer(Incoming {
                    thing,
                    received_ms: now_ms(),
                    topic: p.topic.clone(),
                    payload: p.payload.to_vec(),
                });
            }
            _ => {}
        }
    }
    let dropped = handle.stats().dropped;
    drop(handle);
    let stats = run.await.expect("the loop does not panic");
    (stats.committed_messages, Instant::now(), dropped)
}

/// Publishes `count` 1 KB messages over 100 devices, at `rate` per second (0: flat out).
async fn publish(port: u16, count: usize, rate: u32) {
    let mut options = MqttOptions::new("bench-publisher", "127.0.0.1", port);
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut tick =
        (rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(100.0 / f64::from(rate))));
    for seq in 0..count {
        if seq % 100 == 0
            && let Some(tick) = tick.as_mut()
        {
            tick.tick().await;
        }
        let thing = format!("thermostat-{:04}", seq % DEVICES);
        let topic = format!("dt/companion/{thing}/telemetry");
        client
            .publish(topic, QoS::AtMostOnce, false, payload(&thing, seq))
            .await
            .expect("publish is queued");
    }
    let _ = client.disconnect().await;
    let _ = pump.await;
}

/// One live-stream run: `count` messages at `rate`; prints both rates and their ratio.
async fn live_stream(dir: &std::path::Path, count: usize, rate: u32) {
    let Some(broker) = Mosquitto::start(dir) else {
        report("live stream: skipped, mosquitto is not installed");
        return;
    };
    let path = dir.join(format!("live-{rate}.db"));
    let store = Store::open(&path).await.expect("the store opens");
    let telemetry = Telemetry::new(store.clone(), "live");
    let (mut sub, sub_done) = mosquitto_sub(broker.port, count);
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let engine = tokio::spawn(engine_subscriber(
        telemetry,
        broker.port,
        count,
        subscribed_tx,
    ));
    subscribed_rx.await.expect("the engine subscribes");
    let start = Instant::now();
    publish(broker.port, count, rate).await;
    let (engine_count, engine_last, dropped) = engine.await.expect("the engine side ends");
    let (sub_count, sub_last) = sub_done
        .recv_timeout(Duration::from_secs(130))
        .unwrap_or((0, start));
    let _ = sub.kill();
    let _ = sub.wait();
    let engine_rate = engine_count as f64 / (engine_last - start).as_secs_f64();
    let sub_rate = sub_count as f64 / (sub_last - start).as_secs_f64();
    let pace = if rate == 0 {
        "flat out".to_owned()
    } else {
        format!("{rate} msg/s")
    };
    report(&format!(
        "live stream ({pace}, {count} x 1 KB QoS 0): mosquitto_sub {sub_count} msgs at {sub_rate:.0} msg/s; \
         engine committed {engine_count} (dropped {dropped}) at {engine_rate:.0} msg/s; \
         ratio {:.2}; peak RSS {} MiB",
        engine_rate / sub_rate,
        peak_rss_kib() / 1024
    ));
    store.close().await;
}

/// 10,000 things, half online, a tenth out of sync; list and filter times.
async fn registry(dir: &std::path::Path) {
    let store = Store::open(dir.join("registry.db"))
        .await
        .expect("the store opens");
    let registry = Registry::new(store.clone(), "bench");
    for i in 0..10_000_u64 {
        let name = format!("device-{i:05}");
        let thing = NewThing {
            name: name.clone(),
            source: Source::Imported,
            model: Some(["thermostat", "plug", "light"][(i % 3) as usize].to_owned()),
            attributes: BTreeMap::new(),
        };
        registry.add(&thing, 0).await.expect("added");
        if i % 2 == 0 {
            let event = format!(
                "{{\"clientId\":\"{name}\",\"timestamp\":{},\"eventType\":\"connected\",\
                 \"sessionIdentifier\":\"s\",\"principalIdentifier\":\"p\",\
                 \"ipAddress\":\"10.0.0.1\",\"versionNumber\":0}}",
                1_000 + i
            );
            let topic = format!("$aws/events/presence/connected/{name}");
            registry
                .apply(&topic, event.as_bytes(), 0)
                .await
                .expect("applied");
        }
    }
    let queries = [
        ("all, first page of 200 by name", ThingQuery::default()),
        (
            "online, by last seen",
            ThingQuery {
                filter: ThingFilter::Online,
                sort: companion_core::registry::SortKey::LastSeen,
                descending: true,
                ..ThingQuery::default()
            },
        ),
        (
            "offline",
            ThingQuery {
                filter: ThingFilter::Offline,
                ..ThingQuery::default()
            },
        ),
        (
            "has jobs",
            ThingQuery {
                filter: ThingFilter::HasJobs,
                ..ThingQuery::default()
            },
        ),
        (
            "search \"-07\"",
            ThingQuery {
                search: Some("-07".into()),
                ..ThingQuery::default()
            },
        ),
        (
            "all 10,000",
            ThingQuery {
                limit: 10_000,
                ..ThingQuery::default()
            },
        ),
    ];
    for (what, query) in queries {
        let start = Instant::now();
        let rows = registry.list(&query).await.expect("a list").len();
        report(&format!(
            "registry of 10,000: {what}: {rows} rows in {:.2} ms",
            start.elapsed().as_secs_f64() * 1e3
        ));
    }
    let start = Instant::now();
    let online = registry
        .count(ThingFilter::Online, None)
        .await
        .expect("count");
    report(&format!(
        "registry of 10,000: count online = {online} in {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    ));
    store.close().await;
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
    live_stream(&dir, 20_000, 2_000).await;
    live_stream(&dir, 50_000, 0).await;
    registry(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}
