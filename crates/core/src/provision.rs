//! Provisioning devices: finding them, a secure session, Wi-Fi, an AWS IoT identity, and
//! watching them come online.
//!
//! * [`transport`]: the [`Radio`] and [`ProvLink`] traits every transport implements.
//! * [`flow`]: one attempt as a state machine with named steps ([`flow::Provisioning`]).
//! * [`fleet`]: CreateCertificateFromCsr and RegisterThing ([`fleet::FleetProvisioner`]).
//! * [`csr`]: the device's CSR checked (signature, key strength) before it is sent.
//! * [`audit`]: the record of every attempt.
//! * [`networks`]: Wi-Fi networks remembered when the user asks (passwords in the keyring).
//! * [`ble`]: Bluetooth LE through btleplug ([`ble::BleRadio`], or [`ble::OnDemandBleRadio`],
//!   which opens the system's radio when first used).
//! * [`softap`]: the device's own access point over HTTP ([`softap::SoftApRadio`]).
//! * `simulated`: the local sandbox's radio, in this process (`SimulatedRadio`) or in a running
//!   `companion sandbox` over loopback HTTP (`SandboxRadio`).
//!
//! # Transports
//!
//! Both real transports carry ESP unified provisioning's opaque request/response pairs; the
//! protocol (and its ciphers) lives in `companion-espprov`, above them.
//!
//! | | Bluetooth LE ([`ble`]) | SoftAP ([`softap`]) |
//! |---|---|---|
//! | finding | btleplug scan; ESP service UUIDs or the `PROV_` name prefix; strongest first | none: the OS joins the AP; `scan` lists the configured address if it answers |
//! | endpoints | 0x2901 user descriptions, else ESP-IDF's derived UUIDs | `POST /<endpoint>`; the standard set is assumed |
//! | exchange | GATT write with response, then read; long values by the stack (≤ 512 bytes) | HTTP/1.1 body; esp_prov's headers; ≤ 4096 bytes |
//! | session | bound to the connection | `session=<u32>` cookie kept by the link |
//! | drops | reconnects by itself only before `prov-session`; after, `Disconnected` | new TCP connection with the cookie; `Disconnected` if the device's session is gone |
//! | timeouts | connect, discovery, each descriptor read, write and read | connect, each request |
//!
//! A timed-out exchange closes the link on both (the device may still act on the request, so
//! the ciphers can no longer be trusted to be in step). Both are tested against the real code
//! paths: btleplug through a real `dbus-daemon` to a fake BlueZ (`tests/ble_fake_bluez.rs`),
//! and hyper against an HTTP server that behaves like `protocomm_httpd.c`
//! (`tests/softap_http.rs`), each running companion-espprov's device role. What has not been
//! checked against real hardware is listed in each module's docs.

pub mod audit;
pub mod ble;
pub mod csr;
pub mod fleet;
pub mod flow;
pub mod networks;
#[cfg(feature = "local-sandbox")]
pub mod simulated;
pub mod softap;
pub mod transport;

pub use transport::{Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind};
