//! Security 0: one plaintext round trip, then no encryption.

use prost::Message;

use crate::error::{Error, Result, check_status};
use crate::proto::Status;
use crate::proto::sec0::{
    S0SessionCmd, S0SessionResp, Sec0MsgType, Sec0Payload, sec0_payload::Payload,
};
use crate::proto::session::{SecSchemeVersion, SessionData, session_data::Proto};

fn wrap(msg: Sec0MsgType, payload: Payload) -> Vec<u8> {
    let sec0 = Sec0Payload {
        msg: msg as i32,
        payload: Some(payload),
    };
    SessionData {
        sec_ver: SecSchemeVersion::SecScheme0 as i32,
        proto: Some(Proto::Sec0(sec0)),
    }
    .encode_to_vec()
}

/// The client's only request.
pub(crate) fn request() -> Vec<u8> {
    wrap(Sec0MsgType::S0SessionCommand, Payload::Sc(S0SessionCmd {}))
}

/// The client reads the device's answer.
pub(crate) fn read_response(payload: Sec0Payload) -> Result<()> {
    match payload.payload {
        Some(Payload::Sr(S0SessionResp { status })) => check_status(status),
        other => Err(Error::unexpected("S0SessionResp", format!("{other:?}"))),
    }
}

/// The device answers any Security 0 request with success, as `security0.c` does.
pub(crate) fn response() -> Vec<u8> {
    let sr = S0SessionResp {
        status: Status::Success as i32,
    };
    wrap(Sec0MsgType::S0SessionResponse, Payload::Sr(sr))
}
