//! The Device Shadow service over MQTT: AWS's topics, payloads, versions and exact rejections,
//! and persistence across a restart. `shadow_suite` also runs against Mosquitto.

use companion_sandbox::connect::Endpoint;
use serde_json::{Value, json};

use crate::common::{TempDir, TestClient, sandbox, thing};

/// Every reply topic of `prefix` (a shadow's topic prefix).
fn reply_filters(prefix: &str) -> Vec<String> {
    [
        "update/accepted",
        "update/rejected",
        "update/delta",
        "update/documents",
        "get/accepted",
        "get/rejected",
        "delete/accepted",
        "delete/rejected",
    ]
    .iter()
    .map(|s| format!("{prefix}/{s}"))
    .collect()
}

async fn device(endpoint: &Endpoint, prefix: &str) -> TestClient {
    let mut client = TestClient::connect(&thing("shadow-client"), endpoint)
        .await
        .expect("the client connects");
    client.subscribe(&reply_filters(prefix)).await;
    client
}

/// The shadow behaviour every broker must support (classic and named shadows).
pub async fn shadow_suite(endpoint: &Endpoint) {
    update_publishes_accepted_documents_and_delta(endpoint).await;
    get_returns_the_document_and_delete_removes_it(endpoint).await;
    a_named_shadow_is_separate_from_the_classic_one(endpoint).await;
    a_malformed_request_gets_the_exact_400_and_changes_nothing(endpoint).await;
}

async fn update_publishes_accepted_documents_and_delta(endpoint: &Endpoint) {
    let prefix = format!("$aws/things/{}/shadow", thing("lamp"));
    let mut client = device(endpoint, &prefix).await;
    let request = json!({"state": {"desired": {"on": true}}, "clientToken": "t1"});
    client
        .publish(&format!("{prefix}/update"), request.to_string())
        .await;

    let accepted = client.expect(&format!("{prefix}/update/accepted")).await;
    assert_eq!(
        accepted["state"],
        json!({"desired": {"on": true}}),
        "accepted echoes the request's state"
    );
    assert_eq!(accepted["version"], 1, "a new shadow starts at version 1");
    assert_eq!(accepted["clientToken"], "t1", "the client token is echoed");
    assert!(
        accepted["metadata"]["desired"]["on"]["timestamp"].is_u64(),
        "metadata per field: {accepted}"
    );

    let documents = client.expect(&format!("{prefix}/update/documents")).await;
    assert!(
        documents["previous"].is_null(),
        "no previous document at version 1: {documents}"
    );
    assert_eq!(
        documents["current"]["state"]["desired"]["on"], true,
        "current state"
    );
    assert_eq!(documents["current"]["version"], 1, "current version");

    let delta = client.expect(&format!("{prefix}/update/delta")).await;
    assert_eq!(
        delta["state"],
        json!({"on": true}),
        "delta is desired minus reported, unwrapped"
    );
    assert_eq!(delta["version"], 1, "delta carries the version");
}

async fn get_returns_the_document_and_delete_removes_it(endpoint: &Endpoint) {
    let name = thing("plug");
    let prefix = format!("$aws/things/{name}/shadow");
    let mut client = device(endpoint, &prefix).await;
    let update = json!({"state": {"desired": {"on": true}, "reported": {"on": false}}});
    client
        .publish(&format!("{prefix}/update"), update.to_string())
        .await;
    client.expect(&format!("{prefix}/update/accepted")).await;

    client
        .publish(
            &format!("{prefix}/get"),
            json!({"clientToken": "g1"}).to_string(),
        )
        .await;
    let got = client.expect(&format!("{prefix}/get/accepted")).await;
    assert_eq!(got["state"]["desired"]["on"], true, "desired in get");
    assert_eq!(got["state"]["reported"]["on"], false, "reported in get");
    assert_eq!(got["state"]["delta"]["on"], true, "get includes the delta");
    assert_eq!(got["version"], 1, "version in get");
    assert_eq!(got["clientToken"], "g1", "token echoed in get");

    client.publish(&format!("{prefix}/delete"), "").await;
    let deleted = client.expect(&format!("{prefix}/delete/accepted")).await;
    assert_eq!(deleted["version"], 1, "delete reports the last version");

    client.publish(&format!("{prefix}/get"), "").await;
    let rejected = client.expect(&format!("{prefix}/get/rejected")).await;
    assert_eq!(rejected["code"], 404, "a deleted shadow is not found");
    assert_eq!(
        rejected["message"],
        format!("No shadow exists with name: '{name}'"),
        "AWS's exact 404 message names the thing for a classic shadow"
    );
}

async fn a_named_shadow_is_separate_from_the_classic_one(endpoint: &Endpoint) {
    let name = thing("thermostat");
    let classic = format!("$aws/things/{name}/shadow");
    let named = format!("{classic}/name/config");
    let mut client = device(endpoint, &named).await;
    client.subscribe(&reply_filters(&classic)).await;
    let update = json!({"state": {"reported": {"interval": 30}}, "clientToken": "n1"});
    client
        .publish(&format!("{named}/update"), update.to_string())
        .await;
    let accepted = client.expect(&format!("{named}/update/accepted")).await;
    assert_eq!(
        accepted["state"]["reported"]["interval"], 30,
        "the named shadow is updated"
    );

    client.publish(&format!("{classic}/get"), "").await;
    let rejected = client.expect(&format!("{classic}/get/rejected")).await;
    assert_eq!(
        rejected["code"], 404,
        "the classic shadow was not created by the named one"
    );

    client.publish(&format!("{named}/delete"), "").await;
    client.expect(&format!("{named}/delete/accepted")).await;
    client.publish(&format!("{named}/get"), "").await;
    let rejected = client.expect(&format!("{named}/get/rejected")).await;
    assert_eq!(
        rejected["message"], "No shadow exists with name: 'config'",
        "a named shadow's 404 names the shadow"
    );
}

