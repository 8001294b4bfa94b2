//! The firmware of a simulated device as a sans-IO machine: MQTT events and the time in,
//! subscriptions and publishes out. The driver ([`super::driver`]) owns the connection.
//!
//! What it does, as real firmware built on the AWS IoT device SDKs does:
//! * on connect: subscribes to its shadows' responses and deltas (classic and `config`) and to
//!   its jobs' `notify-next` and responses, GETs both shadows, and asks for the next job;
//! * on a GET answer (or a 404): applies the delta found, then reports its whole state and
//!   clears the desired keys it applied;
//! * on a delta: applies it, reports the applied values and clears those desired keys;
//! * every telemetry interval: ticks the model, publishes telemetry, and reports values that
//!   moved enough;
//! * jobs: starts the next job; a firmware update reports IN_PROGRESS with progress each step,
//!   then reports the new version in its shadow and SUCCEEDED; anything else is REJECTED.

use std::time::Duration;

use companion_awsiot::jobs::{
    self, JobExecution, JobStatus, JobTarget, JobsResponse, StartNextPendingJobExecutionRequest,
    StatusDetails, UpdateJobExecutionRequest,
};
use companion_awsiot::shadow::{
    self, Nullable, Object, ShadowResponse, ShadowState, UpdateShadowRequest,
};
use companion_awsiot::topic::{
    JobsApi, JobsMessage, JobsTopic, ShadowKind, ShadowMessage, ShadowOperation, ShadowTopic,
};
use companion_awsiot::{JobId, Outgoing, ShadowName, ThingName, Timestamp, Topic};
use serde_json::Value;

use super::job::{JobOrder, JobRun, later};
use super::model::{Applied, DeviceKind, DeviceModel, DeviceRng};
use super::settings::{CONFIG_SHADOW, DeviceSettings};
use super::telemetry::TelemetryMessage;

/// How a device's firmware behaves over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareOptions {
    /// The firmware version the device boots with.
    pub version: String,
    /// Time between telemetry messages until the `config` shadow says otherwise.
    pub telemetry_interval: Duration,
    /// Time between two progress reports of a firmware update.
    pub job_step_interval: Duration,
    /// Progress reports of a firmware update before it succeeds.
    pub job_steps: u8,
    /// How long to wait for a shadow GET answer before asking again.
    pub request_timeout: Duration,
}

impl Default for FirmwareOptions {
    fn default() -> Self {
        Self {
            version: "1.0.0".to_owned(),
            telemetry_interval: Duration::from_secs(5),
            job_step_interval: Duration::from_secs(1),
            job_steps: 4,
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The MQTT quality of service of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// QoS 0, for telemetry.
    AtMostOnce,
    /// QoS 1, for shadow and jobs requests.
    AtLeastOnce,
}

/// Something the driver must do on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Subscribe to these filters with QoS 1.
    Subscribe(Vec<String>),
    /// Unsubscribe from these filters.
    Unsubscribe(Vec<String>),
    /// Publish this message.
    Publish(Outgoing, Qos),
}

/// Which of the device's two shadows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// The classic shadow: the model's state and the firmware version.
    Classic,
    /// The `config` named shadow: [`DeviceSettings`].
    Config,
}

/// A GET sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingGet {
    token: String,
    sent_at: Timestamp,
}

/// The firmware of one simulated device.
#[derive(Debug)]
pub struct Firmware {
    thing: ThingName,
    config_shadow: ShadowKind,
    model: Box<dyn DeviceModel>,
    rng: DeviceRng,
    options: FirmwareOptions,
    version: String,
    settings: DeviceSettings,
    online: bool,
    pending_classic: Option<PendingGet>,
    pending_config: Option<PendingGet>,
    next_telemetry: Option<Timestamp>,
    seq: u64,
    job: Option<JobRun>,
    tokens: u64,
}

