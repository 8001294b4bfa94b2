//! Provisioning simulated ESP devices of the local sandbox through the app's transport traits
//! (`SimulatedRadio` as a `Radio`, its links as `ProvLink`s) with espprov's client role, and the
//! certificate from the sandbox's fleet provisioning service over MQTT, as the app does it:
//! proto-ver, the secure session, the device's Wi-Fi scan, Wi-Fi credentials, the status poll,
//! the CSR, CreateCertificateFromCsr and RegisterThing, the install, and the device online.

#![cfg(feature = "local-sandbox")]

use std::collections::BTreeMap;
use std::time::Duration;

use companion_awsiot::provisioning::{
    CreateCertificateFromCsrRequest, CreateCertificateFromCsrResponse, RegisterThingRequest,
    RegisterThingResponse,
};
use companion_core::provision::simulated::{SandboxRadio, SimulatedRadio};
use companion_core::provision::{ProvLink, Radio, TransportError, TransportKind};
use companion_espprov::credentials::{
    self, CsrAssembly, Installation, Request, Response, read_csr_requests,
};
use companion_espprov::endpoint::{AWS_IOT, PROTO_VER, PROV_CONFIG, PROV_SCAN, PROV_SESSION};
use companion_espprov::version::{AppInfo, PROBE, capability};
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, FailReason, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::scan::{
    AccessPoint, BLE_PAGE_SIZE, ScanOptions, ScanRequest, ScanResponse, result_pages,
};
use companion_espprov::{Passphrase, SecurityScheme, Session, Step, VersionInfo};
use companion_sandbox::connect::client;
use companion_sandbox::devices::DeviceKind;
use companion_sandbox::radio::http::RadioServer;
use companion_sandbox::radio::{
    CloudState, DeviceLabel, DeviceSpec, DropRule, LinkDropOnJoin, Network, SecuritySpec,
    WifiBehaviour, WifiStatus,
};
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::TempDir;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long anything awaited may take.
const DEADLINE: Duration = Duration::from_secs(30);
const TEMPLATE: &str = "companion-default";
const CSR_TOPIC: &str = "$aws/certificates/create-from-csr/json";

fn register_topic() -> String {
    format!("$aws/provisioning-templates/{TEMPLATE}/provision/json")
}

async fn sandbox(name: &str) -> (TempDir, Sandbox, SimulatedRadio) {
    let dir = TempDir::new(name);
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .expect("the sandbox starts");
    let radio = SimulatedRadio::new(sandbox.radio());
    (dir, sandbox, radio)
}

fn home() -> Network {
    Network::wpa2("home", "correct horse battery")
}

fn quick_wifi() -> WifiBehaviour {
    WifiBehaviour {
        join_time: Duration::from_millis(100),
        scan_time: Duration::from_millis(20),
        ..WifiBehaviour::default()
    }
}

/// The app's MQTT connection to the sandbox with its provisioning (claim) certificate: fleet
/// provisioning requests, and the lifecycle and shadow topics it watches.
struct Cloud {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    kept: Vec<(String, Vec<u8>)>,
}

