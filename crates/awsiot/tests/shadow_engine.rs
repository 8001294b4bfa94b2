//! Behaviour of the shadow service that the golden sequences do not cover: limits, version
//! policies, the 48-hour version memory, persistence, and the client-side wire types.

use companion_awsiot::shadow::{
    MissingShadowVersion, Nullable, Shadow, ShadowConfig, ShadowResponse, ShadowState, ShadowStore,
    UpdateShadowRequest, VERSION_RETENTION_SECS,
};
use companion_awsiot::topic::{ShadowKind, ShadowMessage, ShadowTopic};
use companion_awsiot::{Outgoing, ThingName, Timestamp, Topic};
use serde_json::{Value, json};

const UPDATE: &str = "$aws/things/dev/shadow/update";

fn publish(store: &mut ShadowStore, topic: &str, payload: &Value, secs: u64) -> Vec<Outgoing> {
    let bytes = serde_json::to_vec(payload).expect("json");
    store
        .handle_publish(topic, &bytes, Timestamp::from_secs(secs))
        .expect("a shadow request topic")
}

fn only(out: &[Outgoing], suffix: &str) -> Value {
    let found: Vec<_> = out.iter().filter(|o| o.topic.ends_with(suffix)).collect();
    let topics: Vec<_> = out.iter().map(|o| o.topic.as_str()).collect();
    assert_eq!(found.len(), 1, "one message on *{suffix} in {topics:?}");
    serde_json::from_slice(&found[0].payload).expect("json")
}

fn shadow(store: &ShadowStore) -> Shadow {
    let thing = ThingName::new("dev").expect("valid");
    store
        .shadow(&thing, &ShadowKind::Classic)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_small_update_is_rejected_when_the_merged_document_would_exceed_8_kb() {
    let mut store = ShadowStore::default();
    let big = "x".repeat(8170);
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"blob": big}}}),
        1,
    );
    let before = shadow(&store);
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"mode": "eco-mode-now-please"}}, "clientToken": "c"}),
        2,
    );
    let rejected = only(&out, "/update/rejected");
    assert_eq!(
        rejected,
        json!({"code": 413, "message": "The payload exceeds the maximum size allowed", "timestamp": 2, "clientToken": "c"})
    );
    assert_eq!(
        shadow(&store),
        before,
        "the rejected update changed nothing"
    );
}

#[test]
fn an_update_that_shrinks_an_oversize_document_is_measured_after_the_merge() {
    let config = ShadowConfig {
        max_document_bytes: 30,
        ..ShadowConfig::default()
    };
    let mut store = ShadowStore::new(config);
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"a": "0123456789"}}}),
        1,
    );
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"a": null, "b": "0123456789012"}}}),
        2,
    );
    only(&out, "/update/accepted");
}

#[test]
fn the_nesting_limit_is_configurable_and_named_in_the_message() {
    let mut store = ShadowStore::new(ShadowConfig {
        max_depth: 2,
        ..ShadowConfig::default()
    });
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"a": {"b": {"c": 1}}}}}),
        1,
    );
    assert_eq!(
        only(&out, "/rejected")["message"],
        "JSON contains too many levels of nesting; maximum is 2"
    );
}

#[test]
fn a_shadow_recreated_within_48_hours_continues_its_version_and_later_starts_again() {
    let mut store = ShadowStore::default();
    for t in 1..=3 {
        publish(
            &mut store,
            UPDATE,
            &json!({"state": {"reported": {"n": t}}}),
            t,
        );
    }
    publish(&mut store, "$aws/things/dev/shadow/delete", &json!({}), 10);
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"n": 0}}}),
        10 + VERSION_RETENTION_SECS,
    );
    assert_eq!(
        only(&out, "/update/accepted")["version"],
        4,
        "within 48 h the version continues"
    );

    publish(
        &mut store,
        "$aws/things/dev/shadow/delete",
        &json!({}),
        20_000,
    );
    let later = 20_000 + VERSION_RETENTION_SECS + 1;
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"n": 0}}}),
        later,
    );
    assert_eq!(
        only(&out, "/update/accepted")["version"],
        1,
        "after 48 h it starts again"
    );
}

