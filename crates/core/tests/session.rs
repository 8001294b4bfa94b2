//! The session and the connection doctor against real brokers on loopback: the sandbox's
//! embedded broker (plain and mutual TLS) and Mosquitto (Debian package `mosquitto`), on ports
//! the OS chooses. Every wait has a deadline; nothing sleeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use companion_core::doctor::Cause;
use companion_core::profile::{ConnectSpec, Limits, Roots, TlsSpec};
use companion_core::session::{
    ConnectionState, Message, Messages, Session, SessionError, SessionHandle, SessionOptions,
};
use companion_core::vault::{Identity, Sensitive};
use companion_sandbox::connect::TlsIdentity;
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::{Mosquitto, TempDir, free_port};
use rumqttc::QoS;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long any awaited event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// A TCP proxy in front of a broker that can go silent (to starve the keepalive) or, like AWS IoT
/// on MQTT 3.1.1, close the connection when a SUBSCRIBE names a filter containing `deny`.
struct Proxy {
    port: u16,
    silent: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: u16, deny: Option<&'static str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy binds");
        let port = listener.local_addr().expect("an address").port();
        let (silent, quiet) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream, deny, quiet.clone()));
            }
        });
        Self { port, silent, task }
    }

    /// Stops forwarding in both directions while keeping the sockets open.
    fn go_silent(&self) {
        self.silent.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    client: tokio::net::TcpStream,
    upstream: u16,
    deny: Option<&'static str>,
    quiet: watch::Receiver<bool>,
) {
    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = forward_packets(client_read, server_write, deny, quiet.clone()) => {}
        () = forward_packets(server_read, client_write, None, quiet) => {}
    }
}

/// Copies MQTT packets, dropping everything while `quiet`, and ends (closing both sides) on a
/// SUBSCRIBE whose bytes contain `deny`.
async fn forward_packets(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    deny: Option<&'static str>,
    quiet: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut pending = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if *quiet.borrow() {
            continue;
        }
        pending.extend_from_slice(&buffer[..read]);
        while let Some(length) = frame_length(&pending) {
            let frame: Vec<u8> = pending.drain(..length).collect();
            let denied = deny.is_some_and(|deny| {
                frame[0] >> 4 == 8 && frame.windows(deny.len()).any(|w| w == deny.as_bytes())
            });
            if denied || to.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

/// The length of the first complete MQTT packet in `bytes`, if it is all there.
fn frame_length(bytes: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, byte) in bytes.iter().skip(1).take(4).enumerate() {
        remaining += usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 1 + (i + 1) + remaining;
            return (bytes.len() >= total).then_some(total);
        }
    }
    None
}

