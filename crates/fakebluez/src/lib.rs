//! A fake BlueZ for tests: the `org.bluez` objects btleplug (through bluez-async) reads on the
//! system bus — an adapter, devices, GATT services, characteristics and their 0x2901 user
//! descriptions — served with zbus on a [`PrivateBus`], so the real btleplug code path runs
//! without a radio. Each device's provisioning characteristics are backed by a [`Peripheral`]:
//! companion-espprov's device role in core's tests, the running sandbox's simulated radio in
//! the CLI's.
//!
//! A write (with response) hands the value to the peripheral and keeps its answer as the
//! characteristic's value, which the next read returns: protocomm's exchange over BLE. A
//! refused write answers with NimBLE's ATT error 0x04, as ESP-IDF does when a handler fails.
//! [`Fault`]s drop, vanish or stall on purpose.
//!
//! btleplug reads `DBUS_SYSTEM_BUS_ADDRESS` when it connects, so a process must have it set
//! from the start: start the bus in a parent and run btleplug in a child (a re-executed test
//! binary, or the `companion` command).

mod bus;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};
use uuid::Uuid;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, ObjectServer, interface};

pub use bus::PrivateBus;

/// Where the one adapter lives.
pub const ADAPTER_PATH: &str = "/org/bluez/hci0";
const DEVICE1: &str = "org.bluez.Device1";
/// The Characteristic User Description descriptor.
const USER_DESCRIPTION: &str = "00002901-0000-1000-8000-00805f9b34fb";
/// The MTU every characteristic reports.
pub const MTU: u16 = 185;

/// An operation in flight on a peripheral.
pub type PeripheralFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The device's handler refused it: the write answers ATT error 0x04.
    Refused,
    /// The link dropped: the device disconnects.
    Dropped(String),
}

/// What stands behind a fake device's provisioning characteristics.
pub trait Peripheral: Send + Sync + 'static {
    /// A central connected: a new transport session begins. An error refuses the connection.
    fn connect(&self) -> PeripheralFuture<'_, Result<(), String>>;

    /// The connection ended (either side hung up, or a fault dropped it).
    fn disconnect(&self) -> PeripheralFuture<'_, ()>;

    /// A write to `endpoint`'s characteristic; the answer is what the next read returns.
    fn write(
        &self,
        endpoint: &str,
        value: Vec<u8>,
    ) -> PeripheralFuture<'_, Result<Vec<u8>, WriteError>>;
}

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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    OwnedObjectPath::try_from(text.to_owned()).unwrap_or_default()
}

/// The adapter's state, as the tests see it.
#[derive(Debug)]
pub struct Adapter {
    powered: AtomicBool,
    discovering: AtomicBool,
    /// How many times discovery was started.
    starts: watch::Sender<u32>,
}

impl Adapter {
    /// Whether a client powered it on.
    pub fn is_powered(&self) -> bool {
        self.powered.load(Ordering::SeqCst)
    }

    /// Whether discovery runs.
    pub fn is_discovering(&self) -> bool {
        self.discovering.load(Ordering::SeqCst)
    }

    /// Follows how many times discovery was started.
    pub fn discovery_starts(&self) -> watch::Receiver<u32> {
        self.starts.subscribe()
    }
}

struct FakeAdapter(Arc<Adapter>);

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
#[derive(Debug, Clone)]
pub enum Fault {
    /// On a write to the endpoint: drop the connection, then answer nothing until released.
    DropAndHang(String, Arc<Notify>),
    /// On a write to the endpoint: drop the connection, disappear, answer "Not connected".
    Vanish(String),
    /// Hold reads of the endpoint until released.
    SlowRead(String, Arc<Notify>),
}

#[derive(Debug, Default)]
struct DeviceState {
    connected: bool,
    connects: u32,
    disconnects: u32,
    /// The value of each endpoint's characteristic: the last answer.
    answers: HashMap<String, Vec<u8>>,
    fault: Option<Fault>,
    /// The `type` option of every characteristic write.
    write_types: Vec<String>,
    longest_write: usize,
}

/// One fake device: its D-Bus path, what it advertises, and what happened on its link.
pub struct Device {
    path: String,
    name: String,
    address: String,
    rssi: i16,
    advertised: Vec<Uuid>,
    peripheral: Arc<dyn Peripheral>,
    conn: Connection,
    state: Mutex<DeviceState>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// How many times a central connected.
    pub fn connects(&self) -> u32 {
        lock(&self.state).connects
    }

