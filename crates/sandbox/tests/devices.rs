//! A simulated device against a real broker: Mosquitto on a free loopback port, with a minimal
//! cloud built from `companion_awsiot`'s sans-IO Shadow and Jobs services, and an app-like
//! client watching and changing the device's shadow.
//!
//! Needs the `mosquitto` binary (Debian package `mosquitto`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use companion_awsiot::jobs::{JobStatus, JobsService, NewJob};
use companion_awsiot::shadow::{self, ShadowStore, UpdateShadowRequest};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{JobId, ThingName};
use companion_sandbox::connect::{Endpoint, mqtt_options};
use companion_sandbox::devices::{
    Clock, FirmwareOptions, FleetSpec, SimulatedFleet, SystemClock, TelemetryMessage,
    telemetry_topic,
};
use companion_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, Incoming, QoS, SubscribeFilter};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// How long any awaited event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// The plain endpoint of `broker`.
fn endpoint(broker: &Mosquitto) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: broker.port(),
        tls: None,
    }
}

type Message = (String, Vec<u8>);

/// An MQTT client subscribed to `filters` (first SUBACK received), forwarding what it
/// receives; it reconnects and subscribes again if the broker restarts.
async fn peer(
    client_id: &str,
    endpoint: &Endpoint,
    filters: &[String],
) -> (AsyncClient, mpsc::UnboundedReceiver<Message>) {
    let options = mqtt_options(client_id, endpoint).expect("options");
    let (client, mut events) = AsyncClient::new(options, 256);
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
    let (subscriber, filters) = (client.clone(), filters.to_vec());
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let all = filters
                        .iter()
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    subscriber
                        .try_subscribe_many(all)
                        .expect("subscribe queued");
                }
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    subscribed.take().map(|s| s.send(()));
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) if tx.is_closed() => return,
                // The broker is restarting: retry shortly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    timeout(DEADLINE, is_subscribed)
        .await
        .expect("SUBACK in time")
        .expect("subscribed");
    (client, rx)
}

/// The cloud side: AWS IoT's Shadow and Jobs services answering over the broker.
struct Cloud {
    client: AsyncClient,
    jobs: Arc<Mutex<JobsService>>,
}

impl Cloud {
    async fn start(endpoint: &Endpoint) -> Self {
        // Exactly the request topics (not `#`), so the services never hear their own replies.
        let filters = [
            "$aws/things/+/shadow/+",
            "$aws/things/+/shadow/name/+/+",
            "$aws/things/+/jobs/get",
            "$aws/things/+/jobs/start-next",
            "$aws/things/+/jobs/+/get",
            "$aws/things/+/jobs/+/update",
        ]
        .map(String::from);
        let (client, mut requests) = peer("cloud-services", endpoint, &filters).await;
        let jobs = Arc::new(Mutex::new(JobsService::default()));
        let (publisher, services) = (client.clone(), jobs.clone());
        tokio::spawn(async move {
            let mut shadows = ShadowStore::default();
            while let Some((topic, payload)) = requests.recv().await {
                let now = SystemClock.now();
                let replies = shadows.handle_publish(&topic, &payload, now).or_else(|| {
                    let mut jobs = services.lock().expect("jobs lock");
                    jobs.handle_publish(&topic, &payload, now)
                });
                for reply in replies.unwrap_or_default() {
                    let _ = publisher
                        .publish(reply.topic, QoS::AtLeastOnce, false, reply.payload)
                        .await;
                }
            }
        });
        Self { client, jobs }
    }

    /// Queues a job and publishes the notifications; returns the execution's status right after.
    async fn queue_job(&self, thing: &ThingName, job_id: &str, document: Value) -> JobStatus {
        let job = NewJob {
            job_id: JobId::new(job_id).expect("a valid job id"),
            document,
            in_progress_timeout_minutes: None,
        };
        let (notifications, status) = {
            let mut jobs = self.jobs.lock().expect("jobs lock");
            let notifications = jobs.queue(thing, job, SystemClock.now()).expect("queued");
            (notifications, jobs.executions(thing)[0].status)
        };
        for message in notifications {
            self.client
                .publish(message.topic, QoS::AtLeastOnce, false, message.payload)
                .await
                .expect("published");
        }
        status
    }

    fn job_status(&self, thing: &ThingName) -> JobStatus {
        self.jobs.lock().expect("jobs lock").executions(thing)[0].status
    }
}

/// Receives until `accept` returns a value, failing the test after [`DEADLINE`].
async fn wait_for<T>(
    rx: &mut mpsc::UnboundedReceiver<Message>,
    what: &str,
    mut accept: impl FnMut(&str, &Value) -> Option<T>,
) -> T {
    let search = async {
        while let Some((topic, payload)) = rx.recv().await {
            let value: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            if let Some(found) = accept(&topic, &value) {
                return found;
            }
        }
        panic!("the watcher stopped while waiting for {what}");
    };
    match timeout(DEADLINE, search).await {
        Ok(found) => found,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The `current` reported state of an `update/documents` event on `thing`'s classic shadow.
fn current_reported<'a>(thing: &ThingName, topic: &str, event: &'a Value) -> Option<&'a Value> {
    let documents = format!("$aws/things/{thing}/shadow/update/documents");
    (topic == documents).then(|| &event["current"]["state"]["reported"])
}

