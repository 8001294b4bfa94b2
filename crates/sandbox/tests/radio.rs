//! The simulated radio: scanning, the link model, drops, one client at a time, the Wi-Fi
//! station's outcomes, handler failures, and a device that comes online with a certificate
//! from the sandbox CA and its built-in root. The full provisioning flow through the app's
//! transport traits is in `crates/core/tests/provision_simulated.rs`.

use std::time::Duration;

use companion_espprov::credentials::{
    CsrAssembly, DEFAULT_MAX_CHUNK, Installation, Request, Response, read_csr_requests,
};
use companion_espprov::endpoint::{AWS_IOT, PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SESSION};
use companion_espprov::version::PROBE;
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, FailReason, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::ctrl::CtrlRequest;
use companion_espprov::{Error, Passphrase, Pop, Session, Step, VersionInfo};
use companion_sandbox::devices::DeviceKind;
use companion_sandbox::radio::{
    CloudState, DeviceSpec, DeviceStatus, DropRule, FailureRecovery, HandlerFailure,
    LinkDropOnJoin, LinkError, LinkModel, Network, RadioConfig, SecuritySpec, SimulatedLink,
    SimulatedRadio, WifiBehaviour, WifiStatus,
};
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::TempDir;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How long any awaited state may take.
const DEADLINE: Duration = Duration::from_secs(20);

fn radio(link: LinkModel) -> SimulatedRadio {
    SimulatedRadio::new(RadioConfig {
        link,
        seed: 7,
        builtin_root_ca_pem: None,
    })
}

fn fast_wifi() -> WifiBehaviour {
    WifiBehaviour {
        join_time: Duration::from_millis(20),
        scan_time: Duration::from_millis(5),
        ..WifiBehaviour::default()
    }
}

/// A Security 0 device (no handshake cost) that sees `home` (WPA2) and `cafe` (open).
fn sec0(serial: &str) -> DeviceSpec {
    DeviceSpec::new(serial, DeviceKind::Plug, SecuritySpec::Sec0)
        .with_network(Network::wpa2("home", "correct horse"))
        .with_network(Network::open("cafe"))
        .with_wifi(fast_wifi())
}

/// The app's side of one link: the espprov client role.
struct App {
    link: SimulatedLink,
    session: Session,
}

impl App {
    async fn connect(
        radio: &SimulatedRadio,
        id: &str,
        mut session: Session,
    ) -> Result<Self, Error> {
        let link = radio
            .connect(id)
            .await
            .expect("the device accepts the link");
        let mut request = session.start()?;
        loop {
            let answer = link
                .exchange(PROV_SESSION, request)
                .await
                .map_err(|e| Error::Version(e.to_string()))?;
            match session.handle_response(&answer)? {
                Step::Send(next) => request = next,
                Step::Established => return Ok(Self { link, session }),
            }
        }
    }

    async fn sealed(&mut self, endpoint: &str, plain: &[u8]) -> Result<Vec<u8>, LinkError> {
        let request = self.session.encrypt(plain).expect("encrypt");
        let answer = self.link.exchange(endpoint, request).await?;
        Ok(self.session.decrypt(&answer).expect("decrypt"))
    }

    async fn config(&mut self, request: ConfigRequest) -> Result<ConfigResponse, LinkError> {
        let answer = self.sealed(PROV_CONFIG, &request.encode()).await?;
        Ok(ConfigResponse::decode(&answer).expect("a prov-config answer"))
    }

    async fn join(&mut self, ssid: &str, passphrase: &str) -> ConfigResponse {
        let credentials =
            WifiCredentials::new(ssid, Passphrase::from(passphrase)).expect("valid credentials");
        let set = self
            .config(ConfigRequest::SetConfig(credentials))
            .await
            .expect("set");
        assert_eq!(set, ConfigResponse::ConfigSet);
        self.config(ConfigRequest::ApplyConfig)
            .await
            .expect("apply")
    }

    async fn status(&mut self) -> Result<StationStatus, LinkError> {
        match self.config(ConfigRequest::GetStatus).await? {
            ConfigResponse::Status(status) => Ok(status),
            other => panic!("not a status: {other:?}"),
        }
    }

    async fn aws_iot(&mut self, request: &Request) -> Response {
        let answer = self
            .sealed(AWS_IOT, &request.encode())
            .await
            .expect("aws-iot");
        request.read_response(&answer).expect("an answer")
    }
}

