//! A simulated BLE radio with provisionable simulated devices: unprovisioned ESP32-style
//! devices that advertise as `PROV_XXXXXX`, speak ESP unified provisioning (the device role of
//! `companion-espprov`: Security 0/1/2, Wi-Fi scan/config/ctrl, our `aws-iot` credential
//! endpoint), "join" configurable Wi-Fi networks, and — once they have Wi-Fi and an installed
//! certificate — come online in the sandbox as the simulated firmware of their model.
//!
//! ```no_run
//! # async fn example(sandbox: &companion_sandbox::Sandbox) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use companion_sandbox::devices::DeviceKind;
//! use companion_sandbox::radio::{DeviceSpec, Network, SecuritySpec};
//!
//! let radio = sandbox.radio();
//! let label = radio.add_device(
//!     DeviceSpec::new("SN0001", DeviceKind::Plug, SecuritySpec::sec1("abcd1234"))
//!         .with_network(Network::wpa2("home", "correct horse")),
//! )?;
//! let seen = radio.scan(Duration::from_millis(100)).await; // PROV_xxxxxx, strongest first
//! let link = radio.connect(&label.id).await?;
//! let version = link.exchange("proto-ver", b"---".to_vec()).await?;
//! # Ok(()) }
//! ```
//!
//! The link model ([`LinkModel`]) charges a connection set-up time and a latency per GATT
//! operation (long writes and reads cost more at a small MTU), refuses values over 512 bytes,
//! and drops links at random or where a test injects a [`DropRule`]. All time goes through
//! tokio, so tests may run it with `tokio::time::pause`.

pub mod demo;
mod device;
pub mod http;
mod identity;
mod link;
mod spec;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub use link::{
    DropPoint, DropRule, LinkError, LinkModel, LinkStats, MAX_ATTRIBUTE_LEN, MIN_MTU, SimulatedLink,
};
pub use spec::{
    CloudState, DeviceLabel, DeviceSpec, DeviceStatus, FailureRecovery, HandlerFailure,
    IdentityStatus, LinkDropOnJoin, MAX_SCAN_RESULTS, Network, SecuritySpec, WifiBehaviour,
    WifiStatus,
};

use self::device::Device;
use crate::devices::DeviceRng;

/// The radio's own random source (RSSI wander, random drops), seeded.
pub(crate) type SharedRng = Arc<Mutex<DeviceRng>>;

/// How to build a radio.
#[derive(Debug, Clone, Default)]
pub struct RadioConfig {
    /// The link model new links get.
    pub link: LinkModel,
    /// Seeds RSSI wander and random drops.
    pub seed: u64,
    /// The root CA devices trust when an installation carries none (ESP-IDF firmware embeds
    /// Amazon's; the sandbox's radio embeds the sandbox CA).
    pub builtin_root_ca_pem: Option<String>,
}

/// Why a device could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RadioError {
    /// The specification is unusable.
    #[error("the simulated device is invalid: {0}")]
    InvalidSpec(String),
    /// A device with this serial is already on the radio.
    #[error("a simulated device with serial {0} already exists")]
    DuplicateSerial(String),
}

/// One advertising device, as a scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// The id to connect with (a Bluetooth address).
    pub id: String,
    /// The advertised name, `PROV_XXXXXX`.
    pub name: String,
    /// Signal strength, dBm.
    pub rssi: i16,
}