/// What an observer sees of a firmware-update job: the device's status updates, the service's
/// answer to the SUCCEEDED one, and the new version in the shadow, in whatever order they come.
struct JobWatch {
    thing: ThingName,
    update_topic: String,
    progress: Vec<(String, String)>,
    succeeded_token: Option<Value>,
    succeeded_accepted: bool,
    version_reported: bool,
}

impl JobWatch {
    fn new(thing: &ThingName, job_id: &str) -> Self {
        Self {
            thing: thing.clone(),
            update_topic: format!("$aws/things/{thing}/jobs/{job_id}/update"),
            progress: Vec::new(),
            succeeded_token: None,
            succeeded_accepted: false,
            version_reported: false,
        }
    }

    fn see(&mut self, topic: &str, message: &Value) {
        if topic == self.update_topic {
            let status = message["status"].as_str().unwrap_or_default().to_owned();
            let progress = message["statusDetails"]["progress"]
                .as_str()
                .unwrap_or_default();
            if status == "SUCCEEDED" {
                self.succeeded_token = Some(message["clientToken"].clone());
            }
            self.progress.push((status, progress.to_owned()));
        } else if topic == format!("{}/accepted", self.update_topic) {
            self.succeeded_accepted |=
                self.succeeded_token.as_ref() == Some(&message["clientToken"]);
        } else if let Some(reported) = current_reported(&self.thing, topic, message) {
            self.version_reported |= reported["firmware_version"] == "1.2.0";
        }
    }