#[test]
fn a_version_on_a_missing_shadow_is_judged_by_the_configured_policy() {
    let cases = [
        (
            MissingShadowVersion::InvalidUnlessLast,
            3,
            Some((400, "Invalid version")),
        ),
        (MissingShadowVersion::InvalidUnlessLast, 0, None),
        (
            MissingShadowVersion::ConflictUnlessLast,
            3,
            Some((409, "Version conflict")),
        ),
        (MissingShadowVersion::Ignore, 3, None),
    ];
    for (policy, version, expected) in cases {
        let mut store = ShadowStore::new(ShadowConfig {
            missing_shadow_version: policy,
            ..ShadowConfig::default()
        });
        let out = publish(
            &mut store,
            UPDATE,
            &json!({"state": {}, "version": version}),
            1,
        );
        match expected {
            Some((code, message)) => {
                let rejected = only(&out, "/update/rejected");
                assert_eq!(
                    (rejected["code"].as_u64(), rejected["message"].as_str()),
                    (Some(code), Some(message)),
                    "{policy:?}"
                );
                assert!(
                    !shadow(&store).exists(),
                    "{policy:?}: no shadow was created"
                );
            }
            None => assert_eq!(only(&out, "/update/accepted")["version"], 1, "{policy:?}"),
        }
    }
}

#[test]
fn an_empty_state_still_creates_a_new_version() {
    let mut store = ShadowStore::default();
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"a": 1}}}),
        1,
    );
    let out = publish(&mut store, UPDATE, &json!({"state": {}, "version": 1}), 2);
    assert_eq!(
        only(&out, "/update/accepted"),
        json!({"state": {}, "metadata": {}, "version": 2, "timestamp": 2})
    );
    assert!(
        out.iter().any(|o| o.topic.ends_with("/update/delta")),
        "delta is re-sent while out of sync"
    );
}

#[test]
fn desired_is_never_cleared_when_reported_catches_up() {
    let mut store = ShadowStore::default();
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"on": true}}}),
        1,
    );
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"on": true}}}),
        2,
    );
    let out = publish(&mut store, "$aws/things/dev/shadow/get", &json!({}), 3);
    let state = &only(&out, "/get/accepted")["state"];
    assert_eq!(
        state,
        &json!({"desired": {"on": true}, "reported": {"on": true}})
    );
}

#[test]
fn the_delta_event_lists_all_out_of_sync_keys_not_only_the_updated_ones() {
    let mut store = ShadowStore::default();
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"a": 1, "b": {"c": 2, "d": 3}}}}),
        1,
    );
    let out = publish(
        &mut store,
        UPDATE,
        &json!({"state": {"reported": {"b": {"c": 2}}}}),
        2,
    );
    let event = only(&out, "/update/delta");
    assert_eq!(event["state"], json!({"a": 1, "b": {"d": 3}}));
    assert_eq!(
        event["metadata"],
        json!({"a": {"timestamp": 1}, "b": {"d": {"timestamp": 1}}})
    );
}

#[test]
fn a_shadow_survives_a_round_trip_through_its_stored_form() {
    let mut store = ShadowStore::default();
    publish(
        &mut store,
        UPDATE,
        &json!({"state": {"desired": {"a": [1, 2]}, "reported": {"b": {"c": true}}}}),
        1,
    );
    let original = shadow(&store);
    let json = serde_json::to_string(&original.to_stored()).expect("json");
    let restored = Shadow::from_stored(serde_json::from_str(&json).expect("parses"));
    assert_eq!(restored, original);
}

