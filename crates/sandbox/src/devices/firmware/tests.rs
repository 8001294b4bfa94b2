//! The firmware against the sans-IO Shadow and Jobs services of `companion_awsiot`, wired
//! together in memory: every publish of the firmware goes to the services, and every message
//! the services publish comes back to the firmware.

use std::collections::VecDeque;
use std::time::Duration;

use companion_awsiot::jobs::{JobsService, NewJob};
use companion_awsiot::shadow::{Document, ShadowStore};
use rand::SeedableRng;
use serde_json::json;

use super::*;
use crate::devices::model::DeviceKind;
use crate::devices::telemetry::{TelemetryMessage, telemetry_topic};

const START: Timestamp = Timestamp::from_secs(1_800_000_000);

/// A firmware and the cloud side, in one process.
struct Bench {
    firmware: Firmware,
    shadows: ShadowStore,
    jobs: JobsService,
    now: Timestamp,
    /// Everything the firmware published, in order.
    published: Vec<Outgoing>,
    subscribed: Vec<String>,
}

impl Bench {
    fn new(kind: DeviceKind) -> Self {
        let mut rng = DeviceRng::seed_from_u64(11);
        let model = kind.build(&mut rng);
        let thing = ThingName::new(format!("{kind}-0001")).expect("valid thing name");
        let options = FirmwareOptions {
            telemetry_interval: Duration::from_secs(10),
            job_step_interval: Duration::from_secs(2),
            ..FirmwareOptions::default()
        };
        Self {
            firmware: Firmware::new(thing, model, rng, options),
            shadows: ShadowStore::default(),
            jobs: JobsService::default(),
            now: START,
            published: Vec::new(),
            subscribed: Vec::new(),
        }
    }

    fn thing(&self) -> ThingName {
        self.firmware.thing().clone()
    }

    fn connect(&mut self) {
        let actions = self.firmware.on_connected(self.now);
        self.run(actions);
    }

    /// Carries out `actions` and everything they cause, until the exchange settles.
    fn run(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let message = match action {
                Action::Publish(message, _) => message,
                Action::Subscribe(filters) => {
                    self.subscribed.extend(filters);
                    continue;
                }
                Action::Unsubscribe(filters) => {
                    self.subscribed.retain(|f| !filters.contains(f));
                    continue;
                }
            };
            self.published.push(message.clone());
            for reply in self.serve(&message) {
                queue.extend(
                    self.firmware
                        .on_message(&reply.topic, &reply.payload, self.now),
                );
            }
        }
    }

    fn serve(&mut self, message: &Outgoing) -> Vec<Outgoing> {
        let (topic, payload) = (&message.topic, &message.payload);
        self.shadows
            .handle_publish(topic, payload, self.now)
            .or_else(|| self.jobs.handle_publish(topic, payload, self.now))
            .unwrap_or_default()
    }

    /// Another client (the app) publishes `payload` on the shadow's update topic.
    fn app_update(&mut self, shadow: &ShadowKind, payload: Value) {
        let request: UpdateShadowRequest = serde_json::from_value(payload).expect("a request");
        let message = shadow::client::update(&self.thing(), shadow, &request);
        let replies = self.serve(&message);
        self.deliver(replies);
    }

    fn deliver(&mut self, messages: Vec<Outgoing>) {
        for message in messages {
            let actions = self
                .firmware
                .on_message(&message.topic, &message.payload, self.now);
            self.run(actions);
        }
    }

    /// Moves the clock to each deadline up to `until`, running what is due.
    fn advance_to(&mut self, until: Timestamp) {
        while let Some(deadline) = self.firmware.next_deadline().filter(|d| *d <= until) {
            self.now = self.now.max(deadline);
            let actions = self.firmware.on_timer(self.now);
            self.run(actions);
        }
        self.now = until;
    }

    fn document(&self, shadow: &ShadowKind) -> Document {
        self.shadows
            .shadow(&self.thing(), shadow)
            .and_then(|s| s.document())
            .cloned()
            .expect("the shadow exists")
    }

    fn config() -> ShadowKind {
        ShadowKind::Named(ShadowName::new("config").expect("valid"))
    }

    fn published_on(&self, topic: &str) -> Vec<Value> {
        self.published
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| serde_json::from_slice(&m.payload).expect("JSON"))
            .collect()
    }
}

