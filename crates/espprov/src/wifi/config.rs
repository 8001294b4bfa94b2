//! `prov-config`: station status, Wi-Fi credentials, apply.

use prost::Message;

use super::{AuthMode, status_of};
use crate::error::{Error, Result};
use crate::proto::Status;
use crate::proto::wifi_config::{
    CmdApplyConfig, CmdGetStatus, CmdSetConfig, RespApplyConfig, RespGetStatus, RespSetConfig,
    WiFiConfigMsgType, WiFiConfigPayload, resp_get_status::State, wi_fi_config_payload::Payload,
};
use crate::proto::wifi_constants::{
    WifiAttemptFailed, WifiConnectFailedReason, WifiConnectedState, WifiStationState,
};
use crate::secret::Passphrase;

/// The longest SSID (IEEE 802.11).
pub const MAX_SSID_LEN: usize = 32;

/// Credentials for the device's station interface. `Debug` redacts the passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiCredentials {
    /// The SSID, 1 to 32 bytes.
    pub ssid: Vec<u8>,
    /// The passphrase: empty for an open network, 8 to 63 bytes, or 64 hex digits (a raw PSK).
    pub passphrase: Passphrase,
    /// A BSSID to pin, if any.
    pub bssid: Option<[u8; 6]>,
    /// A channel to pin, 0 for any.
    pub channel: u8,
}

impl WifiCredentials {
    /// Credentials for `ssid` with `passphrase`, checked as `wifi_prov_mgr` checks them.
    pub fn new(ssid: impl Into<Vec<u8>>, passphrase: Passphrase) -> Result<Self> {
        let credentials = Self {
            ssid: ssid.into(),
            passphrase,
            bssid: None,
            channel: 0,
        };
        credentials.validate()?;
        Ok(credentials)
    }

    /// Checks the SSID and passphrase lengths (the device should answer `InvalidArgument` to
    /// credentials that fail this).
    pub fn validate(&self) -> Result<()> {
        if self.ssid.is_empty() || self.ssid.len() > MAX_SSID_LEN {
            return Err(Error::invalid(
                "ssid",
                format!("{} bytes, expected 1 to 32", self.ssid.len()),
            ));
        }
        let passphrase = self.passphrase.expose();
        let raw_psk = passphrase.len() == 64 && passphrase.iter().all(u8::is_ascii_hexdigit);
        if !(passphrase.is_empty() || (8..=63).contains(&passphrase.len()) || raw_psk) {
            return Err(Error::invalid(
                "passphrase",
                "expected none, 8 to 63 characters, or 64 hex digits",
            ));
        }
        Ok(())
    }

    fn to_wire(&self) -> CmdSetConfig {
        CmdSetConfig {
            ssid: self.ssid.clone(),
            passphrase: self.passphrase.expose().to_vec(),
            bssid: self.bssid.map(|b| b.to_vec()).unwrap_or_default(),
            channel: i32::from(self.channel),
        }
    }

    fn from_wire(cmd: CmdSetConfig) -> Result<Self> {
        let bssid = match cmd.bssid.len() {
            0 => None,
            _ => Some(
                cmd.bssid
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::invalid("bssid", "expected 6 bytes"))?,
            ),
        };
        let channel = u8::try_from(cmd.channel)
            .map_err(|_| Error::invalid("channel", "expected 0 to 255"))?;
        Ok(Self {
            ssid: cmd.ssid.clone(),
            passphrase: Passphrase::new(cmd.passphrase.clone()),
            bssid,
            channel,
        })
    }
}

/// A `prov-config` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRequest {
    /// `CmdGetStatus`: how is the station doing?
    GetStatus,
    /// `CmdSetConfig`: store these credentials.
    SetConfig(WifiCredentials),
    /// `CmdApplyConfig`: connect with the stored credentials.
    ApplyConfig,
}

/// Which request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    /// [`ConfigRequest::GetStatus`].
    GetStatus,
    /// [`ConfigRequest::SetConfig`].
    SetConfig,
    /// [`ConfigRequest::ApplyConfig`].
    ApplyConfig,
}

/// The station's state, from `RespGetStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationStatus {
    /// Connected and has an address.
    Connected(ConnectedInfo),
    /// Still trying; newer IDF says how many attempts remain after a failed one.
    Connecting {
        /// `WifiAttemptFailed.attempts_remaining`, when sent.
        attempts_remaining: Option<u32>,
    },
    /// Not connected and not trying.
    Disconnected,
    /// Gave up.
    Failed(FailReason),
}

