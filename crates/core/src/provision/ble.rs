//! Bluetooth LE provisioning through [btleplug](https://docs.rs/btleplug) 0.13: BlueZ over D-Bus
//! on Linux, CoreBluetooth on macOS and iOS, WinRT on Windows, droidplug on Android.
//!
//! # Finding devices
//!
//! [`BleRadio::scan`] scans without a service filter (many ESP-IDF applications advertise a
//! service UUID of their own, set with `wifi_prov_scheme_ble_set_service_uuid`) and keeps the
//! devices that advertise one of the provisioning service UUIDs ([`ESP_DEFAULT_SERVICE`],
//! [`ESP_EXAMPLE_SERVICE`], [`ESP_LEGACY_SERVICE`] and [`BleConfig::service_uuids`]) or whose
//! name starts with [`BleConfig::name_prefix`] (`PROV_`), strongest signal first.
//! [`BleRadio::find`] returns as soon as one named device shows up (the QR-code path).
//!
//! # Endpoints
//!
//! After connecting and discovering services, the link reads the Characteristic User
//! Description (0x2901) descriptor of every characteristic of the candidate services (the
//! known and advertised UUIDs first, then any service that is not a Bluetooth SIG one): its
//! value is the endpoint name (`prov-session`, `proto-ver`, …, and custom endpoints such as
//! `aws-iot`), as esp_prov and the Espressif apps do. Firmware without the descriptors (old
//! IDF) falls back to ESP-IDF's derived UUIDs: the service UUID with its 3rd and 4th bytes
//! replaced by the endpoint's 16-bit id ([`endpoint_uuid`], [`ESP_ENDPOINT_IDS`]); custom
//! endpoints cannot be named that way and are then not offered.
//!
//! # Exchanges, MTU and long values
//!
//! An exchange is a GATT Write Request (write *with* response) of the whole request to the
//! endpoint's characteristic, then a GATT Read of the same characteristic, which holds the
//! device's answer. Exchanges on one link are strictly sequential (the session ciphers are
//! order-sensitive). Values longer than one ATT packet (MTU − 3 bytes) are not split here:
//! BlueZ's `WriteValue` with type `request` turns into Prepare/Execute Write (a long write) and
//! its `ReadValue` reads on with Read Blob (a long read); CoreBluetooth and WinRT do the same
//! for write-with-response and read. btleplug has no API to request an MTU; the stacks
//! negotiate one themselves, and [`BleLink::mtu`] reports what btleplug knows. A request longer
//! than [`MAX_ATTRIBUTE_LEN`] (512 bytes, the ATT limit for an attribute value) is refused
//! before it is sent; ESP-IDF's own limit is lower on Bluedroid (256 or 480 bytes plus one),
//! which is why Wi-Fi scan results are read 4 at a time over BLE.
//!
//! # Timeouts, drops and reconnecting
//!
//! Every step has a timeout ([`BleConfig`]): connecting, service discovery, each descriptor
//! read, and each write and read. A link watches btleplug's adapter events, so a disconnect in
//! the middle of an exchange ends it at once with [`TransportError::Disconnected`] instead of
//! waiting for a reply that cannot come.
//!
//! The device's secure session is bound to the BLE connection: a reconnect silently starts
//! over on the device. So a link reconnects (once per exchange) only while that loses nothing:
//! before the first `prov-session` exchange on it. Then a request that was in flight is
//! repeated only if it was to `proto-ver` (plaintext and read-only). Once a session has begun,
//! a drop closes the link: open a new one and redo the handshake. A timed-out exchange also
//! closes the link (the device may still act on the request, so the session ciphers can no
//! longer be trusted to be in step), disconnecting it.
//!
//! # Platform notes
//!
//! * Linux: btleplug needs the system D-Bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) and
//!   `bluetoothd`; building needs `libdbus-1-dev` and `pkg-config`. BlueZ keeps devices it saw
//!   earlier in its cache, so a scan can list a device that is out of range (without RSSI).
//!   Firmware built with `CONFIG_WIFI_PROV_BLE_FORCE_ENCRYPTION` needs pairing, which goes
//!   through the BlueZ agent (not handled here).
//! * Android: `btleplug::platform::init(&env)` must run before [`BleRadio::open`], and the app
//!   must hold `BLUETOOTH_SCAN`/`BLUETOOTH_CONNECT` (API 31+) or location (≤ 30).
//! * iOS/macOS: the Info.plist needs `NSBluetoothAlwaysUsageDescription`; ids are per-phone
//!   UUIDs, not addresses.
//!
//! Everything here runs inside a Tokio runtime: btleplug's BlueZ backend spawns its D-Bus
//! connection onto the runtime that opened the radio.
//!
//! # Not yet verified against real hardware
//!
//! The tests drive btleplug's real BlueZ backend over a real D-Bus daemon, but the BlueZ on
//! the other end is a fake (`tests/ble_fake_bluez.rs`) and no radio is involved. Unchecked:
//!
//! * long writes and reads against an ESP32 (BlueZ's Prepare/Execute Write and Read Blob, the
//!   negotiated MTU, NimBLE vs Bluedroid limits); the fake passes whole values;
//! * the exact D-Bus errors real BlueZ returns when a write is refused (assumed `Failed:
//!   Operation failed with ATT error: 0x04` for NimBLE's refusal; Bluedroid drops the link) or
//!   when the link drops mid-operation (assumed a `Connected = false` change, then an error
//!   whose message contains "Not connected");
//! * BlueZ's connect failure texts (`le-connection-abort-by-local`, `page-timeout`), mapped to
//!   "not in range";
//! * CoreBluetooth, WinRT and droidplug: the same btleplug API, never run here (droidplug
//!   completes reads and writes without checking the GATT status, so a refused write may
//!   look like a stale read there, which the protocol layer then fails to decode);
//! * pairing-required (force-encryption) firmware.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, ScanFilter, Service,
    WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use futures::StreamExt;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use uuid::Uuid;

