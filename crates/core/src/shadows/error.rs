//! The engine's error type.

use std::time::Duration;

use crate::session::SessionError;

/// Why a shadow operation failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ShadowsError {
    /// No response arrived in time.
    #[error("the Shadow service did not answer within {0:?}: check the connection and try again")]
    Timeout(Duration),
    /// The session is not connected (or the link dropped while waiting).
    #[error("not connected to the broker: the request was not answered; edits are queued instead")]
    Offline,
    /// The service rejected the request with AWS's code and message.
    #[error("the Shadow service rejected the request ({code}): {message}")]
    Rejected {
        /// HTTP-like code, e.g. 400, 404, 409, 413.
        code: u16,
        /// AWS's message.
        message: String,
    },
    /// An edit breaks the Shadow service's rules (AWS's code and message); nothing was queued.
    #[error("the edit was not queued: the Shadow service would reject it ({code}): {message}")]
    InvalidEdit {
        /// The code the service would answer with, e.g. 400 or 413.
        code: u16,
        /// The service's message.
        message: String,
    },
    /// A response of the wrong kind carried our token.
    #[error("the Shadow service answered with an unexpected message: {0}")]
    Unexpected(String),
    /// The session refused or ended.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The local database failed.
    #[error("the local shadow database failed ({0}): check free disk space and permissions")]
    Database(#[from] sqlx::Error),
    /// A stored row could not be read back.
    #[error("the local shadow database holds unreadable data: {0}")]
    Corrupt(String),
    /// An edit needs a version to be checked against, and none is known.
    #[error(
        "no version of this shadow is known yet: read it (get or watch) before editing it, \
         or give the version the edit is based on"
    )]
    NoBaseVersion,
    /// The engine's loop has stopped.
    #[error("the shadow engine has stopped: start the session again")]
    Stopped,
}

impl ShadowsError {
    /// Whether this is the service's 404 (no such shadow).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Rejected { code: 404, .. })
    }
}

pub(crate) fn corrupt(error: impl std::fmt::Display) -> ShadowsError {
    ShadowsError::Corrupt(error.to_string())
}
