//! `companion ble scan` and `companion provision --transport ble` through the real btleplug
//! code path: the command runs with `DBUS_SYSTEM_BUS_ADDRESS` pointing at a private
//! `dbus-daemon`, on which this test serves a fake BlueZ (`companion-fakebluez`) whose devices
//! are the running sandbox's simulated devices, reached over the sandbox's radio server. The
//! link model (latency per GATT operation, MTU, drops) still runs in the sandbox; BlueZ's
//! side (scan, connect, 0x2901 descriptors, write with response then read) is btleplug's.
//!
//! Needs `dbus-daemon` (Debian: `apt-get install -y dbus`, or `cargo xtask setup`).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use common::{COMPANION, output_with_stdin};
use companion_core::provision::ble::{ESP_DEFAULT_SERVICE, endpoint_uuid};
use companion_core::provision::simulated::{SandboxLink, SandboxRadio};
use companion_core::provision::{ProvLink, TransportError};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use companion_fakebluez::{
    DeviceSpec, Endpoint, FakeBluez, Peripheral, PeripheralFuture, PrivateBus, WriteError,
};
use companion_sandbox::radio::http::ScanEntry;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Mutex;

/// A sandbox device behind the fake BlueZ: BlueZ's connect opens a link on the sandbox's
/// radio, writes are exchanges on it, and a disconnect closes it.
struct SandboxPeripheral {
    radio: SandboxRadio,
    id: String,
    link: Arc<Mutex<Option<SandboxLink>>>,
    /// The sandbox link is tokio I/O, and zbus may call from its own executor.
    runtime: Handle,
}

impl Peripheral for SandboxPeripheral {
    fn connect(&self) -> PeripheralFuture<'_, Result<(), String>> {
        let (radio, id, link) = (self.radio.clone(), self.id.clone(), self.link.clone());
        let opened = self.runtime.spawn(async move {
            let opened = radio.open_link(&id).await.map_err(|e| e.to_string())?;
            *link.lock().await = Some(opened);
            Ok(())
        });
        Box::pin(async move { opened.await.map_err(|e| e.to_string())? })
    }

    fn disconnect(&self) -> PeripheralFuture<'_, ()> {
        let link = self.link.clone();
        let closed = self.runtime.spawn(async move {
            if let Some(link) = link.lock().await.take() {
                let _ = link.close().await;
            }
        });
        Box::pin(async move {
            let _ = closed.await;
        })
    }

    fn write(
        &self,
        endpoint: &str,
        value: Vec<u8>,
    ) -> PeripheralFuture<'_, Result<Vec<u8>, WriteError>> {
        let (link, endpoint) = (self.link.clone(), endpoint.to_owned());
        let answered = self.runtime.spawn(async move {
            let held = link.lock().await;
            let Some(open) = held.as_ref() else {
                return Err(WriteError::Dropped("no link".into()));
            };
            match open.exchange(&endpoint, value).await {
                Ok(answer) => Ok(answer),
                Err(TransportError::Disconnected(reason)) => Err(WriteError::Dropped(reason)),
                Err(_) => Err(WriteError::Refused),
            }
        });
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|e| Err(WriteError::Dropped(e.to_string())))
        })
    }
}

/// The characteristic UUID for `name`: ESP-IDF's for the standard endpoints, the next ones for
/// custom endpoints (named by their 0x2901 descriptors).
fn characteristic(name: &str, custom_index: &mut u16) -> Endpoint {
    let id = match name {
        PROV_CTRL => 0xff4f,
        PROV_SCAN => 0xff50,
        PROV_SESSION => 0xff51,
        PROV_CONFIG => 0xff52,
        PROTO_VER => 0xff53,
        _ => {
            *custom_index += 1;
            0xff53 + *custom_index
        }
    };
    Endpoint {
        name: name.to_owned(),
        uuid: endpoint_uuid(ESP_DEFAULT_SERVICE, id),
    }
}