use super::transport::{
    Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind,
};

/// ESP-IDF's default provisioning service (`scheme_ble.c`).
pub const ESP_DEFAULT_SERVICE: Uuid = Uuid::from_u128(0x1775244d_6b43_439b_877c_060f2d9bed07);
/// The service the IDF example `wifi_prov_mgr` sets (and esp_prov's fallback).
pub const ESP_EXAMPLE_SERVICE: Uuid = Uuid::from_u128(0x021a9004_0382_4aea_bff4_6b3f1c5adfb4);
/// The service of very old provisioning firmware.
pub const ESP_LEGACY_SERVICE: Uuid = Uuid::from_u128(0x0000ffff_0000_1000_8000_00805f9b34fb);
/// The Characteristic User Description descriptor, which names each endpoint.
pub const USER_DESCRIPTION: Uuid = Uuid::from_u128(0x00002901_0000_1000_8000_00805f9b34fb);
/// The name prefix of the ESP-IDF examples (`PROV_` and the last three MAC bytes).
pub const DEFAULT_NAME_PREFIX: &str = "PROV_";
/// The longest attribute value ATT allows (Core spec, Vol 3, Part F, 3.2.9).
pub const MAX_ATTRIBUTE_LEN: usize = 512;
/// The 16-bit ids `wifi_prov_mgr` gives its endpoints, for firmware without user descriptions.
/// Custom endpoints get 0xFF54 and up in creation order, which cannot be named without them.
pub const ESP_ENDPOINT_IDS: [(&str, u16); 5] = [
    (PROV_CTRL, 0xff4f),
    (PROV_SCAN, 0xff50),
    (PROV_SESSION, 0xff51),
    (PROV_CONFIG, 0xff52),
    (PROTO_VER, 0xff53),
];

/// The characteristic UUID ESP-IDF derives for endpoint `id` in `service`: the service UUID
/// with its 3rd and 4th bytes (hex digits 5–8) replaced by the id.
pub fn endpoint_uuid(service: Uuid, id: u16) -> Uuid {
    let mut bytes = *service.as_bytes();
    bytes[2..4].copy_from_slice(&id.to_be_bytes());
    Uuid::from_bytes(bytes)
}

/// How the radio finds devices and how long each step may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BleConfig {
    /// The adapter to use: the first whose description (e.g. `hci1 (usb:…)`) contains this;
    /// `None` takes the first adapter.
    pub adapter: Option<String>,
    /// Devices whose name starts with this offer provisioning.
    pub name_prefix: String,
    /// Service UUIDs that mark a provisioning device, besides ESP-IDF's own.
    pub service_uuids: Vec<Uuid>,
    /// Connecting, including BlueZ's service resolution.
    pub connect_timeout: Duration,
    /// Discovering services and characteristics.
    pub discovery_timeout: Duration,
    /// Each descriptor read, write and read.
    pub operation_timeout: Duration,
    /// Whether a link may reconnect by itself where that is safe (see the module docs).
    pub reconnect: bool,
}

impl Default for BleConfig {
    fn default() -> Self {
        Self {
            adapter: None,
            name_prefix: DEFAULT_NAME_PREFIX.to_owned(),
            service_uuids: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            discovery_timeout: Duration::from_secs(10),
            // Security 2's SRP step takes a second or two on an ESP32; scans longer.
            operation_timeout: Duration::from_secs(10),
            reconnect: true,
        }
    }
}

impl BleConfig {
    /// Every service UUID that marks a provisioning device.
    fn known_services(&self) -> Vec<Uuid> {
        let mut all = self.service_uuids.clone();
        for uuid in [ESP_DEFAULT_SERVICE, ESP_EXAMPLE_SERVICE, ESP_LEGACY_SERVICE] {
            if !all.contains(&uuid) {
                all.push(uuid);
            }
        }
        all
    }
}