async fn a_malformed_request_gets_the_exact_400_and_changes_nothing(endpoint: &Endpoint) {
    let prefix = format!("$aws/things/{}/shadow", thing("light"));
    let mut client = device(endpoint, &prefix).await;
    let update = json!({"state": {"reported": {"brightness": 10}}});
    client
        .publish(&format!("{prefix}/update"), update.to_string())
        .await;
    client.expect(&format!("{prefix}/update/accepted")).await;

    let oversize = format!(
        r#"{{"state":{{"reported":{{"blob":"{}"}}}}}}"#,
        "x".repeat(9000)
    );
    let cases: Vec<(Vec<u8>, Value)> = vec![
        (
            b"{\"state\":".to_vec(),
            json!({"code": 400, "message": "Invalid JSON"}),
        ),
        (
            br#"{"state": 5, "clientToken": "bad-1"}"#.to_vec(),
            json!({"code": 400, "message": "State node must be an object", "clientToken": "bad-1"}),
        ),
        (
            br#"{"clientToken": "bad-2"}"#.to_vec(),
            json!({"code": 400, "message": "Missing required node: state", "clientToken": "bad-2"}),
        ),
        (
            br#"{"state": {"reported": {"brightness": 11}}, "version": 7, "clientToken": "bad-3"}"#
                .to_vec(),
            json!({"code": 409, "message": "Version conflict", "clientToken": "bad-3"}),
        ),
        (
            oversize.into_bytes(),
            json!({"code": 413, "message": "The payload exceeds the maximum size allowed"}),
        ),
        (
            vec![0xff, 0xfe, 0x00],
            json!({"code": 415, "message": "Unsupported documented encoding; supported encoding is UTF-8"}),
        ),
    ];
    for (payload, expected) in cases {
        client
            .publish(&format!("{prefix}/update"), payload.to_vec())
            .await;
        let mut rejected = client.expect(&format!("{prefix}/update/rejected")).await;
        if let Some(map) = rejected.as_object_mut() {
            assert!(
                map.remove("timestamp").is_some_and(|t| t.is_u64()),
                "a rejection other than 404 carries a timestamp"
            );
        }
        assert_eq!(
            rejected,
            expected,
            "exact rejection for {}",
            String::from_utf8_lossy(&payload)
        );
    }

    client.publish(&format!("{prefix}/get"), "").await;
    let got = client.expect(&format!("{prefix}/get/accepted")).await;
    assert_eq!(
        got["version"], 1,
        "rejected requests did not change the version"
    );
    assert_eq!(
        got["state"]["reported"]["brightness"], 10,
        "rejected requests did not change the state"
    );
}

#[tokio::test]
async fn the_shadow_suite_passes_on_the_embedded_broker() {
    let dir = TempDir::new("shadow");
    let sandbox = sandbox(&dir).await;
    shadow_suite(&sandbox.plain_endpoint()).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn shadows_survive_a_restart_on_the_same_data_directory() {
    let dir = TempDir::new("persist");
    let prefix = format!("$aws/things/{}/shadow", thing("meter"));
    let first = sandbox(&dir).await;
    let mut client = device(&first.plain_endpoint(), &prefix).await;
    let update = json!({"state": {"desired": {"rate": 5}, "reported": {"rate": 1}}});
    client
        .publish(&format!("{prefix}/update"), update.to_string())
        .await;
    client
        .publish(&format!("{prefix}/update"), update.to_string())
        .await;
    client.expect(&format!("{prefix}/update/accepted")).await;
    client.expect(&format!("{prefix}/update/accepted")).await;
    client.disconnect().await;
    first.shutdown().await;

    let second = sandbox(&dir).await;
    let mut client = device(&second.plain_endpoint(), &prefix).await;
    client.publish(&format!("{prefix}/get"), "").await;
    let got = client.expect(&format!("{prefix}/get/accepted")).await;
    assert_eq!(got["version"], 2, "the version survived the restart");
    assert_eq!(
        got["state"]["desired"]["rate"], 5,
        "desired survived the restart"
    );
    assert_eq!(
        got["state"]["delta"]["rate"], 5,
        "the delta is recomputed after the restart"
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_wildcard_subscription_does_not_receive_aws_topics() {
    let dir = TempDir::new("dollar");
    let sandbox = sandbox(&dir).await;
    let endpoint = sandbox.plain_endpoint();
    let prefix = format!("$aws/things/{}/shadow", thing("probe"));
    let mut everything = TestClient::connect("wildcard-watcher", &endpoint)
        .await
        .expect("connects");
    everything.subscribe(&["#".to_owned()]).await;
    let mut device = device(&endpoint, &prefix).await;
    device
        .publish(
            &format!("{prefix}/update"),
            json!({"state": {"reported": {"x": 1}}}).to_string(),
        )
        .await;
    device.expect(&format!("{prefix}/update/accepted")).await;
    device.publish("probe/done", "1").await;
    everything.expect_raw("probe/done").await;
    everything.drain_arrived();
    let dollar: Vec<String> = everything
        .kept_topics()
        .into_iter()
        .filter(|t| t.starts_with('$'))
        .collect();
    assert!(
        dollar.is_empty(),
        "`#` must not match $ topics (MQTT 4.7.2), got {dollar:?}"
    );
    sandbox.shutdown().await;
}