impl Firmware {
    /// Firmware for `thing` running `model`, drawing its noise from `rng`.
    pub fn new(
        thing: ThingName,
        model: Box<dyn DeviceModel>,
        rng: DeviceRng,
        options: FirmwareOptions,
    ) -> Self {
        let config_name =
            ShadowName::new(CONFIG_SHADOW).expect("\"config\" is a valid shadow name");
        Self {
            thing,
            config_shadow: ShadowKind::Named(config_name),
            model,
            rng,
            version: options.version.clone(),
            settings: DeviceSettings::new(options.telemetry_interval),
            options,
            online: false,
            pending_classic: None,
            pending_config: None,
            next_telemetry: None,
            seq: 0,
            job: None,
            tokens: 0,
        }
    }

    /// The thing this firmware runs on (also its MQTT client id).
    pub fn thing(&self) -> &ThingName {
        &self.thing
    }

    /// The kind of device.
    pub fn kind(&self) -> DeviceKind {
        self.model.kind()
    }

    /// The installed firmware version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The settings from the `config` shadow.
    pub fn settings(&self) -> &DeviceSettings {
        &self.settings
    }

    /// The firmware update in progress, if any.
    pub fn job(&self) -> Option<&JobRun> {
        self.job.as_ref()
    }

    /// The whole reported state of the classic shadow: the model's state and the firmware
    /// version.
    pub fn reported(&self) -> Object {
        let mut reported = self.model.initial_reported();
        reported.insert("firmware_version".into(), Value::from(self.version.clone()));
        reported
    }

    /// The connection is up (CONNACK received): subscribe, GET both shadows, ask for the next
    /// job, and start the telemetry clock.
    pub fn on_connected(&mut self, now: Timestamp) -> Vec<Action> {
        self.online = true;
        self.next_telemetry = Some(now);
        let mut filters = self.filters();
        if let Some(run) = &self.job {
            filters.extend(self.job_filters(&run.job_id));
        }
        let mut out = vec![Action::Subscribe(filters)];
        out.push(self.get(Which::Classic, now));
        out.push(self.get(Which::Config, now));
        out.extend(self.start_next());
        out
    }

    /// The connection dropped: nothing is published until the next [`Self::on_connected`].
    pub fn on_disconnected(&mut self) {
        self.online = false;
        self.pending_classic = None;
        self.pending_config = None;
    }

    /// A message arrived on `topic` (ignored while offline: it cannot have).
    pub fn on_message(&mut self, topic: &str, payload: &[u8], now: Timestamp) -> Vec<Action> {
        if !self.online {
            return Vec::new();
        }
        match Topic::parse(topic) {
            Ok(Topic::Shadow(topic)) if topic.thing == self.thing => {
                self.on_shadow(&topic, payload, now)
            }
            Ok(Topic::Jobs(topic)) if topic.thing == self.thing => {
                self.on_jobs(&topic, payload, now)
            }
            _ => Vec::new(),
        }
    }

