//! The Bluetooth LE transport through the real btleplug code path (btleplug → bluez-async →
//! libdbus → a real `dbus-daemon`) against a fake BlueZ (`companion-fakebluez`, zbus) whose
//! characteristics run companion-espprov's device role.
//!
//! The binary is self-contained (`harness = false`). Run as `cargo test -p companion-core
//! --test ble_fake_bluez`, it starts a private `dbus-daemon` (a throwaway configuration in a
//! temporary directory: no service activation, everything allowed) and re-executes itself with
//! `DBUS_SYSTEM_BUS_ADDRESS` pointing at it, because btleplug reads that variable when it
//! connects and a test may not change its own environment. The scenarios then run one after
//! another on that bus (they share it and the fake BlueZ):
//!
//! * without a system bus, without BlueZ on the bus, and with BlueZ but no adapter, opening the
//!   radio fails with a `NoRadio` error that names the cause;
//! * a scan lists provisioning devices (by advertised service UUID or the `PROV_` name prefix)
//!   strongest first, and `find` returns as soon as a device appears during a scan;
//! * a Security 1 session, the device's Wi-Fi scan (paged) and the Wi-Fi configuration run over
//!   GATT, with endpoints named by 0x2901 user descriptions, or by ESP-IDF's derived UUIDs on
//!   firmware without them; a long value round-trips; a wrong PoP surfaces the ATT error;
//! * a drop before the session reconnects by itself; a drop or a vanishing device in the middle
//!   of an exchange fails at once with `Disconnected`; a slow device fails with `Timeout`.
//!
//! Needs `dbus-daemon` (Debian: `apt-get install -y dbus`, or `cargo xtask setup`).

// This binary is its own test harness: reporting on stdout/stderr is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod provisioning_device;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use companion_core::provision::ble::{
    BleConfig, BleLink, BleRadio, ESP_DEFAULT_SERVICE, ESP_EXAMPLE_SERVICE, MAX_ATTRIBUTE_LEN,
    endpoint_uuid,
};
use companion_core::provision::{ProvLink, Radio, TransportError, TransportKind};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use companion_espprov::wifi::config::StationStatus;
use companion_espprov::wifi::scan::{ScanOptions, ScanRequest};
use companion_fakebluez::{
    Device, DeviceSpec, Endpoint, FakeBluez, Fault, Peripheral, PeripheralFuture, PrivateBus,
    WriteError,
};
use futures::FutureExt;
use provisioning_device::{ECHO, EspDevice, Failure, POP, SSID, handshake, provision, secure};
use tokio::sync::Notify;
use uuid::Uuid;

/// Set (to the temporary directory) inside the private bus; its absence makes the binary
/// start one and re-execute itself.
const INSIDE_VAR: &str = "COMPANION_FAKE_BLUEZ_DIR";
/// Makes the binary open the radio once and print the outcome (see [`probe`]).
const PROBE_ARG: &str = "--open-radio-probe";

const SCENARIOS: &[&str] = &[
    "no_system_bus_is_a_clear_no_radio_error",
    "bluez_not_running_is_a_clear_no_radio_error",
    "no_adapter_is_a_clear_no_radio_error",
    "scan_lists_provisioning_devices_by_service_or_name_strongest_first",
    "find_returns_when_the_device_appears_during_the_scan",
    "sec1_session_wifi_scan_and_config_over_gatt",
    "endpoints_fall_back_to_derived_uuids_without_user_descriptions",
    "a_wrong_pop_is_refused_with_the_att_error",
    "a_drop_before_the_session_reconnects_once",
    "a_disconnect_mid_exchange_fails_at_once_with_disconnected",
    "a_device_that_vanishes_mid_exchange_is_disconnected_then_not_found",
    "a_slow_device_times_out_and_the_link_closes",
];

