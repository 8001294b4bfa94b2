//! Provisioning devices: finding them, a secure session, Wi-Fi, an AWS IoT identity, and
//! watching them come online.
//!
//! * [`transport`]: the [`Radio`] and [`ProvLink`] traits every transport implements.

pub mod transport;

pub use transport::{Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind};
