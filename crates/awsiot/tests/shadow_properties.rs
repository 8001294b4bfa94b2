//! Property tests of the shadow engine's invariants.

use companion_awsiot::shadow::document::{delta, json_equal};
use companion_awsiot::shadow::{Object, Shadow, ShadowConfig, ShadowStore, StoredShadow};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ThingName, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TOPIC: &str = "$aws/things/prop/shadow/update";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        (-3i64..3).prop_map(|n| json!(n as f64)),
        "[a-c]{0,2}".prop_map(Value::from),
        proptest::collection::vec((-2i64..2).prop_map(Value::from), 0..3).prop_map(Value::Array),
    ]
}

/// A JSON object of depth at most 3 over a tiny key alphabet, so that keys collide often.
/// With `nulls`, values may be `null` (a patch); without, it is a stored-looking section.
fn object(nulls: bool) -> impl Strategy<Value = Object> {
    let value = leaf().prop_recursive(2, 12, 3, move |inner| {
        let entries = proptest::collection::btree_map("[a-d]", inner, 0..3);
        entries.prop_map(|m| Value::Object(m.into_iter().collect()))
    });
    let value = if nulls {
        prop_oneof![1 => Just(Value::Null), 4 => value].boxed()
    } else {
        value.boxed()
    };
    proptest::collection::btree_map("[a-d]", value, 0..4).prop_map(|m| m.into_iter().collect())
}

fn update_payload() -> impl Strategy<Value = Vec<u8>> {
    let section = prop_oneof![1 => Just(None), 1 => Just(Some(Value::Null)), 4 => object(true).prop_map(|o| Some(Value::Object(o)))];
    (section.clone(), section).prop_map(|(desired, reported)| {
        let mut state = Map::new();
        if let Some(d) = desired {
            state.insert("desired".into(), d);
        }
        if let Some(r) = reported {
            state.insert("reported".into(), r);
        }
        serde_json::to_vec(&json!({ "state": state })).expect("serialisable")
    })
}

fn store_after(updates: &[Vec<u8>]) -> ShadowStore {
    let mut store = ShadowStore::new(ShadowConfig::default());
    for (i, payload) in updates.iter().enumerate() {
        store.handle_publish(TOPIC, payload, Timestamp::from_secs(100 + i as u64));
    }
    store
}

fn stored(store: &ShadowStore) -> Option<StoredShadow> {
    let thing = ThingName::new("prop").expect("valid");
    store
        .shadow(&thing, &ShadowKind::Classic)
        .map(Shadow::to_stored)
}

/// Independent statement of "in sync": every leaf path of desired exists in reported with an
/// equal value (numbers numerically).
fn agrees(desired: &Object, reported: &Object) -> bool {
    leaf_paths(desired, &[]).iter().all(|(path, want)| {
        let mut at = Some(&Value::Object(reported.clone()));
        for key in path {
            at = at.and_then(|v| v.get(key));
        }
        at.cloned().is_some_and(|have| json_equal(want, &have))
    })
}

fn leaf_paths(object: &Object, prefix: &[String]) -> Vec<(Vec<String>, Value)> {
    let mut out = Vec::new();
    for (key, value) in object {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match value {
            Value::Object(inner) if !inner.is_empty() => out.extend(leaf_paths(inner, &path)),
            other => out.push((path, other.clone())),
        }
    }
    out
}

/// True when `metadata` has exactly the shape of `state` with `{"timestamp": n}` leaves.
fn mirrors(state: &Value, metadata: &Value) -> bool {
    match (state, metadata) {
        (Value::Object(s), Value::Object(m)) if !s.is_empty() || m.is_empty() => {
            s.len() == m.len()
                && s.iter()
                    .all(|(k, v)| m.get(k).is_some_and(|mv| mirrors(v, mv)))
        }
        (Value::Array(s), Value::Array(m)) => s.len() == m.len() && m.iter().all(is_stamp),
        (_, m) => is_stamp(m),
    }
}