    /// How many times a central disconnected on purpose.
    pub fn disconnects(&self) -> u32 {
        lock(&self.state).disconnects
    }

    /// The `type` option of every characteristic write so far (`request` for a write with
    /// response).
    pub fn write_types(&self) -> Vec<String> {
        lock(&self.state).write_types.clone()
    }

    /// The longest value written so far.
    pub fn longest_write(&self) -> usize {
        lock(&self.state).longest_write
    }

    /// Arms (or with `None` clears) a fault.
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.state).fault = fault;
    }

    /// The link drops: BlueZ's `Connected` goes false and the peripheral hears of it.
    pub async fn drop_link(&self) {
        {
            let mut state = lock(&self.state);
            state.connected = false;
            state.answers.clear();
        }
        self.peripheral.disconnect().await;
        let changed = HashMap::from([
            ("Connected", Value::from(false)),
            ("ServicesResolved", Value::from(false)),
        ]);
        if let Err(error) = emit_changed(&self.conn, &self.path, DEVICE1, changed).await {
            tracing_free_warn(&format!("PropertiesChanged failed: {error}"));
        }
    }
}

/// The fake has no logger of its own: a failed signal is reported on stderr for the test's
/// output.
#[allow(clippy::print_stderr, reason = "test support without a logger")]
fn tracing_free_warn(message: &str) {
    eprintln!("fake BlueZ: {message}");
}

struct FakeDevice(Arc<Device>);

#[interface(name = "org.bluez.Device1")]
impl FakeDevice {
    #[zbus(property)]
    fn address(&self) -> String {
        self.0.address.clone()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.0.name.clone()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        self.0.name.clone()
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
        lock(&self.0.state).connected
    }

    #[zbus(property)]
    fn services_resolved(&self) -> bool {
        lock(&self.0.state).connected
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
        // A new connection is a new protocomm transport session.
        self.0.peripheral.connect().await.map_err(|reason| {
            BluezError::Failed(format!("le-connection-abort-by-local: {reason}"))
        })?;
        {
            let mut state = lock(&self.0.state);
            state.connected = true;
            state.connects += 1;
            state.answers.clear();
        }
        let changed = HashMap::from([
            ("Connected", Value::from(true)),
            ("ServicesResolved", Value::from(true)),
        ]);
        emit_changed(conn, &self.0.path, DEVICE1, changed).await?;
        Ok(())
    }

    async fn disconnect(&self) -> Result<(), BluezError> {
        lock(&self.0.state).disconnects += 1;
        self.0.drop_link().await;
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
    device: Arc<Device>,
    endpoint: String,
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
        MTU
    }