impl Cloud {
    async fn connect(sandbox: &Sandbox) -> Self {
        let claim = sandbox
            .issue_identity("companion-app")
            .expect("a claim identity");
        let endpoint = sandbox.mtls_endpoint(claim).expect("an mTLS listener");
        let (client, mut events) = client("companion-app", &endpoint, 64).expect("a client");
        let filters = [
            format!("{CSR_TOPIC}/+"),
            format!("{}/+", register_topic()),
            "$aws/events/presence/connected/+".to_owned(),
            "$aws/things/+/shadow/update/accepted".to_owned(),
        ];
        client
            .subscribe_many(
                filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
            )
            .await
            .expect("queued");
        let (tx, messages) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            while let Ok(event) = events.poll().await {
                match event {
                    Event::Incoming(Incoming::SubAck(_)) => {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                    Event::Incoming(Incoming::Publish(p)) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(DEADLINE, subscribed)
            .await
            .expect("subscribed in time")
            .expect("the connection runs");
        Self {
            client,
            messages,
            kept: Vec::new(),
        }
    }

    /// The next message on one of `topics`, waiting up to [`DEADLINE`].
    async fn expect_any(&mut self, topics: &[String]) -> (String, Vec<u8>) {
        if let Some(i) = self.kept.iter().position(|(t, _)| topics.contains(t)) {
            return self.kept.remove(i);
        }
        let until = Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(until, self.messages.recv()).await {
                Ok(Some((topic, payload))) if topics.contains(&topic) => return (topic, payload),
                Ok(Some(other)) => self.kept.push(other),
                _ => panic!(
                    "nothing on {topics:?} within {DEADLINE:?}; seen: {:?}",
                    self.kept.iter().map(|(t, _)| t).collect::<Vec<_>>()
                ),
            }
        }
    }

    async fn expect(&mut self, topic: &str) -> Vec<u8> {
        self.expect_any(&[topic.to_owned()]).await.1
    }

    async fn call<Req: serde::Serialize>(&mut self, topic: &str, request: &Req) -> Vec<u8> {
        let payload = serde_json::to_vec(request).expect("JSON");
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("queued");
        let accepted = format!("{topic}/accepted");
        let (answered, payload) = self
            .expect_any(&[accepted.clone(), format!("{topic}/rejected")])
            .await;
        assert_eq!(answered, accepted, "{}", String::from_utf8_lossy(&payload));
        payload
    }

    /// CreateCertificateFromCsr, then RegisterThing with the default template and the device's
    /// serial and model: the certificate (PEM) and the thing name.
    async fn issue(&mut self, csr_der: Vec<u8>, label: &DeviceLabel) -> (String, String) {
        let request = CreateCertificateFromCsrRequest {
            certificate_signing_request: pem::encode(&pem::Pem::new(
                "CERTIFICATE REQUEST",
                csr_der,
            )),
        };
        let created: CreateCertificateFromCsrResponse =
            serde_json::from_slice(&self.call(CSR_TOPIC, &request).await).expect("a reply");
        let register = RegisterThingRequest {
            certificate_ownership_token: created.certificate_ownership_token,
            parameters: BTreeMap::from([
                ("SerialNumber".to_owned(), label.serial.clone()),
                ("Model".to_owned(), label.kind.as_str().to_owned()),
            ]),
        };
        let registered: RegisterThingResponse =
            serde_json::from_slice(&self.call(&register_topic(), &register).await)
                .expect("a reply");
        let thing = registered.thing_name.expect("the template names the thing");
        (created.certificate_pem, thing)
    }
}

/// The app's side of one provisioning link: a `ProvLink` and espprov's client session.
struct App {
    link: Box<dyn ProvLink>,
    session: Session,
    version: VersionInfo,
}

#[derive(Debug)]
enum Failed {
    Transport(TransportError),
    Protocol(companion_espprov::Error),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(error) => write!(f, "transport: {error}"),
            Self::Protocol(error) => write!(f, "protocol: {error}"),
        }
    }
}

impl From<TransportError> for Failed {
    fn from(error: TransportError) -> Self {
        Self::Transport(error)
    }
}

impl From<companion_espprov::Error> for Failed {
    fn from(error: companion_espprov::Error) -> Self {
        Self::Protocol(error)
    }
}

impl App {
    /// Connects, reads proto-ver and runs the handshake the device asks for with the label's
    /// secret (or `secret` instead).
    async fn open(radio: &dyn Radio, label: &DeviceLabel) -> Result<Self, Failed> {
        Self::open_with(radio, label, label.secret.clone()).await
    }