async fn wait_for(
    watch: &mut watch::Receiver<DeviceStatus>,
    what: &str,
    predicate: impl FnMut(&DeviceStatus) -> bool,
) -> DeviceStatus {
    let waited = tokio::time::timeout(DEADLINE, watch.wait_for(predicate))
        .await
        .map(|status| status.map(|s| s.clone()));
    match waited {
        Ok(Ok(status)) => status,
        _ => panic!("{what} within {DEADLINE:?}; last: {:?}", *watch.borrow()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_scan_lists_advertising_devices_strongest_first_with_wandering_signals() {
    let radio = radio(LinkModel::default());
    let far = radio
        .add_device(sec0("SN-FAR").with_rssi(-80))
        .expect("added");
    let near = radio
        .add_device(sec0("SN-NEAR").with_rssi(-40))
        .expect("added");
    let mid = radio
        .add_device(sec0("SN-MID").with_rssi(-60))
        .expect("added");
    assert!(
        radio.add_device(sec0("SN-MID")).is_err(),
        "serials are unique"
    );

    let started = Instant::now();
    let seen = radio.scan(Duration::from_millis(250)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(250), "the window");
    let ids: Vec<&str> = seen.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, [&near.id, &mid.id, &far.id], "strongest first");
    for ad in &seen {
        assert!(
            ad.name.starts_with("PROV_") && ad.name.len() == 11,
            "{}",
            ad.name
        );
    }

    let mut values = Vec::new();
    for _ in 0..30 {
        let seen = radio.scan(Duration::ZERO).await;
        let rssi = seen
            .iter()
            .find(|a| a.id == mid.id)
            .expect("still advertising")
            .rssi;
        assert!((-66..=-54).contains(&rssi), "within ±6 dB: {rssi}");
        values.push(rssi);
    }
    values.dedup();
    assert!(values.len() > 1, "the signal wanders: {values:?}");

    let _link = radio.connect(&near.id).await.expect("connects");
    let seen = radio.scan(Duration::ZERO).await;
    assert!(
        seen.iter().all(|a| a.id != near.id),
        "a connected device stops advertising"
    );
}

#[tokio::test(start_paused = true)]
async fn the_link_model_charges_set_up_time_and_gatt_operations() {
    let model = LinkModel::default();
    let radio = radio(model.clone());
    let label = radio.add_device(sec0("SN-TIME")).expect("added");

    let started = Instant::now();
    let link = radio.connect(&label.id).await.expect("connects");
    assert_eq!(started.elapsed(), Duration::from_millis(30), "set-up time");
    assert_eq!(
        link.endpoints(),
        [
            "prov-ctrl",
            "prov-scan",
            "prov-session",
            "prov-config",
            "proto-ver",
            "aws-iot"
        ]
    );

    let started = Instant::now();
    let answer = link
        .exchange(PROTO_VER, PROBE.to_vec())
        .await
        .expect("proto-ver");
    let ops = 1 + model.read_ops(answer.len());
    assert_eq!(
        started.elapsed(),
        model.op_latency * ops,
        "one write and the reads"
    );
    let info = VersionInfo::parse(&answer).expect("JSON");
    assert!(info.app("aws-iot").is_some(), "{info:?}");

    let started = Instant::now();
    link.exchange(PROTO_VER, vec![b'-'; 400])
        .await
        .expect("a long write");
    let long_ops = model.write_ops(400) + model.read_ops(answer.len());
    assert_eq!(
        model.write_ops(400),
        4,
        "three prepare writes and an execute"
    );
    assert_eq!(started.elapsed(), model.op_latency * long_ops);

    let stats = link.stats().await;
    assert_eq!(
        (stats.exchanges, stats.gatt_ops, stats.bytes_written),
        (2, ops + long_ops, PROBE.len() + 400)
    );
    assert_eq!(
        link.exchange(PROTO_VER, vec![0; 513]).await,
        Err(LinkError::TooLong {
            endpoint: PROTO_VER.into(),
            len: 513
        }),
        "beyond the attribute limit"
    );
    assert_eq!(
        link.exchange("custom-data", vec![1]).await,
        Err(LinkError::NoEndpoint("custom-data".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn an_injected_drop_ends_the_link_and_the_device_advertises_again() {
    let radio = radio(LinkModel::default());
    let label = radio.add_device(sec0("SN-DROP")).expect("added");
    let mut watch = radio.watch(&label.id).expect("a device");
    assert!(radio.inject_drop(&label.id, DropRule::on(PROTO_VER, 2)));

    let link = radio.connect(&label.id).await.expect("connects");
    link.exchange(PROTO_VER, PROBE.to_vec())
        .await
        .expect("the first passes");
    link.exchange(PROV_CONFIG, vec![])
        .await
        .expect_err("not counted: another endpoint, and not a session");
    let dropped = link.exchange(PROTO_VER, PROBE.to_vec()).await;
    assert!(
        matches!(dropped, Err(LinkError::Disconnected(_))),
        "{dropped:?}"
    );
    assert!(!link.is_open());
    assert!(matches!(
        link.exchange(PROTO_VER, PROBE.to_vec()).await,
        Err(LinkError::Disconnected(_))
    ));
    wait_for(&mut watch, "advertising again", |s| {
        s.advertising && !s.link_open
    })
    .await;

    // Dropped after delivery: the device acted on the request, the app never saw the answer.
    radio.inject_drop(&label.id, DropRule::on(PROV_CONFIG, 1).after_delivery());
    let mut app = App::connect(&radio, &label.id, Session::sec0())
        .await
        .expect("session");
    let credentials = WifiCredentials::new("cafe", Passphrase::default()).expect("valid");
    let lost = app.config(ConfigRequest::SetConfig(credentials)).await;
    assert!(matches!(lost, Err(LinkError::Disconnected(_))), "{lost:?}");
    let mut app = App::connect(&radio, &label.id, Session::sec0())
        .await
        .expect("a new session");
    assert_eq!(
        app.config(ConfigRequest::ApplyConfig).await,
        Ok(ConfigResponse::ConfigApplied),
        "the stored credentials survived the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn a_device_takes_one_client_at_a_time() {
    let radio = radio(LinkModel::instant());
    let label = radio.add_device(sec0("SN-BUSY")).expect("added");
    let first = radio.connect(&label.id).await.expect("connects");
    assert_eq!(
        radio.connect(&label.id).await.err(),
        Some(LinkError::Busy(label.id.clone()))
    );
    first.close().await;
    assert!(matches!(
        first.exchange(PROTO_VER, PROBE.to_vec()).await,
        Err(LinkError::Disconnected(_))
    ));
    let second = radio.connect(&label.id).await.expect("free again");
    drop(second);
    radio
        .connect(&label.id)
        .await
        .expect("dropping a link disconnects it");
    assert_eq!(
        radio.connect("24:0A:C4:00:00:00").await.err(),
        Some(LinkError::NotFound("24:0A:C4:00:00:00".into()))
    );
}

#[tokio::test]
async fn the_station_reports_auth_errors_and_unknown_networks_and_a_retry_joins() {
    let radio = radio(LinkModel::instant());
    let label = radio.add_device(sec0("SN-WIFI")).expect("added");
    let mut watch = radio.watch(&label.id).expect("a device");
    let mut app = App::connect(&radio, &label.id, Session::sec0())
        .await
        .expect("session");
    assert_eq!(app.status().await, Ok(StationStatus::Disconnected));

    assert_eq!(
        app.join("home", "wrong horse").await,
        ConfigResponse::ConfigApplied
    );
    assert!(matches!(
        app.status().await,
        Ok(StationStatus::Connecting { .. })
    ));
    wait_for(&mut watch, "the join fails", |s| {
        matches!(s.wifi, WifiStatus::Failed { .. })
    })
    .await;
    assert_eq!(
        app.status().await,
        Ok(StationStatus::Failed(FailReason::AuthError))
    );

    assert_eq!(
        app.join("elsewhere", "correct horse").await,
        ConfigResponse::ConfigApplied,
        "the device resets itself after a failure"
    );
    wait_for(
        &mut watch,
        "not found",
        |s| matches!(&s.wifi, WifiStatus::Failed { ssid, .. } if ssid == "elsewhere"),
    )
    .await;
    assert_eq!(
        app.status().await,
        Ok(StationStatus::Failed(FailReason::NetworkNotFound))
    );

    assert_eq!(
        app.join("home", "correct horse").await,
        ConfigResponse::ConfigApplied
    );
    let joined = wait_for(&mut watch, "joined", |s| {
        matches!(s.wifi, WifiStatus::Connected { .. })
    })
    .await;
    let Ok(StationStatus::Connected(info)) = app.status().await else {
        panic!("connected")
    };
    assert_eq!(info.ssid, b"home");
    assert_eq!(
        joined.wifi,
        WifiStatus::Connected {
            ssid: "home".into(),
            ip: info.ip4_addr.clone()
        }
    );
    assert_eq!(
        joined.cloud,
        CloudState::WaitingForIdentity,
        "Wi-Fi without an identity"
    );
    assert!(!format!("{joined:?}").contains("correct horse"));
    assert!(!format!("{label:?}").contains("correct horse"));
}

#[tokio::test]
async fn without_automatic_reset_a_failed_join_needs_a_ctrl_reset() {
    let radio = radio(LinkModel::instant());
    let spec = sec0("SN-CTRL").with_wifi(WifiBehaviour {
        recovery: FailureRecovery::CtrlReset,
        ..fast_wifi()
    });
    let label = radio.add_device(spec).expect("added");
    let mut watch = radio.watch(&label.id).expect("a device");
    let mut app = App::connect(&radio, &label.id, Session::sec0())
        .await
        .expect("session");
    app.join("home", "wrong horse").await;
    wait_for(&mut watch, "the join fails", |s| {
        matches!(s.wifi, WifiStatus::Failed { .. })
    })
    .await;
    assert!(
        matches!(
            app.join("home", "correct horse").await,
            ConfigResponse::Refused { .. }
        ),
        "credentials already received"
    );
    let reset = app
        .sealed(PROV_CTRL, &CtrlRequest::Reset.encode())
        .await
        .expect("ctrl");
    CtrlRequest::Reset
        .read_response(&reset)
        .expect("the reset is accepted");
    assert_eq!(
        app.config(ConfigRequest::ApplyConfig).await,
        Ok(ConfigResponse::ConfigApplied),
        "the refused apply kept the stored credentials"
    );
    wait_for(&mut watch, "joined", |s| {
        matches!(s.wifi, WifiStatus::Connected { .. })
    })
    .await;
}

#[tokio::test]
async fn the_link_may_drop_when_the_station_joins_or_right_after_reporting_it() {
    let radio = radio(LinkModel::instant());
    for (serial, drop) in [
        ("SN-ONJOIN", LinkDropOnJoin::OnJoin),
        ("SN-REPORT", LinkDropOnJoin::AfterReport),
    ] {
        let spec = sec0(serial).with_wifi(WifiBehaviour {
            link_drop: drop,
            ..fast_wifi()
        });
        let label = radio.add_device(spec).expect("added");
        let mut watch = radio.watch(&label.id).expect("a device");
        let mut app = App::connect(&radio, &label.id, Session::sec0())
            .await
            .expect("session");
        app.join("home", "correct horse").await;
        wait_for(&mut watch, "joined", |s| {
            matches!(s.wifi, WifiStatus::Connected { .. })
        })
        .await;
        if drop == LinkDropOnJoin::AfterReport {
            assert!(
                matches!(app.status().await, Ok(StationStatus::Connected(_))),
                "the report arrives"
            );
        }
        assert!(
            matches!(app.status().await, Err(LinkError::Disconnected(_))),
            "{drop:?}: the next exchange finds the link gone"
        );
        let status = radio.status(&label.id).expect("a device");
        assert!(
            status.advertising,
            "{drop:?}: still provisioning (no identity yet)"
        );
        let mut again = App::connect(&radio, &label.id, Session::sec0())
            .await
            .expect("reconnects");
        assert!(
            matches!(again.status().await, Ok(StationStatus::Connected(_))),
            "{drop:?}: the station stays joined and the link stays this time"
        );
    }
}

#[tokio::test]
async fn a_failing_handshake_is_an_att_error_or_a_disconnect() {
    let radio = radio(LinkModel::instant());
    let mut rng = StdRng::seed_from_u64(3);
    for (serial, failure) in [
        ("SN-NIMBLE", HandlerFailure::AttError),
        ("SN-BLUEDROID", HandlerFailure::Disconnect),
    ] {
        let spec = DeviceSpec::new(serial, DeviceKind::Light, SecuritySpec::sec1("abcd1234"))
            .with_handler_failure(failure);
        let label = radio.add_device(spec).expect("added");
        let link = radio.connect(&label.id).await.expect("connects");
        let mut wrong = Session::sec1(Pop::from("wrong-pop"), &mut rng);
        let answer = link
            .exchange(PROV_SESSION, wrong.start().expect("cmd0"))
            .await
            .expect("the device answers SessionCmd0 whatever the PoP");
        let Step::Send(cmd1) = wrong.handle_response(&answer).expect("resp0") else {
            panic!("two steps")
        };
        let refused = link.exchange(PROV_SESSION, cmd1).await;
        match failure {
            HandlerFailure::AttError => {
                assert_eq!(
                    refused,
                    Err(LinkError::HandlerFailed {
                        endpoint: PROV_SESSION.into()
                    }),
                    "NimBLE answers the write with an ATT error"
                );
                assert!(link.is_open(), "and keeps the link");
            }
            HandlerFailure::Disconnect => {
                assert!(
                    matches!(refused, Err(LinkError::Disconnected(_))),
                    "Bluedroid drops the link: {refused:?}"
                );
                assert!(!link.is_open());
            }
        }
        let status = radio.status(&label.id).expect("a device");
        assert!(!status.session_established, "{failure:?}: {status:?}");
        drop(link);
        let right = Session::sec1(label.secret.clone(), &mut rng);
        let app = App::connect(&radio, &label.id, right)
            .await
            .expect("the right PoP then works");
        assert!(app.session.is_established());
    }
}

/// Subscribes to `filters` on the sandbox's plain listener and hands over the topics of what
/// arrives; returns once the broker acknowledged the subscriptions.
async fn observe(sandbox: &Sandbox, filters: &[&str]) -> mpsc::UnboundedReceiver<String> {
    let (client, mut events) =
        companion_sandbox::connect::client("radio-observer", &sandbox.plain_endpoint(), 64)
            .expect("a client");
    let filters = filters
        .iter()
        .map(|f| rumqttc::SubscribeFilter::new((*f).to_owned(), rumqttc::QoS::AtLeastOnce));
    client.subscribe_many(filters).await.expect("queued");
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut subscribed_tx = Some(subscribed_tx);
        while let Ok(event) = events.poll().await {
            match event {
                rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_)) => {
                    if let Some(done) = subscribed_tx.take() {
                        let _ = done.send(());
                    }
                }
                rumqttc::Event::Incoming(rumqttc::Incoming::Publish(publish)) => {
                    let _ = tx.send(publish.topic.clone());
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(DEADLINE, subscribed)
        .await
        .expect("subscribed in time")
        .expect("the observer runs");
    rx
}

/// Waits for a message on `topic`.
async fn expect_topic(observed: &mut mpsc::UnboundedReceiver<String>, topic: &str) {
    let found = async {
        while let Some(seen) = observed.recv().await {
            if seen == topic {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(DEADLINE, found).await == Ok(true),
        "nothing on {topic} within {DEADLINE:?}"
    );
}

#[tokio::test]
async fn installed_with_its_built_in_root_a_device_comes_online_and_stops_advertising() {
    let dir = TempDir::new("radio-online");
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .expect("the sandbox starts");
    let radio = sandbox.radio();
    radio.set_link_model(LinkModel::instant());
    let label = radio.add_device(sec0("SN-ONLINE")).expect("added");
    let mut observed = observe(
        &sandbox,
        &[
            "$aws/events/presence/connected/+",
            "$aws/things/+/shadow/update/accepted",
        ],
    )
    .await;
    let mut watch = radio.watch(&label.id).expect("a device");
    let mut app = App::connect(&radio, &label.id, Session::sec0())
        .await
        .expect("session");

    let Response::CsrCreated {
        csr_len,
        csr_sha256,
    } = app
        .aws_iot(&Request::CreateCsr {
            common_name: "plug-online".into(),
            new_key: false,
        })
        .await
    else {
        panic!("a CSR")
    };
    let mut csr = CsrAssembly::new(csr_len, csr_sha256);
    for request in read_csr_requests(csr_len, DEFAULT_MAX_CHUNK) {
        csr.push(&app.aws_iot(&request).await).expect("in order");
    }
    let csr = csr.finish().expect("the CSR");
    let csr_pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr));
    let certificate_pem = sandbox.ca().sign_csr_pem(&csr_pem).expect("signed");
    let certificate = pem::parse(certificate_pem).expect("PEM").into_contents();
    let mtls = sandbox.mtls_address().expect("an mTLS listener");
    let installation = Installation {
        thing_name: "plug-online".into(),
        endpoint: "localhost".into(),
        port: mtls.port(),
        certificate,
        root_ca: Vec::new(),
    };
    for request in installation.requests(DEFAULT_MAX_CHUNK) {
        app.aws_iot(&request).await;
    }
    let waiting = wait_for(&mut watch, "the identity", |s| s.identity.is_some()).await;
    assert_eq!(waiting.cloud, CloudState::WaitingForWifi);

    app.join("home", "correct horse").await;
    let online = wait_for(&mut watch, "online", |s| {
        matches!(s.cloud, CloudState::Running { .. })
    })
    .await;
    assert_eq!(
        online.cloud,
        CloudState::Running {
            thing_name: "plug-online".into()
        }
    );
    assert!(!online.advertising, "provisioning is over");
    app.link.close().await;
    assert!(
        radio.scan(Duration::ZERO).await.is_empty(),
        "a provisioned device does not advertise"
    );
    assert!(matches!(
        radio.connect(&label.id).await,
        Err(LinkError::NotFound(_))
    ));

    expect_topic(&mut observed, "$aws/events/presence/connected/plug-online").await;
    expect_topic(
        &mut observed,
        "$aws/things/plug-online/shadow/update/accepted",
    )
    .await;
    sandbox.shutdown().await;
}
