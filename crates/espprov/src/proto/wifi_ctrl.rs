//! `wifi_ctrl.proto`: the `prov-ctrl` endpoint (reset and re-provision).

/// `message CmdCtrlReset {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdCtrlReset {}

/// `message RespCtrlReset {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespCtrlReset {}

/// `message CmdCtrlReprov {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CmdCtrlReprov {}

/// `message RespCtrlReprov {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RespCtrlReprov {}

/// `enum WiFiCtrlMsgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WiFiCtrlMsgType {
    /// `TypeCtrlReserved = 0`.
    TypeCtrlReserved = 0,
    /// `TypeCmdCtrlReset = 1`.
    TypeCmdCtrlReset = 1,
    /// `TypeRespCtrlReset = 2`.
    TypeRespCtrlReset = 2,
    /// `TypeCmdCtrlReprov = 3`.
    TypeCmdCtrlReprov = 3,
    /// `TypeRespCtrlReprov = 4`.
    TypeRespCtrlReprov = 4,
}

/// `message WiFiCtrlPayload { WiFiCtrlMsgType msg = 1; Status status = 2; oneof payload { 11..14 } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WiFiCtrlPayload {
    /// The message type; the device answers with `msg + 1`.
    #[prost(enumeration = "WiFiCtrlMsgType", tag = "1")]
    pub msg: i32,
    /// The device's verdict (responses).
    #[prost(enumeration = "super::Status", tag = "2")]
    pub status: i32,
    /// The command or response.
    #[prost(oneof = "wi_fi_ctrl_payload::Payload", tags = "11, 12, 13, 14")]
    pub payload: Option<wi_fi_ctrl_payload::Payload>,
}

/// The `oneof payload` of [`WiFiCtrlPayload`].
pub mod wi_fi_ctrl_payload {
    /// `oneof payload`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// `CmdCtrlReset cmd_ctrl_reset = 11`.
        #[prost(message, tag = "11")]
        CmdCtrlReset(super::CmdCtrlReset),
        /// `RespCtrlReset resp_ctrl_reset = 12`.
        #[prost(message, tag = "12")]
        RespCtrlReset(super::RespCtrlReset),
        /// `CmdCtrlReprov cmd_ctrl_reprov = 13`.
        #[prost(message, tag = "13")]
        CmdCtrlReprov(super::CmdCtrlReprov),
        /// `RespCtrlReprov resp_ctrl_reprov = 14`.
        #[prost(message, tag = "14")]
        RespCtrlReprov(super::RespCtrlReprov),
    }
}