    async fn read_value(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<Vec<u8>, BluezError> {
        let slow = match lock(&self.device.state).fault.clone() {
            Some(Fault::SlowRead(endpoint, release)) if endpoint == self.endpoint => Some(release),
            _ => None,
        };
        if let Some(release) = slow {
            release.notified().await;
        }
        let state = lock(&self.device.state);
        if !state.connected {
            return Err(not_connected());
        }
        Ok(state
            .answers
            .get(&self.endpoint)
            .cloned()
            .unwrap_or_default())
    }

    async fn write_value(
        &self,
        value: Vec<u8>,
        options: HashMap<String, OwnedValue>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<(), BluezError> {
        let write_type = options
            .get("type")
            .and_then(|v| <&str>::try_from(&**v).ok())
            .unwrap_or("(none)")
            .to_owned();
        let fault = {
            let mut state = lock(&self.device.state);
            if !state.connected {
                return Err(not_connected());
            }
            state.write_types.push(write_type);
            state.longest_write = state.longest_write.max(value.len());
            state.fault.clone()
        };
        match fault {
            Some(Fault::DropAndHang(endpoint, release)) if endpoint == self.endpoint => {
                self.device.drop_link().await;
                release.notified().await;
                return Err(not_connected());
            }
            Some(Fault::Vanish(endpoint)) if endpoint == self.endpoint => {
                self.device.drop_link().await;
                server
                    .remove::<FakeDevice, _>(self.device.path.as_str())
                    .await?;
                return Err(not_connected());
            }
            _ => {}
        }
        match self.device.peripheral.write(&self.endpoint, value).await {
            Ok(answer) => {
                lock(&self.device.state)
                    .answers
                    .insert(self.endpoint.clone(), answer);
                Ok(())
            }
            // NimBLE refuses the write when protocomm's handler fails.
            Err(WriteError::Refused) => Err(BluezError::Failed(
                "Operation failed with ATT error: 0x04".into(),
            )),
            Err(WriteError::Dropped(_)) => {
                self.device.drop_link().await;
                Err(not_connected())
            }
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
        USER_DESCRIPTION.into()
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
struct FakeGapName(String);

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

/// One provisioning characteristic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint name (`prov-session`, …): what its 0x2901 user description says.
    pub name: String,
    /// The characteristic's UUID.
    pub uuid: Uuid,
}

/// How a fake device lays out its GATT database.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// The advertised name.
    pub name: String,
    /// The Bluetooth address.
    pub address: String,
    /// Signal strength, dBm.
    pub rssi: i16,
    /// The service UUIDs it advertises.
    pub advertised: Vec<Uuid>,
    /// The provisioning service, if any, and its characteristics in order.
    pub service: Option<(Uuid, Vec<Endpoint>)>,
    /// Whether each endpoint characteristic carries a 0x2901 user description naming it.
    pub descriptors: bool,
}

/// The fake `org.bluez` service on a bus. Cloning shares it.
#[derive(Clone, Debug)]
pub struct FakeBluez {
    conn: Connection,
    adapter: Arc<Adapter>,
}

impl FakeBluez {
    /// Owns `org.bluez` on the bus at `address`, with an ObjectManager at `/` and nothing
    /// else yet.
    pub async fn start(address: &str) -> zbus::Result<Self> {
        let conn = zbus::connection::Builder::address(address)?
            .name("org.bluez")?
            .serve_at("/", zbus::fdo::ObjectManager)?
            .build()
            .await?;
        let (starts, _) = watch::channel(0);
        Ok(Self {
            conn,
            adapter: Arc::new(Adapter {
                powered: AtomicBool::new(false),
                discovering: AtomicBool::new(false),
                starts,
            }),
        })
    }

    /// The adapter's state.
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    /// Puts the adapter `hci0` on the bus.
    pub async fn add_adapter(&self) -> zbus::Result<()> {
        self.conn
            .object_server()
            .at(ADAPTER_PATH, FakeAdapter(self.adapter.clone()))
            .await
            .map(drop)
    }

    /// Puts a device on the bus, its provisioning characteristics backed by `peripheral`.
    pub async fn add_device(
        &self,
        spec: DeviceSpec,
        peripheral: Arc<dyn Peripheral>,
    ) -> zbus::Result<Arc<Device>> {
        let server = self.conn.object_server();
        let device_path = format!("{ADAPTER_PATH}/dev_{}", spec.address.replace(':', "_"));
        let device = Arc::new(Device {
            path: device_path.clone(),
            name: spec.name.clone(),
            address: spec.address.clone(),
            rssi: spec.rssi,
            advertised: spec.advertised.clone(),
            peripheral,
            conn: self.conn.clone(),
            state: Mutex::new(DeviceState::default()),
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
            .await?;
        server
            .at(
                format!("{gap}/char0002").as_str(),
                FakeGapName(spec.name.clone()),
            )
            .await?;
        if let Some((service_uuid, endpoints)) = spec.service {
            let service = format!("{device_path}/service0010");
            server
                .at(
                    service.as_str(),
                    FakeService {
                        uuid: service_uuid,
                        device: device_path.clone(),
                    },
                )
                .await?;
            for (index, endpoint) in endpoints.into_iter().enumerate() {
                let handle = 0x11 + 3 * index;
                let char_path = format!("{service}/char{handle:04x}");
                server
                    .at(
                        char_path.as_str(),
                        FakeCharacteristic {
                            device: device.clone(),
                            endpoint: endpoint.name.clone(),
                            uuid: endpoint.uuid,
                            service: service.clone(),
                        },
                    )
                    .await?;
                if spec.descriptors {
                    server
                        .at(
                            format!("{char_path}/desc{:04x}", handle + 2).as_str(),
                            FakeDescriptor {
                                characteristic: char_path.clone(),
                                value: endpoint.name.into_bytes(),
                            },
                        )
                        .await?;
                }
            }
        }
        // The device itself last, so that its InterfacesAdded finds the whole database there.
        server
            .at(device_path.as_str(), FakeDevice(device.clone()))
            .await?;
        Ok(device)
    }
}
