//! The Bluetooth LE transport through the real btleplug code path (btleplug → bluez-async →
//! libdbus → a real `dbus-daemon`) against a fake BlueZ served from this test with zbus, whose
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

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use companion_core::provision::ble::{
    BleConfig, BleLink, BleRadio, ESP_DEFAULT_SERVICE, ESP_EXAMPLE_SERVICE, MAX_ATTRIBUTE_LEN,
    USER_DESCRIPTION, endpoint_uuid,
};
use companion_core::provision::{ProvLink, Radio, TransportError, TransportKind};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use companion_espprov::wifi::config::StationStatus;
use companion_espprov::wifi::scan::{ScanOptions, ScanRequest};
use futures::FutureExt;
use provisioning_device::{ECHO, EspDevice, Failure, POP, SSID, handshake, provision, secure};
use tokio::sync::{Notify, watch};
use uuid::Uuid;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, ObjectServer, interface};

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

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// dbus-daemon's complaints (e.g. that it may not raise its fd limit) go to a file, shown
/// when the tests fail.
fn log_file(dir: &std::path::Path) -> Stdio {
    std::fs::File::create(dir.join("dbus-daemon.log")).map_or_else(|_| Stdio::null(), Stdio::from)
}

fn run_on_private_bus(args: &[String]) -> ExitCode {
    if find_program("dbus-daemon").is_none() {
        eprintln!(
            "the BLE tests need `dbus-daemon`, which is not installed: run `apt-get install -y dbus` (or `cargo xtask setup`) and try again"
        );
        return ExitCode::FAILURE;
    }
    let dir = std::env::temp_dir().join(format!("companion-fake-bluez-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>companion-test</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.join("bus").display()
        ),
    )
    .expect("bus config");
    let child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--nopidfile", "--print-address=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(&dir))
        .spawn();
    let mut daemon = match child {
        Ok(child) => Daemon(child),
        Err(error) => {
            eprintln!("could not start dbus-daemon: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut address = String::new();
    let stdout = daemon.0.stdout.take().expect("piped stdout");
    if BufReader::new(stdout).read_line(&mut address).is_err() || address.trim().is_empty() {
        eprintln!("dbus-daemon printed no address");
        return ExitCode::FAILURE;
    }
    let status = Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", address.trim())
        .env(INSIDE_VAR, &dir)
        .status();
    drop(daemon);
    if !status.as_ref().is_ok_and(std::process::ExitStatus::success) {
        let log = std::fs::read_to_string(dir.join("dbus-daemon.log")).unwrap_or_default();
        eprintln!("dbus-daemon's log:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
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
// The fake BlueZ.

const ADAPTER_PATH: &str = "/org/bluez/hci0";
const DEVICE1: &str = "org.bluez.Device1";
/// A provisioning service an application chose (not one of ESP-IDF's), advertised by
/// `kitchen-sensor` and configured in [`test_config`].
const CUSTOM_SERVICE: Uuid = Uuid::from_u128(0x6e400001_b5a3_f393_e0a9_e50e24dcca9e);

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.bluez.Error")]
enum BluezError {
    #[zbus(error)]
    ZBus(zbus::Error),
    Failed(String),
    NotPermitted(String),
}

fn not_connected() -> BluezError {
    BluezError::Failed("Not connected".into())
}

async fn emit_changed(
    conn: &Connection,
    path: &str,
    interface: &'static str,
    changed: HashMap<&str, Value<'_>>,
) -> zbus::Result<()> {
    let emitter = SignalEmitter::new(conn, path.to_owned())?;
    zbus::fdo::Properties::properties_changed(
        &emitter,
        zbus::names::InterfaceName::from_static_str_unchecked(interface),
        changed,
        Cow::Borrowed(&[]),
    )
    .await
}

fn path(text: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(text.to_owned()).expect("an object path")
}

struct AdapterState {
    powered: AtomicBool,
    discovering: AtomicBool,
    /// How many times discovery was started.
    starts: watch::Sender<u32>,
}

struct FakeAdapter(Arc<AdapterState>);

#[interface(name = "org.bluez.Adapter1")]
impl FakeAdapter {
    #[zbus(property)]
    fn address(&self) -> String {
        "00:1A:7D:DA:71:13".into()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        "companion-ci".into()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        "companion-ci".into()
    }

    #[zbus(property)]
    fn modalias(&self) -> String {
        "usb:v1D6Bp0246d0540".into()
    }

    #[zbus(property)]
    fn powered(&self) -> bool {
        self.0.powered.load(Ordering::SeqCst)
    }

    #[zbus(property)]
    fn set_powered(&self, powered: bool) {
        self.0.powered.store(powered, Ordering::SeqCst);
    }

    #[zbus(property)]
    fn discovering(&self) -> bool {
        self.0.discovering.load(Ordering::SeqCst)
    }

    fn set_discovery_filter(&self, _filter: HashMap<String, OwnedValue>) {}

    async fn start_discovery(
        &self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        self.0.discovering.store(true, Ordering::SeqCst);
        self.discovering_changed(&emitter).await?;
        self.0.starts.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn stop_discovery(
        &self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        self.0.discovering.store(false, Ordering::SeqCst);
        self.discovering_changed(&emitter).await?;
        Ok(())
    }
}

/// What goes wrong on purpose.
#[derive(Clone)]
enum Fault {
    /// On a write to the endpoint: drop the connection, then answer nothing until released.
    DropAndHang(&'static str, Arc<Notify>),
    /// On a write to the endpoint: drop the connection, disappear, answer "Not connected".
    Vanish(&'static str),
    /// Hold reads of the endpoint until released.
    SlowRead(&'static str, Arc<Notify>),
}

struct DeviceState {
    connected: bool,
    connects: u32,
    disconnects: u32,
    esp: EspDevice,
    /// The value of each endpoint's characteristic: the last answer.
    answers: HashMap<String, Vec<u8>>,
    fault: Option<Fault>,
    /// The `type` option of every characteristic write.
    write_types: Vec<String>,
    longest_write: usize,
}

struct DeviceCore {
    path: String,
    name: &'static str,
    address: &'static str,
    rssi: i16,
    advertised: Vec<Uuid>,
    state: Mutex<DeviceState>,
}

impl DeviceCore {
    fn state(&self) -> std::sync::MutexGuard<'_, DeviceState> {
        self.state.lock().expect("device state")
    }

    /// The link drops: BlueZ's `Connected` goes false and the device's session ends.
    async fn drop_link(&self, conn: &Connection) {
        {
            let mut state = self.state();
            state.connected = false;
            state.esp.close_session();
        }
        let changed = HashMap::from([
            ("Connected", Value::from(false)),
            ("ServicesResolved", Value::from(false)),
        ]);
        emit_changed(conn, &self.path, DEVICE1, changed)
            .await
            .expect("PropertiesChanged");
    }
}

struct FakeDevice(Arc<DeviceCore>);

#[interface(name = "org.bluez.Device1")]
impl FakeDevice {
    #[zbus(property)]
    fn address(&self) -> String {
        self.0.address.into()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.0.name.into()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        self.0.name.into()
    }

    #[zbus(property)]
    fn adapter(&self) -> OwnedObjectPath {
        path(ADAPTER_PATH)
    }

    #[zbus(property)]
    fn paired(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn trusted(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn blocked(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn legacy_pairing(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn connected(&self) -> bool {
        self.0.state().connected
    }

    #[zbus(property)]
    fn services_resolved(&self) -> bool {
        self.0.state().connected
    }

    #[zbus(property, name = "RSSI")]
    fn rssi(&self) -> i16 {
        self.0.rssi
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        self.0.advertised.iter().map(Uuid::to_string).collect()
    }

    async fn connect(&self, #[zbus(connection)] conn: &Connection) -> Result<(), BluezError> {
        {
            let mut state = self.0.state();
            state.connected = true;
            state.connects += 1;
            // A new connection is a new protocomm transport session.
            state.esp.close_session();
            state.answers.clear();
        }
        let changed = HashMap::from([
            ("Connected", Value::from(true)),
            ("ServicesResolved", Value::from(true)),
        ]);
        emit_changed(conn, &self.0.path, DEVICE1, changed).await?;
        Ok(())
    }

    async fn disconnect(&self, #[zbus(connection)] conn: &Connection) -> Result<(), BluezError> {
        self.0.state().disconnects += 1;
        self.0.drop_link(conn).await;
        Ok(())
    }
}

struct FakeService {
    uuid: Uuid,
    device: String,
}

#[interface(name = "org.bluez.GattService1")]
impl FakeService {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.uuid.to_string()
    }

    #[zbus(property)]
    fn primary(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn device(&self) -> OwnedObjectPath {
        path(&self.device)
    }
}

struct FakeCharacteristic {
    core: Arc<DeviceCore>,
    endpoint: &'static str,
    uuid: Uuid,
    service: String,
}

#[interface(name = "org.bluez.GattCharacteristic1")]
impl FakeCharacteristic {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.uuid.to_string()
    }

    #[zbus(property)]
    fn service(&self) -> OwnedObjectPath {
        path(&self.service)
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        vec!["read".into(), "write".into()]
    }

    #[zbus(property, name = "MTU")]
    fn mtu(&self) -> u16 {
        185
    }

    async fn read_value(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<Vec<u8>, BluezError> {
        let slow = match self.core.state().fault.clone() {
            Some(Fault::SlowRead(endpoint, release)) if endpoint == self.endpoint => Some(release),
            _ => None,
        };
        if let Some(release) = slow {
            release.notified().await;
        }
        let state = self.core.state();
        if !state.connected {
            return Err(not_connected());
        }
        Ok(state
            .answers
            .get(self.endpoint)
            .cloned()
            .unwrap_or_default())
    }

    async fn write_value(
        &self,
        value: Vec<u8>,
        options: HashMap<String, OwnedValue>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<(), BluezError> {
        let write_type = options
            .get("type")
            .and_then(|v| <&str>::try_from(&**v).ok())
            .unwrap_or("(none)")
            .to_owned();
        let fault = {
            let mut state = self.core.state();
            if !state.connected {
                return Err(not_connected());
            }
            state.write_types.push(write_type);
            state.longest_write = state.longest_write.max(value.len());
            state.fault.clone()
        };
        match fault {
            Some(Fault::DropAndHang(endpoint, release)) if endpoint == self.endpoint => {
                self.core.drop_link(conn).await;
                release.notified().await;
                return Err(not_connected());
            }
            Some(Fault::Vanish(endpoint)) if endpoint == self.endpoint => {
                self.core.drop_link(conn).await;
                server
                    .remove::<FakeDevice, _>(self.core.path.as_str())
                    .await?;
                return Err(not_connected());
            }
            _ => {}
        }
        let mut state = self.core.state();
        match state.esp.handle(self.endpoint, &value) {
            Ok(answer) => {
                state.answers.insert(self.endpoint.to_owned(), answer);
                Ok(())
            }
            // NimBLE refuses the write when protocomm's handler fails.
            Err(_) => Err(BluezError::Failed(
                "Operation failed with ATT error: 0x04".into(),
            )),
        }
    }
}

struct FakeDescriptor {
    characteristic: String,
    value: Vec<u8>,
}

#[interface(name = "org.bluez.GattDescriptor1")]
impl FakeDescriptor {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        USER_DESCRIPTION.to_string()
    }

    #[zbus(property)]
    fn characteristic(&self) -> OwnedObjectPath {
        path(&self.characteristic)
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        vec!["read".into()]
    }

    fn read_value(&self, _options: HashMap<String, OwnedValue>) -> Vec<u8> {
        self.value.clone()
    }

    fn write_value(
        &self,
        _value: Vec<u8>,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(), BluezError> {
        Err(BluezError::NotPermitted("Write not permitted".into()))
    }
}

/// A GAP service (0x1800) with its Device Name characteristic: present on every real device,
/// and never the provisioning service.
struct FakeGapName(&'static str);

#[interface(name = "org.bluez.GattCharacteristic1")]
impl FakeGapName {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        "00002a00-0000-1000-8000-00805f9b34fb".into()
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        vec!["read".into()]
    }

    fn read_value(&self, _options: HashMap<String, OwnedValue>) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
}

/// How a fake device lays out its GATT database.
struct DeviceSpec {
    name: &'static str,
    address: &'static str,
    rssi: i16,
    advertised: Vec<Uuid>,
    /// The provisioning service, if any.
    service: Option<Uuid>,
    /// Whether each endpoint characteristic carries a 0x2901 user description. Without them
    /// the characteristics sit at ESP-IDF's derived UUIDs; with them at UUIDs that only the
    /// descriptors can name.
    descriptors: bool,
}

#[derive(Clone)]
struct FakeBluez {
    conn: Connection,
    adapter: Arc<AdapterState>,
}

impl FakeBluez {
    /// Owns `org.bluez` with an ObjectManager at `/` and nothing else yet.
    async fn start(bus: &str) -> Self {
        let conn = zbus::connection::Builder::address(bus)
            .expect("bus address")
            .name("org.bluez")
            .expect("well-known name")
            .serve_at("/", zbus::fdo::ObjectManager)
            .expect("object manager")
            .build()
            .await
            .expect("the fake BlueZ connects to the private bus");
        let (starts, _) = watch::channel(0);
        Self {
            conn,
            adapter: Arc::new(AdapterState {
                powered: AtomicBool::new(false),
                discovering: AtomicBool::new(false),
                starts,
            }),
        }
    }

    async fn add_adapter(&self) {
        self.conn
            .object_server()
            .at(ADAPTER_PATH, FakeAdapter(self.adapter.clone()))
            .await
            .expect("adapter");
    }

    async fn add_device(&self, spec: DeviceSpec) -> Arc<DeviceCore> {
        let server = self.conn.object_server();
        let device_path = format!("{ADAPTER_PATH}/dev_{}", spec.address.replace(':', "_"));
        let core = Arc::new(DeviceCore {
            path: device_path.clone(),
            name: spec.name,
            address: spec.address,
            rssi: spec.rssi,
            advertised: spec.advertised,
            state: Mutex::new(DeviceState {
                connected: false,
                connects: 0,
                disconnects: 0,
                esp: EspDevice::sec1(6),
                answers: HashMap::new(),
                fault: None,
                write_types: Vec::new(),
                longest_write: 0,
            }),
        });
        // GAP first, as on a real device.
        let gap = format!("{device_path}/service0001");
        server
            .at(
                gap.as_str(),
                FakeService {
                    uuid: Uuid::from_u128(0x00001800_0000_1000_8000_00805f9b34fb),
                    device: device_path.clone(),
                },
            )
            .await
            .expect("GAP service");
        server
            .at(format!("{gap}/char0002").as_str(), FakeGapName(spec.name))
            .await
            .expect("GAP name");
        if let Some(service_uuid) = spec.service {
            let service = format!("{device_path}/service0010");
            server
                .at(
                    service.as_str(),
                    FakeService {
                        uuid: service_uuid,
                        device: device_path.clone(),
                    },
                )
                .await
                .expect("service");
            let mut endpoints: Vec<(&'static str, u16)> = vec![
                (PROV_CTRL, 0xff4f),
                (PROV_SCAN, 0xff50),
                (PROV_SESSION, 0xff51),
                (PROV_CONFIG, 0xff52),
                (PROTO_VER, 0xff53),
            ];
            if spec.descriptors {
                endpoints.push((ECHO, 0xff54));
            }
            for (index, (endpoint, id)) in endpoints.into_iter().enumerate() {
                let handle = 0x11 + 3 * index;
                let char_path = format!("{service}/char{handle:04x}");
                let uuid = if spec.descriptors {
                    // Not ESP-IDF's derived UUIDs: only the descriptors can name these.
                    Uuid::from_u128(0xa5e10000_0000_4000_8000_000000000000 | u128::from(id))
                } else {
                    endpoint_uuid(service_uuid, id)
                };
                server
                    .at(
                        char_path.as_str(),
                        FakeCharacteristic {
                            core: core.clone(),
                            endpoint,
                            uuid,
                            service: service.clone(),
                        },
                    )
                    .await
                    .expect("characteristic");
                if spec.descriptors {
                    server
                        .at(
                            format!("{char_path}/desc{:04x}", handle + 2).as_str(),
                            FakeDescriptor {
                                characteristic: char_path.clone(),
                                value: endpoint.as_bytes().to_vec(),
                            },
                        )
                        .await
                        .expect("descriptor");
                }
            }
        }
        // The device itself last, so that its InterfacesAdded finds the whole database there.
        server
            .at(device_path.as_str(), FakeDevice(core.clone()))
            .await
            .expect("device");
        core
    }
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

    let bluez = FakeBluez::start(bus).await;

    runner
        .step("no_adapter_is_a_clear_no_radio_error", async {
            expect_no_radio(BleRadio::open(test_config()).await, "no Bluetooth adapter");
        })
        .await;

    bluez.add_adapter().await;
    let provisioner = bluez
        .add_device(DeviceSpec {
            name: "PROV_1A2B3C",
            address: "24:0A:C4:1A:2B:3C",
            rssi: -58,
            advertised: vec![ESP_DEFAULT_SERVICE],
            service: Some(ESP_DEFAULT_SERVICE),
            descriptors: true,
        })
        .await;
    let old_firmware = bluez
        .add_device(DeviceSpec {
            name: "PROV_0LD001",
            address: "24:0A:C4:00:00:01",
            rssi: -71,
            advertised: Vec::new(),
            service: Some(ESP_EXAMPLE_SERVICE),
            descriptors: false,
        })
        .await;
    bluez
        .add_device(DeviceSpec {
            name: "kitchen-sensor",
            address: "24:0A:C4:77:77:77",
            rssi: -64,
            advertised: vec![CUSTOM_SERVICE],
            service: Some(CUSTOM_SERVICE),
            descriptors: true,
        })
        .await;
    bluez
        .add_device(DeviceSpec {
            name: "Headphones",
            address: "0C:A6:94:12:34:56",
            rssi: -40,
            advertised: vec![Uuid::from_u128(0x0000110b_0000_1000_8000_00805f9b34fb)],
            service: None,
            descriptors: false,
        })
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
                assert!(bluez.adapter.powered.load(Ordering::SeqCst));
                assert!(
                    !bluez.adapter.discovering.load(Ordering::SeqCst),
                    "scan stopped"
                );
                ids.extend(found.into_iter().map(|d| (d.name, d.id)));
            },
        )
        .await;

    runner
        .step(
            "find_returns_when_the_device_appears_during_the_scan",
            async {
                let mut starts = bluez.adapter.starts.subscribe();
                let before = *starts.borrow_and_update();
                let late = bluez.clone();
                let appear = tokio::spawn(async move {
                    let _ = starts.wait_for(|n| *n > before).await;
                    late.add_device(DeviceSpec {
                        name: "PROV_E5E5E5",
                        address: "24:0A:C4:E5:E5:E5",
                        rssi: -66,
                        advertised: vec![ESP_DEFAULT_SERVICE],
                        service: Some(ESP_DEFAULT_SERVICE),
                        descriptors: true,
                    })
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
                assert!(
                    !bluez.adapter.discovering.load(Ordering::SeqCst),
                    "scan stopped"
                );
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
                provisioner.state().esp.configured_ssid(),
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
            {
                let state = provisioner.state();
                assert!(!state.write_types.is_empty());
                assert!(
                    state.write_types.iter().all(|t| t == "request"),
                    "every write is a write with response: {:?}",
                    state.write_types
                );
                assert_eq!(state.longest_write, MAX_ATTRIBUTE_LEN);
            }

            let disconnects = provisioner.state().disconnects;
            link.close().await.expect("close");
            assert_eq!(provisioner.state().disconnects, disconnects + 1);
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
                assert_eq!(
                    old_firmware.state().esp.configured_ssid(),
                    Some(SSID.to_vec())
                );
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
            let connects = provisioner.state().connects;
            link.exchange(PROTO_VER, b"ESP".to_vec())
                .await
                .expect("version");
            provisioner.drop_link(&bluez.conn).await;
            // Whether the link hears of the drop first or its write meets it, it reconnects.
            let version = link.exchange(PROTO_VER, b"ESP".to_vec()).await;
            assert!(version.is_ok(), "{version:?}");
            assert_eq!(provisioner.state().connects, connects + 1);
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
                provisioner.state().fault = Some(Fault::DropAndHang(PROV_SCAN, release.clone()));
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
                provisioner.state().fault = None;
                link.close().await.expect("close");
            },
        )
        .await;

    runner
        .step(
            "a_device_that_vanishes_mid_exchange_is_disconnected_then_not_found",
            async {
                let vanishing = bluez
                    .add_device(DeviceSpec {
                        name: "PROV_F00D01",
                        address: "24:0A:C4:F0:0D:01",
                        rssi: -80,
                        advertised: vec![ESP_DEFAULT_SERVICE],
                        service: Some(ESP_DEFAULT_SERVICE),
                        descriptors: true,
                    })
                    .await;
                let found = radio
                    .find("PROV_F00D01", Duration::from_secs(5))
                    .await
                    .expect("found");
                let link = open_link(&radio, &found.id).await;
                let mut session = handshake(&link, POP).await.expect("handshake");
                vanishing.state().fault = Some(Fault::Vanish(PROV_CONFIG));
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
            provisioner.state().fault = Some(Fault::SlowRead(PROTO_VER, release.clone()));
            let disconnects = provisioner.state().disconnects;
            match link.exchange(PROTO_VER, b"ESP".to_vec()).await {
                Err(TransportError::Timeout { what, after }) => {
                    assert_eq!(after, Duration::from_millis(400));
                    assert!(what.contains(PROTO_VER), "{what}");
                }
                other => panic!("expected a timeout: {other:?}"),
            }
            // The link hung up: the device may still act on the request.
            assert_eq!(provisioner.state().disconnects, disconnects + 1);
            assert!(matches!(
                link.exchange(PROTO_VER, b"ESP".to_vec()).await,
                Err(TransportError::Disconnected(m)) if m.contains("timeout")
            ));
            release.notify_one();
            provisioner.state().fault = None;
            link.close().await.expect("close");
        })
        .await;
}
