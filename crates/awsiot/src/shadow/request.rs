//! Turning request payload bytes into validated requests, with AWS's exact rejections.
//!
//! The checks run in a fixed order (encoding, JSON, client token, version, state shape, array
//! nulls, nesting) so that a request with several faults always gets the same rejection.

use serde_json::{Map, Value};

use super::ShadowConfig;
use super::document::{depth, has_null_in_array};
use super::error::ShadowError;
use super::wire::{ClientTokenRequest, Nullable, Object, ShadowState, UpdateShadowRequest};

/// AWS's limit on a client token, in bytes (reference §1.7).
pub const MAX_CLIENT_TOKEN_BYTES: usize = 64;

/// Parses and validates an `/update` payload.
///
/// On failure the rejection carries the client token whenever it could be read, so that a
/// client correlating by token (the Python SDK does) receives its error.
pub fn parse_update(
    payload: &[u8],
    config: &ShadowConfig,
) -> Result<UpdateShadowRequest, ShadowError> {
    let root = parse_object(payload)?;
    let client_token = client_token(&root)?;
    let with_token = |e: ShadowError| e.with_client_token(client_token.clone());
    let version = version(&root).map_err(with_token)?;
    let state = state(&root, config).map_err(with_token)?;
    Ok(UpdateShadowRequest {
        state,
        client_token,
        version,
    })
}

/// Reads the client token of a `/get` or `/delete` payload.
///
/// AWS ignores these payloads except for the token, so an empty, non-UTF-8 or non-JSON body
/// counts as "no token". Choice (not stated by the reference): only a token that is present but
/// unusable (not a string, or longer than 64 bytes) is rejected, with 400 "Invalid clientToken".
pub fn parse_token_request(payload: &[u8]) -> Result<ClientTokenRequest, ShadowError> {
    let Ok(root) = serde_json::from_slice::<Map<String, Value>>(payload) else {
        return Ok(ClientTokenRequest::default());
    };
    Ok(ClientTokenRequest {
        client_token: client_token(&root)?,
    })
}

fn parse_object(payload: &[u8]) -> Result<Object, ShadowError> {
    let text = std::str::from_utf8(payload).map_err(|_| ShadowError::unsupported_encoding())?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(root)) => Ok(root),
        _ => Err(ShadowError::invalid_json()),
    }
}

/// The `clientToken` field: absent or `null` → `None`; a string of at most 64 bytes → the
/// token; anything else → 400 "Invalid clientToken", echoing an over-long string token.
fn client_token(root: &Object) -> Result<Option<String>, ShadowError> {
    match root.get("clientToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) if token.len() <= MAX_CLIENT_TOKEN_BYTES => {
            Ok(Some(token.clone()))
        }
        Some(Value::String(token)) => {
            Err(ShadowError::invalid_client_token().with_client_token(Some(token.clone())))
        }
        Some(_) => Err(ShadowError::invalid_client_token()),
    }
}

fn version(root: &Object) -> Result<Option<u64>, ShadowError> {
    match root.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(ShadowError::invalid_version),
        Some(_) => Err(ShadowError::invalid_version()),
    }
}

fn state(root: &Object, config: &ShadowConfig) -> Result<Option<ShadowState>, ShadowError> {
    let state = match root.get("state") {
        None => return Err(ShadowError::missing_state()),
        Some(Value::Null) => return Ok(None),
        Some(Value::Object(state)) => state,
        Some(_) => return Err(ShadowError::state_not_object()),
    };
    if let Some(node) = state.keys().find(|k| *k != "desired" && *k != "reported") {
        return Err(ShadowError::invalid_state_node(node));
    }
    let desired = section(state, "desired", ShadowError::desired_not_object, config)?;
    let reported = section(state, "reported", ShadowError::reported_not_object, config)?;
    Ok(Some(ShadowState { desired, reported }))
}

fn section(
    state: &Object,
    name: &str,
    not_object: fn() -> ShadowError,
    config: &ShadowConfig,
) -> Result<Nullable<Object>, ShadowError> {
    match state.get(name) {
        None => Ok(Nullable::Absent),
        Some(Value::Null) => Ok(Nullable::Null),
        Some(value @ Value::Object(map)) => {
            check_content(value, config)?;
            Ok(Nullable::Value(map.clone()))
        }
        Some(_) => Err(not_object()),
    }
}

