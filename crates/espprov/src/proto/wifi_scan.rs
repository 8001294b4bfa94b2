//! `wifi_scan.proto`: the `prov-scan` endpoint (start, status, paged results).

/// `message CmdScanStart { bool blocking = 1; bool passive = 2; uint32 group_channels = 3; uint32 period_ms = 4; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdScanStart {
    /// Answer only when the scan has finished.
    #[prost(bool, tag = "1")]
    pub blocking: bool,
    /// Passive scan.
    #[prost(bool, tag = "2")]
    pub passive: bool,
    /// Channels per scan round; 0 scans all at once (BLE), 5 is used over SoftAP.
    #[prost(uint32, tag = "3")]
    pub group_channels: u32,
    /// Dwell time per channel.
    #[prost(uint32, tag = "4")]
    pub period_ms: u32,
}

/// `message RespScanStart {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespScanStart {}

/// `message CmdScanStatus {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdScanStatus {}

/// `message RespScanStatus { bool scan_finished = 1; uint32 result_count = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespScanStatus {
    /// Whether the scan is over.
    #[prost(bool, tag = "1")]
    pub scan_finished: bool,
    /// How many results the device holds.
    #[prost(uint32, tag = "2")]
    pub result_count: u32,
}

/// `message CmdScanResult { uint32 start_index = 1; uint32 count = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdScanResult {
    /// The first result to return.
    #[prost(uint32, tag = "1")]
    pub start_index: u32,
    /// How many results to return.
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// `message WiFiScanResult { bytes ssid = 1; uint32 channel = 2; int32 rssi = 3; bytes bssid = 4; WifiAuthMode auth = 5; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WiFiScanResult {
    /// The SSID, up to 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub ssid: Vec<u8>,
    /// The channel.
    #[prost(uint32, tag = "2")]
    pub channel: u32,
    /// Signal strength in dBm.
    #[prost(int32, tag = "3")]
    pub rssi: i32,
    /// The BSSID, 6 bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub bssid: Vec<u8>,
    /// The authentication mode.
    #[prost(enumeration = "super::wifi_constants::WifiAuthMode", tag = "5")]
    pub auth: i32,
}

/// `message RespScanResult { repeated WiFiScanResult entries = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespScanResult {
    /// One page of results.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<WiFiScanResult>,
}

/// `enum WiFiScanMsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WiFiScanMsgType {
    /// `TypeCmdScanStart = 0`.
    TypeCmdScanStart = 0,
    /// `TypeRespScanStart = 1`.
    TypeRespScanStart = 1,
    /// `TypeCmdScanStatus = 2`.
    TypeCmdScanStatus = 2,
    /// `TypeRespScanStatus = 3`.
    TypeRespScanStatus = 3,
    /// `TypeCmdScanResult = 4`.
    TypeCmdScanResult = 4,
    /// `TypeRespScanResult = 5`.
    TypeRespScanResult = 5,
}

/// `message WiFiScanPayload { WiFiScanMsgType msg = 1; Status status = 2; oneof payload { 10..15 } }`.
///
/// Unlike `prov-config`, the status sits on the envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WiFiScanPayload {
    /// The message type; the device answers with `msg + 1`.
    #[prost(enumeration = "WiFiScanMsgType", tag = "1")]
    pub msg: i32,
    /// The device's verdict (responses).
    #[prost(enumeration = "super::Status", tag = "2")]
    pub status: i32,
    /// The command or response.
    #[prost(oneof = "wi_fi_scan_payload::Payload", tags = "10, 11, 12, 13, 14, 15")]
    pub payload: Option<wi_fi_scan_payload::Payload>,
}

/// The `oneof payload` of [`WiFiScanPayload`].
pub mod wi_fi_scan_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `CmdScanStart cmd_scan_start = 10`.
        #[prost(message, tag = "10")]
        CmdScanStart(super::CmdScanStart),
        /// `RespScanStart resp_scan_start = 11`.
        #[prost(message, tag = "11")]
        RespScanStart(super::RespScanStart),
        /// `CmdScanStatus cmd_scan_status = 12`.
        #[prost(message, tag = "12")]
        CmdScanStatus(super::CmdScanStatus),
        /// `RespScanStatus resp_scan_status = 13`.
        #[prost(message, tag = "13")]
        RespScanStatus(super::RespScanStatus),
        /// `CmdScanResult cmd_scan_result = 14`.
        #[prost(message, tag = "14")]
        CmdScanResult(super::CmdScanResult),
        /// `RespScanResult resp_scan_result = 15`.
        #[prost(message, tag = "15")]
        RespScanResult(super::RespScanResult),
    }
}
