//! `companion sandbox` as a technician runs it: start it, queue jobs on it, stop it.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{COMPANION, companion, free_address, fresh_dir, start};

fn job_create(data_dir: &Path, job_id: &str, document: &str) -> Output {
    Command::new(COMPANION)
        .args([
            "sandbox",
            "job",
            "create",
            "--job-id",
            job_id,
            "--thing",
            "plug-0001",
            "--document",
            document,
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap()
}

#[test]
fn the_sandbox_announces_its_endpoints_as_json() {
    let running = start("announce");
    let endpoints = &running.endpoints;
    assert_eq!(endpoints["plain"]["host"], "127.0.0.1", "{endpoints}");
    assert!(
        endpoints["plain"]["port"].as_u64().unwrap() > 0,
        "{endpoints}"
    );
    assert_eq!(
        endpoints["mtls"]["host"], "localhost",
        "the mTLS host matches the server certificate: {endpoints}"
    );
    let ca = endpoints["ca"].as_str().unwrap();
    let pem = std::fs::read_to_string(ca).unwrap();
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "the CA path holds a PEM certificate"
    );
}

#[test]
fn jobs_are_queued_on_the_running_sandbox_and_a_duplicate_is_refused() {
    let running = start("jobs");
    let document = r#"{"operation":"firmware-update","version":"1.2.0"}"#;
    let first = job_create(&running.data_dir, "fw-1", document);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("Queued job fw-1 for plug-0001"));

    let again = job_create(&running.data_dir, "fw-1", document);
    assert_eq!(again.status.code(), Some(4), "a refused request exits 4");
    let reason = String::from_utf8_lossy(&again.stderr);
    assert!(
        reason.contains("already pending"),
        "the refusal says why: {reason}"
    );

    let bad = job_create(&running.data_dir, "fw-2", "{not json");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--document is not valid JSON"));
}

#[test]
fn a_job_for_a_sandbox_that_is_not_running_says_how_to_start_one() {
    let output = job_create(&fresh_dir("absent"), "fw-1", "{}");
    assert_eq!(output.status.code(), Some(3), "not running exits 3");
    assert!(String::from_utf8_lossy(&output.stderr).contains("start one with `companion sandbox`"));
}

#[test]
fn the_sandbox_stops_cleanly_on_sigterm_and_forgets_its_endpoints() {
    let mut running = start("stop");
    let runtime_file = running.data_dir.join("sandbox.json");
    assert!(
        runtime_file.is_file(),
        "a running sandbox leaves sandbox.json for other commands"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(running.child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = running.child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    assert!(
        !runtime_file.exists(),
        "a stopped sandbox removes sandbox.json"
    );
}

#[test]
fn a_retained_message_published_with_the_cli_reaches_a_cli_subscriber() {
    let running = start("pubsub");
    let published = companion(
        &["pub", "cli/test/greeting", "hello", "--retain"],
        &running.data_dir,
    );
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let received = companion(
        &[
            "sub",
            "cli/test/#",
            "--count",
            "1",
            "--json",
            "--timeout",
            "20",
        ],
        &running.data_dir,
    );
    assert!(
        received.status.success(),
        "{}",
        String::from_utf8_lossy(&received.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&received.stdout).unwrap();
    assert_eq!(line["topic"], "cli/test/greeting", "{line}");
    assert_eq!(line["payload"], "hello", "{line}");
    assert_eq!(
        line["retain"], true,
        "a retained message is marked as such: {line}"
    );
}

#[test]
fn the_doctor_finds_the_running_sandbox_healthy() {
    let running = start("doctor-ok");
    let output = companion(&["doctor", "--json"], &running.data_dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let finding: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(finding["ok"], true, "{finding}");
}

#[test]
fn the_doctor_names_the_cause_and_the_fix_when_nothing_listens() {
    let port = free_address().rsplit_once(':').unwrap().1.to_owned();
    let output = Command::new(COMPANION)
        .args(["doctor", "--json", "--host", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a failed check exits 1");
    let finding: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(finding["cause"], "tcp_refused", "{finding}");
    assert!(
        finding["fix"].as_str().unwrap().contains("Check the port"),
        "{finding}"
    );
}

#[test]
fn the_doctor_explains_a_missing_client_certificate_on_the_mtls_listener() {
    let running = start("doctor-mtls");
    let port = running.endpoints["mtls"]["port"].to_string();
    let ca = running.endpoints["ca"].as_str().unwrap().to_owned();
    let output = Command::new(COMPANION)
        .args([
            "doctor",
            "--json",
            "--host",
            "localhost",
            "--port",
            &port,
            "--ca",
            &ca,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a failed check exits 1");
    let finding: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(finding["cause"], "client_certificate_missing", "{finding}");
}

/// The shadow of `thing` once its simulated device has reported it (devices connect after the
/// sandbox announces itself).
fn reported_shadow(thing: &str, data_dir: &Path) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let output = companion(&["shadow", "get", thing], data_dir);
        if output.status.success() {
            return serde_json::from_slice(&output.stdout).unwrap();
        }
        assert_eq!(
            output.status.code(),
            Some(6),
            "only 'not yet' may be retried: {output:?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{thing} never reported its shadow"
        );
    }
}

#[test]
fn a_desired_change_made_with_the_cli_is_followed_by_the_simulated_device() {
    let running = start("shadow");
    let before = reported_shadow("plug-0002", &running.data_dir);
    let on = !before["reported"]["on"].as_bool().unwrap_or(false);
    let desired = serde_json::json!({ "on": on }).to_string();

    let update = companion(
        &[
            "shadow",
            "update",
            "plug-0002",
            "--desired",
            &desired,
            "--wait",
            "20",
        ],
        &running.data_dir,
    );
    assert!(
        update.status.success(),
        "{}",
        String::from_utf8_lossy(&update.stderr)
    );
    let outcome: serde_json::Value = serde_json::from_slice(&update.stdout).unwrap();
    assert_eq!(
        outcome["outcome"], "applied",
        "the device reported the change: {outcome}"
    );

    let after = companion(&["shadow", "get", "plug-0002"], &running.data_dir);
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["reported"]["on"], on, "the device follows: {after}");
    assert_eq!(
        after["delta"],
        serde_json::Value::Null,
        "in sync, no delta: {after}"
    );
}

#[test]
fn an_edit_based_on_an_old_version_is_a_conflict_and_overwrites_nothing() {
    let running = start("conflict");
    let current = reported_shadow("light-0003", &running.data_dir)["version"]
        .as_u64()
        .unwrap();
    let stale = (current - 1).to_string();
    let output = companion(
        &[
            "shadow",
            "update",
            "light-0003",
            "--desired",
            r#"{"brightness": 3}"#,
            "--version",
            &stale,
        ],
        &running.data_dir,
    );
    assert_eq!(output.status.code(), Some(4), "a conflict exits 4");
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["outcome"], "conflict", "{outcome}");
    assert_ne!(
        outcome["theirs"]["desired"]["brightness"], 3,
        "nothing was overwritten: {outcome}"
    );
}