/// Why the station gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// Wrong passphrase.
    AuthError,
    /// The SSID was not found.
    NetworkNotFound,
    /// The device did not say, or said something this crate does not know.
    Unknown,
}

/// `WifiConnectedState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedInfo {
    /// The station's IPv4 address, dotted.
    pub ip4_addr: String,
    /// The access point's authentication mode.
    pub auth_mode: AuthMode,
    /// The SSID.
    pub ssid: Vec<u8>,
    /// The BSSID.
    pub bssid: Vec<u8>,
    /// The channel.
    pub channel: i32,
}

/// A `prov-config` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResponse {
    /// `RespGetStatus` with `Success`.
    Status(StationStatus),
    /// `RespSetConfig` with `Success`.
    ConfigSet,
    /// `RespApplyConfig` with `Success`.
    ConfigApplied,
    /// Any response whose status is not `Success`.
    Refused {
        /// The request refused.
        to: ConfigKind,
        /// Why.
        status: Status,
    },
}

impl ConfigRequest {
    /// The request's kind.
    pub fn kind(&self) -> ConfigKind {
        match self {
            Self::GetStatus => ConfigKind::GetStatus,
            Self::SetConfig(_) => ConfigKind::SetConfig,
            Self::ApplyConfig => ConfigKind::ApplyConfig,
        }
    }

    /// The plaintext `WiFiConfigPayload` (client).
    pub fn encode(&self) -> Vec<u8> {
        let (msg, payload) = match self {
            Self::GetStatus => (
                WiFiConfigMsgType::TypeCmdGetStatus,
                Payload::CmdGetStatus(CmdGetStatus {}),
            ),
            Self::SetConfig(credentials) => (
                WiFiConfigMsgType::TypeCmdSetConfig,
                Payload::CmdSetConfig(credentials.to_wire()),
            ),
            Self::ApplyConfig => (
                WiFiConfigMsgType::TypeCmdApplyConfig,
                Payload::CmdApplyConfig(CmdApplyConfig {}),
            ),
        };
        WiFiConfigPayload {
            msg: msg as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads a request (device). Dispatches on `msg` like `wifi_config.c`: esp_prov sends
    /// `CmdApplyConfig` without its (empty) payload.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiConfigPayload::decode(bytes).map_err(|e| Error::decode("WiFiConfigPayload", e))?;
        match (WiFiConfigMsgType::try_from(message.msg), message.payload) {
            (Ok(WiFiConfigMsgType::TypeCmdGetStatus), _) => Ok(Self::GetStatus),
            (Ok(WiFiConfigMsgType::TypeCmdSetConfig), Some(Payload::CmdSetConfig(cmd))) => {
                Ok(Self::SetConfig(WifiCredentials::from_wire(cmd)?))
            }
            (Ok(WiFiConfigMsgType::TypeCmdApplyConfig), _) => Ok(Self::ApplyConfig),
            (msg, _) => Err(Error::unexpected(
                "a prov-config command",
                format!("{msg:?}"),
            )),
        }
    }

    /// Reads the device's answer to this request (client). A refusal becomes
    /// [`Error::DeviceStatus`].
    pub fn read_response(&self, bytes: &[u8]) -> Result<ConfigResponse> {
        let response = ConfigResponse::decode(bytes)?;
        if response.kind() != self.kind() {
            return Err(Error::unexpected(
                "the answer to this prov-config request",
                format!("{:?}", response.kind()),
            ));
        }
        match response {
            ConfigResponse::Refused { status, .. } => Err(Error::DeviceStatus(status)),
            answer => Ok(answer),
        }
    }
}

impl ConfigResponse {
    /// The kind of request this answers.
    pub fn kind(&self) -> ConfigKind {
        match self {
            Self::Status(_) => ConfigKind::GetStatus,
            Self::ConfigSet => ConfigKind::SetConfig,
            Self::ConfigApplied => ConfigKind::ApplyConfig,
            Self::Refused { to, .. } => *to,
        }
    }

