//! The JSON payloads of the Jobs device MQTT API (reference §2.2, §2.4), as serde types.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::status::{JobStatus, JobsErrorCode};
use crate::topic::{JobsApi, JobsMessage, JobsTopic, Outcome};
use crate::{Error, JobId};

/// statusDetails: string keys to string values.
pub type StatusDetails = BTreeMap<String, String>;

/// `expectedVersion`, which the Python SDK sends as a number and the embedded-C library as a
/// string such as `"3"`; both are accepted, and it is sent as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExpectedVersion(pub u64);

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(s) => s.trim().parse().map(Self).map_err(serde::de::Error::custom),
        }
    }
}

/// `jobs/get` request (GetPendingJobExecutions).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPendingJobExecutionsRequest {
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/start-next` request (StartNextPendingJobExecution).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartNextPendingJobExecutionRequest {
    /// Details to record on the started execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// Step timer, 1-10080 minutes (or -1 for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_in_minutes: Option<i64>,
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/{jobId}/get` request (DescribeJobExecution).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeJobExecutionRequest {
    /// A specific execution of the job; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_number: Option<u64>,
    /// Whether to include the job document (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_document: Option<bool>,
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/{jobId}/update` request (UpdateJobExecution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateJobExecutionRequest {
    /// The new status (required): IN_PROGRESS, SUCCEEDED, FAILED or REJECTED.
    pub status: JobStatus,
    /// Replaces the execution's status details when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// Optimistic locking on the execution's versionNumber (number or numeric string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<ExpectedVersion>,
    /// A specific execution of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_number: Option<u64>,
    /// Include `executionState` in the response (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_execution_state: Option<bool>,
    /// Include `jobDocument` in the response (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_document: Option<bool>,
    /// Starts or resets the step timer (1-10080 minutes, -1 cancels it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_in_minutes: Option<i64>,
    /// Echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// One job execution as Jobs responses carry it. Timestamps are epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecution {
    /// The job.
    pub job_id: JobId,
    /// The thing (AWS omitted it in real start-next and notify-next output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// The job document, a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_document: Option<Value>,
    /// The execution's status.
    pub status: JobStatus,
    /// Omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// When it was queued.
    pub queued_at: u64,
    /// When it was started; omitted until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When it last changed.
    pub last_updated_at: u64,
    /// 1 when queued, +1 on each device update.
    pub version_number: u64,
    /// Which execution of the job on this thing.
    pub execution_number: u64,
}

/// A pending execution in `get` and `notify` payloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutionSummary {
    /// The job.
    pub job_id: JobId,
    /// When it was queued.
    pub queued_at: u64,
    /// When it was started, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When it last changed.
    pub last_updated_at: u64,
    /// Its version.
    pub version_number: u64,
    /// Which execution.
    pub execution_number: u64,
}

/// An execution's status, details and version, in update responses and some rejections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutionState {
    /// The status.
    pub status: JobStatus,
    /// The details, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// The version.
    pub version_number: u64,
}

/// `jobs/get/accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPendingJobExecutionsResponse {
    /// IN_PROGRESS executions, oldest first.
    pub in_progress_jobs: Vec<JobExecutionSummary>,
    /// QUEUED executions, oldest first.
    pub queued_jobs: Vec<JobExecutionSummary>,
    /// Epoch seconds.
    pub timestamp: u64,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/start-next/accepted`; `execution` is absent when nothing is pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartNextJobExecutionResponse {
    /// The started (or already running) execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<JobExecution>,
    /// Epoch seconds.
    pub timestamp: u64,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/{jobId}/get/accepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeJobExecutionResponse {
    /// The execution; absent for `$next` when nothing is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<JobExecution>,
    /// Epoch seconds.
    pub timestamp: u64,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/{jobId}/update/accepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateJobExecutionResponse {
    /// Present when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_state: Option<JobExecutionState>,
    /// Present when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_document: Option<Value>,
    /// Epoch seconds.
    pub timestamp: u64,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/notify`: the pending executions by status (at most 10, IN_PROGRESS first); `{}` when
/// none are pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobExecutionsChangedEvent {
    /// Summaries keyed by status (`IN_PROGRESS`, `QUEUED`); statuses with none are left out.
    pub jobs: BTreeMap<JobStatus, Vec<JobExecutionSummary>>,
    /// Epoch seconds.
    pub timestamp: u64,
}

/// `jobs/notify-next`: the new next execution, absent when nothing is pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextJobExecutionChangedEvent {
    /// The next execution, with its job document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<JobExecution>,
    /// Epoch seconds.
    pub timestamp: u64,
}

/// A `.../rejected` payload of the Jobs API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobsErrorResponse {
    /// AWS's string code.
    pub code: JobsErrorCode,
    /// What was wrong.
    pub message: String,
    /// The request's token, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Epoch seconds.
    pub timestamp: u64,
    /// For InvalidStateTransition and VersionMismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_state: Option<JobExecutionState>,
}

/// Any message the Jobs service publishes, parsed according to its topic.
#[derive(Debug, Clone, PartialEq)]
pub enum JobsResponse {
    /// `get/accepted`
    GetPending(GetPendingJobExecutionsResponse),
    /// `start-next/accepted`
    StartNext(StartNextJobExecutionResponse),
    /// `{jobId}/get/accepted`
    Describe(DescribeJobExecutionResponse),
    /// `{jobId}/update/accepted`
    Update(UpdateJobExecutionResponse),
    /// Any `rejected`.
    Rejected(JobsApi, JobsErrorResponse),
    /// `notify`
    Notify(JobExecutionsChangedEvent),
    /// `notify-next`
    NotifyNext(NextJobExecutionChangedEvent),
}

impl JobsResponse {
    /// Parses a service message published on `topic`; `Ok(None)` for a request topic.
    pub fn parse(topic: &JobsTopic, payload: &[u8]) -> Result<Option<Self>, Error> {
        Ok(Some(match &topic.message {
            JobsMessage::Request(_) => return Ok(None),
            JobsMessage::Response(api, Outcome::Rejected) => {
                Self::Rejected(api.clone(), decode(payload)?)
            }
            JobsMessage::Response(JobsApi::GetPending, _) => Self::GetPending(decode(payload)?),
            JobsMessage::Response(JobsApi::StartNext, _) => Self::StartNext(decode(payload)?),
            JobsMessage::Response(JobsApi::Describe(_), _) => Self::Describe(decode(payload)?),
            JobsMessage::Response(JobsApi::Update(_), _) => Self::Update(decode(payload)?),
            JobsMessage::Notify => Self::Notify(decode(payload)?),
            JobsMessage::NotifyNext => Self::NotifyNext(decode(payload)?),
        }))
    }
}

fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, Error> {
    serde_json::from_slice(payload).map_err(|e| Error::MalformedPayload {
        what: "jobs",
        detail: e.to_string(),
    })
}