/// The simulated radio: the devices in range and the link model. Cloning shares it.
#[derive(Debug, Clone)]
pub struct SimulatedRadio {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    link: Mutex<LinkModel>,
    rng: SharedRng,
    builtin_root_ca_pem: Option<String>,
    devices: Mutex<BTreeMap<String, Arc<Device>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimulatedRadio {
    /// An empty radio.
    pub fn new(config: RadioConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                link: Mutex::new(config.link),
                rng: Arc::new(Mutex::new(DeviceRng::seed_from_u64(config.seed))),
                builtin_root_ca_pem: config.builtin_root_ca_pem,
                devices: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The link model new links get.
    pub fn link_model(&self) -> LinkModel {
        lock(&self.inner.link).clone()
    }

    /// Changes the link model for links opened from now on.
    pub fn set_link_model(&self, model: LinkModel) {
        *lock(&self.inner.link) = model;
    }

    /// Puts a device in range; it advertises at once. Returns its label (its id, name and
    /// secret, as printed on the box).
    pub fn add_device(&self, spec: DeviceSpec) -> Result<DeviceLabel, RadioError> {
        spec.validate().map_err(RadioError::InvalidSpec)?;
        let mut devices = lock(&self.inner.devices);
        if devices.values().any(|d| d.spec().serial == spec.serial) {
            return Err(RadioError::DuplicateSerial(spec.serial));
        }
        let (id, name) = (0u32..)
            .map(|salt| address(&spec.serial, salt))
            .find(|(id, name)| {
                !devices.contains_key(id) && !devices.values().any(|d| d.name() == name)
            })
            .unwrap_or_else(|| address(&spec.serial, u32::MAX));
        let rng = rand::make_rng();
        let device = Device::new(
            id.clone(),
            name,
            spec,
            self.inner.builtin_root_ca_pem.clone(),
            rng,
        );
        let label = device.label();
        devices.insert(id, device);
        Ok(label)
    }

    /// The ids of every device on the radio, advertising or not.
    pub fn device_ids(&self) -> Vec<String> {
        lock(&self.inner.devices).keys().cloned().collect()
    }

    /// The label of device `id`.
    pub fn label(&self, id: &str) -> Option<DeviceLabel> {
        self.device(id).map(|d| d.label())
    }

    /// The endpoints device `id`'s GATT database offers (what a central learns by service
    /// discovery once connected).
    pub fn endpoints(&self, id: &str) -> Option<Vec<String>> {
        self.device(id).map(|d| d.endpoints())
    }

    /// Scans for `window` and returns the advertising devices, strongest first (ties by id).
    /// Each scan moves every device's signal a little (±2 dB a scan, within ±6 dB of its
    /// nominal strength).
    pub async fn scan(&self, window: Duration) -> Vec<Advertisement> {
        if !window.is_zero() {
            tokio::time::sleep(window).await;
        }
        let devices: Vec<Arc<Device>> = lock(&self.inner.devices).values().cloned().collect();
        let mut seen: Vec<Advertisement> = devices
            .iter()
            .filter_map(|device| {
                let step = lock(&self.inner.rng).random_range(-2..=2);
                let rssi = device.advertise(step)?;
                Some(Advertisement {
                    id: device.id().to_owned(),
                    name: device.name().to_owned(),
                    rssi,
                })
            })
            .collect();
        seen.sort_by(|a, b| b.rssi.cmp(&a.rssi).then_with(|| a.id.cmp(&b.id)));
        seen
    }

    /// Connects to device `id`: it stops advertising at once, and the link is usable after the
    /// link model's set-up time.
    pub async fn connect(&self, id: &str) -> Result<SimulatedLink, LinkError> {
        let device = self
            .device(id)
            .ok_or_else(|| LinkError::NotFound(id.to_owned()))?;
        let shared = device.claim_link()?;
        let model = self.link_model();
        let connect_time = model.connect_time;
        let link = SimulatedLink::new(device, shared, model, Arc::clone(&self.inner.rng));
        if !connect_time.is_zero() {
            tokio::time::sleep(connect_time).await;
        }
        if !link.is_open() {
            return Err(LinkError::Disconnected(
                "the link dropped while connecting".into(),
            ));
        }
        Ok(link)
    }

    /// The current state of device `id`.
    pub fn status(&self, id: &str) -> Option<DeviceStatus> {
        self.device(id).map(|d| d.status())
    }

    /// Follows the state of device `id`: every change (Wi-Fi, identity, link, online) is a new
    /// value.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<DeviceStatus>> {
        self.device(id).map(|d| d.watch())
    }

    /// Arms a drop on device `id`'s links. False when there is no such device.
    pub fn inject_drop(&self, id: &str, rule: DropRule) -> bool {
        self.device(id).map(|d| d.inject_drop(rule)).is_some()
    }

    /// Stops every device: links close, pending joins stop, and online firmware disconnects
    /// cleanly. Devices stay on the radio but no longer advertise.
    pub async fn shutdown(&self) {
        let devices: Vec<Arc<Device>> = lock(&self.inner.devices).values().cloned().collect();
        for device in devices {
            for task in device.halt() {
                if let Err(error) = task.await {
                    tracing::warn!(%error, "a simulated device's firmware did not stop cleanly");
                }
            }
        }
    }

    fn device(&self, id: &str) -> Option<Arc<Device>> {
        lock(&self.inner.devices).get(id).cloned()
    }
}

/// A Bluetooth address in Espressif's range and the `PROV_` name ESP-IDF's examples derive
/// from its last three bytes.
fn address(serial: &str, salt: u32) -> (String, String) {
    let mut hasher = Sha256::new();
    hasher.update(serial.as_bytes());
    hasher.update(salt.to_le_bytes());
    let digest = hasher.finalize();
    let bytes = [0x24, 0x0a, 0xc4, digest[0], digest[1], digest[2]];
    let id = bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let name = format!("PROV_{:02X}{:02X}{:02X}", bytes[3], bytes[4], bytes[5]);
    (id, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_espressif_like_and_names_follow_their_last_bytes() {
        let (id, name) = address("SN0001", 0);
        assert!(id.starts_with("24:0A:C4:"), "{id}");
        assert_eq!(&name[5..], id[9..].replace(':', ""), "{id} / {name}");
        assert_eq!(address("SN0001", 0), (id, name), "stable");
        assert_ne!(address("SN0001", 1), address("SN0001", 0));
    }
}
