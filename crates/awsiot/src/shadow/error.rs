//! The Shadow service's rejections, with AWS's exact codes and messages (reference §1.7).

use super::wire::ShadowErrorResponse;

/// A rejection the Shadow service publishes on a `.../rejected` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowError {
    /// HTTP-like status code.
    pub code: u16,
    /// AWS's exact message text.
    pub message: String,
    /// The request's client token, echoed when it could be read.
    pub client_token: Option<String>,
}

impl ShadowError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            client_token: None,
        }
    }

    /// The same rejection carrying `client_token`.
    pub fn with_client_token(mut self, client_token: Option<String>) -> Self {
        self.client_token = client_token;
        self
    }

    /// 400 `Invalid JSON`.
    pub fn invalid_json() -> Self {
        Self::new(400, "Invalid JSON")
    }

    /// 400 `Missing required node: state`.
    pub fn missing_state() -> Self {
        Self::new(400, "Missing required node: state")
    }

    /// 400 `State node must be an object`.
    pub fn state_not_object() -> Self {
        Self::new(400, "State node must be an object")
    }

    /// 400 `Desired node must be an object`.
    pub fn desired_not_object() -> Self {
        Self::new(400, "Desired node must be an object")
    }

    /// 400 `Reported node must be an object`.
    pub fn reported_not_object() -> Self {
        Self::new(400, "Reported node must be an object")
    }

    /// 400 `Invalid version`.
    pub fn invalid_version() -> Self {
        Self::new(400, "Invalid version")
    }

    /// 400 `Invalid clientToken` (a token longer than 64 bytes, or not a string).
    pub fn invalid_client_token() -> Self {
        Self::new(400, "Invalid clientToken")
    }

    /// 400 `JSON contains too many levels of nesting; maximum is {max}`.
    pub fn too_deep(max: usize) -> Self {
        Self::new(
            400,
            format!("JSON contains too many levels of nesting; maximum is {max}"),
        )
    }

    /// 400 `State contains an invalid node: '{node}'`, as the cloud words it for `delta`.
    pub fn invalid_state_node(node: &str) -> Self {
        Self::new(400, format!("State contains an invalid node: '{node}'"))
    }

    /// 404 `No shadow exists with name: '{name}'` (the thing name for a classic shadow).
    pub fn no_shadow(name: &str) -> Self {
        Self::new(404, format!("No shadow exists with name: '{name}'"))
    }

    /// 409 `Version conflict`.
    pub fn version_conflict() -> Self {
        Self::new(409, "Version conflict")
    }

    /// 413 `The payload exceeds the maximum size allowed`.
    pub fn payload_too_large() -> Self {
        Self::new(413, "The payload exceeds the maximum size allowed")
    }

    /// 415 `Unsupported documented encoding; supported encoding is UTF-8`.
    pub fn unsupported_encoding() -> Self {
        Self::new(
            415,
            "Unsupported documented encoding; supported encoding is UTF-8",
        )
    }

    /// The rejection as published. AWS's observed 404 carried no timestamp, so a 404 has none
    /// and every other rejection carries `secs` (reference §1.5).
    pub fn to_response(&self, secs: u64) -> ShadowErrorResponse {
        ShadowErrorResponse {
            code: self.code,
            message: self.message.clone(),
            timestamp: (self.code != 404).then_some(secs),
            client_token: self.client_token.clone(),
        }
    }
}