#[test]
fn booting_with_no_shadow_reports_the_whole_state_to_both_shadows() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    bench.connect();
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(classic.reported, bench.firmware.reported());
    assert_eq!(classic.reported["firmware_version"], json!("1.0.0"));
    assert_eq!(classic.reported["mode"], json!("heat"));
    let config = bench.document(&Bench::config());
    assert_eq!(config.reported["telemetry_interval_ms"], json!(10_000));
    assert_eq!(config.reported["firmware_channel"], json!("stable"));
}

#[test]
fn the_device_subscribes_before_it_gets_its_shadows() {
    let mut bench = Bench::new(DeviceKind::Light);
    let actions = bench.firmware.on_connected(bench.now);
    let Some(Action::Subscribe(filters)) = actions.first() else {
        panic!("the first action must subscribe, got {actions:?}");
    };
    for expected in [
        "$aws/things/light-0001/shadow/update/delta",
        "$aws/things/light-0001/shadow/get/+",
        "$aws/things/light-0001/shadow/update/accepted",
        "$aws/things/light-0001/shadow/name/config/update/delta",
        "$aws/things/light-0001/shadow/name/config/update/rejected",
        "$aws/things/light-0001/jobs/notify-next",
        "$aws/things/light-0001/jobs/start-next/+",
    ] {
        assert!(
            filters.iter().any(|f| f == expected),
            "{expected} in {filters:?}"
        );
    }
}

#[test]
fn a_desired_change_made_while_offline_is_applied_at_boot_and_cleared() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    bench.app_update(
        &ShadowKind::Classic,
        json!({"state": {"desired": {"target_c": 24}}}),
    );
    bench.connect();
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(classic.reported["target_c"], json!(24.0));
    assert!(
        classic.desired.is_empty(),
        "desired cleared: {:?}",
        classic.desired
    );
    assert!(classic.delta().is_empty(), "no delta left");
}

#[test]
fn a_delta_is_applied_reported_clamped_and_its_desired_keys_cleared() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    bench.connect();
    let desired = json!({"state": {"desired": {"target_c": 99, "mode": "cool", "fan": "max"}}});
    bench.app_update(&ShadowKind::Classic, desired);
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(classic.reported["target_c"], json!(30.0), "clamped");
    assert_eq!(classic.reported["mode"], json!("cool"));
    assert!(
        !classic.reported.contains_key("fan"),
        "unknown keys are not reported"
    );
    assert!(
        classic.desired.is_empty(),
        "every applied key cleared: {:?}",
        classic.desired
    );
}

#[test]
fn a_light_switched_to_rgb_drops_its_colour_temperature_from_reported() {
    let mut bench = Bench::new(DeviceKind::Light);
    bench.connect();
    bench.app_update(
        &ShadowKind::Classic,
        json!({"state": {"desired": {"rgb": [10, 20, 30]}}}),
    );
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(classic.reported["rgb"], json!([10, 20, 30]));
    assert_eq!(classic.reported["color_mode"], json!("rgb"));
    assert!(!classic.reported.contains_key("color_temp_k"));
}

#[test]
fn answers_to_other_clients_gets_are_ignored() {
    let mut bench = Bench::new(DeviceKind::Plug);
    bench.connect();
    let before = bench.published.len();
    let get = shadow::client::get(&bench.thing(), &ShadowKind::Classic, Some("app-1".into()));
    let replies = bench.serve(&get);
    bench.deliver(replies);
    assert_eq!(
        bench.published.len(),
        before,
        "the device published nothing"
    );
}