/// The sandbox's advertising devices on a fake BlueZ on `bus`.
async fn fake_bluez(bus: &PrivateBus, radio: &SandboxRadio, entries: Vec<ScanEntry>) -> FakeBluez {
    let bluez = FakeBluez::start(bus.address()).await.unwrap();
    bluez.add_adapter().await.unwrap();
    for entry in entries {
        let mut custom = 0;
        let endpoints = entry
            .endpoints
            .iter()
            .map(|name| characteristic(name, &mut custom))
            .collect();
        let spec = DeviceSpec {
            name: entry.name.clone(),
            address: entry.id.clone(),
            rssi: entry.rssi,
            advertised: vec![ESP_DEFAULT_SERVICE],
            service: Some((ESP_DEFAULT_SERVICE, endpoints)),
            descriptors: true,
        };
        let peripheral = SandboxPeripheral {
            radio: radio.clone(),
            id: entry.id,
            link: Arc::default(),
            runtime: Handle::current(),
        };
        bluez.add_device(spec, Arc::new(peripheral)).await.unwrap();
    }
    bluez
}

fn radio_of(sandbox: &common::Running) -> SandboxRadio {
    let radio = &sandbox.endpoints["radio"];
    let address: SocketAddr = format!(
        "{}:{}",
        radio["host"].as_str().unwrap(),
        radio["port"].as_u64().unwrap()
    )
    .parse()
    .unwrap();
    SandboxRadio::new(address)
}

/// Runs `companion args…` on the private bus, against the sandbox, with `stdin`.
fn on_bus(args: &[&str], stdin: &str, bus: &PrivateBus, sandbox: &common::Running) -> Output {
    let mut command = Command::new(COMPANION);
    command
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env("COMPANION_SANDBOX_DIR", &sandbox.data_dir)
        .env("COMPANION_DATA_DIR", sandbox.data_dir.join("cli"));
    output_with_stdin(command, stdin)
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn ble_transport_takes_a_sandbox_light_online_through_btleplug_on_a_fake_bluez() {
    let sandbox = common::start("provision-ble");
    let bus = PrivateBus::start("companion-cli-ble").unwrap();
    let runtime = Runtime::new().unwrap();
    let radio = radio_of(&sandbox);
    let entries = runtime
        .block_on(radio.scan_entries(std::time::Duration::ZERO))
        .unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    let _bluez = runtime.block_on(fake_bluez(&bus, &radio, entries));

    let scan = on_bus(
        &["ble", "scan", "--window", "1", "--json"],
        "",
        &bus,
        &sandbox,
    );
    let (stdout, stderr) = text(&scan);
    assert_eq!(
        scan.status.code(),
        Some(0),
        "{stdout}{stderr}\n{}",
        bus.log()
    );
    let seen: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let seen = seen.as_array().unwrap();
    assert_eq!(seen.len(), 3, "{stdout}");
    assert!(
        seen.windows(2)
            .all(|w| w[0]["rssi"].as_i64() >= w[1]["rssi"].as_i64()),
        "strongest first: {stdout}"
    );

    let boxes = sandbox.endpoints["boxes"].as_array().unwrap();
    let light = boxes.iter().find(|b| b["model"] == "light").unwrap();
    let output = on_bus(
        &[
            "provision",
            "--transport",
            "ble",
            "--device",
            light["name"].as_str().unwrap(),
            "--username",
            light["username"].as_str().unwrap(),
            "--password-stdin",
            "--ssid",
            sandbox.endpoints["network"]["ssid"].as_str().unwrap(),
            "--wifi-password-stdin",
        ],
        &format!(
            "{}\n{}\n",
            light["pop"].as_str().unwrap(),
            sandbox.endpoints["network"]["passphrase"].as_str().unwrap()
        ),
        &bus,
        &sandbox,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("security 2, takes an AWS IoT identity"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("✓ credentials  Identity installed: thing light-")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("✓ online ")),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("is online."), "{stdout}");
    let secret = light["pop"].as_str().unwrap();
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}
