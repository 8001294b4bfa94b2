//! The fleet registry against a real database file: a recorded sequence of lifecycle, shadow
//! and jobs messages (with duplicates and out-of-order events) gives the expected fleet view;
//! the sandbox's simulated fleet through its broker shows up online with its firmware.

use std::collections::BTreeMap;
use std::time::Duration;

use companion_core::registry::{
    Applied, FILTERS, NewThing, Presence, Registry, SortKey, Source, ThingFilter, ThingQuery,
};
use companion_core::store::Store;
use companion_sandbox::devices::fleet::FleetSpec;
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::TempDir;
use rumqttc::{Event, Packet, QoS};
use serde_json::{Value, json};
use tokio::time::timeout;

/// How long any awaited event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn message(topic: String, payload: &Value) -> (String, Vec<u8>) {
    (topic, payload.to_string().into_bytes())
}

fn connected(thing: &str, version: u64, at_ms: u64) -> (String, Vec<u8>) {
    message(
        format!("$aws/events/presence/connected/{thing}"),
        &json!({"clientId": thing, "timestamp": at_ms, "eventType": "connected",
                "sessionIdentifier": "s", "principalIdentifier": "p", "ipAddress": "10.0.0.1",
                "versionNumber": version}),
    )
}

fn disconnected(thing: &str, version: u64, at_ms: u64, reason: &str) -> (String, Vec<u8>) {
    message(
        format!("$aws/events/presence/disconnected/{thing}"),
        &json!({"clientId": thing, "timestamp": at_ms, "eventType": "disconnected",
                "sessionIdentifier": "s", "principalIdentifier": "p",
                "clientInitiatedDisconnect": false, "disconnectReason": reason,
                "versionNumber": version}),
    )
}

fn documents(thing: &str, version: u64, desired: Value, reported: Value) -> (String, Vec<u8>) {
    message(
        format!("$aws/things/{thing}/shadow/update/documents"),
        &json!({"current": {"state": {"desired": desired, "reported": reported},
                            "metadata": {}, "version": version}, "timestamp": 1}),
    )
}

fn get_accepted(
    thing: &str,
    version: u64,
    reported: Value,
    delta: Option<Value>,
) -> (String, Vec<u8>) {
    let mut state = json!({"reported": reported});
    if let Some(delta) = delta {
        state["delta"] = delta;
    }
    message(
        format!("$aws/things/{thing}/shadow/get/accepted"),
        &json!({"state": state, "metadata": {}, "version": version, "timestamp": 1}),
    )
}

fn notify(thing: &str, in_progress: &[(&str, u64)], queued: &[(&str, u64)]) -> (String, Vec<u8>) {
    let summaries = |list: &[(&str, u64)]| -> Vec<Value> {
        list.iter()
            .map(|(id, v)| {
                json!({"jobId": id, "queuedAt": 100, "lastUpdatedAt": 110,
                                  "versionNumber": v, "executionNumber": 1})
            })
            .collect()
    };
    let mut jobs = serde_json::Map::new();
    if !in_progress.is_empty() {
        jobs.insert("IN_PROGRESS".into(), Value::from(summaries(in_progress)));
    }
    if !queued.is_empty() {
        jobs.insert("QUEUED".into(), Value::from(summaries(queued)));
    }
    message(
        format!("$aws/things/{thing}/jobs/notify"),
        &json!({"timestamp": 120, "jobs": jobs}),
    )
}

fn described(
    thing: &str,
    job: &str,
    status: &str,
    version: u64,
    progress: &str,
) -> (String, Vec<u8>) {
    message(
        format!("$aws/things/{thing}/jobs/{job}/get/accepted"),
        &json!({"execution": {"jobId": job, "status": status, "queuedAt": 100,
                              "startedAt": 105, "lastUpdatedAt": 130, "versionNumber": version,
                              "executionNumber": 1,
                              "statusDetails": {"operation": "firmware-update",
                                                "progress": progress}},
                "timestamp": 130}),
    )
}

