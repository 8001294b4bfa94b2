//! What a message tells the registry, decided without I/O: lifecycle events, classic shadow
//! documents and Jobs messages become [`Observation`]s.

use companion_awsiot::jobs::wire::{
    JobExecution, JobExecutionSummary, JobsResponse, StatusDetails,
};
use companion_awsiot::lifecycle::LifecycleEvent;
use companion_awsiot::shadow::document::delta;
use companion_awsiot::shadow::wire::{
    GetShadowResponse, Object, ShadowDeltaEvent, ShadowDocumentsEvent,
};
use companion_awsiot::topic::{
    JobsApi, JobsTopic, Outcome, ShadowKind, ShadowMessage, ShadowOperation, ShadowTopic,
};
use companion_awsiot::{JobId, Topic};
use serde_json::Value;

use super::presence::PresenceMark;

/// Reported keys read as the firmware version, first match wins.
const FIRMWARE_KEYS: [&str; 3] = ["firmware_version", "firmwareVersion", "fw_version"];
/// Reported keys read as the model.
const MODEL_KEYS: [&str; 3] = ["model", "kind", "device_model"];
/// Reported keys read as the signal strength in dBm.
const SIGNAL_KEYS: [&str; 4] = ["rssi", "signal_dbm", "wifi_rssi", "signal"];

/// One fact about a thing.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A lifecycle event: online or offline.
    Presence {
        /// The thing (`thingName`, or the client id when there is none).
        thing: String,
        /// How the event orders against others.
        mark: PresenceMark,
        /// `disconnectReason` of a disconnect.
        reason: Option<String>,
    },
    /// What the classic shadow says.
    Shadow {
        /// The thing.
        thing: String,
        /// The shadow's version in the message.
        version: i64,
        /// Fields found in `reported`.
        reported: ReportedFields,
        /// Whether desired and reported differ, when the message tells.
        out_of_sync: Option<bool>,
    },
    /// Job executions of a thing.
    Jobs {
        /// The thing.
        thing: String,
        /// Executions with what is known of them.
        executions: Vec<ExecutionUpdate>,
        /// When the message lists every pending execution: their ids (others are no longer
        /// pending).
        pending: Option<Vec<String>>,
    },
}

/// Registry fields read from a shadow's reported section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportedFields {
    /// The firmware version.
    pub firmware_version: Option<String>,
    /// The model or kind.
    pub model: Option<String>,
    /// Signal strength, dBm.
    pub signal_dbm: Option<i64>,
}

/// What a message says about one job execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionUpdate {
    /// The job.
    pub job_id: String,
    /// Its status (`QUEUED`, `IN_PROGRESS`, ...).
    pub status: String,
    /// Its statusDetails, when carried.
    pub status_details: Option<StatusDetails>,
    /// Its versionNumber.
    pub version_number: i64,
    /// Which execution.
    pub execution_number: Option<i64>,
    /// Epoch seconds.
    pub queued_at: Option<i64>,
    /// Epoch seconds.
    pub started_at: Option<i64>,
    /// Epoch seconds.
    pub last_updated_at: Option<i64>,
}

/// What `topic` and `payload` tell the registry; `None` for anything else (telemetry,
/// requests, rejections, named shadows, malformed payloads).
pub fn observe(topic: &str, payload: &[u8]) -> Option<Observation> {
    match Topic::parse(topic).ok()? {
        Topic::Lifecycle(_) => presence(payload),
        Topic::Shadow(t) if t.shadow == ShadowKind::Classic => shadow(&t, payload),
        Topic::Jobs(t) => jobs(&t, payload),
        Topic::Shadow(_) | Topic::Provisioning(_) => None,
    }
}

fn presence(payload: &[u8]) -> Option<Observation> {
    let (thing, client, at, version, connected, reason) =
        match LifecycleEvent::parse(payload).ok()? {
            LifecycleEvent::Connected(e) => (
                e.thing_name,
                e.client_id,
                e.timestamp,
                e.version_number,
                true,
                None,
            ),
            LifecycleEvent::Disconnected(e) => (
                e.thing_name,
                e.client_id,
                e.timestamp,
                e.version_number,
                false,
                Some(reason_text(&e.disconnect_reason)),
            ),
            _ => return None,
        };
    Some(Observation::Presence {
        thing: thing.unwrap_or(client),
        mark: PresenceMark {
            version: to_i64(version),
            at_ms: to_i64(at),
            connected,
        },
        reason,
    })
}

fn reason_text(reason: &impl serde::Serialize) -> String {
    match serde_json::to_value(reason) {
        Ok(Value::String(text)) => text,
        _ => "UNKNOWN".to_owned(),
    }
}

