use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure a command met. The UI decides what to offer (retry, fix input, open
/// settings) from the code alone, never from the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was malformed or a value is out of range; the user can correct it.
    InvalidInput,
    /// The thing, profile, certificate or device asked for does not exist.
    NotFound,
    /// The request raced with another change (for example a shadow version conflict).
    Conflict,
    /// A service the command needs (broker, keyring, Bluetooth) cannot be reached right now.
    Unavailable,
    /// The operating system or the remote side refused the operation.
    PermissionDenied,
    /// The operation did not finish in time.
    Timeout,
    /// The user cancelled the operation.
    Cancelled,
    /// The bridge itself failed: the backend is missing, or a message did not match the contract.
    Bridge,
    /// A defect in the app; the message says what happened.
    Internal,
}

/// A failure as it crosses the bridge: a machine-readable code and a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// What went wrong and what to do about it, as a full sentence.
    pub message: String,
}

impl IpcError {
    /// An error of the given kind with a user-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_serializes_with_a_snake_case_code() {
        let error = IpcError::new(
            ErrorCode::InvalidInput,
            "The port must be between 1 and 65535.",
        );
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": "invalid_input",
                "message": "The port must be between 1 and 65535."
            })
        );
        let back: IpcError = serde_json::from_value(json).unwrap();
        assert_eq!(back, error);
    }

    #[test]
    fn an_unknown_code_is_rejected_rather_than_guessed() {
        let result: Result<IpcError, _> =
            serde_json::from_str(r#"{"code":"teapot","message":"short and stout"}"#);
        assert!(result.is_err(), "an unknown code must not deserialize");
    }
}