async fn sandbox(dir: &TempDir) -> Sandbox {
    Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .expect("the sandbox starts")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A plain spec for the sandbox's plain listener, with AWS's limits (the sandbox mirrors AWS).
fn sandbox_plain(sandbox: &Sandbox, client_id: &str) -> ConnectSpec {
    let endpoint = sandbox.plain_endpoint();
    let mut spec = ConnectSpec::plain(endpoint.host, endpoint.port, client_id);
    spec.limits = Limits::aws();
    spec
}

/// A mutual-TLS spec to `host:port`, trusting `ca_pem`, presenting `identity` if given.
fn tls_spec(host: &str, port: u16, ca_pem: &str, identity: Option<&TlsIdentity>) -> ConnectSpec {
    let mut spec = ConnectSpec::plain(host, port, unique("tls"));
    spec.limits = Limits::aws();
    spec.tls = Some(TlsSpec {
        roots: Roots::from_pem(ca_pem).expect("the CA PEM parses"),
        identity: identity.map(|identity| {
            Arc::new(Identity {
                name: "test-identity".to_owned(),
                cert_pem: identity.cert_pem.clone(),
                key_pem: Sensitive::new(identity.key_pem.clone()),
            })
        }),
        alpn: None,
    });
    spec
}

/// A running session: its handle, its state and its loop's task.
struct Running {
    handle: SessionHandle,
    state: watch::Receiver<ConnectionState>,
    task: JoinHandle<ConnectionState>,
}

impl Running {
    fn start(spec: ConnectSpec) -> Self {
        Self::start_with(spec, SessionOptions::default())
    }

    fn start_with(spec: ConnectSpec, options: SessionOptions) -> Self {
        let (handle, session_loop) = Session::connect(spec, options).expect("the session is built");
        let state = handle.state();
        let task = tokio::spawn(session_loop.run());
        Self {
            handle,
            state,
            task,
        }
    }

    /// Waits until the state satisfies `want`; returns it.
    async fn until(
        &mut self,
        what: &str,
        want: impl FnMut(&ConnectionState) -> bool,
    ) -> ConnectionState {
        let seen = timeout(DEADLINE, self.state.wait_for(want))
            .await
            .map(|seen| seen.map(|state| state.clone()));
        match seen {
            Ok(seen) => seen.expect("the session loop is alive"),
            Err(_) => panic!(
                "timed out waiting for {what}; the state is {:?}",
                self.state.borrow()
            ),
        }
    }

    async fn connected(&mut self) {
        self.until("Connected", |s| {
            matches!(s, ConnectionState::Connected { .. })
        })
        .await;
    }

    /// Waits for a Reconnecting or Disconnected state with a diagnosis; returns its cause.
    async fn diagnosed(&mut self) -> (Cause, String) {
        let state = self
            .until("a diagnosis", |s| {
                matches!(
                    s,
                    ConnectionState::Reconnecting { .. }
                        | ConnectionState::Disconnected { cause: Some(_) }
                )
            })
            .await;
        match state {
            ConnectionState::Reconnecting { cause, .. }
            | ConnectionState::Disconnected { cause: Some(cause) } => {
                (cause.cause, format!("{} {}", cause.summary, cause.fix))
            }
            other => panic!("no diagnosis in {other:?}"),
        }
    }

    async fn stop(self) {
        self.handle.disconnect();
        let end = timeout(DEADLINE, self.task)
            .await
            .expect("the loop ends after disconnect")
            .expect("the loop does not panic");
        assert!(
            matches!(end, ConnectionState::Disconnected { .. }),
            "the loop ends disconnected, not {end:?}"
        );
    }
}

async fn next_message(messages: &Messages) -> Message {
    timeout(DEADLINE, messages.recv())
        .await
        .expect("a message arrives in time")
        .expect("the session is still running")
}

/// Subscribes `session` to `topic`, publishes from `publisher` and waits for the message.
async fn round_trip(session: &mut Running, publisher: &Running, topic: &str, payload: &str) {
    let messages = session.handle.messages();
    publisher
        .handle
        .publish(topic, payload.as_bytes().to_vec(), QoS::AtLeastOnce, false)
        .await
        .expect("the publish is queued");
    let message = next_message(&messages).await;
    assert_eq!(message.topic, topic, "the message comes on its topic");
    assert_eq!(
        message.payload.as_ref(),
        payload.as_bytes(),
        "the payload survives"
    );
}

async fn subscribed(session: &mut Running, topic: &str) {
    session
        .handle
        .subscribe(topic, QoS::AtLeastOnce)
        .await
        .expect("the subscribe is queued");
    // The SUBACK is not surfaced; a message from the session to itself proves the filter.
    let messages = session.handle.messages();
    session
        .handle
        .publish(topic, b"probe".to_vec(), QoS::AtLeastOnce, false)
        .await
        .expect("the probe is queued");
    let message = next_message(&messages).await;
    assert_eq!(message.payload.as_ref(), b"probe", "the probe comes back");
}

#[tokio::test]
async fn a_message_round_trips_through_the_sandbox_plain_listener() {
    let dir = TempDir::new("plain");
    let sandbox = sandbox(&dir).await;
    let mut subscriber = Running::start(sandbox_plain(&sandbox, &unique("sub")));
    let mut publisher = Running::start(sandbox_plain(&sandbox, &unique("pub")));
    subscriber.connected().await;
    publisher.connected().await;
    subscribed(&mut subscriber, "companion/test/plain").await;
    round_trip(&mut subscriber, &publisher, "companion/test/plain", "hello").await;
    subscriber.stop().await;
    publisher.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_message_round_trips_over_mutual_tls_with_an_identity_the_sandbox_issued() {
    let dir = TempDir::new("mtls");
    let sandbox = sandbox(&dir).await;
    let port = sandbox.mtls_address().expect("an mTLS listener").port();
    let identity = sandbox.issue_identity("core-mtls").expect("an identity");
    let mut session = Running::start(tls_spec(
        "localhost",
        port,
        &identity.ca_pem,
        Some(&identity),
    ));
    session.connected().await;
    subscribed(&mut session, "companion/test/mtls").await;
    session.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_message_round_trips_through_mosquitto() {
    let broker = Mosquitto::start().await;
    let mut subscriber =
        Running::start(ConnectSpec::plain("127.0.0.1", broker.port(), unique("s")));
    let mut publisher = Running::start(ConnectSpec::plain("127.0.0.1", broker.port(), unique("p")));
    subscriber.connected().await;
    publisher.connected().await;
    subscribed(&mut subscriber, "companion/test/mosquitto").await;
    round_trip(
        &mut subscriber,
        &publisher,
        "companion/test/mosquitto",
        "hi",
    )
    .await;
    subscriber.stop().await;
    publisher.stop().await;
}

#[tokio::test]
async fn a_flood_to_a_slow_consumer_drops_the_oldest_messages_and_counts_them() {
    const CAPACITY: usize = 100;
    const FLOOD: usize = 5_000;
    let broker = Mosquitto::start().await;
    let options = SessionOptions {
        inbox_capacity: CAPACITY,
        ..SessionOptions::default()
    };
    let spec = ConnectSpec::plain("127.0.0.1", broker.port(), unique("slow"));
    let mut consumer = Running::start_with(spec, options);
    let mut publisher = Running::start(ConnectSpec::plain("127.0.0.1", broker.port(), unique("p")));
    consumer.connected().await;
    publisher.connected().await;
    subscribed(&mut consumer, "companion/test/flood").await;
    for n in 0..FLOOD {
        let payload = format!("{n}").into_bytes();
        publisher
            .handle
            .publish("companion/test/flood", payload, QoS::AtMostOnce, false)
            .await
            .expect("the flood is queued");
    }
    publisher
        .handle
        .publish(
            "companion/test/flood",
            b"end".to_vec(),
            QoS::AtLeastOnce,
            false,
        )
        .await
        .expect("the end marker is queued");
    // Nobody has read a message yet; now drain until the marker.
    let messages = consumer.handle.messages();
    let mut received = 0;
    loop {
        assert!(
            messages.len() <= CAPACITY,
            "the queue never holds more than its capacity"
        );
        let message = next_message(&messages).await;
        if message.payload.as_ref() == b"end" {
            break;
        }
        received += 1;
    }
    let dropped = usize::try_from(messages.dropped()).expect("a small count");
    println!("flood of {FLOOD}: {received} delivered, {dropped} dropped (queue of {CAPACITY})");
    assert!(
        dropped > 0,
        "a consumer that reads nothing during a flood loses the oldest messages"
    );
    assert_eq!(
        received + dropped,
        FLOOD,
        "every message is either delivered or counted as dropped"
    );
    consumer.stop().await;
    publisher.stop().await;
}

#[tokio::test]
async fn after_mosquitto_restarts_on_the_same_port_the_session_reconnects_and_resubscribes() {
    let mut broker = Mosquitto::start().await;
    let port = broker.port();
    let mut subscriber = Running::start(ConnectSpec::plain("127.0.0.1", port, unique("s")));
    subscriber.connected().await;
    subscribed(&mut subscriber, "companion/test/restart").await;
    let mut measured = Vec::new();
    for round in 1..=3 {
        broker.stop().await;
        let (cause, text) = subscriber.diagnosed().await;
        assert!(
            matches!(cause, Cause::ClosedByBroker | Cause::TcpRefused),
            "round {round}: a killed broker is a closed link or a refused port, not {cause:?} ({text})"
        );
        let state = subscriber
            .until("a refused retry", |s| {
                matches!(s, ConnectionState::Reconnecting { cause, .. } if cause.cause == Cause::TcpRefused)
            })
            .await;
        let ConnectionState::Reconnecting { attempt, .. } = state else {
            unreachable!("the wait matched Reconnecting")
        };
        broker = Mosquitto::start_on(port).await;
        let restarted = Instant::now();
        subscriber.connected().await;
        let elapsed = restarted.elapsed();
        let bound = SessionOptions::default().backoff.ceiling(attempt + 1) + Duration::from_secs(2);
        println!(
            "round {round}: reconnected and resubscribed {} ms after the broker listened again (retry {attempt} was pending; bound {} ms = ceiling of retry {} + 2 s)",
            elapsed.as_millis(),
            bound.as_millis(),
            attempt + 1
        );
        assert!(
            elapsed <= bound,
            "round {round}: reconnected within the backoff bound ({elapsed:?} > {bound:?})"
        );
        measured.push(elapsed);
        let mut publisher = Running::start(ConnectSpec::plain("127.0.0.1", port, unique("p")));
        publisher.connected().await;
        let payload = format!("after restart {round}");
        round_trip(
            &mut subscriber,
            &publisher,
            "companion/test/restart",
            &payload,
        )
        .await;
        publisher.stop().await;
    }
    measured.sort();
    println!(
        "reconnect from broker back to resubscribed: median {} ms over {} restarts",
        measured[measured.len() / 2].as_millis(),
        measured.len()
    );
    subscriber.stop().await;
}

#[tokio::test]
async fn after_the_sandbox_restarts_on_the_same_port_the_session_reconnects_and_resubscribes() {
    let dir = TempDir::new("sandbox-restart");
    let sandbox = sandbox(&dir).await;
    let plain = sandbox.plain_endpoint();
    let listen = SocketAddr::from(([127, 0, 0, 1], plain.port));
    let mut subscriber = Running::start(sandbox_plain(&sandbox, &unique("s")));
    subscriber.connected().await;
    subscribed(&mut subscriber, "companion/test/sandbox-restart").await;
    sandbox.shutdown().await;
    let (cause, text) = subscriber.diagnosed().await;
    assert!(
        matches!(cause, Cause::ClosedByBroker | Cause::TcpRefused),
        "a stopped sandbox is a closed link or a refused port, not {cause:?} ({text})"
    );
    let mut config = SandboxConfig::new(dir.path());
    config.plain_listen = listen;
    let sandbox = Sandbox::start(config)
        .await
        .expect("the sandbox starts again on its port");
    let restarted = Instant::now();
    subscriber.connected().await;
    println!(
        "sandbox restart: reconnected and resubscribed {} ms after it listened again",
        restarted.elapsed().as_millis()
    );
    let mut publisher = Running::start(sandbox_plain(&sandbox, &unique("p")));
    publisher.connected().await;
    round_trip(
        &mut subscriber,
        &publisher,
        "companion/test/sandbox-restart",
        "back",
    )
    .await;
    publisher.stop().await;
    subscriber.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_doctor_says_subscribe_denied_when_the_broker_drops_the_link_after_a_subscribe() {
    let broker = Mosquitto::start().await;
    let proxy = Proxy::start(broker.port(), Some("companion/denied")).await;
    let mut session = Running::start(ConnectSpec::plain("127.0.0.1", proxy.port, unique("deny")));
    session.connected().await;
    subscribed(&mut session, "companion/test/allowed").await;
    session
        .handle
        .subscribe("companion/denied/#", QoS::AtLeastOnce)
        .await
        .expect("the subscribe is queued");
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::SubscribeDenied,
        "closed right after a SUBSCRIBE: {text}"
    );
    assert!(
        text.contains("companion/denied/#") && text.contains("iot:Subscribe"),
        "the diagnosis names the filter and the policy action: {text}"
    );
    session.connected().await;
    let filters: Vec<String> = session
        .handle
        .subscriptions()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(
        filters,
        vec!["companion/test/allowed".to_owned()],
        "the denied filter is dropped so the session does not reconnect in a loop"
    );
    let publisher = Running::start(ConnectSpec::plain("127.0.0.1", broker.port(), unique("p")));
    let mut publisher = publisher;
    publisher.connected().await;
    round_trip(
        &mut session,
        &publisher,
        "companion/test/allowed",
        "still here",
    )
    .await;
    publisher.stop().await;
    session.stop().await;
}

#[tokio::test]
async fn the_doctor_says_keepalive_timeout_when_the_broker_stops_answering_pings() {
    let broker = Mosquitto::start().await;
    let proxy = Proxy::start(broker.port(), None).await;
    let mut spec = ConnectSpec::plain("127.0.0.1", proxy.port, unique("ka"));
    spec.keepalive = Duration::from_secs(5);
    let mut session = Running::start(spec);
    session.connected().await;
    proxy.go_silent();
    let silent = Instant::now();
    // One keepalive until the PINGREQ, one more until rumqttc gives up on its PINGRESP.
    let state = timeout(
        Duration::from_secs(25),
        session
            .state
            .wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await
    .expect("the dead link is noticed within two keepalives")
    .expect("the session loop is alive")
    .clone();
    let ConnectionState::Reconnecting { cause, .. } = state else {
        unreachable!("the wait matched Reconnecting")
    };
    println!(
        "keepalive timeout noticed after {} ms",
        silent.elapsed().as_millis()
    );
    assert_eq!(cause.cause, Cause::KeepaliveTimeout, "{cause}");
    assert!(
        cause.summary.contains("keepalive 5 s"),
        "the keepalive is named: {}",
        cause.summary
    );
    session.stop().await;
}

#[tokio::test]
async fn the_doctor_says_tcp_refused_when_nothing_listens() {
    let mut session = Running::start(ConnectSpec::plain("127.0.0.1", free_port(), unique("r")));
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::TcpRefused,
        "a closed port is refused TCP: {text}"
    );
    assert!(
        matches!(
            session.handle.current_state(),
            ConnectionState::Reconnecting { .. }
        ),
        "a refused port is retried"
    );
    session.stop().await;
}

#[tokio::test]
async fn the_doctor_says_dns_failure_for_a_name_that_does_not_resolve() {
    let mut session = Running::start(ConnectSpec::plain(
        "broker.nonexistent.invalid",
        1883,
        unique("d"),
    ));
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::DnsFailure,
        "an .invalid name does not resolve: {text}"
    );
    session.stop().await;
}

#[tokio::test]
async fn the_doctor_says_unknown_ca_when_the_server_certificate_is_from_another_ca() {
    let dir = TempDir::new("unknown-ca");
    let sandbox = sandbox(&dir).await;
    let port = sandbox.mtls_address().expect("an mTLS listener").port();
    let identity = sandbox
        .issue_identity("core-unknown-ca")
        .expect("an identity");
    let mut session = Running::start(tls_spec(
        "localhost",
        port,
        &other_ca_pem(),
        Some(&identity),
    ));
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::UnknownServerCa,
        "another CA is unknown: {text}"
    );
    assert!(
        matches!(
            session.handle.current_state(),
            ConnectionState::Disconnected { .. }
        ),
        "an untrusted CA is not retried"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_doctor_says_name_mismatch_when_connecting_by_an_address_the_certificate_lacks() {
    // The sandbox's server certificate names localhost and 127.0.0.1 only.
    let dir = TempDir::new("name");
    let mut config = SandboxConfig::new(dir.path());
    config.mtls_listen = SocketAddr::from(([127, 0, 0, 2], 0));
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let port = sandbox.mtls_address().expect("an mTLS listener").port();
    let identity = sandbox.issue_identity("core-name").expect("an identity");
    let mut session = Running::start(tls_spec(
        "127.0.0.2",
        port,
        &identity.ca_pem,
        Some(&identity),
    ));
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::ServerNameMismatch,
        "127.0.0.2 is not in the certificate: {text}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_doctor_says_client_certificate_missing_on_the_mtls_listener_without_one() {
    let dir = TempDir::new("no-cert");
    let sandbox = sandbox(&dir).await;
    let port = sandbox.mtls_address().expect("an mTLS listener").port();
    let ca = std::fs::read_to_string(sandbox.ca_pem_path()).expect("the sandbox CA");
    let mut session = Running::start(tls_spec("localhost", port, &ca, None));
    let (cause, text) = session.diagnosed().await;
    assert_eq!(
        cause,
        Cause::ClientCertificateMissing,
        "no certificate was sent: {text}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_doctor_says_taken_over_when_a_second_session_uses_the_same_client_id() {
    let dir = TempDir::new("takeover");
    let sandbox = sandbox(&dir).await;
    let id = unique("twin");
    let mut observer = Running::start(sandbox_plain(&sandbox, &unique("observer")));
    observer.connected().await;
    let presence = format!("$aws/events/presence/disconnected/{id}");
    observer
        .handle
        .subscribe(presence, QoS::AtLeastOnce)
        .await
        .expect("the observer subscribes");
    // Its next SUBSCRIBE is answered after the first: the probe proves both are in place.
    subscribed(&mut observer, "companion/test/observer").await;
    let mut first = Running::start(sandbox_plain(&sandbox, &id));
    first.connected().await;
    let mut second = Running::start(sandbox_plain(&sandbox, &id));
    let end = first
        .until("the first session to stop", |s| {
            matches!(s, ConnectionState::Disconnected { .. })
        })
        .await;
    let ConnectionState::Disconnected {
        cause: Some(diagnosis),
    } = end
    else {
        panic!("the first session stops with a diagnosis, not {end:?}");
    };
    assert_eq!(diagnosis.cause, Cause::ClientIdTakenOver, "{diagnosis}");
    assert!(
        diagnosis.summary.contains("took this session over"),
        "the summary says taken over: {}",
        diagnosis.summary
    );
    second.connected().await;
    let event = next_message(&observer.handle.messages()).await;
    let text = String::from_utf8_lossy(&event.payload).into_owned();
    assert!(
        text.contains("DUPLICATE_CLIENTID"),
        "the sandbox reports the takeover in its lifecycle event: {text}"
    );
    second.stop().await;
    observer.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_oversize_publish_is_refused_before_sending_and_the_session_stays_up() {
    let dir = TempDir::new("oversize");
    let sandbox = sandbox(&dir).await;
    let mut session = Running::start(sandbox_plain(&sandbox, &unique("big")));
    session.connected().await;
    let payload = vec![b'x'; 128 * 1024 + 1];
    let refused = session
        .handle
        .publish("companion/test/big", payload, QoS::AtLeastOnce, false)
        .await;
    let Err(SessionError::Refused(diagnosis)) = refused else {
        panic!("an oversize payload is refused, not {refused:?}");
    };
    assert_eq!(diagnosis.cause, Cause::PayloadTooLarge, "{diagnosis}");
    assert!(
        diagnosis.summary.contains("131072 bytes"),
        "the limit is named: {}",
        diagnosis.summary
    );
    subscribed(&mut session, "companion/test/big").await;
    session.stop().await;
    sandbox.shutdown().await;
}

/// A CA certificate no server here uses.
fn other_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Some Other CA");
    params.self_signed(&key).expect("a self-signed CA").pem()
}