    async fn open_with(
        radio: &dyn Radio,
        label: &DeviceLabel,
        secret: companion_espprov::Secret,
    ) -> Result<Self, Failed> {
        let link = radio.connect(&label.id).await?;
        let version = VersionInfo::parse(&link.exchange(PROTO_VER, PROBE.to_vec()).await?)?;
        let mut rng = StdRng::seed_from_u64(label.serial.len() as u64);
        let mut session = match version.security_scheme()? {
            SecurityScheme::Sec0 => Session::sec0(),
            SecurityScheme::Sec1 => Session::sec1(secret, &mut rng),
            SecurityScheme::Sec2 => Session::sec2(
                label.username.clone().unwrap_or_default(),
                secret,
                version.sec2_patch()?,
                &mut rng,
            )?,
        };
        let mut request = session.start()?;
        loop {
            let answer = link.exchange(PROV_SESSION, request).await?;
            match session.handle_response(&answer)? {
                Step::Send(next) => request = next,
                Step::Established => break,
            }
        }
        Ok(Self {
            link,
            session,
            version,
        })
    }

    async fn sealed(&mut self, endpoint: &str, plain: &[u8]) -> Result<Vec<u8>, Failed> {
        let request = self.session.encrypt(plain)?;
        let answer = self.link.exchange(endpoint, request).await?;
        Ok(self.session.decrypt(&answer)?)
    }

    async fn config(&mut self, request: ConfigRequest) -> Result<ConfigResponse, Failed> {
        let answer = self.sealed(PROV_CONFIG, &request.encode()).await?;
        Ok(request.read_response(&answer)?)
    }

    async fn scan_request(&mut self, request: ScanRequest) -> Result<ScanResponse, Failed> {
        let answer = self.sealed(PROV_SCAN, &request.encode()).await?;
        Ok(request.read_response(&answer)?)
    }

    /// The device's Wi-Fi scan, as esp_prov does it over BLE: a blocking start, the status,
    /// then pages of four.
    async fn wifi_scan(&mut self) -> Result<Vec<AccessPoint>, Failed> {
        self.scan_request(ScanRequest::Start(ScanOptions::ble()))
            .await?;
        let ScanResponse::Status {
            finished: true,
            result_count,
        } = self.scan_request(ScanRequest::Status).await?
        else {
            panic!("a blocking scan is finished when it answers")
        };
        let mut found = Vec::new();
        for page in result_pages(result_count, BLE_PAGE_SIZE) {
            if let ScanResponse::Results(entries) = self.scan_request(page).await? {
                found.extend(entries);
            }
        }
        Ok(found)
    }

    async fn send_wifi(&mut self, ssid: &str, passphrase: &str) -> Result<(), Failed> {
        let credentials = WifiCredentials::new(ssid, Passphrase::from(passphrase))?;
        assert_eq!(
            self.config(ConfigRequest::SetConfig(credentials)).await?,
            ConfigResponse::ConfigSet
        );
        assert_eq!(
            self.config(ConfigRequest::ApplyConfig).await?,
            ConfigResponse::ConfigApplied
        );
        Ok(())
    }

    /// Polls the station until it is no longer connecting (each poll is a BLE round trip).
    async fn settle(&mut self) -> Result<StationStatus, Failed> {
        let until = Instant::now() + DEADLINE;
        loop {
            match self.config(ConfigRequest::GetStatus).await? {
                ConfigResponse::Status(StationStatus::Connecting { .. }) => {
                    assert!(
                        Instant::now() < until,
                        "still connecting after {DEADLINE:?}"
                    );
                }
                ConfigResponse::Status(status) => return Ok(status),
                other => panic!("not a status: {other:?}"),
            }
        }
    }

    async fn aws_iot(&mut self, request: &Request) -> Result<Response, Failed> {
        let answer = self.sealed(AWS_IOT, &request.encode()).await?;
        Ok(request.read_response(&answer)?)
    }

    /// `CmdGetInfo`, `CmdCreateCsr`, the `CmdReadCsr` chunks: the CSR (DER) and the chunk size.
    async fn csr(&mut self, common_name: &str) -> Result<(Vec<u8>, u32), Failed> {
        let Response::Info(info) = self.aws_iot(&Request::GetInfo).await? else {
            panic!("RespGetInfo")
        };
        assert!(
            !info.has_key && info.installed.is_none(),
            "a new device: {info:?}"
        );
        let request = Request::CreateCsr {
            common_name: common_name.to_owned(),
            new_key: false,
        };
        let Response::CsrCreated {
            csr_len,
            csr_sha256,
        } = self.aws_iot(&request).await?
        else {
            panic!("RespCreateCsr")
        };
        let mut csr = CsrAssembly::new(csr_len, csr_sha256);
        for request in read_csr_requests(csr_len, info.chunk_size()) {
            csr.push(&self.aws_iot(&request).await?)?;
        }
        Ok((csr.finish()?, info.chunk_size()))
    }
}