    fn done(&self) -> bool {
        self.succeeded_accepted && self.version_reported
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_thermostat_reports_follows_desired_publishes_telemetry_and_runs_a_job() {
    let broker = Mosquitto::start().await;
    let endpoint = endpoint(&broker);
    let cloud = Cloud::start(&endpoint).await;
    let thing = ThingName::new("thermostat-0001").expect("valid");
    let mut watch_filters = shadow::client::event_filters(&thing, &ShadowKind::Classic);
    watch_filters.extend(shadow::client::response_filters(
        &thing,
        &ShadowKind::Classic,
    ));
    watch_filters.push(telemetry_topic(&thing));
    watch_filters.push(format!("$aws/things/{thing}/jobs/+/update"));
    watch_filters.push(format!("$aws/things/{thing}/jobs/+/update/accepted"));
    let (app, mut seen) = peer("companion-app", &endpoint, &watch_filters).await;

    let spec = FleetSpec {
        seed: 2026,
        count: 1,
        firmware: FirmwareOptions {
            telemetry_interval: Duration::from_millis(100),
            job_step_interval: Duration::from_millis(100),
            ..FirmwareOptions::default()
        },
        ..FleetSpec::default()
    };
    let fleet = SimulatedFleet::spawn(&spec, |_| endpoint.clone()).expect("the fleet starts");

    // On boot the device reports its whole state.
    let booted = wait_for(&mut seen, "the boot report", |topic, event| {
        current_reported(&thing, topic, event)
            .filter(|r| r["firmware_version"] == "1.0.0")
            .cloned()
    })
    .await;
    assert_eq!(
        booted["mode"], "heat",
        "the boot report has the model's state: {booted}"
    );
    assert!(booted["temperature_c"].is_number(), "{booted}");

    // Telemetry arrives on the device's own topic.
    let telemetry = wait_for(&mut seen, "telemetry", |topic, message| {
        (topic == telemetry_topic(&thing)).then(|| message.clone())
    })
    .await;
    let telemetry: TelemetryMessage =
        serde_json::from_value(telemetry).expect("a telemetry message");
    assert_eq!(
        (telemetry.thing.as_str(), telemetry.kind.as_str()),
        ("thermostat-0001", "thermostat")
    );
    assert!(
        telemetry.sample.contains_key("temperature_c"),
        "{:?}",
        telemetry.sample
    );
    assert!(
        telemetry.timestamp > 1_700_000_000_000,
        "epoch milliseconds"
    );

    // A desired change from another client ends with reported = desired and desired cleared.
    let request: UpdateShadowRequest = serde_json::from_value(json!({
        "state": {"desired": {"target_c": 25.5, "mode": "cool"}}, "clientToken": "app-1"
    }))
    .expect("a request");
    let update = shadow::client::update(&thing, &ShadowKind::Classic, &request);
    app.publish(update.topic, QoS::AtLeastOnce, false, update.payload)
        .await
        .expect("published");
    let synced = wait_for(
        &mut seen,
        "reported = desired with desired cleared",
        |topic, event| {
            let reported = current_reported(&thing, topic, event)?;
            let desired = &event["current"]["state"]["desired"];
            let applied = reported["target_c"] == 25.5 && reported["mode"] == "cool";
            let cleared = desired.get("target_c").is_none() && desired.get("mode").is_none();
            (applied && cleared).then(|| event.clone())
        },
    )
    .await;
    assert!(
        synced["current"]["state"].get("delta").is_none(),
        "{synced}"
    );
    let get = shadow::client::get(&thing, &ShadowKind::Classic, Some("app-2".into()));
    app.publish(get.topic, QoS::AtLeastOnce, false, get.payload)
        .await
        .expect("published");
    let state = wait_for(&mut seen, "the app's GET answer", |topic, answer| {
        (topic.ends_with("/get/accepted") && answer["clientToken"] == "app-2")
            .then(|| answer["state"].clone())
    })
    .await;
    assert!(state.get("delta").is_none(), "no delta remains: {state}");
    assert_eq!(state["reported"]["target_c"], 25.5);

    // A firmware job goes QUEUED -> IN_PROGRESS (with progress) -> SUCCEEDED.
    let document = json!({"operation": "firmware-update", "version": "1.2.0"});
    assert_eq!(
        cloud.queue_job(&thing, "fw-1-2-0", document).await,
        JobStatus::Queued
    );
    let mut job = JobWatch::new(&thing, "fw-1-2-0");
    wait_for(
        &mut seen,
        "the job to succeed and the version to be reported",
        |topic, message| {
            job.see(topic, message);
            job.done().then_some(())
        },
    )
    .await;
    let expected: Vec<(String, String)> = [
        ("IN_PROGRESS", "0"),
        ("IN_PROGRESS", "25"),
        ("IN_PROGRESS", "50"),
        ("IN_PROGRESS", "75"),
        ("SUCCEEDED", "100"),
    ]
    .map(|(s, p)| (s.to_owned(), p.to_owned()))
    .into();
    assert_eq!(job.progress, expected, "the device's status updates");
    assert_eq!(cloud.job_status(&thing), JobStatus::Succeeded);

    // Shutdown disconnects the device cleanly and hands back its firmware.
    let firmware = timeout(DEADLINE, fleet.shutdown())
        .await
        .expect("a clean shutdown")
        .expect("no crash");
    assert_eq!(firmware[0].version(), "1.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_reports_and_comes_back_after_the_broker_restarts() {
    let broker = Mosquitto::start().await;
    let endpoint = endpoint(&broker);
    let _cloud = Cloud::start(&endpoint).await;
    let spec = FleetSpec {
        seed: 9,
        count: 3,
        ..FleetSpec::default()
    };
    let things: Vec<ThingName> = companion_sandbox::devices::plan(spec.seed, spec.count)
        .into_iter()
        .map(|member| member.thing)
        .collect();
    let filters: Vec<String> = things
        .iter()
        .flat_map(|thing| {
            let mut filters = shadow::client::event_filters(thing, &ShadowKind::Classic);
            filters.extend(shadow::client::response_filters(
                thing,
                &ShadowKind::Classic,
            ));
            filters
        })
        .collect();
    let (app, mut seen) = peer("companion-app", &endpoint, &filters).await;
    let fleet = SimulatedFleet::spawn(&spec, |_| endpoint.clone()).expect("the fleet starts");
    let kinds: Vec<&str> = fleet.things().map(|(_, kind)| kind.as_str()).collect();
    assert_eq!(kinds, ["thermostat", "plug", "light"]);
    await_boot_reports(&mut seen, &things).await;

    let port = broker.stop().await;
    while seen.try_recv().is_ok() {} // forget what came before the restart
    let broker = Mosquitto::start_on(port).await;
    // Every device reconnects, subscribes again and reports again.
    await_boot_reports(&mut seen, &things).await;

    let light = &things[2];
    let request: UpdateShadowRequest = serde_json::from_value(json!({
        "state": {"desired": {"brightness": 250, "on": true}}
    }))
    .expect("a request");
    let update = shadow::client::update(light, &ShadowKind::Classic, &request);
    app.publish(update.topic, QoS::AtLeastOnce, false, update.payload)
        .await
        .expect("published");
    wait_for(
        &mut seen,
        "the light to apply the clamped brightness",
        |topic, event| {
            let reported = current_reported(light, topic, event)?;
            let desired = &event["current"]["state"]["desired"];
            // Only keys in the delta are cleared: `on` was already true, so it stays desired.
            let cleared = desired.get("brightness").is_none();
            (reported["brightness"] == 100 && reported["on"] == true && cleared).then_some(())
        },
    )
    .await;

    let firmware = timeout(DEADLINE, fleet.shutdown())
        .await
        .expect("a clean shutdown")
        .expect("no crash");
    assert_eq!(firmware.len(), 3);
    drop(broker);
}

/// Waits for a whole-state report from each of `things`: an `update/accepted` echo whose
/// reported state includes `firmware_version` (periodic reports carry only what changed).
async fn await_boot_reports(seen: &mut mpsc::UnboundedReceiver<Message>, things: &[ThingName]) {
    let mut pending: Vec<String> = things
        .iter()
        .map(|thing| format!("$aws/things/{thing}/shadow/update/accepted"))
        .collect();
    wait_for(seen, "a boot report from every device", |topic, echo| {
        let whole = echo["state"]["reported"].get("firmware_version").is_some();
        pending.retain(|accepted| !(whole && topic == accepted));
        pending.is_empty().then_some(())
    })
    .await;
}
