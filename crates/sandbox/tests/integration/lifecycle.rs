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
        .subscribe(&["$aws/events/presence/+/sensor-9".to_owned()])
        .await;

    let identity = sandbox.issue_identity("sensor-9").expect("an identity");
    let principal = certificate_id_from_pem(&identity.cert_pem).expect("a certificate");
    let device = TestClient::connect("sensor-9", &sandbox.mtls_endpoint(identity).expect("mTLS"))
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
