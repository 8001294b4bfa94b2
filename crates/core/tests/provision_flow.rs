//! The provisioning flow as the app runs it: the engine on the local sandbox, its simulated
//! radio's new devices, fleet provisioning on the sandbox, and the audit trail.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use companion_core::engine::{DEMO_NETWORK, Engine, EngineConfig};
use companion_core::provision::flow::{
    AttemptHandle, Outcome, Proof, Remedy, Step, StepState, WifiChoice,
};
use companion_core::provision::{Discovered, TransportKind};
use companion_espprov::{Passphrase, Password, Pop};
use companion_testkit::TempDir;

/// Every log line of the run, at every level, to look for secrets in.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// Everything under `dir` (the SQLite files with their WAL among them), as text — except the
/// local sandbox's own CA key, which plays AWS's part and is a file by design.
fn files_under(dir: &std::path::Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if path.file_name().and_then(|n| n.to_str())
            == Some(companion_sandbox::ca::CA_KEY_FILE)
        {
            continue;
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// The whole attempt, however slow the machine.
const PATIENCE: Duration = Duration::from_secs(60);

async fn engine(dir: &TempDir) -> Engine {
    let config = EngineConfig {
        simulated_devices: 0,
        ..EngineConfig::local(dir.path())
    };
    Engine::start(config).await.expect("the engine starts")
}

/// The three devices in their boxes on the simulated radio, by id. A provisioned device stops
/// advertising, so the list is read once, before any attempt.
async fn devices(engine: &Engine) -> Vec<Discovered> {
    let provisioning = engine
        .provisioning()
        .expect("the local sandbox has a radio");
    assert_eq!(provisioning.radio.kind(), TransportKind::Simulated);
    let mut found = provisioning
        .radio
        .scan(Duration::from_millis(100))
        .await
        .expect("the scan works");
    assert_eq!(
        found.len(),
        3,
        "three new devices wait in their boxes: {found:?}"
    );
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

async fn settle(handle: &AttemptHandle) -> companion_core::provision::flow::AttemptView {
    tokio::time::timeout(PATIENCE, handle.settled())
        .await
        .expect("the attempt settles in time")
}

fn wifi(passphrase: &str) -> WifiChoice {
    WifiChoice {
        ssid: DEMO_NETWORK.0.to_owned(),
        passphrase: Passphrase::from(passphrase),
    }
}

fn sec1() -> Proof {
    Proof {
        pop: Some(Pop::from("abcd1234")),
        ..Proof::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plug_goes_from_its_box_to_online_and_a_wrong_wifi_password_is_fixed_without_starting_over()
 {
    let logs = Captured::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .try_init();
    let dir = TempDir::new("provision-flow-plug");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let mut plug = None;
    for candidate in devices(&engine).await {
        let handle = provisioning
            .start(candidate.clone(), sec1(), None)
            .await
            .expect("the attempt starts");
        let view = settle(&handle).await;
        if view.state(Step::WifiConfig) == &StepState::NeedsInput
            && !matches!(view.state(Step::Version), StepState::Passed(d) if d.contains("Wi-Fi only"))
        {
            plug = Some((handle, view));
            break;
        }
        handle.cancel().await;
    }
    let (handle, view) = plug.expect("the plug (security 1 with the aws-iot endpoint) is found");
    assert!(
        matches!(view.state(Step::Session), StepState::Passed(_)),
        "the secure session is up: {view:?}"
    );
    assert!(
        view.networks
            .iter()
            .any(|n| n.ssid == DEMO_NETWORK.0 && n.secured),
        "the device's own scan lists the workshop network: {:?}",
        view.networks
    );
    assert_eq!(
        view.networks.first().map(|n| n.ssid.as_str()),
        Some(DEMO_NETWORK.0),
        "strongest first"
    );

    assert!(handle.choose_network(wifi("wrong-password")).await);
    let mut watch = handle.view();
    let failed = tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|v| matches!(v.outcome, Outcome::Failed(_))),
    )
    .await
    .expect("the wrong password fails in time")
    .expect("the attempt runs")
    .clone();
    let StepState::Failed(failure) = failed.state(Step::WifiStatus) else {
        panic!("the station status step fails: {failed:?}");
    };
    assert_eq!(failure.remedy, Remedy::ReenterWifi, "{failure:?}");
    assert!(failure.cause.contains("password"), "{}", failure.cause);
    assert!(
        failed.certificate_id.is_some(),
        "the identity went over before the Wi-Fi was applied"
    );

    assert!(handle.choose_network(wifi(DEMO_NETWORK.1)).await);
    let done = tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|v| !matches!(v.outcome, Outcome::Running | Outcome::Failed(_))),
    )
    .await
    .expect("the right password gets it online in time")
    .expect("the attempt runs")
    .clone();
    let Outcome::Online { thing } = &done.outcome else {
        panic!("the plug comes online: {done:?}");
    };
    assert_eq!(
        done.joined_ssid.as_deref(),
        Some(DEMO_NETWORK.0),
        "the device said it joined the network"
    );
    assert!(thing.starts_with("plug-"), "named by the template: {thing}");
    let registered = engine
        .registry()
        .get(thing)
        .await
        .expect("registry")
        .expect("the new thing is in the fleet");
    assert_eq!(
        registered.presence,
        companion_core::registry::Presence::Online
    );

    let audit = provisioning.audit.list(10).await.expect("audit");
    let record = audit
        .iter()
        .find(|r| r.id == done.id)
        .expect("the attempt is recorded");
    assert_eq!(record.result, "succeeded");
    assert!(record.certificate_delivered);
    assert_eq!(record.thing_name.as_deref(), Some(thing.as_str()));
    assert_eq!(record.ssid.as_deref(), Some(DEMO_NETWORK.0));
    assert!(
        !record.steps.contains("provision-me") && !record.steps.contains("abcd1234"),
        "no secret in the audit: {}",
        record.steps
    );
    engine.shutdown().await;

    // No secret of the run in the logs (every level, every crate) or in any file the engine
    // and the sandbox wrote: the PoP, both Wi-Fi passwords, the device's private key.
    let logs = logs.text();
    assert!(!logs.is_empty(), "the run logged something");
    let files = files_under(dir.path());
    assert!(
        files.contains(thing.as_str()),
        "the scan reads the databases (the new thing is in them)"
    );
    for secret in ["abcd1234", "provision-me", "wrong-password", "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "{secret:?} in the logs");
        assert!(
            !files.contains(secret),
            "{secret:?} in a file under the data directory"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_proof_stops_at_the_session_and_a_wifi_only_device_says_so() {
    let dir = TempDir::new("provision-flow-proofs");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let mut wifi_only = 0;
    let mut sec2_online = 0;
    for candidate in devices(&engine).await {
        // A wrong proof first.
        let wrong = Proof {
            pop: Some(Pop::from("not-the-pop")),
            username: Some("wifiprov".into()),
            password: Some(Password::from("not-the-password")),
            scheme: None,
        };
        let handle = provisioning
            .start(candidate.clone(), wrong, None)
            .await
            .expect("starts");
        let view = settle(&handle).await;
        let StepState::Failed(failure) = view.state(Step::Session) else {
            panic!("a wrong proof fails the session step: {view:?}");
        };
        assert_eq!(failure.remedy, Remedy::StartOver, "{failure:?}");
        assert!(
            failure.cause.contains("rejected"),
            "names the cause: {}",
            failure.cause
        );
        handle.cancel().await;

        // Then the right one, with the network given up front (batch mode).
        let right = Proof {
            pop: Some(Pop::from("abcd1234")),
            username: Some("wifiprov".into()),
            password: Some(Password::from("light-secret")),
            scheme: None,
        };
        let handle = provisioning
            .start(candidate, right, Some(wifi(DEMO_NETWORK.1)))
            .await
            .expect("starts");
        let mut watch = handle.view();
        let done = tokio::time::timeout(
            PATIENCE,
            watch.wait_for(|v| !matches!(v.outcome, Outcome::Running)),
        )
        .await
        .expect("settles")
        .expect("runs")
        .clone();
        match &done.outcome {
            Outcome::WifiOnly => {
                assert!(
                    matches!(done.state(Step::Credentials), StepState::Skipped(why) if why.contains("aws-iot")),
                    "the skipped step says why: {done:?}"
                );
                wifi_only += 1;
            }
            Outcome::Online { thing } => {
                if thing.starts_with("light-") {
                    sec2_online += 1;
                }
            }
            other => panic!("unexpected outcome {other:?}: {done:?}"),
        }
    }
    assert_eq!(wifi_only, 1, "the thermostat's firmware takes Wi-Fi only");
    assert_eq!(sec2_online, 1, "the security 2 light comes online");
    engine.shutdown().await;
}

/// The plug in its box (security 1, with the credential endpoint).
async fn plug(engine: &Engine) -> Discovered {
    let radio = engine.sandbox_radio().expect("the local sandbox's radio");
    devices(engine)
        .await
        .into_iter()
        .find(|d| {
            radio.label(&d.id).map(|l| l.kind) == Some(companion_sandbox::devices::DeviceKind::Plug)
        })
        .expect("a plug in its box")
}

/// Drops the link at the `occurrence`-th exchange on `endpoint` of the plug's attempt; returns
/// the failed view and the final one, after checking that a retry takes the plug online.
async fn drop_then_retry(
    name: &str,
    endpoint: &str,
    occurrence: u32,
    failing: Step,
) -> (
    companion_core::provision::flow::AttemptView,
    companion_core::provision::flow::AttemptView,
) {
    let dir = TempDir::new(name);
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let plug = plug(&engine).await;
    let radio = engine.sandbox_radio().expect("radio");
    assert!(radio.inject_drop(
        &plug.id,
        companion_sandbox::radio::DropRule::on(endpoint, occurrence)
    ));
    let handle = provisioning
        .start(plug.clone(), sec1(), Some(wifi(DEMO_NETWORK.1)))
        .await
        .expect("the attempt starts");
    let mut watch = handle.view();
    let failed = tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|v| !matches!(v.outcome, Outcome::Running)),
    )
    .await
    .expect("the drop is noticed in time")
    .expect("the attempt runs")
    .clone();
    assert_eq!(
        failed.outcome,
        Outcome::Failed(failing),
        "a drop on {endpoint} #{occurrence} fails {failing:?}: {failed:?}"
    );
    let StepState::Failed(failure) = failed.state(failing) else {
        panic!("{failing:?} failed: {failed:?}");
    };
    assert!(
        failure.cause.to_lowercase().contains("dropped") || failure.cause.contains("link"),
        "the cause says the link dropped: {}",
        failure.cause
    );
    assert!(
        !failure.cause.contains("rejected"),
        "a drop is not a wrong proof: {}",
        failure.cause
    );
    assert_eq!(failure.remedy, Remedy::Retry, "{failure:?}");
    assert!(!failure.fix.is_empty(), "and what to do");
    assert!(handle.retry().await);
    let done = tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|v| !matches!(v.outcome, Outcome::Running | Outcome::Failed(_))),
    )
    .await
    .expect("the retry ends in time")
    .expect("the attempt runs")
    .clone();
    assert!(
        matches!(done.outcome, Outcome::Online { .. }),
        "a retry after a drop at {failing:?} gets the plug online: {done:?}"
    );
    engine.shutdown().await;
    (failed, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_version_step_fails_it_and_a_retry_goes_on() {
    drop_then_retry("drop-version", "proto-ver", 1, Step::Version).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_session_step_fails_it_and_a_retry_goes_on() {
    drop_then_retry("drop-session", "prov-session", 1, Step::Session).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_wifi_scan_fails_it_and_a_retry_goes_on() {
    drop_then_retry("drop-scan", "prov-scan", 1, Step::WifiScan).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_wifi_config_fails_it_and_a_retry_goes_on() {
    drop_then_retry("drop-config", "prov-config", 1, Step::WifiConfig).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_credentials_fails_them_and_a_retry_goes_on() {
    let (failed, _) = drop_then_retry("drop-credentials", "aws-iot", 1, Step::Credentials).await;
    assert!(
        failed.certificate_id.is_none(),
        "the first exchange dropped: nothing was issued yet"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_wifi_apply_fails_it_and_a_retry_goes_on() {
    let (failed, done) = drop_then_retry("drop-apply", "prov-config", 2, Step::WifiApply).await;
    assert!(
        failed.certificate_id.is_some(),
        "delivered before the apply"
    );
    assert_eq!(
        done.certificate_id, failed.certificate_id,
        "the retry keeps the delivered identity instead of issuing a second certificate"
    );
    assert!(
        matches!(done.state(Step::Credentials), StepState::Passed(d) if d.contains("already installed")),
        "{done:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_at_the_station_status_after_the_apply_is_taken_as_the_device_joining() {
    // Devices leave Bluetooth once their station connects: after the apply, a drop is not a
    // failure, and the device's own arrival in the cloud decides.
    let dir = TempDir::new("drop-status");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let plug = plug(&engine).await;
    let radio = engine.sandbox_radio().expect("radio");
    assert!(radio.inject_drop(
        &plug.id,
        companion_sandbox::radio::DropRule::on("prov-config", 3)
    ));
    let handle = provisioning
        .start(plug, sec1(), Some(wifi(DEMO_NETWORK.1)))
        .await
        .expect("the attempt starts");
    let done = settle(&handle).await;
    assert!(matches!(done.outcome, Outcome::Online { .. }), "{done:?}");
    assert!(
        matches!(done.state(Step::WifiStatus), StepState::Passed(d) if d.contains("left Bluetooth")),
        "{done:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_step_in_flight_and_frees_the_device() {
    let dir = TempDir::new("provision-cancel");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let plug = plug(&engine).await;
    let radio = engine.sandbox_radio().expect("radio");
    // Every GATT operation takes a minute: the version step never ends by itself.
    radio.set_link_model(companion_sandbox::radio::LinkModel {
        op_latency: Duration::from_secs(60),
        ..companion_sandbox::radio::LinkModel::instant()
    });
    let handle = provisioning
        .start(plug.clone(), sec1(), Some(wifi(DEMO_NETWORK.1)))
        .await
        .expect("the attempt starts");
    let mut watch = handle.view();
    tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|v| v.state(Step::Version) == &StepState::Running),
    )
    .await
    .expect("the version step starts")
    .expect("the attempt runs");
    let mut device = radio.watch(&plug.id).expect("the device");
    assert!(device.borrow().link_open);
    assert!(
        !handle.choose_network(wifi(DEMO_NETWORK.1)).await,
        "a working attempt takes no network (it would be picked up later, stale)"
    );

    assert!(
        tokio::time::timeout(Duration::from_secs(10), handle.cancel())
            .await
            .expect("cancel does not wait for the step"),
        "the attempt was running"
    );
    let view = handle.view().borrow().clone();
    assert_eq!(view.outcome, Outcome::Cancelled);
    assert!(
        matches!(view.state(Step::Version), StepState::Skipped(_)),
        "{view:?}"
    );
    tokio::time::timeout(PATIENCE, device.wait_for(|s| !s.link_open && s.advertising))
        .await
        .expect("the device is freed in time")
        .expect("the device is there");
    let audit = provisioning.audit.list(10).await.expect("audit");
    let record = audit
        .iter()
        .find(|r| r.id == view.id)
        .expect("the attempt is recorded");
    assert_eq!(record.result, "cancelled");
    assert!(record.finished_ms.is_some(), "with its end");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csr_whose_signature_does_not_verify_is_refused_before_any_certificate_is_issued() {
    use companion_sandbox::radio::{DeviceSpec, Network, SecuritySpec};
    let dir = TempDir::new("provision-bad-csr");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let radio = engine.sandbox_radio().expect("radio");
    let label = radio
        .add_device(
            DeviceSpec::new(
                "BADCSR1",
                companion_sandbox::devices::DeviceKind::Plug,
                SecuritySpec::sec1("abcd1234"),
            )
            .with_network(Network::wpa2(DEMO_NETWORK.0, DEMO_NETWORK.1))
            .with_broken_csr_signature(),
        )
        .expect("added");
    let device = Discovered {
        id: label.id.clone(),
        name: label.name.clone(),
        rssi: None,
        kind: TransportKind::Simulated,
    };
    let handle = provisioning
        .start(device, sec1(), Some(wifi(DEMO_NETWORK.1)))
        .await
        .expect("the attempt starts");
    let failed = settle(&handle).await;
    assert_eq!(
        failed.outcome,
        Outcome::Failed(Step::Credentials),
        "{failed:?}"
    );
    let StepState::Failed(failure) = failed.state(Step::Credentials) else {
        panic!("{failed:?}");
    };
    assert!(
        failure.cause.contains("signature does not verify"),
        "{}",
        failure.cause
    );
    assert_eq!(failure.remedy, Remedy::StartOver);
    assert!(failed.certificate_id.is_none(), "nothing was issued");
    assert!(failed.thing_name.is_none(), "nothing was registered");
    handle.cancel().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verifier_made_by_esp_prov_is_matched_for_the_one_password_in_256_where_it_differs() {
    use companion_espprov::VerifierOrigin;
    use companion_sandbox::radio::{DeviceSpec, Network, SecuritySpec};
    let password = (0u32..)
        .map(|i| format!("label-{i}"))
        .find(|p| VerifierOrigin::differ_for(b"wifiprov", p.as_bytes()))
        .expect("one password in about 256");
    let dir = TempDir::new("provision-esp-prov-verifier");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let radio = engine.sandbox_radio().expect("radio");
    let label = radio
        .add_device(
            DeviceSpec::new(
                "ESPPROV1",
                companion_sandbox::devices::DeviceKind::Light,
                SecuritySpec::sec2_from_esp_prov("wifiprov", password.as_str()),
            )
            .with_network(Network::wpa2(DEMO_NETWORK.0, DEMO_NETWORK.1)),
        )
        .expect("added");
    let device = Discovered {
        id: label.id.clone(),
        name: label.name.clone(),
        rssi: None,
        kind: TransportKind::Simulated,
    };
    let proof = |password: &str| Proof {
        username: Some("wifiprov".into()),
        password: Some(Password::from(password)),
        ..Proof::default()
    };

    let handle = provisioning
        .start(device.clone(), proof(&password), Some(wifi(DEMO_NETWORK.1)))
        .await
        .expect("the attempt starts");
    let done = settle(&handle).await;
    assert!(matches!(done.outcome, Outcome::Online { .. }), "{done:?}");
    assert!(
        matches!(done.state(Step::Session), StepState::Passed(d) if d.contains("esp_prov")),
        "{done:?}"
    );

    // A wrong password is still a wrong password, after both derivations.
    let other = radio
        .add_device(
            DeviceSpec::new(
                "ESPPROV2",
                companion_sandbox::devices::DeviceKind::Light,
                SecuritySpec::sec2_from_esp_prov("wifiprov", password.as_str()),
            )
            .with_network(Network::wpa2(DEMO_NETWORK.0, DEMO_NETWORK.1)),
        )
        .expect("added");
    let wrong = (0u32..)
        .map(|i| format!("wrong-{i}"))
        .find(|p| VerifierOrigin::differ_for(b"wifiprov", p.as_bytes()))
        .expect("another such password");
    let handle = provisioning
        .start(
            Discovered {
                id: other.id.clone(),
                name: other.name.clone(),
                rssi: None,
                kind: TransportKind::Simulated,
            },
            proof(&wrong),
            Some(wifi(DEMO_NETWORK.1)),
        )
        .await
        .expect("the attempt starts");
    let failed = settle(&handle).await;
    assert_eq!(failed.outcome, Outcome::Failed(Step::Session), "{failed:?}");
    let StepState::Failed(failure) = failed.state(Step::Session) else {
        panic!("{failed:?}");
    };
    assert_eq!(failure.remedy, Remedy::StartOver);
    handle.cancel().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_while_the_attempt_waits_for_a_network_ends_it_at_once() {
    let dir = TempDir::new("provision-cancel-input");
    let engine = engine(&dir).await;
    let provisioning = engine.provisioning().expect("radio").clone();
    let plug = plug(&engine).await;
    let handle = provisioning
        .start(plug.clone(), sec1(), None)
        .await
        .expect("the attempt starts");
    let waiting = settle(&handle).await;
    assert_eq!(waiting.state(Step::WifiConfig), &StepState::NeedsInput);
    assert!(handle.waits_for_network());
    assert!(
        tokio::time::timeout(Duration::from_secs(10), handle.cancel())
            .await
            .expect("cancel does not hang while the attempt waits for the user"),
        "the attempt was running"
    );
    assert_eq!(handle.view().borrow().outcome, Outcome::Cancelled);
    let radio = engine.sandbox_radio().expect("radio");
    let mut device = radio.watch(&plug.id).expect("the device");
    tokio::time::timeout(PATIENCE, device.wait_for(|s| !s.link_open && s.advertising))
        .await
        .expect("the device is freed in time")
        .expect("the device is there");
    engine.shutdown().await;
}
