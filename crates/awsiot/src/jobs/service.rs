//! The Jobs service as a sans-IO machine: device requests in, responses and notifications out;
//! step and in-progress timers evaluated against the time the caller passes in.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::status::{JobStatus, JobsError, JobsErrorCode};
use super::wire::{
    DescribeJobExecutionRequest, DescribeJobExecutionResponse, GetPendingJobExecutionsRequest,
    GetPendingJobExecutionsResponse, JobExecution, JobExecutionState, JobExecutionSummary,
    JobExecutionsChangedEvent, JobsErrorResponse, NextJobExecutionChangedEvent,
    StartNextJobExecutionResponse, StartNextPendingJobExecutionRequest, StatusDetails,
    UpdateJobExecutionRequest, UpdateJobExecutionResponse,
};
use crate::topic::{JobTarget, JobsApi, JobsMessage, JobsTopic, Outcome};
use crate::{JobId, Outgoing, ThingName, Timestamp, Topic};

/// Longest step timer AWS allows: 7 days in minutes (reference §2.3).
const MAX_STEP_TIMEOUT_MINUTES: i64 = 10_080;

/// Policies of the Jobs service where the reference is unsure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsConfig {
    /// Whether a device may move a QUEUED execution straight to SUCCEEDED, FAILED or REJECTED.
    /// Believed allowed by AWS but unverified (reference §2.3, §7.3); default true.
    pub allow_queued_to_terminal: bool,
    /// Most statusDetails pairs accepted; the SDK docs say 10 (unverified). `None` = no limit.
    pub max_status_details: Option<usize>,
    /// Most executions listed in a `notify` message (AWS: 10).
    pub max_notify_executions: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            allow_queued_to_terminal: true,
            max_status_details: Some(10),
            max_notify_executions: 10,
        }
    }
}

/// A job to queue for a thing (the control-plane side, e.g. `companion sandbox job create`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The job's id.
    pub job_id: JobId,
    /// The job document (a JSON object in practice).
    pub document: Value,
    /// Job-level in-progress timeout, independent of step timers.
    pub in_progress_timeout_minutes: Option<u64>,
}

/// One execution of a job on a thing, as the service keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Execution {
    job_id: JobId,
    document: Value,
    status: JobStatus,
    status_details: Option<StatusDetails>,
    queued_at: Timestamp,
    started_at: Option<Timestamp>,
    last_updated_at: Timestamp,
    version_number: u64,
    execution_number: u64,
    step_deadline: Option<Timestamp>,
    in_progress_timeout_minutes: Option<u64>,
}

impl Execution {
    fn key(&self) -> (JobId, u64) {
        (self.job_id.clone(), self.execution_number)
    }

    fn state(&self) -> JobExecutionState {
        JobExecutionState {
            status: self.status,
            status_details: self.status_details.clone(),
            version_number: self.version_number,
        }
    }

    fn summary(&self) -> JobExecutionSummary {
        JobExecutionSummary {
            job_id: self.job_id.clone(),
            queued_at: self.queued_at.secs(),
            started_at: self.started_at.map(Timestamp::secs),
            last_updated_at: self.last_updated_at.secs(),
            version_number: self.version_number,
            execution_number: self.execution_number,
        }
    }

    fn execution(&self, thing: Option<&ThingName>, include_document: bool) -> JobExecution {
        JobExecution {
            job_id: self.job_id.clone(),
            thing_name: thing.map(|t| t.as_str().to_owned()),
            job_document: include_document.then(|| self.document.clone()),
            status: self.status,
            status_details: self.status_details.clone(),
            queued_at: self.queued_at.secs(),
            started_at: self.started_at.map(Timestamp::secs),
            last_updated_at: self.last_updated_at.secs(),
            version_number: self.version_number,
            execution_number: self.execution_number,
        }
    }

    /// When this execution times out, if it is running under a timer.
    fn deadline(&self) -> Option<Timestamp> {
        if self.status != JobStatus::InProgress {
            return None;
        }
        let job_level = match (self.started_at, self.in_progress_timeout_minutes) {
            (Some(start), Some(minutes)) => Some(start.plus_secs(minutes.saturating_mul(60))),
            _ => None,
        };
        [self.step_deadline, job_level].into_iter().flatten().min()
    }

    /// Moves to `status` at `now`, counting a new version.
    fn transition(&mut self, status: JobStatus, now: Timestamp) {
        self.status = status;
        self.version_number += 1;
        self.last_updated_at = now;
        if status == JobStatus::InProgress && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if status.is_terminal() {
            self.step_deadline = None;
        }
    }