/// The whole flow on a device with the credential endpoint; returns the thing name.
async fn provision_fully(
    sandbox: &Sandbox,
    radio: &dyn Radio,
    cloud: &mut Cloud,
    label: &DeviceLabel,
    scheme: SecurityScheme,
) -> String {
    assert_eq!(radio.kind(), TransportKind::Simulated);
    let found = radio.scan(Duration::ZERO).await.expect("a scan");
    let seen = found
        .iter()
        .find(|d| d.id == label.id)
        .expect("the device advertises");
    assert_eq!(seen.name, label.name);
    assert!(seen.name.starts_with("PROV_") && seen.rssi.is_some());

    let mut app = App::open(radio, label).await.expect("a secure session");
    assert_eq!(app.version.security_scheme().expect("a scheme"), scheme);
    assert!(app.version.has_capability(capability::WIFI_SCAN));
    assert_eq!(
        app.version.app(credentials::APP_LABEL),
        Some(AppInfo {
            ver: "1".into(),
            cap: vec![credentials::CAP_CSR.into()]
        }),
        "the credential endpoint is advertised"
    );
    assert!(app.link.endpoints().contains(&AWS_IOT.to_owned()));

    let networks = app.wifi_scan().await.expect("the device's Wi-Fi scan");
    let ssids: Vec<&[u8]> = networks.iter().map(|ap| ap.ssid.as_slice()).collect();
    assert_eq!(
        ssids,
        [b"home".as_slice(), b"guest".as_slice()],
        "strongest first"
    );

    app.send_wifi("home", "correct horse battery")
        .await
        .expect("Wi-Fi sent");
    let StationStatus::Connected(joined) = app.settle().await.expect("a status") else {
        panic!("the station joins")
    };
    assert_eq!(joined.ssid, b"home");

    let expected_thing = format!("{}-{}", label.kind.as_str(), label.serial);
    let (csr, chunk) = app.csr(&expected_thing).await.expect("the CSR");
    let (certificate_pem, thing) = cloud.issue(csr, label).await;
    assert_eq!(thing, expected_thing, "{{Model}}-{{SerialNumber}}");
    let mtls = sandbox.mtls_address().expect("an mTLS listener");
    let installation = Installation {
        thing_name: thing.clone(),
        endpoint: "localhost".into(),
        port: mtls.port(),
        certificate: pem::parse(certificate_pem).expect("PEM").into_contents(),
        root_ca: pem::parse(sandbox.ca().cert_pem())
            .expect("PEM")
            .into_contents(),
    };
    installation.validate(4096).expect("a valid installation");
    for request in installation.requests(chunk) {
        app.aws_iot(&request).await.expect("installed");
    }
    let Response::Info(info) = app.aws_iot(&Request::GetInfo).await.expect("info") else {
        panic!("RespGetInfo")
    };
    assert_eq!(info.installed, Some((thing.clone(), "localhost".into())));
    app.link.close().await.expect("closed");

    let connected = format!("$aws/events/presence/connected/{thing}");
    let event: serde_json::Value =
        serde_json::from_slice(&cloud.expect(&connected).await).expect("JSON");
    assert_eq!(
        event["clientId"],
        thing.as_str(),
        "the thing name is the client id"
    );
    assert_eq!(event["thingName"], thing.as_str(), "a registered thing");
    let report: serde_json::Value = serde_json::from_slice(
        &cloud
            .expect(&format!("$aws/things/{thing}/shadow/update/accepted"))
            .await,
    )
    .expect("JSON");
    assert!(
        report["state"]["reported"]["firmware_version"].is_string(),
        "the first shadow report: {report}"
    );
    let status = sandbox.radio().status(&label.id).expect("a device");
    assert_eq!(
        status.cloud,
        CloudState::Running {
            thing_name: thing.clone()
        }
    );
    assert!(!status.advertising, "provisioned devices do not advertise");
    thing
}

