//! `prov-ctrl`: reset the provisioning state machine, or re-enter provisioning.

use prost::Message;

use super::status_of;
use crate::error::{Error, Result};
use crate::proto::Status;
use crate::proto::wifi_ctrl::{
    CmdCtrlReprov, CmdCtrlReset, RespCtrlReprov, RespCtrlReset, WiFiCtrlMsgType, WiFiCtrlPayload,
    wi_fi_ctrl_payload::Payload,
};

/// A `prov-ctrl` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtrlRequest {
    /// `CmdCtrlReset`: forget the failed credentials so that new ones can be sent.
    Reset,
    /// `CmdCtrlReprov`: re-enter provisioning on a provisioned device.
    Reprov,
}

/// A `prov-ctrl` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtrlResponse {
    /// `RespCtrlReset` with `Success`.
    Reset,
    /// `RespCtrlReprov` with `Success`.
    Reprov,
    /// Any response whose status is not `Success`.
    Refused {
        /// The request refused.
        to: CtrlRequest,
        /// Why.
        status: Status,
    },
}

impl CtrlRequest {
    /// The plaintext `WiFiCtrlPayload` (client).
    pub fn encode(&self) -> Vec<u8> {
        let (msg, payload) = match self {
            Self::Reset => (
                WiFiCtrlMsgType::TypeCmdCtrlReset,
                Payload::CmdCtrlReset(CmdCtrlReset {}),
            ),
            Self::Reprov => (
                WiFiCtrlMsgType::TypeCmdCtrlReprov,
                Payload::CmdCtrlReprov(CmdCtrlReprov {}),
            ),
        };
        WiFiCtrlPayload {
            msg: msg as i32,
            status: Status::Success as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads a request (device), dispatching on `msg`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiCtrlPayload::decode(bytes).map_err(|e| Error::decode("WiFiCtrlPayload", e))?;
        match WiFiCtrlMsgType::try_from(message.msg) {
            Ok(WiFiCtrlMsgType::TypeCmdCtrlReset) => Ok(Self::Reset),
            Ok(WiFiCtrlMsgType::TypeCmdCtrlReprov) => Ok(Self::Reprov),
            other => Err(Error::unexpected(
                "a prov-ctrl command",
                format!("{other:?}"),
            )),
        }
    }

    /// Reads the device's answer to this request (client).
    pub fn read_response(&self, bytes: &[u8]) -> Result<CtrlResponse> {
        match CtrlResponse::decode(bytes)? {
            CtrlResponse::Refused { to, status } if to == *self => Err(Error::DeviceStatus(status)),
            CtrlResponse::Reset if *self == Self::Reset => Ok(CtrlResponse::Reset),
            CtrlResponse::Reprov if *self == Self::Reprov => Ok(CtrlResponse::Reprov),
            other => Err(Error::unexpected(
                "the answer to this prov-ctrl request",
                format!("{other:?}"),
            )),
        }
    }
}

impl CtrlResponse {
    /// The plaintext `WiFiCtrlPayload` (device).
    pub fn encode(&self) -> Vec<u8> {
        let (to, status) = match *self {
            Self::Reset => (CtrlRequest::Reset, Status::Success),
            Self::Reprov => (CtrlRequest::Reprov, Status::Success),
            Self::Refused { to, status } => (to, status),
        };
        let (msg, payload) = match to {
            CtrlRequest::Reset => (
                WiFiCtrlMsgType::TypeRespCtrlReset,
                Payload::RespCtrlReset(RespCtrlReset {}),
            ),
            CtrlRequest::Reprov => (
                WiFiCtrlMsgType::TypeRespCtrlReprov,
                Payload::RespCtrlReprov(RespCtrlReprov {}),
            ),
        };
        WiFiCtrlPayload {
            msg: msg as i32,
            status: status as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads any `prov-ctrl` response; the message type tells which (the payloads are empty).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiCtrlPayload::decode(bytes).map_err(|e| Error::decode("WiFiCtrlPayload", e))?;
        let to = match WiFiCtrlMsgType::try_from(message.msg) {
            Ok(WiFiCtrlMsgType::TypeRespCtrlReset) => CtrlRequest::Reset,
            Ok(WiFiCtrlMsgType::TypeRespCtrlReprov) => CtrlRequest::Reprov,
            other => {
                return Err(Error::unexpected(
                    "a prov-ctrl response",
                    format!("{other:?}"),
                ));
            }
        };
        Ok(match (to, message.status == Status::Success as i32) {
            (CtrlRequest::Reset, true) => Self::Reset,
            (CtrlRequest::Reprov, true) => Self::Reprov,
            (to, false) => Self::Refused {
                to,
                status: status_of(message.status),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_round_trip() {
        for (request, response) in [
            (CtrlRequest::Reset, CtrlResponse::Reset),
            (CtrlRequest::Reprov, CtrlResponse::Reprov),
        ] {
            assert_eq!(CtrlRequest::decode(&request.encode()), Ok(request));
            assert_eq!(request.read_response(&response.encode()), Ok(response));
        }
    }

    #[test]
    fn refusals_and_mismatches_are_errors() {
        let refused = CtrlResponse::Refused {
            to: CtrlRequest::Reset,
            status: Status::InternalError,
        };
        assert_eq!(
            CtrlRequest::Reset.read_response(&refused.encode()),
            Err(Error::DeviceStatus(Status::InternalError))
        );
        assert!(
            CtrlRequest::Reprov
                .read_response(&CtrlResponse::Reset.encode())
                .is_err()
        );
        assert!(
            CtrlRequest::decode(&[0x08, 0x00]).is_err(),
            "TypeCtrlReserved is no command"
        );
    }
}