    fn set_step_timer(&mut self, minutes: Option<i64>, now: Timestamp) {
        match minutes {
            None => {}
            Some(-1) => self.step_deadline = None,
            Some(m) => self.step_deadline = Some(now.plus_secs(m.unsigned_abs() * 60)),
        }
    }
}

/// Which executions are pending and which is next: compared before and after a change to
/// decide whether `notify` and `notify-next` are due.
#[derive(Debug, PartialEq)]
struct PendingView {
    pending: BTreeSet<(JobId, u64)>,
    next: Option<(JobId, u64)>,
}

/// The Jobs service for every thing.
#[derive(Debug, Clone, Default)]
pub struct JobsService {
    config: JobsConfig,
    things: BTreeMap<ThingName, Vec<Execution>>,
}

/// A rejection and the client token to echo with it.
type Rejection = (JobsError, Option<String>);

impl JobsService {
    /// An empty service.
    pub fn new(config: JobsConfig) -> Self {
        Self {
            config,
            things: BTreeMap::new(),
        }
    }

    /// Queues `job` for `thing` and returns the `notify`/`notify-next` messages it causes.
    /// Refused with `InvalidRequest` when the job is already pending for the thing.
    pub fn queue(
        &mut self,
        thing: &ThingName,
        job: NewJob,
        now: Timestamp,
    ) -> Result<Vec<Outgoing>, JobsError> {
        let before = self.view(thing);
        let executions = self.things.entry(thing.clone()).or_default();
        let same_job = executions.iter().filter(|e| e.job_id == job.job_id);
        if same_job.clone().any(|e| !e.status.is_terminal()) {
            return Err(JobsError::new(
                JobsErrorCode::InvalidRequest,
                format!("job {} is already pending for {thing}", job.job_id),
            ));
        }
        let execution_number = same_job.map(|e| e.execution_number).max().unwrap_or(0) + 1;
        executions.push(Execution {
            job_id: job.job_id,
            document: job.document,
            status: JobStatus::Queued,
            status_details: None,
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version_number: 1,
            execution_number,
            step_deadline: None,
            in_progress_timeout_minutes: job.in_progress_timeout_minutes,
        });
        Ok(self.notifications(thing, &before, now))
    }

    /// Ends a pending execution from the service side with CANCELED or REMOVED.
    pub fn end(
        &mut self,
        thing: &ThingName,
        job_id: &JobId,
        status: JobStatus,
        now: Timestamp,
    ) -> Result<Vec<Outgoing>, JobsError> {
        if !matches!(status, JobStatus::Canceled | JobStatus::Removed) {
            return Err(JobsError::new(
                JobsErrorCode::InvalidRequest,
                "the service ends executions only as CANCELED or REMOVED",
            ));
        }
        let before = self.view(thing);
        let execution = self
            .latest_mut(thing, job_id, None)
            .filter(|e| !e.status.is_terminal())
            .ok_or_else(|| not_found(job_id))?;
        execution.transition(status, now);
        Ok(self.notifications(thing, &before, now))
    }