fn main() -> ExitCode {
    if !cfg!(target_os = "linux") {
        println!("the fake-BlueZ tests drive btleplug's BlueZ backend: Linux only");
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        SCENARIOS.iter().for_each(|name| println!("{name}: test"));
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == PROBE_ARG) {
        return probe();
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !SCENARIOS
            .iter()
            .any(|name| filters.iter().any(|f| name.contains(f.as_str())))
    {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed\n");
        return ExitCode::SUCCESS;
    }
    match std::env::var_os(INSIDE_VAR) {
        None => run_on_private_bus(&args),
        Some(dir) => run_scenarios(PathBuf::from(dir)),
    }
}

// ---------------------------------------------------------------------------------------------
// The harness: a private dbus-daemon, re-execution, a sequential runner.

fn run_on_private_bus(args: &[String]) -> ExitCode {
    let bus = match PrivateBus::start("companion-fake-bluez") {
        Ok(bus) => bus,
        Err(error) => {
            eprintln!("the BLE tests need a private D-Bus: {error}");
            return ExitCode::FAILURE;
        }
    };
    let status = Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env(INSIDE_VAR, bus.dir())
        .status();
    if !status.as_ref().is_ok_and(std::process::ExitStatus::success) {
        eprintln!("dbus-daemon's log:\n{}", bus.log());
    }
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the BLE tests failed on their private D-Bus ({status})");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("could not re-execute the test binary: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the radio in a process whose environment the parent chose and prints the error.
fn probe() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(BleRadio::open(BleConfig::default())) {
        Ok(radio) => println!("opened {}", radio.adapter_description()),
        Err(error) => println!("{error:?} / {error}"),
    }
    ExitCode::SUCCESS
}

struct Runner {
    passed: usize,
    failed: Vec<&'static str>,
}

impl Runner {
    async fn step(&mut self, name: &'static str, scenario: impl Future<Output = ()>) {
        if !self.failed.is_empty() {
            println!("test {name} ... ignored (an earlier scenario failed)");
            return;
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            Duration::from_secs(20),
            AssertUnwindSafe(scenario).catch_unwind(),
        )
        .await;
        let verdict = match outcome {
            Ok(Ok(())) => {
                self.passed += 1;
                "ok"
            }
            Ok(Err(_)) => {
                self.failed.push(name);
                "FAILED"
            }
            Err(_) => {
                eprintln!("{name} did not finish within 20 s");
                self.failed.push(name);
                "FAILED (hung)"
            }
        };
        println!(
            "test {name} ... {verdict} ({} ms)",
            started.elapsed().as_millis()
        );
    }
}

fn run_scenarios(dir: PathBuf) -> ExitCode {
    let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").expect("the private bus address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "\nrunning {} tests (btleplug against a fake BlueZ on a private D-Bus)",
        SCENARIOS.len()
    );
    let started = Instant::now();
    let mut runner = Runner {
        passed: 0,
        failed: Vec::new(),
    };
    runtime.block_on(scenarios(&mut runner, &bus, &dir));
    let outcome = if runner.failed.is_empty() {
        "ok"
    } else {
        "FAILED"
    };
    println!(
        "\ntest result: {outcome}. {} passed; {} failed; finished in {:.2}s\n",
        runner.passed,
        runner.failed.len(),
        started.elapsed().as_secs_f64()
    );
    if runner.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// The devices behind the fake BlueZ (companion-fakebluez): espprov's device role.

/// A provisioning service an application chose (not one of ESP-IDF's), advertised by
/// `kitchen-sensor` and configured in [`test_config`].
const CUSTOM_SERVICE: Uuid = Uuid::from_u128(0x6e400001_b5a3_f393_e0a9_e50e24dcca9e);

/// The firmware behind a fake device's characteristics.
struct EspPeripheral(Mutex<EspDevice>);

impl EspPeripheral {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(EspDevice::sec1(6))))
    }

    fn esp(&self) -> std::sync::MutexGuard<'_, EspDevice> {
        self.0.lock().expect("device state")
    }
}

impl Peripheral for EspPeripheral {
    fn connect(&self) -> PeripheralFuture<'_, Result<(), String>> {
        // A new connection is a new protocomm transport session.
        self.esp().close_session();
        Box::pin(async { Ok(()) })
    }

    fn disconnect(&self) -> PeripheralFuture<'_, ()> {
        self.esp().close_session();
        Box::pin(async {})
    }

    fn write(
        &self,
        endpoint: &str,
        value: Vec<u8>,
    ) -> PeripheralFuture<'_, Result<Vec<u8>, WriteError>> {
        let answer = self
            .esp()
            .handle(endpoint, &value)
            .map_err(|_| WriteError::Refused);
        Box::pin(async move { answer })
    }
}

