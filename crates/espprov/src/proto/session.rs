//! `session.proto`: the envelope of every `prov-session` message.

use super::{sec0::Sec0Payload, sec1::Sec1Payload, sec2::Sec2Payload};

/// `enum SecSchemeVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SecSchemeVersion {
    /// `SecScheme0 = 0`: plaintext.
    SecScheme0 = 0,
    /// `SecScheme1 = 1`: Curve25519 + AES-256-CTR.
    SecScheme1 = 1,
    /// `SecScheme2 = 2`: SRP6a + AES-256-GCM.
    SecScheme2 = 2,
}

/// `message SessionData { SecSchemeVersion sec_ver = 2; oneof proto { sec0 = 10; sec1 = 11; sec2 = 12; } }`.
///
/// Note that `sec_ver` is field **2**; there is no field 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionData {
    /// The security scheme of this message.
    #[prost(enumeration = "SecSchemeVersion", tag = "2")]
    pub sec_ver: i32,
    /// The scheme's payload.
    #[prost(oneof = "session_data::Proto", tags = "10, 11, 12")]
    pub proto: Option<session_data::Proto>,
}

/// The `oneof proto` of [`SessionData`].
pub mod session_data {
    /// `oneof proto`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Proto {
        /// `Sec0Payload sec0 = 10`.
        #[prost(message, tag = "10")]
        Sec0(super::Sec0Payload),
        /// `Sec1Payload sec1 = 11`.
        #[prost(message, tag = "11")]
        Sec1(super::Sec1Payload),
        /// `Sec2Payload sec2 = 12`.
        #[prost(message, tag = "12")]
        Sec2(super::Sec2Payload),
    }
}
