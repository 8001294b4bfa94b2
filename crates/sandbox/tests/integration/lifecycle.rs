//! Lifecycle events published by the gateway for connections to the embedded broker.

use companion_sandbox::ca::certificate_id_from_pem;

use crate::common::{TempDir, TestClient, sandbox};

#[tokio::test]
async fn a_device_connecting_and_disconnecting_produces_presence_events() {
    let dir = TempDir::new("lifecycle");
    let sandbox = sandbox(&dir).await;
    let mut observer = TestClient::connect("observer", &sandbox.plain_endpoint())
        .await
        .expect("connects");
    observer
        .subscribe(&[
            "$aws/events/presence/+/sensor-9".to_owned(),
            "$aws/events/subscriptions/+/sensor-9".to_owned(),
        ])
        .await;

    let identity = sandbox.issue_identity("sensor-9").expect("an identity");
    let principal = certificate_id_from_pem(&identity.cert_pem).expect("a certificate");
    let mut device =
        TestClient::connect("sensor-9", &sandbox.mtls_endpoint(identity).expect("mTLS"))
            .await
            .expect("the device connects");
    let connected = observer
        .expect("$aws/events/presence/connected/sensor-9")
        .await;
    assert_eq!(connected["eventType"], "connected", "event type");
    assert_eq!(connected["clientId"], "sensor-9", "client id");
    assert_eq!(
        connected["principalIdentifier"], principal,
        "the certificate id is the principal"
    );
    assert_eq!(connected["versionNumber"], 0, "first connection");
    assert!(
        connected["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_000_000_000_000),
        "milliseconds"
    );

    device.subscribe(&["sensor-9/commands".to_owned()]).await;
    let subscribed = observer
        .expect("$aws/events/subscriptions/subscribed/sensor-9")
        .await;
    assert_eq!(
        subscribed["topics"],
        serde_json::json!(["sensor-9/commands"]),
        "the filters"
    );
    assert_eq!(
        subscribed["sessionIdentifier"], connected["sessionIdentifier"],
        "its session"
    );

    device.disconnect().await;
    let disconnected = observer
        .expect("$aws/events/presence/disconnected/sensor-9")
        .await;
    assert_eq!(
        disconnected["disconnectReason"], "CLIENT_INITIATED_DISCONNECT",
        "reason"
    );
    assert_eq!(
        disconnected["clientInitiatedDisconnect"], true,
        "client initiated"
    );
    assert_eq!(
        disconnected["sessionIdentifier"], connected["sessionIdentifier"],
        "same session"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_over_as_duplicate_clientid() {
    let dir = TempDir::new("takeover");
    let sandbox = sandbox(&dir).await;
    let endpoint = sandbox.plain_endpoint();
    let mut observer = TestClient::connect("observer", &endpoint)
        .await
        .expect("connects");
    observer
        .subscribe(&["$aws/events/presence/+/twin".to_owned()])
        .await;

    let _first = TestClient::connect("twin", &endpoint)
        .await
        .expect("first connects");
    let first = observer.expect("$aws/events/presence/connected/twin").await;
    assert_eq!(
        first["principalIdentifier"], "anonymous",
        "plain clients have no certificate"
    );
    let _second = TestClient::connect("twin", &endpoint)
        .await
        .expect("second connects");
    let ended = observer
        .expect("$aws/events/presence/disconnected/twin")
        .await;
    assert_eq!(
        ended["disconnectReason"], "DUPLICATE_CLIENTID",
        "the first was taken over"
    );
    assert_eq!(
        ended["sessionIdentifier"], first["sessionIdentifier"],
        "the first session ended"
    );
    assert_eq!(
        ended["versionNumber"], 0,
        "the disconnect carries its connect's number"
    );
    let second = observer.expect("$aws/events/presence/connected/twin").await;
    assert_eq!(second["versionNumber"], 1, "the next connect counts on");
    assert_ne!(
        second["sessionIdentifier"], first["sessionIdentifier"],
        "a new session"
    );
    sandbox.shutdown().await;
}