/// The recorded session: three thermostats and a plug, with a duplicate, a late connect, a
/// stale shadow document and a firmware job in progress.
fn recording() -> Vec<(String, Vec<u8>)> {
    vec![
        connected("thermostat-0001", 1, 1_000),
        connected("plug-0002", 4, 1_100),
        get_accepted(
            "thermostat-0001",
            3,
            json!({"firmware_version": "1.0.0", "kind": "thermostat", "rssi": -55}),
            None,
        ),
        documents(
            "plug-0002",
            8,
            json!({"on": true}),
            json!({"on": false, "firmware_version": "1.0.0", "kind": "plug"}),
        ),
        connected("light-0003", 2, 1_200),
        disconnected("light-0003", 2, 5_000, "MQTT_KEEP_ALIVE_TIMEOUT"),
        connected("light-0003", 2, 1_200),
        disconnected("light-0003", 2, 5_000, "MQTT_KEEP_ALIVE_TIMEOUT"),
        documents(
            "plug-0002",
            7,
            json!({}),
            json!({"firmware_version": "0.9.0"}),
        ),
        notify("thermostat-0001", &[], &[("fw-1-1-0", 1)]),
        described("thermostat-0001", "fw-1-1-0", "IN_PROGRESS", 3, "50"),
        notify("thermostat-0001", &[("fw-1-1-0", 2)], &[]),
        documents(
            "thermostat-0001",
            4,
            json!({"target_c": 21}),
            json!({"target_c": 21, "firmware_version": "1.0.0"}),
        ),
    ]
}

