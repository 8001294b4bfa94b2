//! Shadow service benchmark: `cargo bench -p companion-sandbox --bench shadow`.
//!
//! Prints, for the embedded broker on loopback:
//! 1. round trips: a raw MQTT publish→receive on the same broker, and a shadow
//!    update→update/accepted, as p50/p99 and their ratios (targets p50 ≤ 1.5×, p99 ≤ 3×);
//! 2. accepted shadow updates per second across 1,000 things (target ≥ 5,000/s).
//!
//! Set `BENCH_ROUND_TRIPS` and `BENCH_UPDATES` to change the sample sizes.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark binary reports and fails loudly"
)]

use std::time::{Duration, Instant};

use companion_sandbox::connect::{Endpoint, from_options, mqtt_options};
use companion_sandbox::{Sandbox, SandboxConfig};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde_json::json;

const THINGS: usize = 1_000;
const CLIENTS: usize = 10;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("companion-bench-{}", std::process::id()));
    let sandbox = Sandbox::start(SandboxConfig::new(&dir))
        .await
        .expect("the sandbox starts");
    let endpoint = sandbox.plain_endpoint();
    let round_trips = env_or("BENCH_ROUND_TRIPS", 2_000);
    let updates = env_or("BENCH_UPDATES", 50_000);

    println!("shadow benchmark: embedded broker on loopback, plain TCP, QoS 1");
    let raw = raw_round_trips(&endpoint, round_trips).await;
    let shadow = shadow_round_trips(&endpoint, round_trips).await;
    report_round_trips(&raw, &shadow);
    let rate = throughput(&endpoint, updates).await;
    println!(
        "throughput: {rate:.0} accepted shadow updates/s across {THINGS} things ({CLIENTS} clients, {updates} updates); target ≥ 5000/s → {}",
        if rate >= 5_000.0 { "met" } else { "NOT met" }
    );
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn client(endpoint: &Endpoint, id: &str, capacity: usize) -> (AsyncClient, EventLoop) {
    let mut options = mqtt_options(id, endpoint).unwrap();
    options.set_inflight(100);
    from_options(options, capacity).unwrap()
}

/// Polls until a publish arrives on `topic`; returns its payload.
async fn next_publish(events: &mut EventLoop, topic: &str) -> Vec<u8> {
    loop {
        if let Event::Incoming(Packet::Publish(publish)) =
            events.poll().await.expect("broker connection")
            && publish.topic == topic
        {
            return publish.payload.to_vec();
        }
    }
}

async fn subscribed(client: &AsyncClient, events: &mut EventLoop, filter: &str) {
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.expect("broker connection")
        {
            return;
        }
    }
}

async fn raw_round_trips(endpoint: &Endpoint, n: usize) -> Vec<Duration> {
    let (client, mut events) = client(endpoint, "bench-raw", 16).await;
    let topic = "bench/raw/echo";
    subscribed(&client, &mut events, topic).await;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        client
            .publish(topic, QoS::AtLeastOnce, false, format!("{{\"n\":{i}}}"))
            .await
            .unwrap();
        next_publish(&mut events, topic).await;
        samples.push(started.elapsed());
    }
    samples
}

async fn shadow_round_trips(endpoint: &Endpoint, n: usize) -> Vec<Duration> {
    let (client, mut events) = client(endpoint, "bench-shadow", 16).await;
    let accepted = "$aws/things/bench-rtt/shadow/update/accepted";
    subscribed(&client, &mut events, accepted).await;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let token = format!("t{i}");
        let body = json!({"state": {"reported": {"n": i}}, "clientToken": token}).to_string();
        let started = Instant::now();
        client
            .publish(
                "$aws/things/bench-rtt/shadow/update",
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await
            .unwrap();
        loop {
            let payload = next_publish(&mut events, accepted).await;
            let reply: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            if reply["clientToken"] == token.as_str() {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    samples
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank]
}

fn report_round_trips(raw: &[Duration], shadow: &[Duration]) {
    let (mut raw, mut shadow) = (raw.to_vec(), shadow.to_vec());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (raw50, raw99) = (percentile(&mut raw, 0.50), percentile(&mut raw, 0.99));
    let (sh50, sh99) = (percentile(&mut shadow, 0.50), percentile(&mut shadow, 0.99));
    println!("round trips ({} each):", raw.len());
    println!(
        "  raw publish→receive       p50 {:.3} ms  p99 {:.3} ms",
        ms(raw50),
        ms(raw99)
    );
    println!(
        "  shadow update→accepted    p50 {:.3} ms  p99 {:.3} ms",
        ms(sh50),
        ms(sh99)
    );
    let (r50, r99) = (ms(sh50) / ms(raw50), ms(sh99) / ms(raw99));
    println!(
        "  ratio shadow/raw          p50 {r50:.2}× (target ≤ 1.5×)  p99 {r99:.2}× (target ≤ 3×)"
    );
}

/// `updates` reported-state updates spread over `THINGS` things by `CLIENTS` clients at once;
/// the rate counts update/accepted messages received.
async fn throughput(endpoint: &Endpoint, updates: usize) -> f64 {
    let (watcher, mut watch_events) = client(endpoint, "bench-watch", 16).await;
    subscribed(
        &watcher,
        &mut watch_events,
        "$aws/things/+/shadow/update/accepted",
    )
    .await;
    let counter = tokio::spawn(async move {
        let mut seen = 0usize;
        let mut first: Option<Instant> = None;
        while seen < updates {
            if let Event::Incoming(Packet::Publish(_)) =
                watch_events.poll().await.expect("watcher connection")
            {
                first.get_or_insert_with(Instant::now);
                seen += 1;
            }
        }
        first.map_or(0.0, |first| seen as f64 / first.elapsed().as_secs_f64())
    });
    let per_client = updates / CLIENTS;
    let mut senders = Vec::new();
    for c in 0..CLIENTS {
        let (client, mut events) = client(endpoint, &format!("bench-load-{c}"), 1_000).await;
        senders.push(tokio::spawn(async move {
            let driver = tokio::spawn(async move { while events.poll().await.is_ok() {} });
            for i in 0..per_client {
                let thing = (c * per_client + i) % THINGS;
                let body = json!({"state": {"reported": {"n": i}}}).to_string();
                client
                    .publish(
                        format!("$aws/things/bench-{thing:04}/shadow/update"),
                        QoS::AtLeastOnce,
                        false,
                        body,
                    )
                    .await
                    .unwrap();
            }
            (client, driver)
        }));
    }
    let mut keep = Vec::new();
    for sender in senders {
        keep.push(sender.await.unwrap());
    }
    let rate = tokio::time::timeout(Duration::from_secs(300), counter)
        .await
        .expect("every update answered within 5 min")
        .unwrap();
    for (client, driver) in keep {
        let _ = client.disconnect().await;
        driver.abort();
    }
    rate
}
