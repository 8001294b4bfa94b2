//! The transports a device is provisioned over, behind one pair of traits: a [`Radio`] finds
//! devices and opens a [`ProvLink`] to one; a link exchanges request/response pairs on named
//! endpoints (`proto-ver`, `prov-session`, `prov-config`, `prov-scan`, `aws-iot`, …).
//!
//! Implementations: Bluetooth LE through btleplug (GATT write with response, then read, on the
//! characteristic whose 0x2901 user description names the endpoint), SoftAP over HTTP (POST to
//! `/<endpoint>` with the session cookie), and the local sandbox's simulated radio.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A transport operation in flight.
pub type TransportFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, TransportError>> + Send + 'a>>;

/// Which transport found a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Bluetooth LE.
    Ble,
    /// The device's own Wi-Fi access point, over HTTP.
    SoftAp,
    /// The local sandbox's simulated radio.
    Simulated,
}

/// A device that offers provisioning, as a scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Stable id to connect with (a BLE address, an AP's address, a simulated id).
    pub id: String,
    /// The advertised name, e.g. `PROV_1A2B3C`.
    pub name: String,
    /// Signal strength in dBm, when known.
    pub rssi: Option<i16>,
    /// Which transport.
    pub kind: TransportKind,
}

/// Finds devices and opens links to them.
pub trait Radio: Send + Sync + fmt::Debug {
    /// Which transport this radio is.
    fn kind(&self) -> TransportKind;

    /// Scans for `window` and returns the devices that offer provisioning (the ESP
    /// provisioning service UUID, or a name starting with `PROV_`), strongest first.
    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>>;

    /// Opens a link to the device `id` from a scan.
    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>>;
}

/// An open link to one device.
pub trait ProvLink: Send + Sync + fmt::Debug {
    /// The endpoint names the device offers (on BLE from the characteristics' user
    /// descriptions; on SoftAP the standard set, as HTTP cannot list them).
    fn endpoints(&self) -> Vec<String>;

    /// Sends `request` to `endpoint` and returns the device's answer.
    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>>;

    /// Closes the link; later exchanges fail with [`TransportError::Disconnected`].
    fn close(&self) -> TransportFuture<'_, ()>;
}

/// Why a transport operation failed. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No adapter or radio is usable.
    #[error("no usable radio: {0}")]
    NoRadio(String),
    /// The operating system refused (permissions).
    #[error(
        "the system refused access to the radio: {0}; grant the app Bluetooth (and on older Android, location) permission"
    )]
    PermissionDenied(String),
    /// The device is not (or no longer) in range.
    #[error("the device {0} is not in range any more: move closer and scan again")]
    NotFound(String),
    /// The device does not offer the endpoint.
    #[error("the device does not offer the endpoint \"{0}\"")]
    NoEndpoint(String),
    /// No answer in time.
    #[error(
        "the device did not answer {what} within {after:?}: move closer, or power-cycle it and try again"
    )]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The link dropped.
    #[error("the link to the device dropped: {0}")]
    Disconnected(String),
    /// Anything else the transport reported.
    #[error("the transport failed: {0}")]
    Io(String),
}