async fn names(registry: &Registry, filter: ThingFilter) -> Vec<String> {
    let query = ThingQuery {
        filter,
        ..ThingQuery::default()
    };
    registry
        .list(&query)
        .await
        .expect("a list")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[tokio::test]
async fn a_recorded_session_gives_the_expected_fleet_view() {
    let dir = TempDir::new("recorded");
    let store = Store::open(dir.path().join("companion.db"))
        .await
        .expect("the store opens");
    let registry = Registry::new(store, "default");
    let mut stale = 0;
    for (topic, payload) in recording() {
        if let Applied::Stale(_) = registry
            .apply(&topic, &payload, 9_000)
            .await
            .expect("applied")
        {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 3,
        "the late connect, the duplicate disconnect and plug version 7"
    );

    assert_eq!(
        names(&registry, ThingFilter::Online).await,
        ["plug-0002", "thermostat-0001"],
        "online"
    );
    assert_eq!(
        names(&registry, ThingFilter::Offline).await,
        ["light-0003"],
        "offline"
    );
    assert_eq!(
        names(&registry, ThingFilter::OutOfSync).await,
        ["plug-0002"],
        "out of sync"
    );
    assert_eq!(
        names(&registry, ThingFilter::HasJobs).await,
        ["thermostat-0001"],
        "has jobs"
    );

    let light = registry
        .get("light-0003")
        .await
        .expect("get")
        .expect("discovered");
    assert_eq!(light.presence, Presence::Offline, "the light went offline");
    assert_eq!(
        light.disconnect_reason.as_deref(),
        Some("MQTT_KEEP_ALIVE_TIMEOUT"),
        "why"
    );
    assert_eq!(
        light.last_seen_ms,
        Some(5_000),
        "last seen at its disconnect"
    );

    let plug = registry
        .get("plug-0002")
        .await
        .expect("get")
        .expect("discovered");
    assert_eq!(
        plug.firmware_version.as_deref(),
        Some("1.0.0"),
        "the stale 0.9.0 is ignored"
    );
    assert_eq!(plug.model.as_deref(), Some("plug"), "the kind is the model");

    let thermostat = registry
        .get("thermostat-0001")
        .await
        .expect("get")
        .expect("discovered");
    assert_eq!(thermostat.signal_dbm, Some(-55), "rssi from the shadow");
    assert!(!thermostat.out_of_sync, "target reached");
    assert_eq!(thermostat.pending_jobs, 1, "one job running");
    let jobs = registry.jobs("thermostat-0001").await.expect("jobs");
    assert_eq!(jobs.len(), 1, "one execution: {jobs:?}");
    assert_eq!(
        (
            jobs[0].status.as_str(),
            jobs[0].progress,
            jobs[0].version_number
        ),
        ("IN_PROGRESS", Some(50.0), 3),
        "the notify at version 2 did not undo the describe at version 3"
    );

    let search = ThingQuery {
        search: Some("0003".into()),
        ..ThingQuery::default()
    };
    let found: Vec<String> = registry
        .list(&search)
        .await
        .expect("search")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(found, ["light-0003"], "search by part of the name");
    let by_seen = ThingQuery {
        sort: SortKey::LastSeen,
        descending: true,
        ..ThingQuery::default()
    };
    let order: Vec<String> = registry
        .list(&by_seen)
        .await
        .expect("sorted")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        order,
        ["light-0003", "plug-0002", "thermostat-0001"],
        "newest seen first"
    );
    assert_eq!(
        registry.count(ThingFilter::All, None).await.expect("count"),
        3,
        "three things"
    );
}

#[tokio::test]
async fn a_job_that_leaves_the_pending_list_no_longer_counts_as_pending() {
    let dir = TempDir::new("jobs");
    let registry = Registry::new(
        Store::open(dir.path().join("c.db")).await.expect("store"),
        "p",
    );
    for (topic, payload) in [
        notify("t", &[("a", 2)], &[("b", 1)]),
        notify("t", &[("b", 2)], &[]),
    ] {
        registry.apply(&topic, &payload, 0).await.expect("applied");
    }
    let jobs: Vec<String> = registry
        .jobs("t")
        .await
        .expect("jobs")
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(jobs, ["b"], "job a finished and left the list");
}

#[tokio::test]
async fn ten_thousand_things_list_and_filter_correctly() {
    let dir = TempDir::new("many");
    let registry = Registry::new(
        Store::open(dir.path().join("c.db")).await.expect("store"),
        "p",
    );
    for i in 0..10_000_u64 {
        let thing = format!("device-{i:05}");
        let new = NewThing {
            name: thing.clone(),
            source: Source::Imported,
            model: None,
            attributes: BTreeMap::new(),
        };
        registry.add(&new, 0).await.expect("added");
        if i % 2 == 0 {
            let (topic, payload) = connected(&thing, 0, 1_000 + i);
            registry.apply(&topic, &payload, 0).await.expect("applied");
        }
    }
    assert_eq!(
        registry
            .count(ThingFilter::Online, None)
            .await
            .expect("count"),
        5_000,
        "half online"
    );
    assert_eq!(
        registry
            .count(ThingFilter::Offline, None)
            .await
            .expect("count"),
        5_000,
        "half not"
    );
    assert_eq!(
        registry
            .count(ThingFilter::All, Some("-0999"))
            .await
            .expect("count"),
        10,
        "search"
    );
    let page = ThingQuery {
        filter: ThingFilter::Online,
        offset: 100,
        limit: 50,
        ..ThingQuery::default()
    };
    let listed = registry.list(&page).await.expect("a page");
    assert_eq!(listed.len(), 50, "a page of 50");
    assert_eq!(
        listed[0].name, "device-00200",
        "the 101st online thing by name"
    );
}

#[tokio::test]
async fn the_sandbox_fleet_appears_online_with_its_firmware_and_model() {
    let dir = TempDir::new("sandbox");
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
        .await
        .expect("the sandbox starts");
    let registry = Registry::new(
        Store::open(dir.path().join("c.db")).await.expect("store"),
        "sandbox",
    );
    let (client, mut eventloop) =
        companion_sandbox::connect::client("registry-test", &sandbox.plain_endpoint(), 64)
            .expect("a client");
    let filters = FILTERS
        .iter()
        .map(|f| rumqttc::SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce));
    client
        .subscribe_many(filters)
        .await
        .expect("subscribe is queued");
    let subscribed = async {
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.expect("connected") {
                return;
            }
        }
    };
    timeout(DEADLINE, subscribed).await.expect("SUBACK");
    let fleet = sandbox
        .spawn_fleet(&FleetSpec {
            seed: 3,
            count: 3,
            ..FleetSpec::default()
        })
        .await
        .expect("fleet");

    let converge = async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = eventloop.poll().await.expect("connected")
            {
                registry
                    .apply(&p.topic, &p.payload, 0)
                    .await
                    .expect("applied");
                let online = registry
                    .list(&ThingQuery {
                        filter: ThingFilter::Online,
                        ..ThingQuery::default()
                    })
                    .await
                    .expect("a list");
                // The observer's own connection is discovered too; only the fleet counts.
                let fleet: Vec<_> = online
                    .into_iter()
                    .filter(|t| t.name != "registry-test" && t.firmware_version.is_some())
                    .collect();
                if fleet.len() == 3 {
                    return fleet;
                }
            }
        }
    };
    let online = timeout(DEADLINE, converge)
        .await
        .expect("the fleet shows up online with firmware");
    let view: Vec<(String, Option<String>, Option<String>)> = online
        .into_iter()
        .map(|t| (t.name, t.model, t.firmware_version))
        .collect();
    assert_eq!(
        view,
        [
            ("light-0003".to_owned(), None, Some("1.0.0".to_owned())),
            ("plug-0002".to_owned(), None, Some("1.0.0".to_owned())),
            ("thermostat-0001".to_owned(), None, Some("1.0.0".to_owned())),
        ],
        "each device's name and firmware (the sandbox reports no model in its shadow)"
    );
    fleet.shutdown().await.expect("the fleet stops");
    sandbox.shutdown().await;
}