/// The Bluetooth LE radio: one adapter of the system's Bluetooth stack.
pub struct BleRadio {
    adapter: Adapter,
    description: String,
    config: BleConfig,
}

impl fmt::Debug for BleRadio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BleRadio")
            .field("adapter", &self.description)
            .field("config", &self.config)
            .finish()
    }
}

impl BleRadio {
    /// Opens the system's Bluetooth stack and picks an adapter. Fails with
    /// [`TransportError::NoRadio`] when there is no stack or no adapter, saying which.
    pub async fn open(config: BleConfig) -> Result<Self, TransportError> {
        let manager = Manager::new()
            .await
            .map_err(|e| map_error(e, Stage::Open, "opening the Bluetooth stack"))?;
        let adapters = manager
            .adapters()
            .await
            .map_err(|e| map_error(e, Stage::Open, "listing Bluetooth adapters"))?;
        if adapters.is_empty() {
            return Err(TransportError::NoRadio(
                "no Bluetooth adapter found: plug one in or switch Bluetooth on (on Linux, `bluetoothctl list` shows the adapters BlueZ sees)".into(),
            ));
        }
        let mut chosen = None;
        for adapter in adapters {
            let description = adapter.adapter_info().await.unwrap_or_default();
            let wanted = match &config.adapter {
                Some(name) => description.contains(name.as_str()),
                None => true,
            };
            if wanted {
                chosen = Some((adapter, description));
                break;
            }
        }
        let Some((adapter, description)) = chosen else {
            return Err(TransportError::NoRadio(format!(
                "no Bluetooth adapter matches \"{}\"",
                config.adapter.as_deref().unwrap_or_default()
            )));
        };
        tracing::debug!(adapter = %description, "Bluetooth LE radio open");
        Ok(Self {
            adapter,
            description,
            config,
        })
    }

    /// The adapter's description, e.g. `hci0 (usb:v1D6Bp0246d0540)`.
    pub fn adapter_description(&self) -> &str {
        &self.description
    }

    /// The configuration.
    pub fn config(&self) -> &BleConfig {
        &self.config
    }

    /// Scans until a provisioning device whose name or id is `name_or_id` shows up, or
    /// `within` passes ([`TransportError::NotFound`]).
    pub async fn find(
        &self,
        name_or_id: &str,
        within: Duration,
    ) -> Result<Discovered, TransportError> {
        let deadline = Instant::now() + within;
        let mut events = self
            .adapter
            .events()
            .await
            .map_err(|e| map_error(e, Stage::Scan, "watching the adapter"))?;
        self.start_scan().await?;
        let found = async {
            // Devices already known, then each one discovered or updated during the scan.
            for peripheral in self.peripherals().await? {
                if let Some(device) = self.describe(&peripheral).await
                    && (device.name == name_or_id || device.id == name_or_id)
                {
                    return Ok(Some(device));
                }
            }
            while let Some(event) = events.next().await {
                let id = match event {
                    CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id) => id,
                    CentralEvent::RssiUpdate { id, .. } => id,
                    _ => continue,
                };
                let Ok(peripheral) = self.adapter.peripheral(&id).await else {
                    continue;
                };
                if let Some(device) = self.describe(&peripheral).await
                    && (device.name == name_or_id || device.id == name_or_id)
                {
                    return Ok(Some(device));
                }
            }
            Ok::<_, TransportError>(None)
        };
        let outcome = tokio::time::timeout_at(deadline, found).await;
        self.stop_scan().await;
        match outcome {
            Ok(Ok(Some(device))) => Ok(device),
            Ok(Err(error)) => Err(error),
            Ok(Ok(None)) | Err(_) => Err(TransportError::NotFound(format!(
                "{name_or_id} (not seen within {within:?})"
            ))),
        }
    }

    /// Opens a link to the device `id` (from a scan: the platform's peripheral id, or the
    /// device's address).
    pub async fn open_link(&self, id: &str) -> Result<BleLink, TransportError> {
        let peripheral = self.lookup(id).await?;
        BleLink::open(self.adapter.clone(), peripheral, self.config.clone()).await
    }

    async fn lookup(&self, id: &str) -> Result<Peripheral, TransportError> {
        let wanted = id.to_ascii_uppercase();
        self.peripherals()
            .await?
            .into_iter()
            .find(|p| p.id().to_string() == id || p.address().to_string() == wanted)
            .ok_or_else(|| TransportError::NotFound(id.to_owned()))
    }

    async fn peripherals(&self) -> Result<Vec<Peripheral>, TransportError> {
        self.adapter
            .peripherals()
            .await
            .map_err(|e| map_error(e, Stage::Scan, "listing devices"))
    }

    async fn start_scan(&self) -> Result<(), TransportError> {
        // No service filter: ESP-IDF applications often advertise a UUID of their own, so the
        // name prefix must be able to match too.
        self.adapter
            .start_scan(ScanFilter::default())
            .await
            .map_err(|e| map_error(e, Stage::Scan, "starting a scan"))
    }

    async fn stop_scan(&self) {
        if let Err(error) = self.adapter.stop_scan().await {
            tracing::debug!(%error, "stopping the scan failed");
        }
    }

    /// The device as a scan result, if it offers provisioning.
    async fn describe(&self, peripheral: &Peripheral) -> Option<Discovered> {
        let properties = peripheral.properties().await.ok()??;
        let name = properties
            .local_name
            .clone()
            .or(properties.advertisement_name.clone());
        let known = self.config.known_services();
        let by_service = properties.services.iter().any(|uuid| known.contains(uuid));
        let by_name = name.as_deref().is_some_and(|n| {
            !self.config.name_prefix.is_empty() && n.starts_with(&self.config.name_prefix)
        });
        (by_service || by_name).then(|| Discovered {
            id: peripheral.id().to_string(),
            name: name.unwrap_or_else(|| peripheral.address().to_string()),
            rssi: properties.rssi,
            kind: TransportKind::Ble,
        })
    }

    async fn scan_for(&self, window: Duration) -> Result<Vec<Discovered>, TransportError> {
        self.start_scan().await?;
        tokio::time::sleep(window).await;
        let peripherals = self.peripherals().await;
        self.stop_scan().await;
        let mut found = Vec::new();
        for peripheral in peripherals? {
            if let Some(device) = self.describe(&peripheral).await {
                found.push(device);
            }
        }
        sort_strongest_first(&mut found);
        Ok(found)
    }
}