#[test]
fn telemetry_is_published_on_the_thing_topic_every_interval() {
    let mut bench = Bench::new(DeviceKind::Plug);
    bench.connect();
    bench.advance_to(START.plus_secs(30));
    let topic = telemetry_topic(&bench.thing());
    let messages: Vec<TelemetryMessage> = bench
        .published_on(&topic)
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a telemetry message"))
        .collect();
    let times: Vec<u64> = messages.iter().map(|m| m.timestamp).collect();
    let start = START.millis();
    assert_eq!(
        times,
        [start, start + 10_000, start + 20_000, start + 30_000]
    );
    assert_eq!(
        messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        messages
            .iter()
            .all(|m| m.kind == "plug" && m.sample.contains_key("watts"))
    );
}

#[test]
fn a_config_delta_changes_the_telemetry_interval() {
    let mut bench = Bench::new(DeviceKind::Light);
    bench.connect();
    bench.advance_to(START);
    bench.app_update(
        &Bench::config(),
        json!({"state": {"desired": {"telemetry_interval_ms": 2500}}}),
    );
    assert_eq!(
        bench.firmware.settings().telemetry_interval,
        Duration::from_millis(2500)
    );
    assert_eq!(
        bench.firmware.next_deadline(),
        Some(Timestamp::from_millis(START.millis() + 2500)),
        "the next sample comes at the new interval"
    );
    let config = bench.document(&Bench::config());
    assert_eq!(config.reported["telemetry_interval_ms"], json!(2500));
    assert!(config.desired.is_empty());
}

#[test]
fn nothing_is_published_while_offline() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    bench.connect();
    bench.firmware.on_disconnected();
    assert_eq!(bench.firmware.next_deadline(), None);
    assert!(bench.firmware.on_timer(START.plus_secs(60)).is_empty());
}

fn queue_job(bench: &mut Bench, job_id: &str, document: Value) {
    let job = NewJob {
        job_id: JobId::new(job_id).expect("valid job id"),
        document,
        in_progress_timeout_minutes: None,
    };
    let thing = bench.thing();
    let notifications = bench.jobs.queue(&thing, job, bench.now).expect("queued");
    bench.deliver(notifications);
}

fn job_updates(bench: &Bench, job_id: &str) -> Vec<(String, Option<String>)> {
    let topic = format!("$aws/things/{}/jobs/{job_id}/update", bench.thing());
    bench
        .published_on(&topic)
        .iter()
        .map(|u| {
            let status = u["status"].as_str().unwrap_or_default().to_owned();
            let progress = u["statusDetails"]["progress"].as_str().map(str::to_owned);
            (status, progress)
        })
        .collect()
}

#[test]
fn a_firmware_job_reports_progress_then_succeeds_and_reports_the_new_version() {
    let mut bench = Bench::new(DeviceKind::Plug);
    bench.connect();
    queue_job(
        &mut bench,
        "fw-120",
        json!({"operation": "firmware-update", "version": "1.2.0"}),
    );
    assert!(
        bench.firmware.job().is_some(),
        "the job started on notify-next"
    );
    bench.advance_to(START.plus_secs(20));
    let progress: Vec<(String, Option<String>)> = ["0", "25", "50", "75"]
        .iter()
        .map(|p| ("IN_PROGRESS".to_owned(), Some((*p).to_owned())))
        .chain([("SUCCEEDED".to_owned(), Some("100".to_owned()))])
        .collect();
    assert_eq!(job_updates(&bench, "fw-120"), progress);
    let executions = bench.jobs.executions(&bench.thing());
    assert_eq!(executions[0].status, JobStatus::Succeeded);
    assert_eq!(bench.firmware.version(), "1.2.0");
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(classic.reported["firmware_version"], json!("1.2.0"));
    assert!(bench.firmware.job().is_none());
}

