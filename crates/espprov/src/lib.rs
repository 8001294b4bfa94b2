//! Espressif's unified provisioning protocol (ESP-IDF `protocomm` + `wifi_provisioning`),
//! sans-IO, for both roles: the client (the app) and the device (our simulated devices).
//!
//! This crate does no I/O, reads no clock and draws no randomness of its own: every function
//! that needs random bytes takes the caller's [`rand_core::CryptoRng`]. The transport (BLE GATT
//! write-then-read, or HTTP POST over SoftAP) belongs to the caller; this crate turns requests
//! into bytes and bytes into answers.
//!
//! * [`proto`]: the protobuf messages, field for field as ESP-IDF's `.proto` files.
//! * [`version`]: the plaintext `proto-ver` JSON ([`VersionInfo`]).
//! * [`Session`] (client) and [`DeviceSession`] (device): the `prov-session` handshake of
//!   Security 0, 1 and 2 ([`security`]), ending in the session cipher.
//! * [`wifi`]: typed requests and answers of `prov-config`, `prov-scan` and `prov-ctrl`.
//! * [`credentials`]: our `aws-iot` endpoint, which gets a CSR from the device and installs its
//!   AWS IoT certificate (specified in `docs/credential-endpoint.md`).
//!
//! ```
//! use companion_espprov::{DeviceSecurity, DeviceSession, Pop, Session, Step};
//! # use rand_core::{TryCryptoRng, TryRng};
//! # struct Counter(u8);
//! # impl TryRng for Counter {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(u32::from(self.next())) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(u64::from(self.next())) }
//! #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//! #         dst.iter_mut().for_each(|b| *b = self.next()); Ok(())
//! #     }
//! # }
//! # impl TryCryptoRng for Counter {}
//! # impl Counter { fn next(&mut self) -> u8 { self.0 = self.0.wrapping_mul(31).wrapping_add(7); self.0 } }
//! # let mut rng = Counter(1);
//! let mut device = DeviceSession::new(DeviceSecurity::Sec1 { pop: Pop::from("abcd1234") });
//! let mut app = Session::sec1(Pop::from("abcd1234"), &mut rng);
//!
//! let mut request = app.start()?;
//! loop {
//!     let answer = device.handle_request(&request, &mut rng)?;
//!     match app.handle_response(&answer)? {
//!         Step::Send(next) => request = next,
//!         Step::Established => break,
//!     }
//! }
//! let sealed = app.encrypt(b"hello")?;
//! assert_eq!(device.decrypt(&sealed)?, b"hello");
//! # Ok::<(), companion_espprov::Error>(())
//! ```

#![warn(missing_docs)]

pub mod credentials;
mod device;
pub mod endpoint;
mod error;
pub mod proto;
mod secret;
pub mod security;
mod session;
pub mod version;
pub mod wifi;

pub use device::{DeviceSecurity, DeviceSession};
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use secret::{Passphrase, Password, Pop, Secret};
pub use security::sec2::Sec2Credentials;
pub use security::srp::VerifierOrigin;
pub use security::{Sec2Patch, SecurityScheme};
pub use session::{Session, Step};
pub use version::VersionInfo;