/// Strongest first; devices without RSSI last; ties by name, then id, so rows do not jump.
fn sort_strongest_first(devices: &mut [Discovered]) {
    devices.sort_by(|a, b| {
        b.rssi
            .unwrap_or(i16::MIN)
            .cmp(&a.rssi.unwrap_or(i16::MIN))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
}

impl Radio for BleRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::Ble
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(self.scan_for(window))
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move {
            let link = self.open_link(&id).await?;
            Ok(Box::new(link) as Box<dyn ProvLink>)
        })
    }
}

/// The Bluetooth LE radio, opened when it is first used and again after a failed open: an
/// app can offer provisioning before Bluetooth is switched on, an adapter plugged in or the
/// permission granted, and each scan tells what is missing.
pub struct OnDemandBleRadio {
    config: BleConfig,
    opened: Mutex<Option<Arc<BleRadio>>>,
}

impl fmt::Debug for OnDemandBleRadio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnDemandBleRadio")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OnDemandBleRadio {
    /// A radio that opens with `config` when first used.
    pub fn new(config: BleConfig) -> Self {
        Self {
            config,
            opened: Mutex::new(None),
        }
    }

    /// The open radio, opening it now if needed.
    pub async fn radio(&self) -> Result<Arc<BleRadio>, TransportError> {
        let mut opened = self.opened.lock().await;
        if let Some(radio) = opened.as_ref() {
            return Ok(radio.clone());
        }
        let radio = Arc::new(BleRadio::open(self.config.clone()).await?);
        *opened = Some(radio.clone());
        Ok(radio)
    }
}

impl Radio for OnDemandBleRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::Ble
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(async move { self.radio().await?.scan_for(window).await })
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move {
            let link = self.radio().await?.open_link(&id).await?;
            Ok(Box::new(link) as Box<dyn ProvLink>)
        })
    }
}

/// An open GATT link to one provisioning device.
pub struct BleLink {
    peripheral: Peripheral,
    name: String,
    config: BleConfig,
    state: Mutex<LinkState>,
    /// The endpoint names, for the synchronous [`ProvLink::endpoints`].
    names: StdMutex<Vec<String>>,
    /// Whether the device is connected, as the adapter's events tell it, in order.
    connected: watch::Receiver<bool>,
    /// Sets `connected` where the platform sends no connect event.
    connected_tx: Arc<watch::Sender<bool>>,
    watcher: JoinHandle<()>,
}

struct LinkState {
    service: Uuid,
    chars: HashMap<String, Characteristic>,
    /// Whether a `prov-session` exchange was attempted on this connection.
    session_begun: bool,
    /// Why the link is closed, once it is.
    closed: Option<String>,
}

impl fmt::Debug for BleLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BleLink")
            .field("device", &self.peripheral.id().to_string())
            .field("name", &self.name)
            .field("mtu", &self.peripheral.mtu())
            .field("endpoints", &self.endpoints())
            .finish()
    }
}

/// What a failure happened during, for error messages that say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Open,
    Scan,
    Connect,
    Gatt,
}

