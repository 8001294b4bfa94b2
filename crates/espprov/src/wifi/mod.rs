//! Typed requests and answers of the Wi-Fi endpoints, for both roles.
//!
//! Each endpoint has a request enum and a response enum. The client builds a request and
//! encodes it ([`config::ConfigRequest::encode`]), encrypts it with its
//! [`Session`](crate::Session), and reads the decrypted answer with the request's
//! `read_response`, which checks that the answer is the one asked for and turns a status other
//! than `Success` into [`Error::DeviceStatus`](crate::Error::DeviceStatus). The device decodes the
//! request with `decode` (dispatching on the message type, as ESP-IDF does), acts, and encodes a
//! response; a refusal is the response's `Refused` variant, which carries the status.
//!
//! These are plaintext protobuf bytes: encryption is the session's job.

pub mod config;
pub mod ctrl;
pub mod scan;

use std::fmt;

use crate::proto::wifi_constants::WifiAuthMode;

/// An access point's authentication mode as the device reported it: a known
/// [`WifiAuthMode`] or a value a newer IDF added.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthMode(pub i32);

impl AuthMode {
    /// The mode, if `wifi_constants.proto` names it.
    pub fn known(self) -> Option<WifiAuthMode> {
        WifiAuthMode::try_from(self.0).ok()
    }

    /// Whether joining needs no passphrase.
    pub fn is_open(self) -> bool {
        self.known() == Some(WifiAuthMode::Open)
    }
}

impl From<WifiAuthMode> for AuthMode {
    fn from(mode: WifiAuthMode) -> Self {
        Self(mode as i32)
    }
}

impl fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known() {
            Some(mode) => write!(f, "{mode:?}"),
            None => write!(f, "AuthMode({})", self.0),
        }
    }
}

/// Maps a wire status to the typed status; unknown values become `InternalError`.
pub(crate) fn status_of(value: i32) -> crate::proto::Status {
    crate::proto::Status::try_from(value).unwrap_or(crate::proto::Status::InternalError)
}
