//! Golden tests: request sequences with the exact messages AWS IoT Core publishes, written by
//! hand from the reference's documented and observed examples (tests/golden/*.json).

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::{ShadowConfig, ShadowStore};
use serde_json::Value;

fn payload_bytes(step: &Value) -> Vec<u8> {
    if let Some(hex) = step["payloadHex"].as_str() {
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
    }
    match &step["payload"] {
        Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other).expect("serialisable"),
    }
}

fn run_fixture(name: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let mut store = ShadowStore::new(ShadowConfig::default());
    for (index, step) in fixture["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let now = Timestamp::from_secs(step["now"].as_u64().expect("now"));
        let topic = step["topic"].as_str().expect("topic");
        let out = store
            .handle_publish(topic, &payload_bytes(step), now)
            .expect("a shadow request topic");
        let actual: Vec<Value> = out
            .iter()
            .map(|o| {
                let payload: Value =
                    serde_json::from_slice(&o.payload).expect("service emits JSON");
                serde_json::json!({"topic": o.topic, "payload": payload})
            })
            .collect();
        assert_eq!(
            Value::Array(actual),
            step["expect"],
            "{name} step {index} ({topic})"
        );
    }
}

#[test]
fn the_classic_shadow_flow_publishes_exactly_what_aws_does() {
    run_fixture("shadow_classic_flow.json");
}

#[test]
fn malformed_requests_to_a_named_shadow_get_aws_exact_rejections() {
    run_fixture("shadow_named_rejections.json");
}
