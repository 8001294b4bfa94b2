//! The crate's one error type.

use crate::proto::Status;
use crate::security::SecurityScheme;

/// Everything that can go wrong while building, reading or securing a provisioning message.
///
/// None of these is a panic: every decoder and every handshake step returns one of them for
/// malformed, unexpected or unauthentic input. After any error during the handshake or from
/// [`Session::decrypt`](crate::Session::decrypt), the session is unusable: reconnect and redo the
/// handshake (the ESP-IDF ciphers are order-sensitive and cannot resynchronise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid protobuf encoding of the expected message.
    #[error("the {what} message could not be decoded: {reason}")]
    Decode {
        /// The message that was expected.
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A well-formed message of the wrong kind, or a payload that does not match its type tag.
    #[error("expected {expected}, but received {got}")]
    UnexpectedMessage {
        /// What the state machine expected.
        expected: &'static str,
        /// What arrived.
        got: String,
    },
    /// The peer speaks a different security scheme than this session was set up for.
    #[error("the peer uses security scheme {got}, but this session was set up for {expected}")]
    SchemeMismatch {
        /// This side's scheme.
        expected: SecurityScheme,
        /// The `sec_ver` the peer sent.
        got: i32,
    },
    /// The device answered with a status other than `Success`.
    #[error("the device answered with status {0:?}")]
    DeviceStatus(Status),
    /// The device answered with a status value `constants.proto` does not define.
    #[error("the device answered with an unknown status value {0}")]
    UnknownStatus(i32),
    /// The peer's proof does not match: wrong proof of possession, wrong username or password,
    /// or a peer that does not know the session key.
    #[error("the proof of possession or the password is wrong (the peer's proof did not match)")]
    AuthenticationFailed,
    /// A field has the wrong length or an impossible value.
    #[error("invalid {what}: {reason}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// `encrypt`/`decrypt` before the handshake finished.
    #[error("the secure session is not established yet")]
    NotEstablished,
    /// A handshake step out of order (for example a second `start`).
    #[error("handshake step out of order: {0}")]
    OutOfOrder(&'static str),
    /// AES-GCM authentication failed: the message was tampered with, or the two sides' nonce
    /// counters have diverged. Reconnect and redo the handshake.
    #[error("the encrypted message failed authentication; reconnect and redo the handshake")]
    DecryptFailed,
    /// The AES-GCM nonce counter is used up (2^32 messages); redo the handshake.
    #[error("the session's nonce counter is exhausted; redo the handshake")]
    NonceExhausted,
    /// An earlier failure made this session unusable.
    #[error("the session failed earlier and cannot be used; reconnect and redo the handshake")]
    Poisoned,
    /// The `proto-ver` answer could not be understood.
    #[error("the proto-ver answer is not usable: {0}")]
    Version(String),
    /// The `aws-iot` endpoint answered with a status other than `Ok`.
    #[error("the device refused the credential request: {0:?}")]
    Credential(crate::credentials::AwsIotStatus),
}

/// Shorthand for `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn decode(what: &'static str, error: prost::DecodeError) -> Self {
        Self::Decode {
            what,
            reason: error.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn unexpected(expected: &'static str, got: impl Into<String>) -> Self {
        Self::UnexpectedMessage {
            expected,
            got: got.into(),
        }
    }
}

/// Turns a wire status into `Ok(())` for `Success` and the matching error otherwise.
pub(crate) fn check_status(status: i32) -> Result<()> {
    match Status::try_from(status) {
        Ok(Status::Success) => Ok(()),
        Ok(other) => Err(Error::DeviceStatus(other)),
        Err(_) => Err(Error::UnknownStatus(status)),
    }
}