    /// Times out every running execution whose step or in-progress timer expired by `now`.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Outgoing> {
        let things: Vec<ThingName> = self.things.keys().cloned().collect();
        let mut out = Vec::new();
        for thing in things {
            let before = self.view(&thing);
            for execution in self.things.get_mut(&thing).into_iter().flatten() {
                if execution.deadline().is_some_and(|d| d <= now) {
                    execution.transition(JobStatus::TimedOut, now);
                }
            }
            out.extend(self.notifications(&thing, &before, now));
        }
        out
    }

    /// The earliest time at which [`JobsService::tick`] has work, for the driver's timer.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.things
            .values()
            .flatten()
            .filter_map(Execution::deadline)
            .min()
    }

    /// Every execution of `thing`, oldest first, with job documents (for listings).
    pub fn executions(&self, thing: &ThingName) -> Vec<JobExecution> {
        self.things
            .get(thing)
            .into_iter()
            .flatten()
            .map(|e| e.execution(Some(thing), true))
            .collect()
    }

    /// Handles a raw publish: `None` when the topic is not in a thing's jobs namespace or is
    /// not a request. A jobs-namespace topic that maps to no API is answered on
    /// `{topic}/rejected` with `InvalidTopic`.
    pub fn handle_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Option<Vec<Outgoing>> {
        match Topic::parse(topic) {
            Ok(Topic::Jobs(JobsTopic {
                thing,
                message: JobsMessage::Request(api),
            })) => Some(self.handle(&thing, &api, payload, now)),
            Ok(_) => None,
            Err(_) => invalid_topic(topic, payload, now),
        }
    }

    /// Answers one request from `thing` for `api`.
    pub fn handle(
        &mut self,
        thing: &ThingName,
        api: &JobsApi,
        payload: &[u8],
        now: Timestamp,
    ) -> Vec<Outgoing> {
        let before = self.view(thing);
        let result = match api {
            JobsApi::GetPending => self.get_pending(thing, payload, now),
            JobsApi::StartNext => self.start_next(thing, payload, now),
            JobsApi::Describe(target) => self.describe(thing, target, payload, now),
            JobsApi::Update(job_id) => self.update(thing, job_id, payload, now),
        };
        let outcome = if result.is_ok() {
            Outcome::Accepted
        } else {
            Outcome::Rejected
        };
        let topic = Topic::Jobs(JobsTopic::new(
            thing.clone(),
            JobsMessage::Response(api.clone(), outcome),
        ));
        let payload = result.unwrap_or_else(|(error, token)| encode(&rejection(error, token, now)));
        let mut out = vec![Outgoing::new(&topic, payload)];
        out.extend(self.notifications(thing, &before, now));
        out
    }

    fn get_pending(
        &self,
        thing: &ThingName,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>, Rejection> {
        let request: GetPendingJobExecutionsRequest = parse_request(payload)?;
        let pending = self.pending(thing);
        let of = |status| {
            pending
                .iter()
                .filter(|e| e.status == status)
                .map(|e| e.summary())
                .collect()
        };
        Ok(encode(&GetPendingJobExecutionsResponse {
            in_progress_jobs: of(JobStatus::InProgress),
            queued_jobs: of(JobStatus::Queued),
            timestamp: now.secs(),
            client_token: request.client_token,
        }))
    }

    /// Starts the next pending execution. An execution already IN_PROGRESS is returned as it
    /// is (choice: the reference does not say that start-next changes a running execution).
    fn start_next(
        &mut self,
        thing: &ThingName,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>, Rejection> {
        let request: StartNextPendingJobExecutionRequest = parse_request(payload)?;
        let token = request.client_token.clone();
        self.validate(
            request.status_details.as_ref(),
            request.step_timeout_in_minutes,
        )
        .map_err(|e| (e, token.clone()))?;
        let next = self.next_mut(thing);
        if let Some(execution) = next.filter(|e| e.status == JobStatus::Queued) {
            execution.transition(JobStatus::InProgress, now);
            execution.status_details = request.status_details.or(execution.status_details.take());
            execution.set_step_timer(request.step_timeout_in_minutes, now);
        }
        let execution = self.pending(thing).first().map(|e| e.execution(None, true));
        Ok(encode(&StartNextJobExecutionResponse {
            execution,
            timestamp: now.secs(),
            client_token: token,
        }))
    }

    fn describe(
        &self,
        thing: &ThingName,
        target: &JobTarget,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>, Rejection> {
        let request: DescribeJobExecutionRequest = parse_request(payload)?;
        let token = request.client_token.clone();
        let include_document = request.include_job_document.unwrap_or(true);
        let execution = match target {
            // Choice: `$next` with nothing pending is answered without `execution`, as
            // start-next is (the reference does not say).
            JobTarget::Next => self
                .pending(thing)
                .first()
                .map(|e| e.execution(Some(thing), include_document)),
            JobTarget::Id(job_id) => {
                let found = self
                    .latest(thing, job_id, request.execution_number)
                    .ok_or_else(|| (not_found(job_id), token.clone()))?;
                if found.status.is_terminal() {
                    let message = format!(
                        "job execution {job_id} is in the terminal state {}",
                        found.status.as_str()
                    );
                    return Err((
                        JobsError::new(JobsErrorCode::TerminalStateReached, message),
                        token,
                    ));
                }
                Some(found.execution(Some(thing), include_document))
            }
        };
        Ok(encode(&DescribeJobExecutionResponse {
            execution,
            timestamp: now.secs(),
            client_token: token,
        }))
    }

    fn update(
        &mut self,
        thing: &ThingName,
        job_id: &JobId,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>, Rejection> {
        let request: UpdateJobExecutionRequest = parse_request(payload)?;
        let token = request.client_token.clone();
        self.check_update(&request)
            .map_err(|e| (e, token.clone()))?;
        let allow_queued_to_terminal = self.config.allow_queued_to_terminal;
        let execution = self
            .latest_mut(thing, job_id, request.execution_number)
            .ok_or_else(|| (not_found(job_id), token.clone()))?;
        check_transition(execution, &request, allow_queued_to_terminal)
            .map_err(|e| (e, token.clone()))?;
        execution.transition(request.status, now);
        if let Some(details) = &request.status_details {
            execution.status_details = Some(details.clone());
        }
        if request.status == JobStatus::InProgress {
            execution.set_step_timer(request.step_timeout_in_minutes, now);
        }
        Ok(encode(&UpdateJobExecutionResponse {
            execution_state: request
                .include_job_execution_state
                .unwrap_or(false)
                .then(|| execution.state()),
            job_document: request
                .include_job_document
                .unwrap_or(false)
                .then(|| execution.document.clone()),
            timestamp: now.secs(),
            client_token: token,
        }))
    }

    fn check_update(&self, request: &UpdateJobExecutionRequest) -> Result<(), JobsError> {
        if !request.status.device_may_set() {
            let message = format!(
                "status {} cannot be set by a device; use IN_PROGRESS, SUCCEEDED, FAILED or REJECTED",
                request.status.as_str()
            );
            return Err(JobsError::new(JobsErrorCode::InvalidRequest, message));
        }
        self.validate(
            request.status_details.as_ref(),
            request.step_timeout_in_minutes,
        )
    }

    fn validate(
        &self,
        details: Option<&StatusDetails>,
        step_timeout: Option<i64>,
    ) -> Result<(), JobsError> {
        if let Some(details) = details {
            validate_status_details(details, self.config.max_status_details)?;
        }
        match step_timeout {
            None | Some(-1) | Some(1..=MAX_STEP_TIMEOUT_MINUTES) => Ok(()),
            Some(other) => Err(JobsError::new(
                JobsErrorCode::InvalidRequest,
                format!(
                    "stepTimeoutInMinutes {other} is out of range; use 1-10080, or -1 to cancel the timer"
                ),
            )),
        }
    }

    fn pending(&self, thing: &ThingName) -> Vec<&Execution> {
        let executions = self
            .things
            .get(thing)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let of = |status| executions.iter().filter(move |e| e.status == status);
        of(JobStatus::InProgress)
            .chain(of(JobStatus::Queued))
            .collect()
    }

    fn next_mut(&mut self, thing: &ThingName) -> Option<&mut Execution> {
        let key = self.pending(thing).first().map(|e| e.key())?;
        self.things
            .get_mut(thing)?
            .iter_mut()
            .find(|e| e.key() == key)
    }

    fn latest(&self, thing: &ThingName, job_id: &JobId, number: Option<u64>) -> Option<&Execution> {
        let executions = self.things.get(thing)?;
        executions
            .iter()
            .rev()
            .find(|e| &e.job_id == job_id && number.is_none_or(|n| n == e.execution_number))
    }

    fn latest_mut(
        &mut self,
        thing: &ThingName,
        job_id: &JobId,
        number: Option<u64>,
    ) -> Option<&mut Execution> {
        let executions = self.things.get_mut(thing)?;
        executions
            .iter_mut()
            .rev()
            .find(|e| &e.job_id == job_id && number.is_none_or(|n| n == e.execution_number))
    }

    fn view(&self, thing: &ThingName) -> PendingView {
        let pending = self.pending(thing);
        PendingView {
            next: pending.first().map(|e| e.key()),
            pending: pending.iter().map(|e| e.key()).collect(),
        }
    }

    /// `notify` when the set of pending executions changed, `notify-next` when the next one
    /// changed (not when it merely moved from QUEUED to IN_PROGRESS).
    fn notifications(
        &self,
        thing: &ThingName,
        before: &PendingView,
        now: Timestamp,
    ) -> Vec<Outgoing> {
        let after = self.view(thing);
        let mut out = Vec::new();
        if after.pending != before.pending {
            let topic = Topic::Jobs(JobsTopic::new(thing.clone(), JobsMessage::Notify));
            out.push(Outgoing::new(
                &topic,
                encode(&self.notify_event(thing, now)),
            ));
        }
        if after.next != before.next {
            let execution = self.pending(thing).first().map(|e| e.execution(None, true));
            let topic = Topic::Jobs(JobsTopic::new(thing.clone(), JobsMessage::NotifyNext));
            out.push(Outgoing::new(
                &topic,
                encode(&NextJobExecutionChangedEvent {
                    execution,
                    timestamp: now.secs(),
                }),
            ));
        }
        out
    }

    fn notify_event(&self, thing: &ThingName, now: Timestamp) -> JobExecutionsChangedEvent {
        let mut jobs: BTreeMap<JobStatus, Vec<JobExecutionSummary>> = BTreeMap::new();
        for execution in self
            .pending(thing)
            .into_iter()
            .take(self.config.max_notify_executions)
        {
            jobs.entry(execution.status)
                .or_default()
                .push(execution.summary());
        }
        JobExecutionsChangedEvent {
            jobs,
            timestamp: now.secs(),
        }
    }
}

fn check_transition(
    execution: &Execution,
    request: &UpdateJobExecutionRequest,
    allow_queued_to_terminal: bool,
) -> Result<(), JobsError> {
    if let Some(expected) = request.expected_version
        && expected.0 != execution.version_number
    {
        let message = format!(
            "expectedVersion {} does not match the current version {}",
            expected.0, execution.version_number
        );
        return Err(
            JobsError::new(JobsErrorCode::VersionMismatch, message).with_state(execution.state())
        );
    }
    let from = execution.status;
    let queued_shortcut = from == JobStatus::Queued && request.status.is_terminal();
    if from.is_terminal() || (queued_shortcut && !allow_queued_to_terminal) {
        let message = format!(
            "cannot update a job execution from {} to {}",
            from.as_str(),
            request.status.as_str()
        );
        return Err(
            JobsError::new(JobsErrorCode::InvalidStateTransition, message)
                .with_state(execution.state()),
        );
    }
    Ok(())
}

/// statusDetails rules (reference §2.3): keys 1-128 of `[a-zA-Z0-9:_-]`, values 1-1024
/// characters without control characters, and at most `max` pairs.
///
/// Choice: `[^\p{C}]` is checked as "no control characters" (Rust's `char::is_control`).
fn validate_status_details(details: &StatusDetails, max: Option<usize>) -> Result<(), JobsError> {
    let invalid = |message: String| Err(JobsError::new(JobsErrorCode::InvalidRequest, message));
    if max.is_some_and(|m| details.len() > m) {
        return invalid(format!(
            "statusDetails has {} entries; at most {} are allowed",
            details.len(),
            max.unwrap_or(0)
        ));
    }
    for (key, value) in details {
        let key_ok = (1..=128).contains(&key.chars().count())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'));
        if !key_ok {
            return invalid(format!(
                "statusDetails key {key:?} must be 1-128 characters from a-z, A-Z, 0-9, ':', '_' and '-'"
            ));
        }
        if !(1..=1024).contains(&value.chars().count()) || value.chars().any(char::is_control) {
            return invalid(format!(
                "statusDetails value for {key:?} must be 1-1024 characters without control characters"
            ));
        }
    }
    Ok(())
}

/// Reads a request payload: empty counts as `{}` (choice: the SDKs always send JSON, so
/// leniency here costs nothing); non-UTF-8 or malformed JSON is `InvalidJson`; JSON of the
/// wrong shape (e.g. a missing or unknown status) is `InvalidRequest`.
fn parse_request<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Rejection> {
    let payload = if payload.is_empty() {
        &b"{}"[..]
    } else {
        payload
    };
    let invalid_json = || {
        (
            JobsError::new(
                JobsErrorCode::InvalidJson,
                "the payload is not valid UTF-8 JSON",
            ),
            None,
        )
    };
    let value: Value = serde_json::from_slice(payload).map_err(|_| invalid_json())?;
    let token = value
        .get("clientToken")
        .and_then(Value::as_str)
        .map(str::to_owned);
    serde_json::from_value(value).map_err(|e| {
        (
            JobsError::new(
                JobsErrorCode::InvalidRequest,
                format!("invalid request: {e}"),
            ),
            token,
        )
    })
}

fn invalid_topic(topic: &str, payload: &[u8], now: Timestamp) -> Option<Vec<Outgoing>> {
    let mut levels = topic.split('/');
    let in_namespace = matches!((levels.next(), levels.next(), levels.next(), levels.next()), (Some("$aws"), Some("things"), Some(t), Some("jobs")) if ThingName::new(t).is_ok());
    if !in_namespace || topic.ends_with("/accepted") || topic.ends_with("/rejected") {
        return None;
    }
    let token = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("clientToken")?.as_str().map(str::to_owned));
    let error = JobsError::new(
        JobsErrorCode::InvalidTopic,
        format!("{topic} is not a Jobs API topic"),
    );
    Some(vec![Outgoing {
        topic: format!("{topic}/rejected"),
        payload: encode(&rejection(error, token, now)),
    }])
}

fn not_found(job_id: &JobId) -> JobsError {
    JobsError::new(
        JobsErrorCode::ResourceNotFound,
        format!("no job execution found for job {job_id}"),
    )
}

fn rejection(error: JobsError, client_token: Option<String>, now: Timestamp) -> JobsErrorResponse {
    JobsErrorResponse {
        code: error.code,
        message: error.message,
        client_token,
        timestamp: now.secs(),
        execution_state: error.execution_state,
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