    /// The plaintext `WiFiConfigPayload` (device); `msg` is the request's type plus one.
    pub fn encode(&self) -> Vec<u8> {
        let ok = Status::Success as i32;
        let (msg, payload) = match self {
            Self::Status(station) => (
                WiFiConfigMsgType::TypeRespGetStatus,
                Payload::RespGetStatus(station_to_wire(station, ok)),
            ),
            Self::ConfigSet => (
                WiFiConfigMsgType::TypeRespSetConfig,
                Payload::RespSetConfig(RespSetConfig { status: ok }),
            ),
            Self::ConfigApplied => (
                WiFiConfigMsgType::TypeRespApplyConfig,
                Payload::RespApplyConfig(RespApplyConfig { status: ok }),
            ),
            Self::Refused { to, status } => refused(*to, *status as i32),
        };
        WiFiConfigPayload {
            msg: msg as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads any `prov-config` response.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiConfigPayload::decode(bytes).map_err(|e| Error::decode("WiFiConfigPayload", e))?;
        let (to, status) = match &message.payload {
            Some(Payload::RespGetStatus(resp)) => (ConfigKind::GetStatus, resp.status),
            Some(Payload::RespSetConfig(resp)) => (ConfigKind::SetConfig, resp.status),
            Some(Payload::RespApplyConfig(resp)) => (ConfigKind::ApplyConfig, resp.status),
            other => {
                return Err(Error::unexpected(
                    "a prov-config response",
                    format!("{other:?}"),
                ));
            }
        };
        if status != Status::Success as i32 {
            return Ok(Self::Refused {
                to,
                status: status_of(status),
            });
        }
        Ok(match message.payload {
            Some(Payload::RespGetStatus(resp)) => Self::Status(station_from_wire(resp)?),
            Some(Payload::RespSetConfig(_)) => Self::ConfigSet,
            _ => Self::ConfigApplied,
        })
    }
}

fn refused(to: ConfigKind, status: i32) -> (WiFiConfigMsgType, Payload) {
    match to {
        ConfigKind::GetStatus => {
            let resp = RespGetStatus {
                status,
                sta_state: WifiStationState::Disconnected as i32,
                state: None,
            };
            (
                WiFiConfigMsgType::TypeRespGetStatus,
                Payload::RespGetStatus(resp),
            )
        }
        ConfigKind::SetConfig => (
            WiFiConfigMsgType::TypeRespSetConfig,
            Payload::RespSetConfig(RespSetConfig { status }),
        ),
        ConfigKind::ApplyConfig => (
            WiFiConfigMsgType::TypeRespApplyConfig,
            Payload::RespApplyConfig(RespApplyConfig { status }),
        ),
    }
}

fn station_to_wire(station: &StationStatus, status: i32) -> RespGetStatus {
    let (sta_state, state) = match station {
        StationStatus::Connected(info) => (
            WifiStationState::Connected,
            Some(State::Connected(connected_to_wire(info))),
        ),
        StationStatus::Connecting { attempts_remaining } => (
            WifiStationState::Connecting,
            attempts_remaining.map(|attempts_remaining| {
                State::AttemptFailed(WifiAttemptFailed { attempts_remaining })
            }),
        ),
        StationStatus::Disconnected => (WifiStationState::Disconnected, None),
        StationStatus::Failed(reason) => (
            WifiStationState::ConnectionFailed,
            reason_to_wire(*reason).map(State::FailReason),
        ),
    };
    RespGetStatus {
        status,
        sta_state: sta_state as i32,
        state,
    }
}

fn station_from_wire(resp: RespGetStatus) -> Result<StationStatus> {
    let state = WifiStationState::try_from(resp.sta_state)
        .map_err(|_| Error::invalid("sta_state", format!("unknown value {}", resp.sta_state)))?;
    Ok(match (state, resp.state) {
        (WifiStationState::Connected, Some(State::Connected(info))) => {
            StationStatus::Connected(connected_from_wire(info))
        }
        (WifiStationState::Connected, _) => {
            return Err(Error::invalid(
                "RespGetStatus",
                "connected without connection details",
            ));
        }
        (WifiStationState::Connecting, Some(State::AttemptFailed(attempt))) => {
            StationStatus::Connecting {
                attempts_remaining: Some(attempt.attempts_remaining),
            }
        }
        (WifiStationState::Connecting, _) => StationStatus::Connecting {
            attempts_remaining: None,
        },
        (WifiStationState::Disconnected, _) => StationStatus::Disconnected,
        (WifiStationState::ConnectionFailed, Some(State::FailReason(reason))) => {
            StationStatus::Failed(reason_from_wire(reason))
        }
        (WifiStationState::ConnectionFailed, _) => StationStatus::Failed(FailReason::Unknown),
    })
}

fn reason_to_wire(reason: FailReason) -> Option<i32> {
    match reason {
        FailReason::AuthError => Some(WifiConnectFailedReason::AuthError as i32),
        FailReason::NetworkNotFound => Some(WifiConnectFailedReason::NetworkNotFound as i32),
        FailReason::Unknown => None,
    }
}

fn reason_from_wire(reason: i32) -> FailReason {
    match WifiConnectFailedReason::try_from(reason) {
        Ok(WifiConnectFailedReason::AuthError) => FailReason::AuthError,
        Ok(WifiConnectFailedReason::NetworkNotFound) => FailReason::NetworkNotFound,
        Err(_) => FailReason::Unknown,
    }
}

fn connected_to_wire(info: &ConnectedInfo) -> WifiConnectedState {
    WifiConnectedState {
        ip4_addr: info.ip4_addr.clone(),
        auth_mode: info.auth_mode.0,
        ssid: info.ssid.clone(),
        bssid: info.bssid.clone(),
        channel: info.channel,
    }
}

fn connected_from_wire(state: WifiConnectedState) -> ConnectedInfo {
    ConnectedInfo {
        ip4_addr: state.ip4_addr,
        auth_mode: AuthMode(state.auth_mode),
        ssid: state.ssid,
        bssid: state.bssid,
        channel: state.channel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wifi_constants::WifiAuthMode;

    fn credentials() -> WifiCredentials {
        WifiCredentials::new("home", Passphrase::from("correct horse")).expect("valid")
    }

    #[test]
    fn every_request_round_trips_through_the_device() {
        let mut pinned = credentials();
        pinned.bssid = Some([1, 2, 3, 4, 5, 6]);
        pinned.channel = 11;
        for request in [
            ConfigRequest::GetStatus,
            ConfigRequest::SetConfig(pinned),
            ConfigRequest::ApplyConfig,
        ] {
            assert_eq!(
                ConfigRequest::decode(&request.encode()).as_ref(),
                Ok(&request)
            );
        }
    }

    #[test]
    fn every_answer_reaches_the_client_as_sent() {
        let connected = ConnectedInfo {
            ip4_addr: "192.168.1.7".into(),
            auth_mode: WifiAuthMode::Wpa2Psk.into(),
            ssid: b"home".to_vec(),
            bssid: vec![1, 2, 3, 4, 5, 6],
            channel: 6,
        };
        let cases = [
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Connected(connected)),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Connecting {
                    attempts_remaining: None,
                }),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Connecting {
                    attempts_remaining: Some(2),
                }),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Disconnected),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Failed(FailReason::AuthError)),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Failed(FailReason::NetworkNotFound)),
            ),
            (
                ConfigRequest::GetStatus,
                ConfigResponse::Status(StationStatus::Failed(FailReason::Unknown)),
            ),
            (
                ConfigRequest::SetConfig(credentials()),
                ConfigResponse::ConfigSet,
            ),
            (ConfigRequest::ApplyConfig, ConfigResponse::ConfigApplied),
        ];
        for (request, response) in cases {
            assert_eq!(
                request.read_response(&response.encode()).as_ref(),
                Ok(&response),
                "{request:?}"
            );
        }
    }

    #[test]
    fn refusals_and_mismatched_answers_are_errors() {
        let refused = ConfigResponse::Refused {
            to: ConfigKind::SetConfig,
            status: Status::InvalidArgument,
        };
        let request = ConfigRequest::SetConfig(credentials());
        assert_eq!(
            request.read_response(&refused.encode()),
            Err(Error::DeviceStatus(Status::InvalidArgument))
        );
        assert_eq!(ConfigResponse::decode(&refused.encode()), Ok(refused));
        assert!(
            ConfigRequest::ApplyConfig
                .read_response(&ConfigResponse::ConfigSet.encode())
                .is_err()
        );
    }

    #[test]
    fn esp_prov_apply_without_payload_is_understood() {
        // esp_prov's config_apply_config_request sets only `msg`: 0x08 0x04.
        assert_eq!(
            ConfigRequest::decode(&[0x08, 0x04]),
            Ok(ConfigRequest::ApplyConfig)
        );
    }

    #[test]
    fn credentials_are_checked_like_the_manager_does() {
        let hex64 = "0123456789abcdef".repeat(4);
        for (ssid, pass, ok) in [
            ("net", "", true),
            ("net", "12345678", true),
            ("net", "1234567", false),
            ("net", hex64.as_str(), true),
            ("net", &"x".repeat(64), false),
            ("", "12345678", false),
            (&"s".repeat(33), "12345678", false),
        ] {
            assert_eq!(
                WifiCredentials::new(ssid, Passphrase::from(pass)).is_ok(),
                ok,
                "{ssid:?} / {} bytes",
                pass.len()
            );
        }
    }

    #[test]
    fn debug_output_hides_the_passphrase() {
        let request = ConfigRequest::SetConfig(credentials());
        assert!(!format!("{request:?}").contains("correct horse"));
        let wire = CmdSetConfig {
            passphrase: b"correct horse".to_vec(),
            ..CmdSetConfig::default()
        };
        assert!(!format!("{wire:?}").contains("correct horse"));
    }
}