#[test]
fn an_unknown_operation_is_rejected_with_a_reason_and_the_next_job_runs() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    bench.connect();
    queue_job(&mut bench, "dance", json!({"operation": "dance"}));
    let executions = bench.jobs.executions(&bench.thing());
    assert_eq!(executions[0].status, JobStatus::Rejected);
    let details = executions[0].status_details.clone().unwrap_or_default();
    assert_eq!(details["reason"], "unsupported operation 'dance'");
    queue_job(
        &mut bench,
        "fw-2",
        json!({"operation": "firmware-update", "version": "2.0.0"}),
    );
    assert!(
        bench
            .firmware
            .job()
            .is_some_and(|run| run.job_id.as_str() == "fw-2")
    );
}

#[test]
fn a_job_queued_during_another_runs_after_it() {
    let mut bench = Bench::new(DeviceKind::Light);
    bench.connect();
    queue_job(
        &mut bench,
        "first",
        json!({"operation": "firmware-update", "version": "1.1.0"}),
    );
    queue_job(
        &mut bench,
        "second",
        json!({"operation": "firmware-update", "version": "1.2.0"}),
    );
    bench.advance_to(START.plus_secs(60));
    let statuses: Vec<JobStatus> = bench
        .jobs
        .executions(&bench.thing())
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [JobStatus::Succeeded, JobStatus::Succeeded]);
    assert_eq!(bench.firmware.version(), "1.2.0");
}

#[test]
fn a_cancelled_job_is_abandoned() {
    let mut bench = Bench::new(DeviceKind::Plug);
    bench.connect();
    queue_job(
        &mut bench,
        "fw-9",
        json!({"operation": "firmware-update", "version": "9.0.0"}),
    );
    let thing = bench.thing();
    let job_id = JobId::new("fw-9").expect("valid");
    let notifications = bench
        .jobs
        .end(&thing, &job_id, JobStatus::Canceled, bench.now)
        .expect("cancelled");
    bench.deliver(notifications);
    assert!(bench.firmware.job().is_none(), "the run stopped");
    bench.advance_to(START.plus_secs(20));
    assert_eq!(bench.firmware.version(), "1.0.0", "nothing was installed");
}

#[test]
fn a_job_pending_at_boot_is_started() {
    let mut bench = Bench::new(DeviceKind::Thermostat);
    queue_job(
        &mut bench,
        "early",
        json!({"operation": "firmware-update", "version": "1.0.1"}),
    );
    assert!(bench.firmware.job().is_none(), "offline devices do nothing");
    bench.connect();
    assert!(
        bench
            .firmware
            .job()
            .is_some_and(|run| run.job_id.as_str() == "early")
    );
}

#[test]
fn an_unanswered_get_is_sent_again() {
    let mut bench = Bench::new(DeviceKind::Light);
    let actions = bench.firmware.on_connected(bench.now);
    drop(actions); // lost: the service was not there
    let retry_at = bench.firmware.next_deadline().expect("a deadline");
    assert!(retry_at <= START.plus_secs(5));
    bench.advance_to(START.plus_secs(5));
    let classic = bench.document(&ShadowKind::Classic);
    assert_eq!(
        classic.reported,
        bench.firmware.reported(),
        "reported after the retry"
    );
}

#[test]
fn desired_keys_are_cleared_with_nulls_in_the_update() {
    let mut bench = Bench::new(DeviceKind::Plug);
    bench.connect();
    bench.app_update(
        &ShadowKind::Classic,
        json!({"state": {"desired": {"on": false}}}),
    );
    let topic = format!("$aws/things/{}/shadow/update", bench.thing());
    let last = bench.published_on(&topic).pop().expect("an update");
    assert_eq!(last["state"]["desired"], json!({"on": null}));
    assert_eq!(
        last["state"]["reported"],
        json!({"on": false, "watts": 0.0})
    );
}