fn is_stamp(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o.get("timestamp").is_some_and(Value::is_u64))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_delta_is_empty_exactly_when_desired_agrees_with_reported(desired in object(false), reported in object(false)) {
        // Stored sections never hold empty objects: store them through the engine first.
        let store = store_after(&[serde_json::to_vec(&json!({"state": {"desired": desired, "reported": reported}})).expect("json")]);
        let s = stored(&store).expect("created");
        prop_assert_eq!(delta(&s.desired, &s.reported).is_empty(), agrees(&s.desired, &s.reported));
    }

    #[test]
    fn after_the_device_reports_the_delta_there_is_no_delta(updates in proptest::collection::vec(update_payload(), 1..4)) {
        let mut store = store_after(&updates);
        let Some(s) = stored(&store) else { return Ok(()) };
        let d = delta(&s.desired, &s.reported);
        let report = serde_json::to_vec(&json!({"state": {"reported": d}})).expect("json");
        let out = store.handle_publish(TOPIC, &report, Timestamp::from_secs(500)).expect("handled");
        prop_assert!(out.iter().all(|o| !o.topic.ends_with("/delta")), "no delta event: {:?}", out);
        let after = stored(&store).expect("exists");
        prop_assert!(delta(&after.desired, &after.reported).is_empty());
    }

    #[test]
    fn merging_the_same_update_twice_changes_only_the_version(updates in proptest::collection::vec(update_payload(), 0..3), again in update_payload()) {
        let mut store = store_after(&updates);
        let now = Timestamp::from_secs(900);
        store.handle_publish(TOPIC, &again, now);
        let once = stored(&store).expect("exists");
        store.handle_publish(TOPIC, &again, now);
        let twice = stored(&store).expect("exists");
        prop_assert_eq!(twice.version, once.version + 1);
        prop_assert_eq!(StoredShadow { version: once.version, ..twice }, once);
    }

    #[test]
    fn metadata_always_mirrors_the_state_with_one_timestamp_per_leaf(updates in proptest::collection::vec(update_payload(), 1..5)) {
        let store = store_after(&updates);
        let s = stored(&store).expect("exists");
        prop_assert!(mirrors(&Value::Object(s.desired.clone()), &Value::Object(s.desired_metadata.clone())), "{:?}", s);
        prop_assert!(mirrors(&Value::Object(s.reported.clone()), &Value::Object(s.reported_metadata.clone())), "{:?}", s);
    }

    #[test]
    fn every_accepted_update_adds_exactly_one_to_the_version(updates in proptest::collection::vec(update_payload(), 1..6)) {
        let store = store_after(&updates);
        prop_assert_eq!(stored(&store).map(|s| s.version), Some(updates.len() as u64));
    }

    #[test]
    fn a_rejected_update_leaves_the_shadow_unchanged(
        updates in proptest::collection::vec(update_payload(), 0..3),
        bad in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            Just(br#"{"state":{"desired":{"a":[null]}}}"#.to_vec()),
            Just(br#"{"state":{"desired":{"a":1}},"version":99}"#.to_vec()),
            Just(br#"{"state":{"delta":{}}}"#.to_vec()),
            "[a-z]{9000}".prop_map(|s| format!(r#"{{"state":{{"reported":{{"big":"{s}"}}}}}}"#).into_bytes()),
        ]
    ) {
        let mut store = store_after(&updates);
        let before = stored(&store);
        let out = store.handle_publish(TOPIC, &bad, Timestamp::from_secs(999)).expect("handled");
        if out.len() == 1 && out[0].topic.ends_with("/update/rejected") {
            prop_assert_eq!(stored(&store), before);
        } else {
            prop_assert!(out.iter().any(|o| o.topic.ends_with("/update/accepted")));
        }
    }

    #[test]
    fn no_payload_on_any_shadow_topic_makes_the_service_panic_or_stay_silent(
        op in prop_oneof![Just("get"), Just("update"), Just("delete")],
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut store = store_after(&[br#"{"state":{"desired":{"a":1}}}"#.to_vec()]);
        let topic = format!("$aws/things/prop/shadow/{op}");
        let out = store.handle_publish(&topic, &payload, Timestamp::from_secs(1)).expect("handled");
        prop_assert!(!out.is_empty());
        for message in out {
            prop_assert!(serde_json::from_slice::<Value>(&message.payload).is_ok());
        }
    }

    #[test]
    fn an_accepted_document_never_exceeds_the_size_limit(updates in proptest::collection::vec(update_payload(), 1..5), limit in 0usize..200) {
        let mut store = ShadowStore::new(ShadowConfig { max_document_bytes: limit, ..ShadowConfig::default() });
        for payload in &updates {
            store.handle_publish(TOPIC, payload, Timestamp::from_secs(1));
        }
        if let Some(s) = stored(&store) {
            let size = |o: &Object| if o.is_empty() { 0 } else { serde_json::to_vec(o).expect("json").len() };
            prop_assert!(size(&s.desired) + size(&s.reported) <= limit);
        }
    }
}