#[test]
fn a_client_builds_requests_that_the_service_accepts_with_nulls_preserved() {
    let request = UpdateShadowRequest {
        state: Some(ShadowState {
            desired: Nullable::Null,
            reported: Nullable::Value(serde_json::from_value(json!({"on": true})).expect("object")),
        }),
        client_token: Some("tok".into()),
        version: None,
    };
    let bytes = serde_json::to_vec(&request).expect("json");
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).expect("json"),
        json!({"state": {"desired": null, "reported": {"on": true}}, "clientToken": "tok"})
    );
    let clear_all = UpdateShadowRequest::default();
    assert_eq!(
        serde_json::to_value(&clear_all).expect("json"),
        json!({"state": null})
    );

    let mut store = ShadowStore::default();
    let out = store
        .handle_publish(UPDATE, &bytes, Timestamp::from_secs(7))
        .expect("handled");
    for message in &out {
        let Ok(Topic::Shadow(topic)) = Topic::parse(&message.topic) else {
            panic!("shadow topic")
        };
        let response = ShadowResponse::parse(&topic, &message.payload)
            .expect("parses")
            .expect("a response");
        assert_eq!(response.client_token(), Some("tok"), "{}", message.topic);
        if let ShadowResponse::UpdateAccepted(accepted) = response {
            assert_eq!(accepted.state, request.state, "the echo keeps the null");
            assert_eq!(accepted.version, 1);
        }
    }
}

#[test]
fn a_client_reads_rejections_and_ignores_request_topics() {
    let thing = ThingName::new("dev").expect("valid");
    let rejected = ShadowTopic::new(
        thing.clone(),
        ShadowKind::Classic,
        ShadowMessage::Response(
            companion_awsiot::topic::ShadowOperation::Get,
            companion_awsiot::Outcome::Rejected,
        ),
    );
    let parsed = ShadowResponse::parse(
        &rejected,
        br#"{"code":404,"message":"No shadow exists with name: 'dev'"}"#,
    )
    .expect("parses");
    assert!(
        matches!(parsed, Some(ShadowResponse::Rejected(_, ref e)) if e.code == 404 && e.timestamp.is_none())
    );
    let request = ShadowTopic::new(
        thing,
        ShadowKind::Classic,
        ShadowMessage::Request(companion_awsiot::topic::ShadowOperation::Get),
    );
    assert_eq!(ShadowResponse::parse(&request, b"").expect("fine"), None);
}

#[test]
fn the_service_ignores_topics_that_are_not_shadow_requests() {
    let mut store = ShadowStore::default();
    for topic in [
        "$aws/things/dev/shadow/update/accepted",
        "$aws/things/dev/jobs/get",
        "telemetry/dev",
    ] {
        assert!(
            store
                .handle_publish(topic, b"{}", Timestamp::from_secs(1))
                .is_none(),
            "{topic}"
        );
    }
}

#[test]
fn the_client_helpers_build_requests_the_service_answers_on_the_filtered_topics() {
    use companion_awsiot::shadow::client;
    let thing = ThingName::new("dev").expect("valid");
    let named = ShadowKind::Named(companion_awsiot::ShadowName::new("config").expect("valid"));
    assert_eq!(
        client::response_filters(&thing, &named),
        vec![
            "$aws/things/dev/shadow/name/config/get/+",
            "$aws/things/dev/shadow/name/config/delete/+",
            "$aws/things/dev/shadow/name/config/update/accepted",
            "$aws/things/dev/shadow/name/config/update/rejected",
        ]
    );
    assert_eq!(
        client::event_filters(&thing, &ShadowKind::Classic),
        vec![
            "$aws/things/dev/shadow/update/delta",
            "$aws/things/dev/shadow/update/documents",
        ]
    );
    let mut store = ShadowStore::default();
    let request = client::update(
        &thing,
        &named,
        &UpdateShadowRequest {
            state: Some(ShadowState::default()),
            client_token: Some("u".into()),
            version: None,
        },
    );
    assert_eq!(request.topic, "$aws/things/dev/shadow/name/config/update");
    store.handle_publish(&request.topic, &request.payload, Timestamp::from_secs(1));
    for request in [
        client::get(&thing, &named, Some("g".into())),
        client::delete(&thing, &named, None),
    ] {
        let out = store
            .handle_publish(&request.topic, &request.payload, Timestamp::from_secs(2))
            .expect("handled");
        assert!(out[0].topic.ends_with("/accepted"), "{}", out[0].topic);
    }
}
