//! Job execution statuses, the transitions a device may make, and AWS's error codes.

use serde::{Deserialize, Serialize};

use super::wire::JobExecutionState;

/// The status of one job execution (reference §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for the device to start it (set by the service).
    Queued,
    /// Started by the device.
    InProgress,
    /// Finished successfully (terminal).
    Succeeded,
    /// Finished unsuccessfully (terminal, retryable).
    Failed,
    /// A step or in-progress timer expired (terminal, set by the service, retryable).
    TimedOut,
    /// The device refused the job (terminal).
    Rejected,
    /// The thing was removed from the job's targets (terminal, set by the service).
    Removed,
    /// The job was cancelled (terminal, set by the service).
    Canceled,
}

impl JobStatus {
    /// True for statuses from which no further update is possible.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress)
    }

    /// True for the statuses a device may set with UpdateJobExecution.
    pub fn device_may_set(self) -> bool {
        matches!(
            self,
            Self::InProgress | Self::Succeeded | Self::Failed | Self::Rejected
        )
    }

    /// The status as it appears in JSON, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Rejected => "REJECTED",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }
}

/// AWS's string error codes for Jobs rejections (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobsErrorCode {
    /// A jobs-namespace topic that maps to no API.
    InvalidTopic,
    /// The payload is not UTF-8 JSON.
    InvalidJson,
    /// The request is malformed, e.g. bad statusDetails.
    InvalidRequest,
    /// The update is not allowed from the execution's status (carries executionState).
    InvalidStateTransition,
    /// The execution does not exist.
    ResourceNotFound,
    /// expectedVersion differs from the current version (carries executionState).
    VersionMismatch,
    /// The service failed.
    InternalError,
    /// Too many requests.
    RequestThrottled,
    /// Describe of an execution in a terminal state.
    TerminalStateReached,
}

/// A Jobs rejection: AWS's code, a message, and the execution state where AWS includes it.
///
/// AWS documents only the codes (reference §7.5); the messages here are ours.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsError {
    /// The string code.
    pub code: JobsErrorCode,
    /// A sentence saying what was wrong.
    pub message: String,
    /// The execution's state, for InvalidStateTransition and VersionMismatch.
    pub execution_state: Option<JobExecutionState>,
}

impl JobsError {
    /// A rejection without execution state.
    pub fn new(code: JobsErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            execution_state: None,
        }
    }

    /// The same rejection carrying the execution's state.
    pub fn with_state(mut self, state: JobExecutionState) -> Self {
        self.execution_state = Some(state);
        self
    }
}
