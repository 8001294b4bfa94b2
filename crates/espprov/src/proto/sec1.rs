//! `sec1.proto`: the two-round Security 1 handshake (X25519 + PoP + AES-256-CTR).

/// `message SessionCmd0 { bytes client_pubkey = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionCmd0 {
    /// The client's X25519 public key, 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub client_pubkey: Vec<u8>,
}

/// `message SessionResp0 { Status status = 1; bytes device_pubkey = 2; bytes device_random = 3; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionResp0 {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
    /// The device's X25519 public key, 32 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub device_pubkey: Vec<u8>,
    /// The AES-CTR initial counter block, 16 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub device_random: Vec<u8>,
}

/// `message SessionCmd1 { bytes client_verify_data = 2; }` (there is no field 1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionCmd1 {
    /// The device's public key, encrypted with the session stream.
    #[prost(bytes = "vec", tag = "2")]
    pub client_verify_data: Vec<u8>,
}

/// `message SessionResp1 { Status status = 1; bytes device_verify_data = 3; }` (no field 2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionResp1 {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
    /// The client's public key, encrypted with the continuing session stream.
    #[prost(bytes = "vec", tag = "3")]
    pub device_verify_data: Vec<u8>,
}

/// `enum Sec1MsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Sec1MsgType {
    /// `Session_Command0 = 0`.
    SessionCommand0 = 0,
    /// `Session_Response0 = 1`.
    SessionResponse0 = 1,
    /// `Session_Command1 = 2`.
    SessionCommand1 = 2,
    /// `Session_Response1 = 3`.
    SessionResponse1 = 3,
}

/// `message Sec1Payload { Sec1MsgType msg = 1; oneof payload { sc0 = 20; sr0 = 21; sc1 = 22; sr1 = 23; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sec1Payload {
    /// The message type.
    #[prost(enumeration = "Sec1MsgType", tag = "1")]
    pub msg: i32,
    /// The command or the response.
    #[prost(oneof = "sec1_payload::Payload", tags = "20, 21, 22, 23")]
    pub payload: Option<sec1_payload::Payload>,
}

/// The `oneof payload` of [`Sec1Payload`].
pub mod sec1_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `SessionCmd0 sc0 = 20`.
        #[prost(message, tag = "20")]
        Sc0(super::SessionCmd0),
        /// `SessionResp0 sr0 = 21`.
        #[prost(message, tag = "21")]
        Sr0(super::SessionResp0),
        /// `SessionCmd1 sc1 = 22`.
        #[prost(message, tag = "22")]
        Sc1(super::SessionCmd1),
        /// `SessionResp1 sr1 = 23`.
        #[prost(message, tag = "23")]
        Sr1(super::SessionResp1),
    }
}
