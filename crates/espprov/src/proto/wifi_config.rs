//! `wifi_config.proto`: the `prov-config` endpoint (station status, credentials, apply).

use std::fmt;

use super::wifi_constants::{
    WifiAttemptFailed, WifiConnectFailedReason, WifiConnectedState, WifiStationState,
};

/// `message CmdGetStatus {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdGetStatus {}

/// `message RespGetStatus { Status status = 1; WifiStationState sta_state = 2; oneof state { fail_reason = 10; connected = 11; attempt_failed = 12; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespGetStatus {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
    /// The station state.
    #[prost(enumeration = "WifiStationState", tag = "2")]
    pub sta_state: i32,
    /// Details of the state.
    #[prost(oneof = "resp_get_status::State", tags = "10, 11, 12")]
    pub state: Option<resp_get_status::State>,
}

/// The `oneof state` of [`RespGetStatus`].
pub mod resp_get_status {
    /// `oneof state`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum State {
        /// `WifiConnectFailedReason fail_reason = 10`.
        #[prost(enumeration = "super::WifiConnectFailedReason", tag = "10")]
        FailReason(i32),
        /// `WifiConnectedState connected = 11`.
        #[prost(message, tag = "11")]
        Connected(super::WifiConnectedState),
        /// `WifiAttemptFailed attempt_failed = 12`.
        #[prost(message, tag = "12")]
        AttemptFailed(super::WifiAttemptFailed),
    }
}

/// `message CmdSetConfig { bytes ssid = 1; bytes passphrase = 2; bytes bssid = 3; int32 channel = 4; }`.
///
/// Its `Debug` output never shows the passphrase.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct CmdSetConfig {
    /// The SSID to join.
    #[prost(bytes = "vec", tag = "1")]
    pub ssid: Vec<u8>,
    /// The passphrase (secret).
    #[prost(bytes = "vec", tag = "2")]
    pub passphrase: Vec<u8>,
    /// An optional BSSID to pin, 6 bytes or empty.
    #[prost(bytes = "vec", tag = "3")]
    pub bssid: Vec<u8>,
    /// An optional channel, 0 for any.
    #[prost(int32, tag = "4")]
    pub channel: i32,
}

impl fmt::Debug for CmdSetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CmdSetConfig")
            .field("ssid", &String::from_utf8_lossy(&self.ssid))
            .field("passphrase", &"<redacted>")
            .field("bssid", &self.bssid)
            .field("channel", &self.channel)
            .finish()
    }
}

/// `message RespSetConfig { Status status = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespSetConfig {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
}

/// `message CmdApplyConfig {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdApplyConfig {}

/// `message RespApplyConfig { Status status = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespApplyConfig {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
}

/// `enum WiFiConfigMsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WiFiConfigMsgType {
    /// `TypeCmdGetStatus = 0`.
    TypeCmdGetStatus = 0,
    /// `TypeRespGetStatus = 1`.
    TypeRespGetStatus = 1,
    /// `TypeCmdSetConfig = 2`.
    TypeCmdSetConfig = 2,
    /// `TypeRespSetConfig = 3`.
    TypeRespSetConfig = 3,
    /// `TypeCmdApplyConfig = 4`.
    TypeCmdApplyConfig = 4,
    /// `TypeRespApplyConfig = 5`.
    TypeRespApplyConfig = 5,
}

/// `message WiFiConfigPayload { WiFiConfigMsgType msg = 1; oneof payload { 10..15 } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WiFiConfigPayload {
    /// The message type; the device dispatches on it and answers with `msg + 1`.
    #[prost(enumeration = "WiFiConfigMsgType", tag = "1")]
    pub msg: i32,
    /// The command or response.
    #[prost(
        oneof = "wi_fi_config_payload::Payload",
        tags = "10, 11, 12, 13, 14, 15"
    )]
    pub payload: Option<wi_fi_config_payload::Payload>,
}

/// The `oneof payload` of [`WiFiConfigPayload`].
pub mod wi_fi_config_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `CmdGetStatus cmd_get_status = 10`.
        #[prost(message, tag = "10")]
        CmdGetStatus(super::CmdGetStatus),
        /// `RespGetStatus resp_get_status = 11`.
        #[prost(message, tag = "11")]
        RespGetStatus(super::RespGetStatus),
        /// `CmdSetConfig cmd_set_config = 12`.
        #[prost(message, tag = "12")]
        CmdSetConfig(super::CmdSetConfig),
        /// `RespSetConfig resp_set_config = 13`.
        #[prost(message, tag = "13")]
        RespSetConfig(super::RespSetConfig),
        /// `CmdApplyConfig cmd_apply_config = 14`.
        #[prost(message, tag = "14")]
        CmdApplyConfig(super::CmdApplyConfig),
        /// `RespApplyConfig resp_apply_config = 15`.
        #[prost(message, tag = "15")]
        RespApplyConfig(super::RespApplyConfig),
    }
}
