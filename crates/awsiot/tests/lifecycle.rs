//! Lifecycle events: exact payloads and topics, and AWS's version numbering.

use companion_awsiot::Timestamp;
use companion_awsiot::lifecycle::VERSION_RESET_SECS;
use companion_awsiot::lifecycle::{Connection, DisconnectReason, LifecycleEvent, PresenceTracker};
use serde_json::{Value, json};

fn connection(client: &str, session: &str) -> Connection {
    Connection {
        client_id: client.to_owned(),
        thing_name: Some("lamp".to_owned()),
        session_identifier: session.to_owned(),
        principal_identifier: "cert-abc".to_owned(),
        ip_address: "127.0.0.1".to_owned(),
    }
}

fn wire(event: &LifecycleEvent) -> (String, Value) {
    let out = event.to_outgoing().expect("publishable");
    (
        out.topic,
        serde_json::from_slice(&out.payload).expect("json"),
    )
}

#[test]
fn connect_and_disconnect_publish_the_documented_payloads() {
    let mut tracker = PresenceTracker::new();
    let events = tracker.connected(
        connection("lamp", "s-1"),
        Timestamp::from_millis(1_700_000_000_123),
    );
    assert_eq!(
        wire(&events[0]),
        (
            "$aws/events/presence/connected/lamp".to_owned(),
            json!({
        "clientId": "lamp", "thingName": "lamp", "timestamp": 1_700_000_000_123u64, "eventType": "connected",
        "sessionIdentifier": "s-1", "principalIdentifier": "cert-abc", "ipAddress": "127.0.0.1", "versionNumber": 0})
        )
    );
    let gone = tracker
        .disconnected(
            "lamp",
            DisconnectReason::MqttKeepAliveTimeout,
            Timestamp::from_millis(1_700_000_060_000),
        )
        .expect("was connected");
    assert_eq!(
        wire(&gone),
        (
            "$aws/events/presence/disconnected/lamp".to_owned(),
            json!({
        "clientId": "lamp", "thingName": "lamp", "timestamp": 1_700_000_060_000u64, "eventType": "disconnected",
        "sessionIdentifier": "s-1", "principalIdentifier": "cert-abc", "clientInitiatedDisconnect": false,
        "disconnectReason": "MQTT_KEEP_ALIVE_TIMEOUT", "versionNumber": 0})
        )
    );
    assert!(
        tracker
            .disconnected(
                "lamp",
                DisconnectReason::ConnectionLost,
                Timestamp::from_millis(1)
            )
            .is_none(),
        "only once"
    );
}

#[test]
fn version_numbers_count_reconnects_and_restart_after_an_hour_offline() {
    let mut tracker = PresenceTracker::new();
    let version = |events: &[LifecycleEvent]| match events.last() {
        Some(LifecycleEvent::Connected(e)) => e.version_number,
        other => panic!("expected a connect, got {other:?}"),
    };
    assert_eq!(
        version(&tracker.connected(connection("c", "1"), Timestamp::from_secs(0))),
        0
    );
    tracker.disconnected(
        "c",
        DisconnectReason::ClientInitiatedDisconnect,
        Timestamp::from_secs(10),
    );
    assert_eq!(
        version(&tracker.connected(connection("c", "2"), Timestamp::from_secs(20))),
        1
    );
    tracker.disconnected(
        "c",
        DisconnectReason::ConnectionLost,
        Timestamp::from_secs(30),
    );
    assert_eq!(
        version(&tracker.connected(
            connection("c", "3"),
            Timestamp::from_secs(30 + VERSION_RESET_SECS)
        )),
        0
    );
}

#[test]
fn a_second_connection_with_the_same_client_id_takes_over() {
    let mut tracker = PresenceTracker::new();
    tracker.connected(connection("c", "1"), Timestamp::from_secs(0));
    let events = tracker.connected(connection("c", "2"), Timestamp::from_secs(5));
    let kinds: Vec<Value> = events.iter().map(|e| wire(e).1).collect();
    assert_eq!(kinds[0]["disconnectReason"], "DUPLICATE_CLIENTID");
    assert_eq!(kinds[0]["sessionIdentifier"], "1");
    assert_eq!(
        (
            kinds[1]["eventType"].as_str(),
            kinds[1]["versionNumber"].as_u64()
        ),
        (Some("connected"), Some(1))
    );
    assert!(tracker.is_connected("c"));
}

#[test]
fn subscription_events_list_the_topics_for_connected_clients_only() {
    let mut tracker = PresenceTracker::new();
    assert!(
        tracker
            .subscriptions("c", true, vec!["a/b".into()], Timestamp::from_secs(1))
            .is_none()
    );
    tracker.connected(connection("c", "1"), Timestamp::from_secs(0));
    let event = tracker
        .subscriptions(
            "c",
            false,
            vec!["a/b".into(), "c/#".into()],
            Timestamp::from_millis(2500),
        )
        .expect("connected");
    assert_eq!(
        wire(&event),
        (
            "$aws/events/subscriptions/unsubscribed/c".to_owned(),
            json!({
        "clientId": "c", "thingName": "lamp", "timestamp": 2500, "eventType": "unsubscribed",
        "sessionIdentifier": "1", "principalIdentifier": "cert-abc", "topics": ["a/b", "c/#"]})
        )
    );
}

#[test]
fn events_parse_back_and_wildcard_client_ids_get_no_topic() {
    let mut tracker = PresenceTracker::new();
    let events = tracker.connected(connection("dev+1", "1"), Timestamp::from_secs(0));
    assert!(
        events[0].topic().is_err(),
        "AWS sends no events for ids with + or #"
    );
    let payload = serde_json::to_vec(&events[0]).expect("json");
    assert_eq!(LifecycleEvent::parse(&payload).expect("parses"), events[0]);
    assert!(LifecycleEvent::parse(br#"{"eventType":"exploded"}"#).is_err());
}

#[test]
fn only_a_client_disconnect_suppresses_the_last_will() {
    assert!(!DisconnectReason::ClientInitiatedDisconnect.publishes_will());
    for reason in [
        DisconnectReason::ConnectionLost,
        DisconnectReason::MqttKeepAliveTimeout,
        DisconnectReason::DuplicateClientId,
    ] {
        assert!(reason.publishes_will(), "{reason:?}");
    }
}
