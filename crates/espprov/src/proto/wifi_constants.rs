//! `wifi_constants.proto`: station states, failure reasons and authentication modes.

/// `enum WifiStationState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WifiStationState {
    /// `Connected = 0`.
    Connected = 0,
    /// `Connecting = 1`.
    Connecting = 1,
    /// `Disconnected = 2`.
    Disconnected = 2,
    /// `ConnectionFailed = 3`.
    ConnectionFailed = 3,
}

/// `enum WifiConnectFailedReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WifiConnectFailedReason {
    /// `AuthError = 0`: wrong passphrase.
    AuthError = 0,
    /// `NetworkNotFound = 1`: no such SSID in range.
    NetworkNotFound = 1,
}

/// `enum WifiAuthMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WifiAuthMode {
    /// `Open = 0`.
    Open = 0,
    /// `WEP = 1`.
    Wep = 1,
    /// `WPA_PSK = 2`.
    WpaPsk = 2,
    /// `WPA2_PSK = 3`.
    Wpa2Psk = 3,
    /// `WPA_WPA2_PSK = 4`.
    WpaWpa2Psk = 4,
    /// `WPA2_ENTERPRISE = 5`.
    Wpa2Enterprise = 5,
    /// `WPA3_PSK = 6` (newer IDF).
    Wpa3Psk = 6,
    /// `WPA2_WPA3_PSK = 7` (newer IDF).
    Wpa2Wpa3Psk = 7,
}

/// `message WifiConnectedState { string ip4_addr = 1; WifiAuthMode auth_mode = 2; bytes ssid = 3; bytes bssid = 4; int32 channel = 5; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WifiConnectedState {
    /// The station's IPv4 address, dotted.
    #[prost(string, tag = "1")]
    pub ip4_addr: String,
    /// The access point's authentication mode.
    #[prost(enumeration = "WifiAuthMode", tag = "2")]
    pub auth_mode: i32,
    /// The access point's SSID.
    #[prost(bytes = "vec", tag = "3")]
    pub ssid: Vec<u8>,
    /// The access point's BSSID, 6 bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub bssid: Vec<u8>,
    /// The channel.
    #[prost(int32, tag = "5")]
    pub channel: i32,
}

/// `message WifiAttemptFailed { uint32 attempts_remaining = 1; }` (newer IDF; sent while
/// `Connecting` after a failed attempt).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WifiAttemptFailed {
    /// Connection attempts left before the device reports `ConnectionFailed`.
    #[prost(uint32, tag = "1")]
    pub attempts_remaining: u32,
}