impl BleLink {
    async fn open(
        adapter: Adapter,
        peripheral: Peripheral,
        config: BleConfig,
    ) -> Result<Self, TransportError> {
        let name = match peripheral.properties().await {
            Ok(Some(p)) => p.local_name.or(p.advertisement_name).unwrap_or_default(),
            _ => String::new(),
        };
        // Watch the adapter before connecting, so no connect or disconnect event is missed.
        let mut events = adapter
            .events()
            .await
            .map_err(|e| map_error(e, Stage::Connect, "watching the adapter"))?;
        let (sender, connected) = watch::channel(false);
        let sender = Arc::new(sender);
        let connected_tx = sender.clone();
        let id = peripheral.id();
        let watcher = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    CentralEvent::DeviceConnected(event_id) if event_id == id => {
                        sender.send_replace(true);
                    }
                    CentralEvent::DeviceDisconnected(event_id) if event_id == id => {
                        sender.send_replace(false);
                    }
                    _ => {}
                }
            }
        });
        let link = Self {
            peripheral,
            name,
            config,
            state: Mutex::new(LinkState {
                service: Uuid::nil(),
                chars: HashMap::new(),
                session_begun: false,
                closed: None,
            }),
            names: StdMutex::new(Vec::new()),
            connected,
            connected_tx,
            watcher,
        };
        let advertised = match link.peripheral.properties().await {
            Ok(Some(p)) => p.services,
            _ => Vec::new(),
        };
        {
            let mut state = link.state.lock().await;
            link.establish(&mut state, &advertised).await?;
        }
        Ok(link)
    }

    /// The device's name as advertised.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ATT MTU btleplug reports (23 until the stack says otherwise).
    pub fn mtu(&self) -> u16 {
        self.peripheral.mtu()
    }

    /// The provisioning service the endpoints were found in.
    pub async fn service(&self) -> Uuid {
        self.state.lock().await.service
    }

    /// Connects, discovers services and maps the endpoints.
    async fn establish(
        &self,
        state: &mut LinkState,
        advertised: &[Uuid],
    ) -> Result<(), TransportError> {
        let connect_timeout = self.config.connect_timeout;
        match timeout(connect_timeout, self.peripheral.connect()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(map_error(error, Stage::Connect, "connecting")),
            Err(_) => {
                self.disconnect_quietly().await;
                return Err(TransportError::Timeout {
                    what: "the connection".into(),
                    after: connect_timeout,
                });
            }
        }
        self.await_connected_event().await?;
        let discovery = self.config.discovery_timeout;
        match timeout(discovery, self.peripheral.discover_services()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                return Err(map_error(error, Stage::Connect, "discovering services"));
            }
            Err(_) => {
                return Err(TransportError::Timeout {
                    what: "service discovery".into(),
                    after: discovery,
                });
            }
        }
        let (service, chars) = self.map_endpoints(advertised).await?;
        let mut names: Vec<String> = chars.keys().cloned().collect();
        names.sort();
        tracing::debug!(
            device = %self.peripheral.id(),
            %service,
            mtu = self.peripheral.mtu(),
            endpoints = ?names,
            "provisioning link up"
        );
        if let Ok(mut slot) = self.names.lock() {
            *slot = names;
        }
        state.service = service;
        state.chars = chars;
        state.session_begun = false;
        Ok(())
    }

    /// Waits until the adapter's events (processed in order) report the connection, so that a
    /// disconnect event from an earlier connection cannot arrive after it.
    async fn await_connected_event(&self) -> Result<(), TransportError> {
        let mut connected = self.connected.clone();
        let seen = timeout(self.config.connect_timeout, async {
            connected.wait_for(|up| *up).await.is_ok()
        })
        .await;
        if seen == Ok(true) {
            return Ok(());
        }
        // The platform sent no connect event: trust the stack's own answer.
        match self.peripheral.is_connected().await {
            Ok(true) => {
                self.connected_tx.send_replace(true);
                Ok(())
            }
            Ok(false) => Err(TransportError::Disconnected(
                "the device dropped the connection as it was made".into(),
            )),
            Err(error) => Err(map_error(error, Stage::Connect, "connecting")),
        }
    }

    /// Finds the provisioning service and names its characteristics.
    async fn map_endpoints(
        &self,
        advertised: &[Uuid],
    ) -> Result<(Uuid, HashMap<String, Characteristic>), TransportError> {
        let services = self.peripheral.services();
        let known = self.config.known_services();
        let mut candidates: Vec<&Service> = services
            .iter()
            .filter(|s| known.contains(&s.uuid) || advertised.contains(&s.uuid))
            .collect();
        candidates.extend(
            services
                .iter()
                .filter(|s| !known.contains(&s.uuid) && !advertised.contains(&s.uuid))
                .filter(|s| !is_sig_service(s.uuid)),
        );
        for service in &candidates {
            let mut chars = HashMap::new();
            for characteristic in &service.characteristics {
                let Some(descriptor) = characteristic
                    .descriptors
                    .iter()
                    .find(|d| d.uuid == USER_DESCRIPTION)
                else {
                    continue;
                };
                let read = self.peripheral.read_descriptor(descriptor);
                match self.guarded("reading an endpoint name", read).await {
                    Ok(raw) => {
                        let name = String::from_utf8_lossy(&raw)
                            .trim_end_matches('\0')
                            .trim()
                            .to_owned();
                        if !name.is_empty() {
                            chars.insert(name, characteristic.clone());
                        }
                    }
                    Err(
                        error @ (TransportError::Disconnected(_) | TransportError::Timeout { .. }),
                    ) => {
                        return Err(error);
                    }
                    Err(error) => {
                        tracing::debug!(%error, uuid = %characteristic.uuid, "no endpoint name");
                    }
                }
            }
            if chars.contains_key(PROV_SESSION) || chars.contains_key(PROTO_VER) {
                return Ok((service.uuid, chars));
            }
            // Old firmware: no user descriptions; the endpoints sit at derived UUIDs.
            for (name, id) in ESP_ENDPOINT_IDS {
                let uuid = endpoint_uuid(service.uuid, id);
                if let Some(characteristic) =
                    service.characteristics.iter().find(|c| c.uuid == uuid)
                {
                    chars
                        .entry(name.to_owned())
                        .or_insert_with(|| characteristic.clone());
                }
            }
            if chars.contains_key(PROV_SESSION) {
                return Ok((service.uuid, chars));
            }
        }
        let listed: BTreeSet<String> = services.iter().map(|s| s.uuid.to_string()).collect();
        Err(TransportError::Io(format!(
            "the device offers no ESP provisioning service (its GATT services: {}); is it in provisioning mode?",
            listed.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }

    /// Runs one GATT operation with the operation timeout, ending it early if the device
    /// disconnects.
    async fn guarded<T>(
        &self,
        what: &str,
        operation: impl Future<Output = btleplug::Result<T>>,
    ) -> Result<T, TransportError> {
        let mut connected = self.connected.clone();
        let after = self.config.operation_timeout;
        tokio::select! {
            biased;
            result = timeout(after, operation) => match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(map_error(error, Stage::Gatt, what)),
                Err(_) => Err(TransportError::Timeout { what: what.to_owned(), after }),
            },
            true = async { connected.wait_for(|up| !*up).await.is_ok() } => {
                Err(TransportError::Disconnected(format!(
                    "the device disconnected while {what}"
                )))
            }
        }
    }

    /// Write with response, then read the answer.
    async fn write_then_read(
        &self,
        characteristic: &Characteristic,
        endpoint: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let write = self
            .peripheral
            .write(characteristic, request, WriteType::WithResponse);
        self.guarded(&format!("writing to {endpoint}"), write)
            .await?;
        let read = self.peripheral.read(characteristic);
        self.guarded(&format!("reading the answer of {endpoint}"), read)
            .await
    }

    fn is_up(&self) -> bool {
        *self.connected.borrow()
    }

    async fn disconnect_quietly(&self) {
        let limit = self.config.operation_timeout;
        match timeout(limit, self.peripheral.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "disconnect failed"),
            Err(_) => tracing::debug!("disconnect timed out"),
        }
    }

    async fn reconnect(&self, state: &mut LinkState) -> Result<(), TransportError> {
        tracing::debug!(device = %self.peripheral.id(), "reconnecting");
        // Forget the old connection: only a connect event that follows (in order) any late
        // disconnect event of the old one counts.
        self.connected_tx.send_replace(false);
        let advertised = match self.peripheral.properties().await {
            Ok(Some(p)) => p.services,
            _ => Vec::new(),
        };
        self.establish(state, &advertised).await
    }

    async fn exchange_bytes(
        &self,
        endpoint: &str,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        let mut state = self.state.lock().await;
        if let Some(reason) = &state.closed {
            return Err(TransportError::Disconnected(reason.clone()));
        }
        if !state.chars.contains_key(endpoint) {
            return Err(TransportError::NoEndpoint(endpoint.to_owned()));
        }
        if request.len() > MAX_ATTRIBUTE_LEN {
            return Err(TransportError::Io(format!(
                "a {}-byte request to {endpoint} is longer than a GATT attribute may be ({MAX_ATTRIBUTE_LEN} bytes)",
                request.len()
            )));
        }
        let mut reconnected = false;
        if !self.is_up() {
            if self.config.reconnect && !state.session_begun {
                self.reconnect(&mut state).await?;
                reconnected = true;
            } else {
                return Err(self.close_after_drop(&mut state));
            }
        }
        if endpoint == PROV_SESSION {
            state.session_begun = true;
        }
        loop {
            let characteristic = state
                .chars
                .get(endpoint)
                .cloned()
                .ok_or_else(|| TransportError::NoEndpoint(endpoint.to_owned()))?;
            tracing::trace!(endpoint, bytes = request.len(), "GATT exchange");
            match self
                .write_then_read(&characteristic, endpoint, &request)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(TransportError::Disconnected(_))
                    if endpoint == PROTO_VER
                        && !state.session_begun
                        && self.config.reconnect
                        && !reconnected =>
                {
                    self.reconnect(&mut state).await?;
                    reconnected = true;
                }
                Err(TransportError::Disconnected(reason)) => {
                    let _ = self.close_after_drop(&mut state);
                    return Err(TransportError::Disconnected(reason));
                }
                Err(error @ TransportError::Timeout { .. }) => {
                    state.closed = Some(format!(
                        "the link was closed after a timeout ({error}); connect again and start a new session"
                    ));
                    self.disconnect_quietly().await;
                    return Err(error);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn close_after_drop(&self, state: &mut LinkState) -> TransportError {
        let reason = if state.session_begun {
            "the device disconnected, which ended its secure session: connect again and start a new session"
        } else {
            "the device disconnected"
        };
        state.closed = Some(reason.to_owned());
        TransportError::Disconnected(reason.to_owned())
    }

    async fn close_link(&self) -> Result<(), TransportError> {
        let mut state = self.state.lock().await;
        if state.closed.is_none() {
            state.closed = Some("the link was closed".into());
            self.disconnect_quietly().await;
        }
        self.watcher.abort();
        Ok(())
    }
}

impl ProvLink for BleLink {
    fn endpoints(&self) -> Vec<String> {
        self.names.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>> {
        let endpoint = endpoint.to_owned();
        Box::pin(async move { self.exchange_bytes(&endpoint, request).await })
    }

    fn close(&self) -> TransportFuture<'_, ()> {
        Box::pin(self.close_link())
    }
}

impl Drop for BleLink {
    fn drop(&mut self) {
        self.watcher.abort();
        let closed = self
            .state
            .try_lock()
            .map(|state| state.closed.is_some())
            .unwrap_or(false);
        // A link dropped without `close` still hangs up (BlueZ would keep the connection).
        if !closed && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let peripheral = self.peripheral.clone();
            let limit = self.config.operation_timeout;
            runtime.spawn(async move {
                let _ = timeout(limit, peripheral.disconnect()).await;
            });
        }
    }
}

/// Whether `uuid` is a Bluetooth SIG service (GAP, GATT, Device Information, …), which
/// cannot be the provisioning service.
fn is_sig_service(uuid: Uuid) -> bool {
    let bytes = uuid.as_bytes();
    let base = Uuid::from_u128(0x00000000_0000_1000_8000_00805f9b34fb);
    bytes[4..] == base.as_bytes()[4..]
        && bytes[0..2] == [0, 0]
        && (0x1800..=0x18ff).contains(&u16::from_be_bytes([bytes[2], bytes[3]]))
}

/// Turns a btleplug error into a transport error that says what to do.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn map_error(error: btleplug::Error, stage: Stage, what: &str) -> TransportError {
    #[cfg(target_os = "linux")]
    if let btleplug::Error::Other(inner) = &error
        && let Some(bluez) = inner.downcast_ref::<bluez_async::BluetoothError>()
    {
        match bluez {
            bluez_async::BluetoothError::DbusError(dbus) => {
                return map_dbus(
                    dbus.name().unwrap_or_default(),
                    dbus.message().unwrap_or_default(),
                    stage,
                    what,
                );
            }
            bluez_async::BluetoothError::NoBluetoothAdapters => {
                return TransportError::NoRadio("BlueZ reports no Bluetooth adapter".into());
            }
            bluez_async::BluetoothError::ServiceDiscoveryTimedOut => {
                return TransportError::Timeout {
                    what: "service discovery".into(),
                    after: Duration::from_secs(30),
                };
            }
            _ => {}
        }
    }
    match error {
        btleplug::Error::PermissionDenied => TransportError::PermissionDenied(what.to_owned()),
        btleplug::Error::DeviceNotFound => TransportError::NotFound(what.to_owned()),
        btleplug::Error::NotConnected => {
            TransportError::Disconnected(format!("not connected while {what}"))
        }
        btleplug::Error::NoAdapterAvailable => {
            TransportError::NoRadio("no Bluetooth adapter is available".into())
        }
        btleplug::Error::TimedOut(after) => TransportError::Timeout {
            what: what.to_owned(),
            after,
        },
        other => TransportError::Io(format!("{what}: {other}")),
    }
}

/// Turns a D-Bus error from BlueZ (or from the bus itself) into a transport error.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn map_dbus(name: &str, message: &str, stage: Stage, what: &str) -> TransportError {
    let lower = message.to_ascii_lowercase();
    match name {
        "org.freedesktop.DBus.Error.FileNotFound"
        | "org.freedesktop.DBus.Error.NoServer"
        | "org.freedesktop.DBus.Error.BadAddress"
        | "org.freedesktop.DBus.Error.Disconnected" => TransportError::NoRadio(format!(
            "cannot reach the D-Bus system bus, through which BlueZ is used ({message}): start the system D-Bus daemon and bluetoothd"
        )),
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => TransportError::NoRadio(
            "BlueZ (bluetoothd) is not running on the system bus: install `bluez` and start it (`systemctl start bluetooth`)".into(),
        ),
        "org.freedesktop.DBus.Error.AccessDenied" => TransportError::PermissionDenied(format!(
            "D-Bus refused access to BlueZ while {what} ({message}); on Linux the user may need to be in the `bluetooth` group or allowed by a polkit rule"
        )),
        "org.bluez.Error.NotReady" => TransportError::NoRadio(
            "the Bluetooth adapter is not ready: switch Bluetooth on (it may be powered off or blocked by rfkill)".into(),
        ),
        "org.freedesktop.DBus.Error.UnknownObject" | "org.bluez.Error.DoesNotExist" => {
            TransportError::NotFound(format!("{what}: {message}"))
        }
        "org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout" => {
            TransportError::Timeout {
                what: what.to_owned(),
                after: Duration::from_secs(30),
            }
        }
        "org.bluez.Error.NotConnected" => {
            TransportError::Disconnected(format!("not connected while {what}"))
        }
        "org.bluez.Error.NotAuthorized" | "org.bluez.Error.NotPermitted"
            if stage == Stage::Gatt =>
        {
            TransportError::Io(format!(
                "the device refused {what} ({message}): it may require pairing (encrypted provisioning firmware)"
            ))
        }
        "org.bluez.Error.NotAuthorized" | "org.bluez.Error.NotPermitted" => {
            TransportError::PermissionDenied(format!("{what}: {message}"))
        }
        _ if lower.contains("not connected") || lower.contains("disconnected") => {
            TransportError::Disconnected(format!("{what}: {message}"))
        }
        _ if lower.contains("att error") => TransportError::Io(format!(
            "the device refused {what} ({message}): a wrong proof of possession or a malformed request; connect again and start a new session"
        )),
        _ if stage == Stage::Connect
            && (lower.contains("page-timeout") || lower.contains("connection-abort")) =>
        {
            TransportError::NotFound(format!("{what}: {message}"))
        }
        _ => TransportError::Io(format!("{what}: {message} ({name})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_endpoint_uuids_match_esp_idf() {
        // The UUID an Android issue log shows for prov-session on the default service.
        assert_eq!(
            endpoint_uuid(ESP_DEFAULT_SERVICE, 0xff51).to_string(),
            "1775ff51-6b43-439b-877c-060f2d9bed07"
        );
        // Legacy firmware: 0000ffff… with 0000ff51… and so on.
        assert_eq!(
            endpoint_uuid(ESP_LEGACY_SERVICE, 0xff53).to_string(),
            "0000ff53-0000-1000-8000-00805f9b34fb"
        );
    }

    #[test]
    fn sig_services_are_recognised() {
        assert!(is_sig_service(Uuid::from_u128(
            0x00001800_0000_1000_8000_00805f9b34fb
        )));
        assert!(is_sig_service(Uuid::from_u128(
            0x0000180a_0000_1000_8000_00805f9b34fb
        )));
        assert!(!is_sig_service(ESP_LEGACY_SERVICE));
        assert!(!is_sig_service(ESP_DEFAULT_SERVICE));
    }

    #[test]
    fn scan_results_sort_strongest_first_and_stably() {
        let device = |id: &str, rssi| Discovered {
            id: id.into(),
            name: format!("PROV_{id}"),
            rssi,
            kind: TransportKind::Ble,
        };
        let mut devices = vec![
            device("c", None),
            device("b", Some(-70)),
            device("a", Some(-50)),
            device("d", Some(-70)),
        ];
        sort_strongest_first(&mut devices);
        let order: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(order, ["a", "b", "d", "c"]);
    }

    #[test]
    fn dbus_errors_name_their_cause() {
        let no_bus = map_dbus(
            "org.freedesktop.DBus.Error.FileNotFound",
            "Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory",
            Stage::Open,
            "opening the Bluetooth stack",
        );
        assert!(
            matches!(&no_bus, TransportError::NoRadio(m) if m.contains("system bus")),
            "{no_bus:?}"
        );
        let no_bluez = map_dbus(
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "The name org.bluez was not provided by any .service files",
            Stage::Open,
            "listing Bluetooth adapters",
        );
        assert!(
            matches!(&no_bluez, TransportError::NoRadio(m) if m.contains("bluetoothd")),
            "{no_bluez:?}"
        );
        let denied = map_dbus(
            "org.freedesktop.DBus.Error.AccessDenied",
            "Rejected send message",
            Stage::Scan,
            "starting a scan",
        );
        assert!(matches!(denied, TransportError::PermissionDenied(_)));
        let att = map_dbus(
            "org.bluez.Error.Failed",
            "Operation failed with ATT error: 0x04",
            Stage::Gatt,
            "writing to prov-session",
        );
        assert!(matches!(&att, TransportError::Io(m) if m.contains("proof of possession")));
        let gone = map_dbus(
            "org.bluez.Error.Failed",
            "Not connected",
            Stage::Gatt,
            "reading the answer of prov-config",
        );
        assert!(matches!(gone, TransportError::Disconnected(_)));
    }
}