/// Array nulls and nesting depth of one section.
///
/// Choice: AWS documents that arrays cannot contain null but not the message; the closest
/// documented one, 400 "Invalid JSON", is used.
fn check_content(section: &Value, config: &ShadowConfig) -> Result<(), ShadowError> {
    if has_null_in_array(section) {
        return Err(ShadowError::invalid_json());
    }
    if depth(section) > config.max_depth {
        return Err(ShadowError::too_deep(config.max_depth));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(payload: &[u8]) -> ShadowError {
        match parse_update(payload, &ShadowConfig::default()) {
            Ok(req) => panic!("expected a rejection, got {req:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn each_malformed_update_gets_aws_exact_code_and_message() {
        let long = "x".repeat(65);
        let cases: Vec<(Vec<u8>, u16, String)> = vec![
            (
                vec![0xff, 0xfe],
                415,
                "Unsupported documented encoding; supported encoding is UTF-8".into(),
            ),
            (b"{".to_vec(), 400, "Invalid JSON".into()),
            (b"".to_vec(), 400, "Invalid JSON".into()),
            (b"[1]".to_vec(), 400, "Invalid JSON".into()),
            (b"{}".to_vec(), 400, "Missing required node: state".into()),
            (
                br#"{"state":1}"#.to_vec(),
                400,
                "State node must be an object".into(),
            ),
            (
                br#"{"state":{"desired":[1]}}"#.to_vec(),
                400,
                "Desired node must be an object".into(),
            ),
            (
                br#"{"state":{"reported":"x"}}"#.to_vec(),
                400,
                "Reported node must be an object".into(),
            ),
            (
                br#"{"state":{"delta":{}}}"#.to_vec(),
                400,
                "State contains an invalid node: 'delta'".into(),
            ),
            (
                br#"{"state":{},"version":"3"}"#.to_vec(),
                400,
                "Invalid version".into(),
            ),
            (
                br#"{"state":{},"version":-1}"#.to_vec(),
                400,
                "Invalid version".into(),
            ),
            (
                format!(r#"{{"state":{{}},"clientToken":"{long}"}}"#).into_bytes(),
                400,
                "Invalid clientToken".into(),
            ),
            (
                br#"{"state":{},"clientToken":5}"#.to_vec(),
                400,
                "Invalid clientToken".into(),
            ),
            (
                br#"{"state":{"desired":{"a":[1,null]}}}"#.to_vec(),
                400,
                "Invalid JSON".into(),
            ),
            (
                br#"{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}"#.to_vec(),
                400,
                "JSON contains too many levels of nesting; maximum is 6".into(),
            ),
        ];
        for (payload, code, message) in cases {
            let e = reject(&payload);
            assert_eq!(
                (e.code, e.message.as_str()),
                (code, message.as_str()),
                "payload {:?}",
                String::from_utf8_lossy(&payload)
            );
        }
    }

    #[test]
    fn six_levels_including_the_section_are_accepted() {
        let ok = br#"{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}"#;
        assert!(parse_update(ok, &ShadowConfig::default()).is_ok());
    }

    #[test]
    fn rejections_after_the_token_is_read_echo_it() {
        let e = reject(br#"{"clientToken":"t1","state":5}"#);
        assert_eq!(e.client_token.as_deref(), Some("t1"));
    }

    #[test]
    fn an_over_long_token_is_echoed_in_its_rejection() {
        let long = "y".repeat(65);
        let e = reject(format!(r#"{{"state":{{}},"clientToken":"{long}"}}"#).as_bytes());
        assert_eq!(e.client_token, Some(long));
    }

    #[test]
    fn a_64_byte_token_is_accepted() {
        let token = "é".repeat(32);
        let req = parse_update(
            format!(r#"{{"state":{{}},"clientToken":"{token}"}}"#).as_bytes(),
            &ShadowConfig::default(),
        );
        assert_eq!(req.map(|r| r.client_token), Ok(Some(token)));
    }

    #[test]
    fn get_and_delete_bodies_are_ignored_except_for_the_token() {
        for body in [&b""[..], b"not json", &[0xff], b"[]", br#"{"x":1}"#] {
            assert_eq!(
                parse_token_request(body),
                Ok(ClientTokenRequest::default()),
                "{body:?}"
            );
        }
        let with = parse_token_request(br#"{"clientToken":"abc"}"#);
        assert_eq!(with.map(|r| r.client_token), Ok(Some("abc".to_owned())));
    }
}
