//! The Jobs device API over MQTT, with jobs created through the sandbox.

use serde_json::json;

use crate::common::{TempDir, TestClient, sandbox, thing};

#[tokio::test]
async fn a_device_is_notified_starts_its_job_and_reports_success() {
    let dir = TempDir::new("jobs");
    let sandbox = sandbox(&dir).await;
    let name = thing("plug");
    let jobs = format!("$aws/things/{name}/jobs");
    let mut device = TestClient::connect(&name, &sandbox.plain_endpoint())
        .await
        .expect("connects");
    let filters = [
        format!("{jobs}/notify-next"),
        format!("{jobs}/start-next/accepted"),
        format!("{jobs}/start-next/rejected"),
        format!("{jobs}/fw-1/update/accepted"),
        format!("{jobs}/fw-1/update/rejected"),
    ];
    device.subscribe(&filters).await;

    let document = json!({"operation": "firmware-update", "version": "2.0.1"});
    sandbox
        .create_job("fw-1", document.clone(), std::slice::from_ref(&name))
        .await
        .expect("the job is created");
    let next = device.expect(&format!("{jobs}/notify-next")).await;
    assert_eq!(
        next["execution"]["jobId"], "fw-1",
        "notify-next names the new job"
    );
    assert_eq!(
        next["execution"]["jobDocument"], document,
        "notify-next carries the document"
    );

    device
        .publish(
            &format!("{jobs}/start-next"),
            json!({"clientToken": "s1"}).to_string(),
        )
        .await;
    let started = device.expect(&format!("{jobs}/start-next/accepted")).await;
    assert_eq!(
        started["execution"]["status"], "IN_PROGRESS",
        "start-next starts the job"
    );
    assert_eq!(
        started["execution"]["versionNumber"], 2,
        "version 2 after start-next"
    );
    assert_eq!(started["clientToken"], "s1", "token echoed");

    let update = json!({"status": "SUCCEEDED", "expectedVersion": 2, "clientToken": "u1"});
    device
        .publish(&format!("{jobs}/fw-1/update"), update.to_string())
        .await;
    let updated = device.expect(&format!("{jobs}/fw-1/update/accepted")).await;
    assert_eq!(updated["clientToken"], "u1", "the update is accepted");
    let next = device.expect(&format!("{jobs}/notify-next")).await;
    assert!(
        next.get("execution").is_none(),
        "nothing is pending after success: {next}"
    );

    let again = sandbox
        .create_job("fw-1", json!({}), &["not a thing!".to_owned()])
        .await;
    assert!(again.is_err(), "an invalid thing name is refused");
    sandbox.shutdown().await;
}
