//! `sec0.proto`: the one-round Security 0 handshake.

/// `message S0SessionCmd {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S0SessionCmd {}

/// `message S0SessionResp { Status status = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct S0SessionResp {
    /// The device's verdict.
    #[prost(enumeration = "super::Status", tag = "1")]
    pub status: i32,
}

/// `enum Sec0MsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Sec0MsgType {
    /// `S0_Session_Command = 0`.
    S0SessionCommand = 0,
    /// `S0_Session_Response = 1`.
    S0SessionResponse = 1,
}

/// `message Sec0Payload { Sec0MsgType msg = 1; oneof payload { sc = 20; sr = 21; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sec0Payload {
    /// The message type.
    #[prost(enumeration = "Sec0MsgType", tag = "1")]
    pub msg: i32,
    /// The command or the response.
    #[prost(oneof = "sec0_payload::Payload", tags = "20, 21")]
    pub payload: Option<sec0_payload::Payload>,
}

/// The `oneof payload` of [`Sec0Payload`].
pub mod sec0_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `S0SessionCmd sc = 20`.
        #[prost(message, tag = "20")]
        Sc(super::S0SessionCmd),
        /// `S0SessionResp sr = 21`.
        #[prost(message, tag = "21")]
        Sr(super::S0SessionResp),
    }
}