/// How a test device lays out its GATT database.
struct TestDevice {
    name: &'static str,
    address: &'static str,
    rssi: i16,
    advertised: Vec<Uuid>,
    /// The provisioning service, if any.
    service: Option<Uuid>,
    /// Whether each endpoint characteristic carries a 0x2901 user description. Without them
    /// the characteristics sit at ESP-IDF's derived UUIDs; with them at UUIDs that only the
    /// descriptors can name (and a custom `echo` endpoint is added).
    descriptors: bool,
}

/// Puts `device` on the fake BlueZ with a fresh firmware behind it.
async fn add_device(bluez: &FakeBluez, device: TestDevice) -> (Arc<Device>, Arc<EspPeripheral>) {
    let mut names: Vec<(&'static str, u16)> = vec![
        (PROV_CTRL, 0xff4f),
        (PROV_SCAN, 0xff50),
        (PROV_SESSION, 0xff51),
        (PROV_CONFIG, 0xff52),
        (PROTO_VER, 0xff53),
    ];
    if device.descriptors {
        names.push((ECHO, 0xff54));
    }
    let service = device.service.map(|service_uuid| {
        let endpoints = names
            .into_iter()
            .map(|(name, id)| Endpoint {
                name: name.to_owned(),
                uuid: if device.descriptors {
                    // Not ESP-IDF's derived UUIDs: only the descriptors can name these.
                    Uuid::from_u128(0xa5e10000_0000_4000_8000_000000000000 | u128::from(id))
                } else {
                    endpoint_uuid(service_uuid, id)
                },
            })
            .collect();
        (service_uuid, endpoints)
    });
    let spec = DeviceSpec {
        name: device.name.to_owned(),
        address: device.address.to_owned(),
        rssi: device.rssi,
        advertised: device.advertised,
        service,
        descriptors: device.descriptors,
    };
    let firmware = EspPeripheral::new();
    let added = bluez
        .add_device(spec, firmware.clone())
        .await
        .expect("the device is on the bus");
    (added, firmware)
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

fn test_config() -> BleConfig {
    BleConfig {
        service_uuids: vec![CUSTOM_SERVICE],
        connect_timeout: Duration::from_secs(5),
        discovery_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(5),
        ..BleConfig::default()
    }
}

fn probe_output(dir: &std::path::Path) -> String {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .arg(PROBE_ARG)
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            format!("unix:path={}", dir.join("no-such-bus").display()),
        )
        .stdin(Stdio::null())
        .output()
        .expect("the probe runs");
    assert!(
        output.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn expect_no_radio(result: Result<BleRadio, TransportError>, cause: &str) {
    match result {
        Err(TransportError::NoRadio(message)) => {
            assert!(message.contains(cause), "{message}");
        }
        other => panic!("expected NoRadio ({cause}): {other:?}"),
    }
}

async fn open_link(radio: &BleRadio, id: &str) -> BleLink {
    match radio.open_link(id).await {
        Ok(link) => link,
        Err(error) => panic!("connecting to {id} failed: {error}"),
    }
}

fn transport_error<T: std::fmt::Debug>(result: Result<T, Failure>) -> TransportError {
    match result {
        Err(Failure::Transport(_, error)) => error,
        other => panic!("expected a transport error: {other:?}"),
    }
}

async fn scenarios(runner: &mut Runner, bus: &str, dir: &std::path::Path) {
    runner
        .step("no_system_bus_is_a_clear_no_radio_error", async {
            let printed = probe_output(dir);
            assert!(printed.starts_with("NoRadio"), "{printed}");
            assert!(printed.contains("D-Bus system bus"), "{printed}");
        })
        .await;

    runner
        .step("bluez_not_running_is_a_clear_no_radio_error", async {
            expect_no_radio(BleRadio::open(test_config()).await, "bluetoothd");
        })
        .await;

    let bluez = FakeBluez::start(bus)
        .await
        .expect("the fake BlueZ connects to the private bus");

    runner
        .step("no_adapter_is_a_clear_no_radio_error", async {
            expect_no_radio(BleRadio::open(test_config()).await, "no Bluetooth adapter");
        })
        .await;

    bluez.add_adapter().await.expect("adapter");
    let (provisioner, provisioner_firmware) = add_device(
        &bluez,
        TestDevice {
            name: "PROV_1A2B3C",
            address: "24:0A:C4:1A:2B:3C",
            rssi: -58,
            advertised: vec![ESP_DEFAULT_SERVICE],
            service: Some(ESP_DEFAULT_SERVICE),
            descriptors: true,
        },
    )
    .await;
    let (_, old_firmware) = add_device(
        &bluez,
        TestDevice {
            name: "PROV_0LD001",
            address: "24:0A:C4:00:00:01",
            rssi: -71,
            advertised: Vec::new(),
            service: Some(ESP_EXAMPLE_SERVICE),
            descriptors: false,
        },
    )
    .await;
    add_device(
        &bluez,
        TestDevice {
            name: "kitchen-sensor",
            address: "24:0A:C4:77:77:77",
            rssi: -64,
            advertised: vec![CUSTOM_SERVICE],
            service: Some(CUSTOM_SERVICE),
            descriptors: true,
        },
    )
    .await;
    add_device(
        &bluez,
        TestDevice {
            name: "Headphones",
            address: "0C:A6:94:12:34:56",
            rssi: -40,
            advertised: vec![Uuid::from_u128(0x0000110b_0000_1000_8000_00805f9b34fb)],
            service: None,
            descriptors: false,
        },
    )
    .await;
    let radio = BleRadio::open(test_config())
        .await
        .expect("the radio opens on the fake BlueZ");
    let mut ids: HashMap<String, String> = HashMap::new();

    runner
        .step(
            "scan_lists_provisioning_devices_by_service_or_name_strongest_first",
            async {
                assert!(radio.adapter_description().starts_with("hci0"));
                let found = radio.scan(Duration::from_millis(300)).await.expect("scan");
                let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
                assert_eq!(names, ["PROV_1A2B3C", "kitchen-sensor", "PROV_0LD001"]);
                assert_eq!(found[0].rssi, Some(-58));
                assert!(found.iter().all(|d| d.kind == TransportKind::Ble));
                assert!(bluez.adapter().is_powered());
                assert!(!bluez.adapter().is_discovering(), "scan stopped");
                ids.extend(found.into_iter().map(|d| (d.name, d.id)));
            },
        )
        .await;

    runner
        .step(
            "find_returns_when_the_device_appears_during_the_scan",
            async {
                let mut starts = bluez.adapter().discovery_starts();
                let before = *starts.borrow_and_update();
                let late = bluez.clone();
                let appear = tokio::spawn(async move {
                    let _ = starts.wait_for(|n| *n > before).await;
                    add_device(
                        &late,
                        TestDevice {
                            name: "PROV_E5E5E5",
                            address: "24:0A:C4:E5:E5:E5",
                            rssi: -66,
                            advertised: vec![ESP_DEFAULT_SERVICE],
                            service: Some(ESP_DEFAULT_SERVICE),
                            descriptors: true,
                        },
                    )
                    .await;
                });
                let started = Instant::now();
                let found = radio
                    .find("PROV_E5E5E5", Duration::from_secs(10))
                    .await
                    .expect("found while scanning");
                assert_eq!(found.rssi, Some(-66));
                assert!(started.elapsed() < Duration::from_secs(5));
                appear.await.expect("the device was added");
                assert!(!bluez.adapter().is_discovering(), "scan stopped");
                assert!(matches!(
                    radio.find("PROV_NOWHERE", Duration::from_millis(300)).await,
                    Err(TransportError::NotFound(_))
                ));
            },
        )
        .await;

    let provisioner_id = ids.get("PROV_1A2B3C").cloned().unwrap_or_default();
    let old_firmware_id = ids.get("PROV_0LD001").cloned().unwrap_or_default();

    runner
        .step("sec1_session_wifi_scan_and_config_over_gatt", async {
            let link = open_link(&radio, &provisioner_id).await;
            assert_eq!(
                link.endpoints(),
                [
                    ECHO,
                    PROTO_VER,
                    PROV_CONFIG,
                    PROV_CTRL,
                    PROV_SCAN,
                    PROV_SESSION
                ]
            );
            assert_eq!(link.service().await, ESP_DEFAULT_SERVICE);
            assert_eq!(link.mtu(), 185);
            let mut done = match provision(&link, POP).await {
                Ok(done) => done,
                Err(failure) => panic!("provisioning failed: {failure:?}"),
            };
            assert!(
                matches!(done.status, StationStatus::Connected(ref info) if info.ssid == SSID),
                "{:?}",
                done.status
            );
            assert_eq!(done.networks.len(), 6);
            assert_eq!(
                provisioner_firmware.esp().configured_ssid(),
                Some(SSID.to_vec())
            );

            // A value as long as an attribute may be, through a custom endpoint.
            let message: Vec<u8> = (0..MAX_ATTRIBUTE_LEN).map(|i| (i % 251) as u8).collect();
            let echoed = secure(&link, &mut done.session, ECHO, &message, "echo")
                .await
                .expect("echo");
            assert_eq!(echoed, message.iter().rev().copied().collect::<Vec<u8>>());
            match link.exchange(ECHO, vec![0; MAX_ATTRIBUTE_LEN + 1]).await {
                Err(TransportError::Io(message)) => assert!(message.contains("512"), "{message}"),
                other => panic!("expected a refusal: {other:?}"),
            }
            assert_eq!(
                link.exchange("no-such-endpoint", b"x".to_vec()).await,
                Err(TransportError::NoEndpoint("no-such-endpoint".into()))
            );
            let write_types = provisioner.write_types();
            assert!(!write_types.is_empty());
            assert!(
                write_types.iter().all(|t| t == "request"),
                "every write is a write with response: {write_types:?}"
            );
            assert_eq!(provisioner.longest_write(), MAX_ATTRIBUTE_LEN);

            let disconnects = provisioner.disconnects();
            link.close().await.expect("close");
            assert_eq!(provisioner.disconnects(), disconnects + 1);
            assert!(matches!(
                link.exchange(PROTO_VER, b"ESP".to_vec()).await,
                Err(TransportError::Disconnected(_))
            ));
        })
        .await;

    runner
        .step(
            "endpoints_fall_back_to_derived_uuids_without_user_descriptions",
            async {
                let link = open_link(&radio, &old_firmware_id).await;
                assert_eq!(
                    link.endpoints(),
                    [PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION]
                );
                assert_eq!(link.service().await, ESP_EXAMPLE_SERVICE);
                let done = provision(&link, POP).await;
                assert!(done.is_ok(), "{done:?}");
                assert_eq!(old_firmware.esp().configured_ssid(), Some(SSID.to_vec()));
                link.close().await.expect("close");
            },
        )
        .await;

    runner
        .step("a_wrong_pop_is_refused_with_the_att_error", async {
            let link = open_link(&radio, &provisioner_id).await;
            match transport_error(handshake(&link, "not-the-pop").await) {
                TransportError::Io(message) => {
                    assert!(message.contains("ATT error: 0x04"), "{message}");
                    assert!(message.contains("proof of possession"), "{message}");
                }
                other => panic!("expected the ATT error: {other:?}"),
            }
            link.close().await.expect("close");
        })
        .await;

    runner
        .step("a_drop_before_the_session_reconnects_once", async {
            let link = open_link(&radio, &provisioner_id).await;
            let connects = provisioner.connects();
            link.exchange(PROTO_VER, b"ESP".to_vec())
                .await
                .expect("version");
            provisioner.drop_link().await;
            // Whether the link hears of the drop first or its write meets it, it reconnects.
            let version = link.exchange(PROTO_VER, b"ESP".to_vec()).await;
            assert!(version.is_ok(), "{version:?}");
            assert_eq!(provisioner.connects(), connects + 1);
            let session = handshake(&link, POP).await;
            assert!(session.is_ok(), "{session:?}");
            link.close().await.expect("close");
        })
        .await;

    runner
        .step(
            "a_disconnect_mid_exchange_fails_at_once_with_disconnected",
            async {
                let link = open_link(&radio, &provisioner_id).await;
                let mut session = handshake(&link, POP).await.expect("handshake");
                let release = Arc::new(Notify::new());
                provisioner.set_fault(Some(Fault::DropAndHang(PROV_SCAN.into(), release.clone())));
                let started = Instant::now();
                let start = ScanRequest::Start(ScanOptions::ble()).encode();
                let error =
                    transport_error(secure(&link, &mut session, PROV_SCAN, &start, "scan").await);
                assert!(
                    matches!(error, TransportError::Disconnected(_)),
                    "{error:?}"
                );
                // Long before the 5 s operation timeout: the disconnect event ended the wait.
                assert!(
                    started.elapsed() < Duration::from_secs(3),
                    "{:?}",
                    started.elapsed()
                );
                // The session was bound to that connection: the link stays closed.
                match link.exchange(PROTO_VER, b"ESP".to_vec()).await {
                    Err(TransportError::Disconnected(message)) => {
                        assert!(message.contains("new session"), "{message}");
                    }
                    other => panic!("expected Disconnected: {other:?}"),
                }
                release.notify_one();
                provisioner.set_fault(None);
                link.close().await.expect("close");
            },
        )
        .await;

    runner
        .step(
            "a_device_that_vanishes_mid_exchange_is_disconnected_then_not_found",
            async {
                let (vanishing, _) = add_device(
                    &bluez,
                    TestDevice {
                        name: "PROV_F00D01",
                        address: "24:0A:C4:F0:0D:01",
                        rssi: -80,
                        advertised: vec![ESP_DEFAULT_SERVICE],
                        service: Some(ESP_DEFAULT_SERVICE),
                        descriptors: true,
                    },
                )
                .await;
                let found = radio
                    .find("PROV_F00D01", Duration::from_secs(5))
                    .await
                    .expect("found");
                let link = open_link(&radio, &found.id).await;
                let mut session = handshake(&link, POP).await.expect("handshake");
                vanishing.set_fault(Some(Fault::Vanish(PROV_CONFIG.into())));
                let status = companion_espprov::wifi::config::ConfigRequest::GetStatus.encode();
                let error = transport_error(
                    secure(&link, &mut session, PROV_CONFIG, &status, "status").await,
                );
                assert!(
                    matches!(error, TransportError::Disconnected(_)),
                    "{error:?}"
                );
                match radio.open_link(&found.id).await {
                    Err(TransportError::NotFound(id)) => assert_eq!(id, found.id),
                    other => panic!("expected NotFound: {other:?}"),
                }
                link.close().await.expect("close");
            },
        )
        .await;

    runner
        .step("a_slow_device_times_out_and_the_link_closes", async {
            let impatient = BleRadio::open(BleConfig {
                operation_timeout: Duration::from_millis(400),
                ..test_config()
            })
            .await
            .expect("radio");
            let link = open_link(&impatient, &provisioner_id).await;
            let release = Arc::new(Notify::new());
            provisioner.set_fault(Some(Fault::SlowRead(PROTO_VER.into(), release.clone())));
            let disconnects = provisioner.disconnects();
            match link.exchange(PROTO_VER, b"ESP".to_vec()).await {
                Err(TransportError::Timeout { what, after }) => {
                    assert_eq!(after, Duration::from_millis(400));
                    assert!(what.contains(PROTO_VER), "{what}");
                }
                other => panic!("expected a timeout: {other:?}"),
            }
            // The link hung up: the device may still act on the request.
            assert_eq!(provisioner.disconnects(), disconnects + 1);
            assert!(matches!(
                link.exchange(PROTO_VER, b"ESP".to_vec()).await,
                Err(TransportError::Disconnected(m)) if m.contains("timeout")
            ));
            release.notify_one();
            provisioner.set_fault(None);
            link.close().await.expect("close");
        })
        .await;
}
