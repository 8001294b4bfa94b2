//! Provisioning benchmark, run on purpose: `cargo bench -p companion-core --bench provision`.
//!
//! On the local sandbox's simulated radio with 30 ms per GATT operation and an MTU of 185
//! (`LinkModel::benchmark`), and a Wi-Fi join of 0 ms so that it is not counted: one security 2
//! device from connect to online (target ≤ 5 s), then 10 in parallel (target ≤ 2× that).
//! Prints each step's time and the GATT operations it took at 30 ms each.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use companion_core::engine::{DEMO_NETWORK, Engine, EngineConfig};
use companion_core::provision::flow::{Outcome, Proof, Provisioning, Step, StepState, WifiChoice};
use companion_core::provision::{Discovered, TransportKind};
use companion_espprov::{Passphrase, Password};
use companion_sandbox::devices::DeviceKind;
use companion_sandbox::radio::{DeviceSpec, LinkModel, Network, SecuritySpec, WifiBehaviour};

const OP: Duration = Duration::from_millis(30);

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("core-provision-bench-{}", std::process::id()));
    let engine = Engine::start(EngineConfig {
        simulated_devices: 0,
        provisionable_devices: 0,
        ..EngineConfig::local(&dir)
    })
    .await
    .expect("the engine starts");
    let radio = engine.sandbox_radio().expect("the local sandbox's radio");
    radio.set_link_model(LinkModel::benchmark());
    let wifi = WifiBehaviour {
        join_time: Duration::ZERO,
        ..WifiBehaviour::default()
    };
    let mut devices = Vec::new();
    for n in 0..11 {
        let spec = DeviceSpec::new(
            format!("B{n:05}"),
            DeviceKind::Light,
            SecuritySpec::sec2("wifiprov", "bench-secret"),
        )
        .with_network(Network::wpa2(DEMO_NETWORK.0, DEMO_NETWORK.1))
        .with_wifi(wifi.clone());
        let label = radio.add_device(spec).expect("a device in range");
        devices.push(Discovered {
            id: label.id,
            name: label.name,
            rssi: None,
            kind: TransportKind::Simulated,
        });
    }
    let provisioning = engine.provisioning().expect("provisioning").clone();

    let first = devices.remove(0);
    let (total, steps) = run(&provisioning, first).await;
    println!(
        "one security 2 device, connect → online: {:.2} s (target ≤ 5 s, ratio {:.2})",
        total.as_secs_f64(),
        total.as_secs_f64() / 5.0
    );
    for (step, time) in &steps {
        println!(
            "  {:<12} {:>6.0} ms  ≈ {:>3} GATT operations at 30 ms",
            step.name(),
            time.as_secs_f64() * 1000.0,
            (time.as_millis() / OP.as_millis()),
        );
    }

    let started = Instant::now();
    let runs = devices
        .into_iter()
        .map(|device| {
            let provisioning = provisioning.clone();
            tokio::spawn(async move { run(&provisioning, device).await.0 })
        })
        .collect::<Vec<_>>();
    let mut slowest = Duration::ZERO;
    for handle in runs {
        slowest = slowest.max(handle.await.expect("an attempt"));
    }
    let all = started.elapsed();
    println!(
        "10 devices in parallel: all online in {:.2} s, slowest {:.2} s (target ≤ 2 × {:.2} s, ratio {:.2})",
        all.as_secs_f64(),
        slowest.as_secs_f64(),
        total.as_secs_f64(),
        all.as_secs_f64() / (2.0 * total.as_secs_f64())
    );
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Provisions `device` and returns the time from start to online and each step's time.
async fn run(
    provisioning: &Provisioning,
    device: Discovered,
) -> (Duration, BTreeMap<Step, Duration>) {
    let proof = Proof {
        username: Some("wifiprov".into()),
        password: Some(Password::from("bench-secret")),
        scheme: None,
        ..Proof::default()
    };
    let wifi = WifiChoice {
        ssid: DEMO_NETWORK.0.to_owned(),
        passphrase: Passphrase::from(DEMO_NETWORK.1),
    };
    let started = Instant::now();
    let handle = provisioning
        .start(device, proof, Some(wifi))
        .await
        .expect("the attempt starts");
    let mut view = handle.view();
    let mut began: BTreeMap<Step, Instant> = BTreeMap::new();
    let mut took: BTreeMap<Step, Duration> = BTreeMap::new();
    loop {
        let current = view.borrow_and_update().clone();
        for (step, state) in &current.steps {
            match state {
                StepState::Running => {
                    began.entry(*step).or_insert_with(Instant::now);
                }
                StepState::Passed(_) | StepState::Skipped(_) => {
                    if let Some(start) = began.get(step) {
                        took.entry(*step).or_insert_with(|| start.elapsed());
                    }
                }
                _ => {}
            }
        }
        match &current.outcome {
            Outcome::Online { .. } => return (started.elapsed(), took),
            Outcome::Running => {}
            other => panic!("the attempt ended {other:?}: {current:?}"),
        }
        view.changed().await.expect("the attempt runs");
    }
}
