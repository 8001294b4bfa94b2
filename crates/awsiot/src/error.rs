//! The crate's error type, for input that a caller passed in and that cannot be used.
//!
//! Protocol rejections that AWS sends back to a device (a shadow 409, a jobs
//! `VersionMismatch`) are not errors of this kind: they are ordinary protocol values
//! (`shadow::ShadowError`, `jobs::JobsError`) published on a `rejected` topic.

/// Why a name, topic, payload or template given to this crate was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A thing name broke AWS's rule (1-128 characters from `[a-zA-Z0-9:_-]`).
    #[error("invalid thing name {0:?}: use 1-128 characters from a-z, A-Z, 0-9, ':', '_' and '-'")]
    InvalidThingName(String),
    /// A shadow name broke AWS's rule (1-64 characters from `[$a-zA-Z0-9:_-]`).
    #[error(
        "invalid shadow name {0:?}: use 1-64 characters from a-z, A-Z, 0-9, '$', ':', '_' and '-'"
    )]
    InvalidShadowName(String),
    /// A job id broke AWS's rule (1-64 characters from `[a-zA-Z0-9_-]`).
    #[error("invalid job id {0:?}: use 1-64 characters from a-z, A-Z, 0-9, '_' and '-'")]
    InvalidJobId(String),
    /// A provisioning template name broke AWS's rule (1-36 characters from `[0-9A-Za-z_-]`).
    #[error("invalid template name {0:?}: use 1-36 characters from a-z, A-Z, 0-9, '_' and '-'")]
    InvalidTemplateName(String),
    /// An MQTT client id was empty, longer than 128 bytes, or contained `+` or `#`.
    #[error("invalid client id {0:?}: use 1-128 bytes without '+' or '#'")]
    InvalidClientId(String),
    /// The topic is not one of AWS IoT Core's reserved topics that this crate knows.
    #[error("{0:?} is not a known AWS IoT reserved topic")]
    UnknownTopic(String),
    /// A payload could not be decoded into the expected message.
    #[error("malformed {what} payload: {detail}")]
    MalformedPayload {
        /// Which message was expected.
        what: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// A payload could not be encoded (only possible for CBOR writer failures).
    #[error("could not encode {what}: {detail}")]
    Encode {
        /// Which message was being encoded.
        what: &'static str,
        /// What the encoder reported.
        detail: String,
    },
}
