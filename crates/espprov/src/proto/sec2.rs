//! `sec2.proto`: the two-round Security 2 handshake (SRP6a + AES-256-GCM).

/// `message S2SessionCmd0 { bytes client_username = 1; bytes client_pubkey = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S2SessionCmd0 {
    /// The SRP username `I`.
    #[prost(bytes = "vec", tag = "1")]
    pub client_username: Vec<u8>,
    /// The SRP public value `A`, exactly 384 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub client_pubkey: Vec<u8>,
}

/// `message S2SessionResp0 { Status status = 1; bytes device_pubkey = 2; bytes device_salt = 3; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S2SessionResp0 {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
    /// The SRP public value `B`, minimal big-endian bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub device_pubkey: Vec<u8>,
    /// The SRP salt `s`.
    #[prost(bytes = "vec", tag = "3")]
    pub device_salt: Vec<u8>,
}

/// `message S2SessionCmd1 { bytes client_proof = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S2SessionCmd1 {
    /// The client's proof `M1`, 64 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub client_proof: Vec<u8>,
}

/// `message S2SessionResp1 { Status status = 1; bytes device_proof = 2; bytes device_nonce = 3; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S2SessionResp1 {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
    /// The device's proof `M2`, 64 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub device_proof: Vec<u8>,
    /// The AES-GCM nonce: 8-byte session id and a 4-byte big-endian counter.
    #[prost(bytes = "vec", tag = "3")]
    pub device_nonce: Vec<u8>,
}

/// `enum Sec2MsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Sec2MsgType {
    /// `S2Session_Command0 = 0`.
    S2SessionCommand0 = 0,
    /// `S2Session_Response0 = 1`.
    S2SessionResponse0 = 1,
    /// `S2Session_Command1 = 2`.
    S2SessionCommand1 = 2,
    /// `S2Session_Response1 = 3`.
    S2SessionResponse1 = 3,
}

/// `message Sec2Payload { Sec2MsgType msg = 1; oneof payload { sc0 = 20; sr0 = 21; sc1 = 22; sr1 = 23; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sec2Payload {
    /// The message type.
    #[prost(enumeration = "Sec2MsgType", tag = "1")]
    pub msg: i32,
    /// The command or the response.
    #[prost(oneof = "sec2_payload::Payload", tags = "20, 21, 22, 23")]
    pub payload: Option<sec2_payload::Payload>,
}

/// The `oneof payload` of [`Sec2Payload`].
pub mod sec2_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `S2SessionCmd0 sc0 = 20`.
        #[prost(message, tag = "20")]
        Sc0(super::S2SessionCmd0),
        /// `S2SessionResp0 sr0 = 21`.
        #[prost(message, tag = "21")]
        Sr0(super::S2SessionResp0),
        /// `S2SessionCmd1 sc1 = 22`.
        #[prost(message, tag = "22")]
        Sc1(super::S2SessionCmd1),
        /// `S2SessionResp1 sr1 = 23`.
        #[prost(message, tag = "23")]
        Sr1(super::S2SessionResp1),
    }
}
