//! The Jobs device MQTT API (reference §2): execution statuses and their transitions, the
//! request/response payloads, and a sans-IO service ([`JobsService`]) that answers devices,
//! sends `notify`/`notify-next` and times out steps against the caller's clock.
//!
//! Unlike shadow responses, AWS delivers Jobs responses only to the requesting connection;
//! the [`crate::Outgoing`] messages for responses are meant for that connection alone, while
//! `notify` and `notify-next` go to ordinary subscribers.

pub mod client;
mod service;
mod status;
pub mod wire;

pub use crate::topic::JobTarget;
pub use service::{JobsConfig, JobsService, NewJob};
pub use status::{JobStatus, JobsError, JobsErrorCode};
pub use wire::{
    DescribeJobExecutionRequest, DescribeJobExecutionResponse, ExpectedVersion,
    GetPendingJobExecutionsRequest, GetPendingJobExecutionsResponse, JobExecution,
    JobExecutionState, JobExecutionSummary, JobExecutionsChangedEvent, JobsErrorResponse,
    JobsResponse, NextJobExecutionChangedEvent, StartNextJobExecutionResponse,
    StartNextPendingJobExecutionRequest, StatusDetails, UpdateJobExecutionRequest,
    UpdateJobExecutionResponse,
};