fn device(serial: &str, kind: DeviceKind, security: SecuritySpec) -> DeviceSpec {
    DeviceSpec::new(serial, kind, security)
        .with_network(home())
        .with_network(Network::open("guest").with_rssi(-78))
        .with_wifi(quick_wifi())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_2_thermostat_is_provisioned_end_to_end_and_reports_its_shadow() {
    let (_dir, sandbox, radio) = sandbox("prov-sec2").await;
    let mut cloud = Cloud::connect(&sandbox).await;
    let label = radio
        .simulated()
        .add_device(device(
            "SN2001",
            DeviceKind::Thermostat,
            SecuritySpec::sec2("wifiprov", "abcd1234"),
        ))
        .expect("added");
    let thing = provision_fully(&sandbox, &radio, &mut cloud, &label, SecurityScheme::Sec2).await;
    let registered = sandbox
        .registry()
        .thing(&thing)
        .await
        .expect("the registry")
        .expect("registered by RegisterThing");
    assert_eq!(
        registered.attributes.get("serialNumber"),
        Some(&"SN2001".to_owned())
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_1_plug_is_provisioned_end_to_end_and_comes_online() {
    let (_dir, sandbox, radio) = sandbox("prov-sec1").await;
    let mut cloud = Cloud::connect(&sandbox).await;
    let label = radio
        .simulated()
        .add_device(device(
            "SN1001",
            DeviceKind::Plug,
            SecuritySpec::sec1("abcd1234"),
        ))
        .expect("added");
    provision_fully(&sandbox, &radio, &mut cloud, &label, SecurityScheme::Sec1).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pop_or_password_fails_the_handshake_cleanly_and_the_right_one_works() {
    let (_dir, sandbox, radio) = sandbox("prov-pop").await;
    for (serial, security) in [
        ("SN3001", SecuritySpec::sec1("abcd1234")),
        ("SN3002", SecuritySpec::sec2("wifiprov", "abcd1234")),
    ] {
        let label = radio
            .simulated()
            .add_device(device(serial, DeviceKind::Light, security))
            .expect("added");
        let wrong = App::open_with(&radio, &label, "wrong-secret".into())
            .await
            .err()
            .expect("a wrong secret fails");
        match &wrong {
            Failed::Transport(TransportError::Io(message)) => assert!(
                message.contains("prov-session") && message.contains("ATT error"),
                "{serial}: the device refuses the proof: {message}"
            ),
            other => panic!("{serial}: {other:?}"),
        }
        assert!(
            !format!("{wrong:?} {wrong}").contains("wrong-secret"),
            "no secret in errors"
        );
        let status = radio.simulated().status(&label.id).expect("a device");
        assert!(
            status.advertising && !status.session_established,
            "{serial}: nothing changed on the device: {status:?}"
        );
        let mut app = App::open(&radio, &label)
            .await
            .expect("the right secret works");
        assert_eq!(
            app.config(ConfigRequest::GetStatus).await.expect("status"),
            ConfigResponse::Status(StationStatus::Disconnected)
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_passphrase_gives_auth_error_and_a_retry_joins_without_starting_over() {
    let (_dir, sandbox, radio) = sandbox("prov-wifi").await;
    let label = radio
        .simulated()
        .add_device(device(
            "SN4001",
            DeviceKind::Plug,
            SecuritySpec::sec1("abcd1234"),
        ))
        .expect("added");
    let mut app = App::open(&radio, &label).await.expect("a session");

    app.send_wifi("home", "not the password")
        .await
        .expect("sent");
    assert_eq!(
        app.settle().await.expect("a status"),
        StationStatus::Failed(FailReason::AuthError)
    );
    app.send_wifi("no-such-network", "correct horse battery")
        .await
        .expect("sent on the same session");
    assert_eq!(
        app.settle().await.expect("a status"),
        StationStatus::Failed(FailReason::NetworkNotFound)
    );
    app.send_wifi("home", "correct horse battery")
        .await
        .expect("sent on the same session");
    assert!(
        matches!(
            app.settle().await.expect("a status"),
            StationStatus::Connected(_)
        ),
        "the retry joins"
    );
    let status = radio.simulated().status(&label.id).expect("a device");
    assert!(
        matches!(&status.wifi, WifiStatus::Connected { ssid, .. } if ssid == "home"),
        "{status:?}"
    );
    assert_eq!(status.cloud, CloudState::WaitingForIdentity);
    assert!(
        status.advertising || status.link_open,
        "still provisioning: no identity yet"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_without_the_credential_endpoint_is_provisioned_with_wifi_only() {
    let (_dir, sandbox, radio) = sandbox("prov-plain").await;
    let label = radio
        .simulated()
        .add_device(device("SN5001", DeviceKind::Light, SecuritySpec::sec1("abcd1234")).wifi_only())
        .expect("added");
    let mut app = App::open(&radio, &label).await.expect("a session");
    assert!(
        app.version.app(credentials::APP_LABEL).is_none(),
        "no aws-iot section in proto-ver: {:?}",
        app.version
    );
    assert!(!app.link.endpoints().contains(&AWS_IOT.to_owned()));
    assert!(matches!(
        app.link.exchange(AWS_IOT, vec![1]).await,
        Err(TransportError::NoEndpoint(endpoint)) if endpoint == AWS_IOT
    ));

    app.send_wifi("home", "correct horse battery")
        .await
        .expect("sent");
    assert!(matches!(
        app.settle().await.expect("a status"),
        StationStatus::Connected(_)
    ));
    app.link.close().await.expect("closed");
    let mut watch = radio.simulated().watch(&label.id).expect("a device");
    let done = tokio::time::timeout(DEADLINE, watch.wait_for(|s| !s.link_open))
        .await
        .expect("in time")
        .expect("watching")
        .clone();
    assert_eq!(
        done.cloud,
        CloudState::WifiOnly,
        "offline from the sandbox's view"
    );
    assert!(!done.advertising, "provisioning is over");
    assert!(
        radio
            .scan(Duration::ZERO)
            .await
            .expect("a scan")
            .iter()
            .all(|d| d.id != label.id)
    );
    assert!(
        sandbox
            .registry()
            .thing_names()
            .await
            .expect("the registry")
            .is_empty(),
        "no thing was registered"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_link_drop_surfaces_as_disconnected_and_a_new_session_resumes() {
    let (_dir, sandbox, radio) = sandbox("prov-drop").await;
    let spec = device("SN6001", DeviceKind::Plug, SecuritySpec::sec1("abcd1234")).with_wifi(
        WifiBehaviour {
            link_drop: LinkDropOnJoin::AfterReport,
            ..quick_wifi()
        },
    );
    let label = radio.simulated().add_device(spec).expect("added");
    assert!(
        radio
            .simulated()
            .inject_drop(&label.id, DropRule::on(PROV_CONFIG, 1))
    );

    let mut app = App::open(&radio, &label).await.expect("a session");
    let dropped = app.config(ConfigRequest::GetStatus).await;
    assert!(
        matches!(
            dropped,
            Err(Failed::Transport(TransportError::Disconnected(_)))
        ),
        "{dropped:?}"
    );
    assert!(
        matches!(
            app.link.exchange(PROTO_VER, PROBE.to_vec()).await,
            Err(TransportError::Disconnected(_))
        ),
        "the link stays down"
    );

    let mut app = App::open(&radio, &label)
        .await
        .expect("a new link and session");
    app.send_wifi("home", "correct horse battery")
        .await
        .expect("sent");
    assert!(matches!(
        app.settle().await.expect("reported"),
        StationStatus::Connected(_)
    ));
    assert!(
        matches!(
            app.config(ConfigRequest::GetStatus).await,
            Err(Failed::Transport(TransportError::Disconnected(_)))
        ),
        "the radio switched to Wi-Fi right after reporting Connected"
    );
    let mut app = App::open(&radio, &label)
        .await
        .expect("it still advertises: no identity yet");
    assert!(matches!(
        app.config(ConfigRequest::GetStatus).await,
        Ok(ConfigResponse::Status(StationStatus::Connected(_)))
    ));
    sandbox.shutdown().await;
}

/// The sandbox's radio served on loopback, for another process.
async fn served(sandbox: &Sandbox) -> (RadioServer, SandboxRadio) {
    let server = RadioServer::start(sandbox.radio(), "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("the radio server starts");
    let radio = SandboxRadio::new(server.address());
    (server, radio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_loopback_http_a_security_2_light_is_provisioned_end_to_end() {
    let (_dir, sandbox, local) = sandbox("prov-http").await;
    let (server, radio) = served(&sandbox).await;
    let mut cloud = Cloud::connect(&sandbox).await;
    let label = local
        .simulated()
        .add_device(device(
            "SN7001",
            DeviceKind::Light,
            SecuritySpec::sec2("wifiprov", "light-secret"),
        ))
        .expect("added");
    let entries = radio.scan_entries(Duration::ZERO).await.expect("a scan");
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].endpoints.contains(&AWS_IOT.to_owned()),
        "a scan lists the GATT database: {:?}",
        entries[0].endpoints
    );
    provision_fully(&sandbox, &radio, &mut cloud, &label, SecurityScheme::Sec2).await;
    server.shutdown().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_loopback_http_refusals_drops_and_busy_devices_map_to_the_transport_errors() {
    let (_dir, sandbox, local) = sandbox("prov-http-faults").await;
    let (server, radio) = served(&sandbox).await;
    let label = local
        .simulated()
        .add_device(device(
            "SN7002",
            DeviceKind::Plug,
            SecuritySpec::sec1("abcd1234"),
        ))
        .expect("added");

    match radio.connect("24:0A:C4:00:00:00").await {
        Err(TransportError::NotFound(id)) => assert_eq!(id, "24:0A:C4:00:00:00"),
        other => panic!("expected NotFound: {other:?}"),
    }
    match App::open_with(&radio, &label, "wrong-secret".into()).await {
        Err(Failed::Transport(TransportError::Io(message))) => {
            assert!(message.contains("ATT error 0x04"), "{message}");
        }
        other => panic!("expected the device's refusal: {:?}", other.err()),
    }

    // A second client finds the device taken while the first holds it.
    let first = radio.connect(&label.id).await.expect("connected");
    match radio.connect(&label.id).await {
        Err(TransportError::Io(message)) => {
            assert!(message.contains("another client"), "{message}");
        }
        other => panic!("expected busy: {other:?}"),
    }
    // Going away without a word (the TCP connection closes) frees the device.
    let mut watch = sandbox.radio().watch(&label.id).expect("a device");
    drop(first);
    tokio::time::timeout(DEADLINE, watch.wait_for(|s| !s.link_open && s.advertising))
        .await
        .expect("freed in time")
        .expect("the device is still there");

    // An injected drop ends the link; the next exchange says so without asking the server.
    assert!(
        local
            .simulated()
            .inject_drop(&label.id, DropRule::on(PROTO_VER, 1))
    );
    let link = radio.connect(&label.id).await.expect("connected again");
    assert!(matches!(
        link.exchange(PROTO_VER, PROBE.to_vec()).await,
        Err(TransportError::Disconnected(_))
    ));
    assert!(matches!(
        link.exchange(PROTO_VER, PROBE.to_vec()).await,
        Err(TransportError::Disconnected(_))
    ));
    assert_eq!(
        link.exchange("no-such-endpoint", Vec::new()).await,
        Err(TransportError::NoEndpoint("no-such-endpoint".into()))
    );
    link.close().await.expect("closed");

    let address = server.address();
    server.shutdown().await;
    match SandboxRadio::new(address).scan(Duration::ZERO).await {
        Err(TransportError::NoRadio(message)) => {
            assert!(message.contains("companion sandbox"), "{message}");
        }
        other => panic!("expected NoRadio once the server is gone: {other:?}"),
    }
    sandbox.shutdown().await;
}