    /// When [`Self::on_timer`] must next be called; `None` while offline.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if !self.online {
            return None;
        }
        let retry = |p: &Option<PendingGet>| {
            p.as_ref()
                .map(|p| later(p.sent_at, self.options.request_timeout))
        };
        [
            self.next_telemetry,
            self.job.as_ref().map(|run| run.next_step),
            retry(&self.pending_classic),
            retry(&self.pending_config),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does whatever is due at `now`: GET retries, telemetry, the next job step.
    pub fn on_timer(&mut self, now: Timestamp) -> Vec<Action> {
        if !self.online {
            return Vec::new();
        }
        let mut out = self.retry_gets(now);
        out.extend(self.telemetry_due(now));
        out.extend(self.job_step_due(now));
        out
    }

    // -----------------------------------------------------------------------------------------
    // Shadows

    fn shadow_kind(&self, which: Which) -> &ShadowKind {
        match which {
            Which::Classic => &ShadowKind::Classic,
            Which::Config => &self.config_shadow,
        }
    }

    fn which(&self, kind: &ShadowKind) -> Option<Which> {
        match kind {
            ShadowKind::Classic => Some(Which::Classic),
            named if *named == self.config_shadow => Some(Which::Config),
            ShadowKind::Named(_) => None,
        }
    }

    /// Every filter the device subscribes to on connect.
    fn filters(&self) -> Vec<String> {
        let mut filters = Vec::new();
        for which in [Which::Classic, Which::Config] {
            let kind = self.shadow_kind(which);
            filters.extend(shadow::client::response_filters(&self.thing, kind));
            let delta = ShadowTopic::new(self.thing.clone(), kind.clone(), ShadowMessage::Delta);
            filters.push(delta.to_string());
        }
        let next = JobsTopic::new(self.thing.clone(), JobsMessage::NotifyNext);
        filters.push(next.to_string());
        filters.extend(jobs::client::response_filters(
            &self.thing,
            &JobTarget::Next,
        ));
        filters
    }

    fn get(&mut self, which: Which, now: Timestamp) -> Action {
        let token = self.token();
        let pending = Some(PendingGet {
            token: token.clone(),
            sent_at: now,
        });
        match which {
            Which::Classic => self.pending_classic = pending,
            Which::Config => self.pending_config = pending,
        }
        let request = shadow::client::get(&self.thing, self.shadow_kind(which), Some(token));
        Action::Publish(request, Qos::AtLeastOnce)
    }

    fn retry_gets(&mut self, now: Timestamp) -> Vec<Action> {
        let timeout = self.options.request_timeout;
        let overdue =
            |p: &Option<PendingGet>| p.as_ref().is_some_and(|p| later(p.sent_at, timeout) <= now);
        let mut out = Vec::new();
        if overdue(&self.pending_classic) {
            out.push(self.get(Which::Classic, now));
        }
        if overdue(&self.pending_config) {
            out.push(self.get(Which::Config, now));
        }
        out
    }

    fn on_shadow(&mut self, topic: &ShadowTopic, payload: &[u8], now: Timestamp) -> Vec<Action> {
        let Some(which) = self.which(&topic.shadow) else {
            return Vec::new();
        };
        match ShadowResponse::parse(topic, payload) {
            Ok(Some(ShadowResponse::GetAccepted(response))) => {
                self.on_get(which, response.client_token, response.state.delta, now)
            }
            Ok(Some(ShadowResponse::Rejected(ShadowOperation::Get, error)))
                if error.code == 404 =>
            {
                self.on_get(which, error.client_token, None, now)
            }
            Ok(Some(ShadowResponse::Delta(delta))) => self.on_delta(which, &delta.state, now),
            Ok(Some(ShadowResponse::Rejected(operation, error))) => {
                tracing::warn!(thing = %self.thing, ?operation, code = error.code, message = %error.message, "shadow request rejected");
                Vec::new()
            }
            Ok(_) => Vec::new(),
            Err(error) => {
                tracing::warn!(thing = %self.thing, %error, "unreadable shadow message");
                Vec::new()
            }
        }
    }

    /// The answer to our GET: apply the delta found, then report everything.
    fn on_get(
        &mut self,
        which: Which,
        token: Option<String>,
        delta: Option<Object>,
        now: Timestamp,
    ) -> Vec<Action> {
        if !self.take_pending(which, token.as_deref()) {
            return Vec::new(); // someone else's GET
        }
        let applied = delta
            .map(|d| self.apply(which, &d, now))
            .unwrap_or_default();
        let mut reported = match which {
            Which::Classic => self.reported(),
            Which::Config => self.settings.reported(),
        };
        reported.extend(applied.reported);
        vec![self.report(which, reported, &applied.cleared)]
    }

    fn take_pending(&mut self, which: Which, token: Option<&str>) -> bool {
        let pending = match which {
            Which::Classic => &mut self.pending_classic,
            Which::Config => &mut self.pending_config,
        };
        let ours = pending
            .as_ref()
            .is_some_and(|p| Some(p.token.as_str()) == token);
        if ours {
            *pending = None;
        }
        ours
    }

    fn on_delta(&mut self, which: Which, delta: &Object, now: Timestamp) -> Vec<Action> {
        let applied = self.apply(which, delta, now);
        if applied.is_empty() {
            return Vec::new();
        }
        vec![self.report(which, applied.reported, &applied.cleared)]
    }

    fn apply(&mut self, which: Which, delta: &Object, now: Timestamp) -> Applied {
        match which {
            Which::Classic => self.model.apply_desired(delta),
            Which::Config => {
                let before = self.settings.telemetry_interval;
                let applied = self.settings.apply_desired(delta);
                if self.settings.telemetry_interval != before && self.next_telemetry.is_some() {
                    self.next_telemetry = Some(later(now, self.settings.telemetry_interval));
                }
                applied
            }
        }
    }

    /// An update that reports `reported` and clears the desired keys in `cleared`.
    fn report(&mut self, which: Which, reported: Object, cleared: &[String]) -> Action {
        let desired: Object = cleared.iter().map(|k| (k.clone(), Value::Null)).collect();
        let section = |object: Object| match object.is_empty() {
            true => Nullable::Absent,
            false => Nullable::Value(object),
        };
        let request = UpdateShadowRequest {
            state: Some(ShadowState {
                desired: section(desired),
                reported: section(reported),
            }),
            client_token: Some(self.token()),
            version: None,
        };
        let message = shadow::client::update(&self.thing, self.shadow_kind(which), &request);
        Action::Publish(message, Qos::AtLeastOnce)
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        format!("fw-{}", self.tokens)
    }

    // -----------------------------------------------------------------------------------------
    // Telemetry

    fn telemetry_due(&mut self, now: Timestamp) -> Vec<Action> {
        let Some(due) = self.next_telemetry.filter(|due| *due <= now) else {
            return Vec::new();
        };
        let tick = self.model.tick(due, &mut self.rng);
        self.seq += 1;
        let next = later(due, self.settings.telemetry_interval);
        // Scheduled from the due time so samples stay evenly spaced; skip ahead if far behind.
        self.next_telemetry = Some(if next <= now {
            later(now, self.settings.telemetry_interval)
        } else {
            next
        });
        let message = TelemetryMessage {
            thing: self.thing.to_string(),
            kind: self.kind().to_string(),
            seq: self.seq,
            timestamp: due.millis(),
            firmware_version: self.version.clone(),
            sample: tick.sample,
        };
        let mut out = vec![Action::Publish(
            message.to_outgoing(&self.thing),
            Qos::AtMostOnce,
        )];
        if !tick.reported.is_empty() {
            out.push(self.report(Which::Classic, tick.reported, &[]));
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Jobs

    fn on_jobs(&mut self, topic: &JobsTopic, payload: &[u8], now: Timestamp) -> Vec<Action> {
        match JobsResponse::parse(topic, payload) {
            Ok(Some(JobsResponse::NotifyNext(event))) => self.on_next_changed(event.execution),
            Ok(Some(JobsResponse::StartNext(response))) => response
                .execution
                .map(|execution| self.on_started(execution, now))
                .unwrap_or_default(),
            Ok(Some(JobsResponse::Rejected(JobsApi::Update(job_id), error))) => {
                tracing::warn!(thing = %self.thing, %job_id, code = ?error.code, message = %error.message, "job update rejected");
                self.abandon_job_if(&job_id)
            }
            Ok(_) => Vec::new(),
            Err(error) => {
                tracing::warn!(thing = %self.thing, %error, "unreadable jobs message");
                Vec::new()
            }
        }
    }

    /// The next pending execution changed: start it, and drop a run that is no longer next
    /// (it was cancelled, removed or timed out).
    fn on_next_changed(&mut self, execution: Option<JobExecution>) -> Vec<Action> {
        let running = self.job.as_ref().map(|run| run.job_id.clone());
        match (execution, running) {
            (Some(next), Some(running)) if next.job_id == running => Vec::new(),
            (None, None) => Vec::new(),
            (next, running) => {
                let mut out = running
                    .map(|id| self.abandon_job_if(&id))
                    .unwrap_or_default();
                if next.is_some() {
                    out.extend(self.start_next());
                }
                out
            }
        }
    }

    fn start_next(&mut self) -> Option<Action> {
        let request = StartNextPendingJobExecutionRequest {
            client_token: Some(self.token()),
            ..Default::default()
        };
        self.publish_jobs(jobs::client::request(
            &self.thing,
            JobsApi::StartNext,
            &request,
        ))
    }

    fn on_started(&mut self, execution: JobExecution, now: Timestamp) -> Vec<Action> {
        if self.job.is_some() || execution.status != JobStatus::InProgress {
            return Vec::new();
        }
        match JobOrder::from_document(execution.job_document.as_ref()) {
            JobOrder::FirmwareUpdate { version } => {
                self.begin_update(execution.job_id, version, now)
            }
            JobOrder::Unsupported { reason } => {
                let details = StatusDetails::from([("reason".to_owned(), reason)]);
                self.update_job(&execution.job_id, JobStatus::Rejected, details)
                    .into_iter()
                    .collect()
            }
        }
    }

    fn begin_update(&mut self, job_id: JobId, version: String, now: Timestamp) -> Vec<Action> {
        let (steps, interval) = (self.options.job_steps, self.options.job_step_interval);
        let run = JobRun::new(job_id.clone(), version, steps, interval, now);
        let details = run.status_details();
        self.job = Some(run);
        let mut out = vec![Action::Subscribe(self.job_filters(&job_id))];
        out.extend(self.update_job(&job_id, JobStatus::InProgress, details));
        out
    }

    fn job_step_due(&mut self, now: Timestamp) -> Vec<Action> {
        let Some(run) = self.job.as_mut().filter(|run| run.next_step <= now) else {
            return Vec::new();
        };
        if run.advance(now) < 100 {
            let (job_id, details) = (run.job_id.clone(), run.status_details());
            return self
                .update_job(&job_id, JobStatus::InProgress, details)
                .into_iter()
                .collect();
        }
        self.finish_update()
    }

    /// The update is installed: report the new version, then SUCCEEDED.
    fn finish_update(&mut self) -> Vec<Action> {
        let Some(run) = self.job.take() else {
            return Vec::new();
        };
        self.version = run.version.clone();
        let mut reported = Object::new();
        reported.insert("firmware_version".into(), Value::from(self.version.clone()));
        let mut out = vec![self.report(Which::Classic, reported, &[])];
        out.extend(self.update_job(&run.job_id, JobStatus::Succeeded, run.status_details()));
        out.push(Action::Unsubscribe(self.job_filters(&run.job_id)));
        out
    }

    fn abandon_job_if(&mut self, job_id: &JobId) -> Vec<Action> {
        if self.job.as_ref().is_none_or(|run| run.job_id != *job_id) {
            return Vec::new();
        }
        self.job = None;
        tracing::info!(thing = %self.thing, %job_id, "job abandoned");
        vec![Action::Unsubscribe(self.job_filters(job_id))]
    }

    /// The response filters specific to `job_id` (the shared ones are subscribed on connect).
    fn job_filters(&self, job_id: &JobId) -> Vec<String> {
        let shared = jobs::client::response_filters(&self.thing, &JobTarget::Next);
        jobs::client::response_filters(&self.thing, &JobTarget::Id(job_id.clone()))
            .into_iter()
            .filter(|filter| !shared.contains(filter))
            .collect()
    }

    fn update_job(
        &mut self,
        job_id: &JobId,
        status: JobStatus,
        details: StatusDetails,
    ) -> Option<Action> {
        let request = UpdateJobExecutionRequest {
            status,
            status_details: Some(details),
            expected_version: None,
            execution_number: None,
            include_job_execution_state: None,
            include_job_document: None,
            step_timeout_in_minutes: None,
            client_token: Some(self.token()),
        };
        self.publish_jobs(jobs::client::update(&self.thing, job_id, &request))
    }

    fn publish_jobs(&self, request: Result<Outgoing, companion_awsiot::Error>) -> Option<Action> {
        match request {
            Ok(message) => Some(Action::Publish(message, Qos::AtLeastOnce)),
            Err(error) => {
                tracing::warn!(thing = %self.thing, %error, "cannot encode a jobs request");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
