//! The sandbox's own simulated devices, end to end: registered things that follow desired
//! state set by any MQTT client and run jobs queued on the sandbox.

use companion_sandbox::devices::FleetSpec;
use serde_json::{Value, json};

use crate::common::{TempDir, TestClient, sandbox};

/// Waits for `update/documents` of `thing` until `done` holds for the current document.
async fn until_current(
    client: &mut TestClient,
    thing: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let topic = format!("$aws/things/{thing}/shadow/update/documents");
    loop {
        let documents = client.expect(&topic).await;
        if done(&documents["current"]) {
            return documents["current"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_devices_are_registered_and_follow_desired_state_set_by_any_client() {
    let dir = TempDir::new("fleet-follow");
    let sandbox = sandbox(&dir).await;
    let fleet = sandbox
        .spawn_fleet(&FleetSpec {
            seed: 7,
            count: 3,
            ..FleetSpec::default()
        })
        .await
        .unwrap();
    let light = sandbox.registry().thing("light-0003").await.unwrap();
    let light = light.expect("the simulated light is a registered thing");
    assert_eq!(
        light.attributes.get("simulated").map(String::as_str),
        Some("true"),
        "{light:?}"
    );
    assert_eq!(
        light.attributes.get("model").map(String::as_str),
        Some("light"),
        "{light:?}"
    );
    assert_eq!(
        light.certificate_ids.len(),
        1,
        "the device's certificate is attached: {light:?}"
    );

    let mut operator = TestClient::connect("operator", &sandbox.plain_endpoint())
        .await
        .unwrap();
    operator
        .subscribe(&["$aws/things/light-0003/shadow/update/documents".to_owned()])
        .await;
    operator
        .publish(
            "$aws/things/light-0003/shadow/update",
            json!({"state": {"desired": {"brightness": 37}}}).to_string(),
        )
        .await;
    let current = until_current(&mut operator, "light-0003", |current| {
        current["state"]["reported"]["brightness"] == 37
            && current["state"]["desired"]["brightness"].is_null()
    })
    .await;
    assert_eq!(
        current["state"]["reported"]["brightness"], 37,
        "the light applied the desired brightness"
    );

    sandbox
        .create_job(
            "fw-200",
            json!({"operation": "firmware-update", "version": "2.0.0"}),
            &["light-0003".to_owned()],
        )
        .await
        .unwrap();
    until_current(&mut operator, "light-0003", |current| {
        current["state"]["reported"]["firmware_version"] == "2.0.0"
    })
    .await;

    operator.disconnect().await;
    fleet.shutdown().await.unwrap();
    sandbox.shutdown().await;
}