fn shadow(topic: &ShadowTopic, payload: &[u8]) -> Option<Observation> {
    let thing = topic.thing.to_string();
    let (version, reported, out_of_sync) = match topic.message {
        ShadowMessage::Documents => {
            let event: ShadowDocumentsEvent = serde_json::from_slice(payload).ok()?;
            let state = event.current.state;
            let empty = Object::new();
            let desired = state.desired.as_ref().unwrap_or(&empty);
            let reported = state.reported.unwrap_or_default();
            let out_of_sync = !delta(desired, &reported).is_empty();
            (event.current.version, reported, Some(out_of_sync))
        }
        ShadowMessage::Response(ShadowOperation::Get, Outcome::Accepted) => {
            let response: GetShadowResponse = serde_json::from_slice(payload).ok()?;
            let out_of_sync = response.state.delta.is_some_and(|d| !d.is_empty());
            let reported = response.state.reported.unwrap_or_default();
            (response.version, reported, Some(out_of_sync))
        }
        ShadowMessage::Delta => {
            let event: ShadowDeltaEvent = serde_json::from_slice(payload).ok()?;
            (event.version, Object::new(), Some(!event.state.is_empty()))
        }
        _ => return None,
    };
    Some(Observation::Shadow {
        thing,
        version: to_i64(version),
        reported: reported_fields(&reported),
        out_of_sync,
    })
}

/// The registry's fields in a reported section (top-level keys).
pub fn reported_fields(reported: &Object) -> ReportedFields {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| reported.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let signal = SIGNAL_KEYS
        .iter()
        .find_map(|k| reported.get(*k).and_then(Value::as_f64))
        .map(|dbm| dbm.round() as i64);
    ReportedFields {
        firmware_version: text(&FIRMWARE_KEYS),
        model: text(&MODEL_KEYS),
        signal_dbm: signal,
    }
}

fn jobs(topic: &JobsTopic, payload: &[u8]) -> Option<Observation> {
    let thing = topic.thing.to_string();
    let (executions, pending) = match JobsResponse::parse(topic, payload).ok()?? {
        JobsResponse::GetPending(r) => {
            let mut all = summaries(&r.in_progress_jobs, "IN_PROGRESS");
            all.extend(summaries(&r.queued_jobs, "QUEUED"));
            let ids = all.iter().map(|e| e.job_id.clone()).collect();
            (all, Some(ids))
        }
        JobsResponse::Notify(event) => {
            let all: Vec<ExecutionUpdate> = event
                .jobs
                .iter()
                .flat_map(|(status, list)| summaries(list, &status_text(status)))
                .collect();
            let ids = all.iter().map(|e| e.job_id.clone()).collect();
            (all, Some(ids))
        }
        JobsResponse::StartNext(r) => (r.execution.iter().map(execution).collect(), None),
        JobsResponse::Describe(r) => (r.execution.iter().map(execution).collect(), None),
        JobsResponse::NotifyNext(r) => (r.execution.iter().map(execution).collect(), None),
        JobsResponse::Update(r) => {
            let JobsApi::Update(job_id) = update_api(topic)? else {
                return None;
            };
            let state = r.execution_state?;
            let update = ExecutionUpdate {
                status_details: state.status_details,
                version_number: to_i64(state.version_number),
                ..ExecutionUpdate::new(&job_id, status_text(&state.status))
            };
            (vec![update], None)
        }
        JobsResponse::Rejected(..) => return None,
    };
    Some(Observation::Jobs {
        thing,
        executions,
        pending,
    })
}

fn update_api(topic: &JobsTopic) -> Option<JobsApi> {
    match &topic.message {
        companion_awsiot::topic::JobsMessage::Response(api, Outcome::Accepted) => Some(api.clone()),
        _ => None,
    }
}

impl ExecutionUpdate {
    fn new(job_id: &JobId, status: String) -> Self {
        Self {
            job_id: job_id.to_string(),
            status,
            status_details: None,
            version_number: 0,
            execution_number: None,
            queued_at: None,
            started_at: None,
            last_updated_at: None,
        }
    }
}

fn summaries(list: &[JobExecutionSummary], status: &str) -> Vec<ExecutionUpdate> {
    list.iter()
        .map(|s| ExecutionUpdate {
            version_number: to_i64(s.version_number),
            execution_number: Some(to_i64(s.execution_number)),
            queued_at: Some(to_i64(s.queued_at)),
            started_at: s.started_at.map(to_i64),
            last_updated_at: Some(to_i64(s.last_updated_at)),
            ..ExecutionUpdate::new(&s.job_id, status.to_owned())
        })
        .collect()
}

fn execution(e: &JobExecution) -> ExecutionUpdate {
    ExecutionUpdate {
        status_details: e.status_details.clone(),
        version_number: to_i64(e.version_number),
        execution_number: Some(to_i64(e.execution_number)),
        queued_at: Some(to_i64(e.queued_at)),
        started_at: e.started_at.map(to_i64),
        last_updated_at: Some(to_i64(e.last_updated_at)),
        ..ExecutionUpdate::new(&e.job_id, status_text(&e.status))
    }
}

/// AWS's spelling of a status, e.g. `IN_PROGRESS`.
fn status_text(status: &impl serde::Serialize) -> String {
    reason_text(status)
}

/// The progress in statusDetails (`progress`, as `40`, `40%` or `0.4`... read as written).
pub fn progress(details: &StatusDetails) -> Option<f64> {
    let text = details.get("progress")?;
    text.trim().trim_end_matches('%').trim().parse().ok()
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
