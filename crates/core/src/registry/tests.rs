use serde_json::json;

use super::*;

fn connected(client: &str, version: u64, at_ms: u64) -> (String, Vec<u8>) {
    let payload = json!({
        "clientId": client, "thingName": client, "timestamp": at_ms, "eventType": "connected",
        "sessionIdentifier": "s", "principalIdentifier": "p", "ipAddress": "127.0.0.1",
        "versionNumber": version
    });
    (
        format!("$aws/events/presence/connected/{client}"),
        payload.to_string().into_bytes(),
    )
}

fn disconnected(client: &str, version: u64, at_ms: u64, reason: &str) -> (String, Vec<u8>) {
    let payload = json!({
        "clientId": client, "timestamp": at_ms, "eventType": "disconnected",
        "sessionIdentifier": "s", "principalIdentifier": "p",
        "clientInitiatedDisconnect": false, "disconnectReason": reason, "versionNumber": version
    });
    (
        format!("$aws/events/presence/disconnected/{client}"),
        payload.to_string().into_bytes(),
    )
}

fn documents(
    thing: &str,
    version: u64,
    desired: serde_json::Value,
    reported: serde_json::Value,
) -> (String, Vec<u8>) {
    let payload = json!({
        "current": {"state": {"desired": desired, "reported": reported},
                    "metadata": {}, "version": version},
        "timestamp": 1
    });
    (
        format!("$aws/things/{thing}/shadow/update/documents"),
        payload.to_string().into_bytes(),
    )
}

async fn registry() -> Registry {
    Registry::new(Store::open_in_memory().await.expect("a store"), "p")
}

async fn feed(registry: &Registry, messages: &[(String, Vec<u8>)]) -> Vec<Applied> {
    let mut out = Vec::new();
    for (topic, payload) in messages {
        out.push(registry.apply(topic, payload, 1).await.expect("applied"));
    }
    out
}

#[test]
fn a_documents_event_says_firmware_model_signal_and_sync() {
    let (topic, payload) = documents(
        "plug-0002",
        4,
        json!({"on": true}),
        json!({"on": false, "firmware_version": "1.2.0", "kind": "plug", "rssi": -61.4}),
    );
    let observation = observe(&topic, &payload).expect("an observation");
    assert_eq!(
        observation,
        Observation::Shadow {
            thing: "plug-0002".into(),
            version: 4,
            reported: ReportedFields {
                firmware_version: Some("1.2.0".into()),
                model: Some("plug".into()),
                signal_dbm: Some(-61),
            },
            out_of_sync: Some(true),
        },
        "desired on differs from reported"
    );
}

#[test]
fn messages_that_are_not_for_the_registry_are_ignored() {
    let cases: [(&str, &[u8]); 4] = [
        ("dt/companion/a/telemetry", b"{}"),
        ("$aws/things/a/shadow/update", br#"{"state":{}}"#),
        ("$aws/things/a/shadow/name/config/update/documents", b"{}"),
        ("$aws/events/presence/connected/a", b"not json"),
    ];
    for (topic, payload) in cases {
        assert_eq!(observe(topic, payload), None, "topic {topic}");
    }
}

#[test]
fn progress_is_read_from_status_details_as_written() {
    let details = |p: &str| StatusDetails::from([("progress".to_owned(), p.to_owned())]);
    assert_eq!(observe::progress(&details("40")), Some(40.0), "a number");
    assert_eq!(
        observe::progress(&details(" 75% ")),
        Some(75.0),
        "a percentage"
    );
    assert_eq!(observe::progress(&details("half")), None, "not a number");
    assert_eq!(
        observe::progress(&StatusDetails::new()),
        None,
        "no progress"
    );
}

use companion_awsiot::jobs::wire::StatusDetails;

#[tokio::test]
async fn stale_and_duplicated_lifecycle_events_do_not_change_presence() {
    let registry = registry().await;
    let applied = feed(
        &registry,
        &[
            connected("t", 1, 1_000),
            disconnected("t", 1, 2_000, "CONNECTION_LOST"),
            connected("t", 1, 1_000),
            disconnected("t", 1, 2_000, "CONNECTION_LOST"),
        ],
    )
    .await;
    assert_eq!(
        applied,
        [
            Applied::Updated("t".into()),
            Applied::Updated("t".into()),
            Applied::Stale("t".into()),
            Applied::Stale("t".into()),
        ],
        "the late connect and the duplicate disconnect are stale"
    );
    let thing = registry.get("t").await.expect("get").expect("discovered");
    assert_eq!(thing.presence, Presence::Offline, "still offline");
    assert_eq!(
        thing.disconnect_reason.as_deref(),
        Some("CONNECTION_LOST"),
        "the reason"
    );
    assert_eq!(
        thing.last_seen_ms,
        Some(2_000),
        "last seen at the disconnect"
    );
    assert_eq!(thing.source, Source::Discovered, "found through its events");
}

#[tokio::test]
async fn an_older_shadow_document_does_not_overwrite_a_newer_one() {
    let registry = registry().await;
    feed(
        &registry,
        &[
            documents("t", 5, json!({}), json!({"firmware_version": "2.0.0"})),
            documents(
                "t",
                4,
                json!({"x": 1}),
                json!({"firmware_version": "1.0.0"}),
            ),
        ],
    )
    .await;
    let thing = registry.get("t").await.expect("get").expect("discovered");
    assert_eq!(
        thing.firmware_version.as_deref(),
        Some("2.0.0"),
        "version 5 wins"
    );
    assert!(!thing.out_of_sync, "version 5 had no delta");
}

#[tokio::test]
async fn an_explicit_add_upgrades_a_discovered_thing_and_keeps_what_was_learned() {
    let registry = registry().await;
    feed(&registry, &[connected("t", 0, 10)]).await;
    let new = NewThing {
        name: "t".into(),
        source: Source::Provisioned,
        model: Some("thermostat".into()),
        attributes: BTreeMap::from([("site".to_owned(), "lab".to_owned())]),
    };
    registry.add(&new, 20).await.expect("added");
    let thing = registry.get("t").await.expect("get").expect("known");
    assert_eq!(thing.source, Source::Provisioned, "provisioned now");
    assert_eq!(thing.presence, Presence::Online, "still online");
    assert_eq!(
        thing.attributes.get("site").map(String::as_str),
        Some("lab"),
        "attributes"
    );
    assert!(registry.remove("t").await.expect("removed"), "removed");
    assert_eq!(registry.get("t").await.expect("get"), None, "gone");
}

#[test]
fn search_text_is_matched_literally() {
    assert_eq!(
        like_pattern("a_b%c\\"),
        "%a\\_b\\%c\\\\%",
        "wildcards are escaped"
    );
}
