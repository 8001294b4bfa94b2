//! Endpoint names: the BLE characteristic user descriptions and the SoftAP URI paths.

use std::fmt;

/// `proto-ver`: plaintext JSON version and capabilities ([`crate::version`]).
pub const PROTO_VER: &str = "proto-ver";
/// `prov-session`: the security handshake ([`crate::Session`], [`crate::DeviceSession`]).
pub const PROV_SESSION: &str = "prov-session";
/// `prov-config`: Wi-Fi credentials and station status ([`crate::wifi::config`]).
pub const PROV_CONFIG: &str = "prov-config";
/// `prov-scan`: the device's Wi-Fi scan ([`crate::wifi::scan`]).
pub const PROV_SCAN: &str = "prov-scan";
/// `prov-ctrl`: reset and re-provision ([`crate::wifi::ctrl`]).
pub const PROV_CTRL: &str = "prov-ctrl";
/// `aws-iot`: our custom endpoint for AWS IoT credentials ([`crate::credentials`]).
pub const AWS_IOT: &str = "aws-iot";

/// A protocomm endpoint, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// [`PROTO_VER`].
    ProtoVer,
    /// [`PROV_SESSION`].
    Session,
    /// [`PROV_CONFIG`].
    Config,
    /// [`PROV_SCAN`].
    Scan,
    /// [`PROV_CTRL`].
    Ctrl,
    /// [`AWS_IOT`].
    AwsIot,
    /// Any other application endpoint (`wifi_prov_mgr_endpoint_create`).
    Custom(String),
}

impl Endpoint {
    /// The endpoint's name on the wire.
    pub fn name(&self) -> &str {
        match self {
            Self::ProtoVer => PROTO_VER,
            Self::Session => PROV_SESSION,
            Self::Config => PROV_CONFIG,
            Self::Scan => PROV_SCAN,
            Self::Ctrl => PROV_CTRL,
            Self::AwsIot => AWS_IOT,
            Self::Custom(name) => name,
        }
    }

    /// The endpoint with this name.
    pub fn from_name(name: &str) -> Self {
        match name {
            PROTO_VER => Self::ProtoVer,
            PROV_SESSION => Self::Session,
            PROV_CONFIG => Self::Config,
            PROV_SCAN => Self::Scan,
            PROV_CTRL => Self::Ctrl,
            AWS_IOT => Self::AwsIot,
            other => Self::Custom(other.to_owned()),
        }
    }

    /// Whether payloads to and from this endpoint go through the session cipher. Only
    /// `proto-ver` and the handshake itself are plaintext.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Self::ProtoVer | Self::Session)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_version_and_session_are_plaintext() {
        for endpoint in [
            Endpoint::ProtoVer,
            Endpoint::Session,
            Endpoint::Config,
            Endpoint::Scan,
            Endpoint::Ctrl,
            Endpoint::AwsIot,
            Endpoint::Custom("custom-data".into()),
        ] {
            assert_eq!(Endpoint::from_name(endpoint.name()), endpoint, "{endpoint}");
            let plaintext = matches!(endpoint, Endpoint::ProtoVer | Endpoint::Session);
            assert_eq!(endpoint.is_encrypted(), !plaintext, "{endpoint}");
        }
    }
}
