//! The sandbox's device gateway: the public plain and mutual-TLS listeners. Every client
//! connection is relayed, packet by packet, to the embedded broker's private port.
//!
//! It exists because rumqttd cannot serve `$aws/...` topics nor report connections (see
//! [`crate::broker`]). For each connection it
//!
//! * on the mTLS listener, requires a client certificate that chains to the sandbox CA and
//!   takes its certificate id (SHA-256 of the DER) as the principal; a certificate the
//!   registry holds as anything but ACTIVE (issued by fleet provisioning and not registered, or
//!   whose ownership token expired) is refused, as AWS refuses inactive certificates;
//!   certificates the registry does not know
//!   (e.g. from [`crate::ca::LocalCa::issue_identity`]) are accepted;
//! * reads the CONNECT for the client id, and reports the connection, its acknowledged
//!   subscriptions and its end (with AWS's disconnect reason) as [`PresenceEvent`]s for the
//!   lifecycle service;
//! * rewrites `$` topics and filters to [`INTERNAL_DOLLAR_PREFIX`] towards the broker and back
//!   towards the client, refuses a client that uses the internal prefix itself (AWS closes the
//!   connection on a forbidden topic), and drops deliveries of `$` topics that reached the
//!   client only through a filter starting with a wildcard (MQTT 3.1.1 §4.7.2), acknowledging
//!   them to the broker itself.
//!
//! Packets are parsed with `rumqttc::mqttbytes::v4`; MQTT 5 clients are refused (the broker
//! behind speaks 3.1.1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use companion_awsiot::lifecycle::DisconnectReason;
use rumqttc::tokio_rustls::TlsAcceptor;
use rumqttc::{ConnectReturnCode, Packet, PubAck};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::broker::{INTERNAL_DOLLAR_PREFIX, MAX_PACKET_BYTES};
use crate::ca::{CertifiedKey, certificate_id};
use crate::db::{CertificateStatus, Registry};
use crate::services::SERVICE_CLIENT_PREFIX;

/// Longest time a new connection may take for its TLS handshake and CONNECT.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Principal reported for clients of the plain listener, which present no certificate.
pub const PLAIN_PRINCIPAL: &str = "anonymous";

/// A connection's start or end, for the lifecycle service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// The broker accepted a CONNECT.
    Connected {
        /// Unique per connection.
        session: String,
        /// The MQTT client id.
        client_id: String,
        /// The client certificate's id, or [`PLAIN_PRINCIPAL`].
        principal: String,
        /// The client's IP address.
        ip_address: String,
    },
    /// The broker acknowledged a SUBSCRIBE (granted filters) or an UNSUBSCRIBE.
    Subscriptions {
        /// The session.
        session: String,
        /// The MQTT client id.
        client_id: String,
        /// SUBSCRIBE (true) or UNSUBSCRIBE (false).
        subscribed: bool,
        /// The filters, as the client sent them.
        topics: Vec<String>,
    },
    /// The connection ended.
    Disconnected {
        /// The session that ended.
        session: String,
        /// The MQTT client id.
        client_id: String,
        /// Why, in AWS's terms.
        reason: DisconnectReason,
    },
}

impl PresenceEvent {
    /// The MQTT client id the event is about.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Connected { client_id, .. }
            | Self::Subscriptions { client_id, .. }
            | Self::Disconnected { client_id, .. } => client_id,
        }
    }
}

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A listen address could not be bound.
    #[error("cannot listen on {address}: {source}; choose another address or free the port")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS material was unusable.
    #[error("cannot set up the mTLS listener: {0}")]
    Tls(String),
}

/// What the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The embedded broker's private address.
    pub upstream: SocketAddr,
    /// Plain listener address (port 0 for any free port).
    pub plain_listen: SocketAddr,
    /// mTLS listener address (port 0 for any free port).
    pub mtls_listen: SocketAddr,
    /// The server certificate and key of the mTLS listener.
    pub server_identity: CertifiedKey,
    /// The CA client certificates must chain to.
    pub ca_pem: String,
    /// Where connects and disconnects are reported (dropped with a warning when full).
    pub events: mpsc::Sender<PresenceEvent>,
    /// The registry consulted for certificate status, if any.
    pub registry: Option<Registry>,
}

/// The running listeners.
#[derive(Debug)]
pub struct Gateway {
    plain: SocketAddr,
    mtls: SocketAddr,
    shutdown: watch::Sender<bool>,
    outage: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    registry: Option<Registry>,
    events: mpsc::Sender<PresenceEvent>,
    shutdown: watch::Receiver<bool>,
    /// While `true`, the listeners refuse connections and every relayed one is closed: a
    /// network outage between the clients and AWS IoT.
    outage: watch::Receiver<bool>,
    /// The newest session (by generation) of each client id, to tell a takeover by a second
    /// connection with the same id (AWS: DUPLICATE_CLIENTID) from other broker closes.
    owners: Mutex<HashMap<String, u64>>,
    generations: AtomicU64,
}

impl Shared {
    /// Makes a new session the owner of `client_id`; returns its generation.
    fn claim(&self, client_id: &str) -> u64 {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        self.owners().insert(client_id.to_owned(), generation);
        generation
    }

    /// Ends session `generation` of `client_id`: a broker close after a newer session took the
    /// id over is AWS's DUPLICATE_CLIENTID.
    fn end(&self, client_id: &str, generation: u64, reason: DisconnectReason) -> DisconnectReason {
        let superseded = self
            .owners()
            .get(client_id)
            .is_some_and(|owner| *owner != generation);
        self.release(client_id, generation);
        if superseded && reason == DisconnectReason::ServerInitiatedDisconnect {
            DisconnectReason::DuplicateClientId
        } else {
            reason
        }
    }

    /// Forgets `client_id` if `generation` still owns it.
    fn release(&self, client_id: &str, generation: u64) {
        let mut owners = self.owners();
        if owners.get(client_id) == Some(&generation) {
            owners.remove(client_id);
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Gateway {
    /// Binds both listeners and starts accepting.
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_tls(&config)?));
        let plain = bind(config.plain_listen).await?;
        let mtls = bind(config.mtls_listen).await?;
        let (shutdown, receiver) = watch::channel(false);
        let (outage, outage_receiver) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: config.upstream,
            registry: config.registry,
            events: config.events,
            shutdown: receiver,
            outage: outage_receiver,
            owners: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
        });
        let addresses = (
            local(&plain, config.plain_listen),
            local(&mtls, config.mtls_listen),
        );
        let listeners = vec![
            tokio::spawn(accept_loop(plain, None, shared.clone())),
            tokio::spawn(accept_loop(mtls, Some(acceptor), shared)),
        ];
        Ok(Self {
            plain: addresses.0,
            mtls: addresses.1,
            shutdown,
            outage,
            listeners,
        })
    }

    /// The plain listener's address.
    pub fn plain_address(&self) -> SocketAddr {
        self.plain
    }

    /// The mTLS listener's address.
    pub fn mtls_address(&self) -> SocketAddr {
        self.mtls
    }

    /// Starts (`true`) or ends a network outage: while it lasts, every relayed connection is
    /// closed and new ones are refused, as if the network between the clients and AWS IoT
    /// were down. Clients reconnect by themselves once it ends.
    pub fn set_outage(&self, on: bool) {
        self.outage.send_replace(on);
    }

    /// Whether an outage is under way.
    pub fn in_outage(&self) -> bool {
        *self.outage.borrow()
    }

    /// Stops accepting and closes every relayed connection.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
    }
}

/// Resolves once a network outage is on.
async fn outage_starts(outage: &mut watch::Receiver<bool>) {
    if outage.wait_for(|on| *on).await.is_err() {
        // The gateway is gone; its shutdown ends the relay.
        std::future::pending::<()>().await;
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| GatewayError::Bind { address, source })
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

fn server_tls(config: &GatewayConfig) -> Result<rustls::ServerConfig, GatewayError> {
    let tls = |e: &dyn std::fmt::Display| GatewayError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(config.ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let chain = CertificateDer::pem_slice_iter(config.server_identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(config.server_identity.key_pem.as_bytes())
        .map_err(|e| tls(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls(&e))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            // During an outage the connection is dropped at once: the client sees a reset.
            Ok((stream, peer)) if *shared.outage.borrow() => {
                tracing::debug!(%peer, "refused: network outage");
                drop(stream);
            }
            Ok((stream, peer)) => {
                tokio::spawn(handle(stream, peer, tls.clone(), shared.clone()));
            }
            Err(error) => tracing::warn!(%error, "gateway accept failed"),
        }
    }
}

async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve(stream, peer, PLAIN_PRINCIPAL.to_owned(), &shared).await;
    };
    let stream = match timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "mTLS handshake refused");
            return;
        }
        Err(_) => return,
    };
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| certificate_id(cert))
        .unwrap_or_else(|| PLAIN_PRINCIPAL.to_owned());
    if is_inactive(&shared, &principal).await {
        tracing::info!(%peer, certificate = %principal, "refused: the certificate is not active");
        return;
    }
    serve(stream, peer, principal, &shared).await;
}

/// Whether the registry knows `certificate_id` with a status other than ACTIVE.
async fn is_inactive(shared: &Shared, certificate_id: &str) -> bool {
    let Some(registry) = &shared.registry else {
        return false;
    };
    match registry.certificate_status(certificate_id).await {
        Ok(status) => status.is_some_and(|s| s != CertificateStatus::Active.as_str()),
        Err(error) => {
            tracing::warn!(%error, "certificate status unknown; the connection is allowed");
            false
        }
    }
}

/// Relays one client connection until either side ends it.
async fn serve<S>(client: S, peer: SocketAddr, principal: String, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (reader, mut client_out) = tokio::io::split(client);
    let mut client_in = PacketReader::new(reader);
    let connect = match timeout(HANDSHAKE_DEADLINE, client_in.next()).await {
        Ok(Ok(Some(Packet::Connect(connect)))) => connect,
        _ => return,
    };
    let (client_id, keep_alive) = (connect.client_id.clone(), connect.keep_alive);
    let generation = shared.claim(&client_id);
    let Some((mut upstream_in, mut upstream_out)) =
        open_upstream(connect, &mut client_out, shared).await
    else {
        shared.release(&client_id, generation);
        return;
    };
    let session = uuid::Uuid::new_v4().to_string();
    report(
        shared,
        PresenceEvent::Connected {
            session: session.clone(),
            client_id: client_id.clone(),
            principal,
            ip_address: peer.ip().to_string(),
        },
    );
    let mut relay = Relay {
        filters: Vec::new(),
        keep_alive,
        last_client_packet: Instant::now(),
        pending: HashMap::new(),
        session: session.clone(),
        client_id: client_id.clone(),
        events: shared.events.clone(),
    };
    let reason = relay
        .run(
            &mut client_in,
            &mut client_out,
            &mut upstream_in,
            &mut upstream_out,
            shared,
        )
        .await;
    let _ = client_out.shutdown().await;
    let reason = shared.end(&client_id, generation, reason);
    report(
        shared,
        PresenceEvent::Disconnected {
            session,
            client_id,
            reason,
        },
    );
}

type Upstream = (PacketReader<QuickAck>, OwnedWriteHalf);

/// Opens the broker side of a session: sends the (translated) CONNECT and passes the broker's
/// CONNACK to the client. `None` when the broker is unreachable or refused the client.
async fn open_upstream<W: AsyncWrite + Unpin>(
    connect: rumqttc::Connect,
    client_out: &mut W,
    shared: &Shared,
) -> Option<Upstream> {
    let connect = translate_connect(connect).ok()?;
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else {
        tracing::error!("the gateway cannot reach the embedded broker");
        return None;
    };
    let _ = upstream.set_nodelay(true);
    let (reader, mut upstream_out) = upstream.into_split();
    let mut upstream_in = PacketReader::new(QuickAck(reader));
    send(&mut upstream_out, &Packet::Connect(connect))
        .await
        .ok()?;
    let Ok(Ok(Some(Packet::ConnAck(ack)))) = timeout(HANDSHAKE_DEADLINE, upstream_in.next()).await
    else {
        return None;
    };
    let accepted = ack.code == ConnectReturnCode::Success;
    send(client_out, &Packet::ConnAck(ack)).await.ok()?;
    accepted.then_some((upstream_in, upstream_out))
}

fn report(shared: &Shared, event: PresenceEvent) {
    if event.client_id().starts_with(SERVICE_CLIENT_PREFIX) {
        return;
    }
    match shared.events.try_send(event) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!("lifecycle event dropped: the lifecycle service is behind");
        }
        // The lifecycle service has stopped: the sandbox is shutting down.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

fn translate_connect(mut connect: rumqttc::Connect) -> Result<rumqttc::Connect, Forbidden> {
    if let Some(will) = connect.last_will.as_mut() {
        will.topic = to_internal(&will.topic)?;
    }
    Ok(connect)
}

/// A client used a topic it may not use.
#[derive(Debug)]
struct Forbidden;

/// One relayed session's state: the client's own filters, to apply the `$` rule.
struct Relay {
    filters: Vec<String>,
    keep_alive: u16,
    last_client_packet: Instant,
    /// SUBSCRIBE (true) or UNSUBSCRIBE (false) filters by packet id, until the broker acks.
    pending: HashMap<u16, (bool, Vec<String>)>,
    session: String,
    client_id: String,
    events: mpsc::Sender<PresenceEvent>,
}

impl Relay {
    async fn run<CR, CW, UR, UW>(
        &mut self,
        client_in: &mut PacketReader<CR>,
        client_out: &mut CW,
        upstream_in: &mut PacketReader<UR>,
        upstream_out: &mut UW,
        shared: &Shared,
    ) -> DisconnectReason
    where
        CR: AsyncRead + Unpin,
        CW: AsyncWrite + Unpin,
        UR: AsyncRead + Unpin,
        UW: AsyncWrite + Unpin,
    {
        let mut shutdown = shared.shutdown.clone();
        let mut outage = shared.outage.clone();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return DisconnectReason::ServerInitiatedDisconnect,
                () = outage_starts(&mut outage) => return DisconnectReason::ConnectionLost,
                packet = client_in.next() => {
                    if let Err(reason) = self.on_client_packet(packet, upstream_out).await {
                        return reason;
                    }
                }
                packet = upstream_in.next() => {
                    if let Err(reason) = self.on_broker_packet(packet, client_out, upstream_out).await {
                        return reason;
                    }
                }
            }
        }
    }

    async fn on_client_packet<W: AsyncWrite + Unpin>(
        &mut self,
        packet: Result<Option<Packet>, ReadError>,
        upstream_out: &mut W,
    ) -> Result<(), DisconnectReason> {
        self.last_client_packet = Instant::now();
        let packet = match packet {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(ReadError::Io) => return Err(DisconnectReason::ConnectionLost),
            Err(ReadError::Malformed) => return Err(DisconnectReason::ClientError),
        };
        if matches!(packet, Packet::Connect(_)) {
            // A second CONNECT is a protocol violation (AWS: CLIENT_ERROR).
            return Err(DisconnectReason::ClientError);
        }
        let disconnect = matches!(packet, Packet::Disconnect);
        let packet = self
            .inbound(packet)
            .map_err(|Forbidden| DisconnectReason::ForbiddenAccess)?;
        send(upstream_out, &packet)
            .await
            .map_err(|_| DisconnectReason::ServerError)?;
        if disconnect {
            return Err(DisconnectReason::ClientInitiatedDisconnect);
        }
        Ok(())
    }

    async fn on_broker_packet<CW, UW>(
        &mut self,
        packet: Result<Option<Packet>, ReadError>,
        client_out: &mut CW,
        upstream_out: &mut UW,
    ) -> Result<(), DisconnectReason>
    where
        CW: AsyncWrite + Unpin,
        UW: AsyncWrite + Unpin,
    {
        let Ok(Some(packet)) = packet else {
            return Err(self.broker_closed());
        };
        match self.outbound(packet) {
            Outbound::Deliver(packet) => send(client_out, &packet)
                .await
                .map_err(|_| DisconnectReason::ConnectionLost),
            Outbound::Drop(Some(ack)) => send(upstream_out, &Packet::PubAck(ack))
                .await
                .map_err(|_| DisconnectReason::ServerError),
            Outbound::Drop(None) => Ok(()),
        }
    }

    /// The broker closed the connection: after 1.5 × keepalive of client silence that is the
    /// keepalive timeout; otherwise the broker ended it (e.g. another connection took the id).
    fn broker_closed(&self) -> DisconnectReason {
        let limit = Duration::from_millis(u64::from(self.keep_alive) * 1500);
        if self.keep_alive > 0 && self.last_client_packet.elapsed() >= limit {
            DisconnectReason::MqttKeepAliveTimeout
        } else {
            DisconnectReason::ServerInitiatedDisconnect
        }
    }

    fn inbound(&mut self, packet: Packet) -> Result<Packet, Forbidden> {
        Ok(match packet {
            Packet::Publish(mut publish) => {
                publish.topic = to_internal(&publish.topic)?;
                Packet::Publish(publish)
            }
            Packet::Subscribe(mut subscribe) => {
                let mut asked = Vec::with_capacity(subscribe.filters.len());
                for filter in &mut subscribe.filters {
                    let internal = to_internal(&filter.path)?;
                    asked.push(std::mem::replace(&mut filter.path, internal));
                }
                self.filters.extend(asked.iter().cloned());
                self.pending.insert(subscribe.pkid, (true, asked));
                Packet::Subscribe(subscribe)
            }
            Packet::Unsubscribe(mut unsubscribe) => {
                let asked = unsubscribe.topics.clone();
                for topic in &mut unsubscribe.topics {
                    self.filters.retain(|f| f != topic);
                    *topic = to_internal(topic)?;
                }
                self.pending.insert(unsubscribe.pkid, (false, asked));
                Packet::Unsubscribe(unsubscribe)
            }
            other => other,
        })
    }

    fn outbound(&mut self, packet: Packet) -> Outbound {
        let mut publish = match packet {
            Packet::Publish(publish) => publish,
            Packet::SubAck(ack) => {
                self.acknowledged(ack.pkid, &ack.return_codes);
                return Outbound::Deliver(Packet::SubAck(ack));
            }
            Packet::UnsubAck(ack) => {
                self.acknowledged(ack.pkid, &[]);
                return Outbound::Deliver(Packet::UnsubAck(ack));
            }
            other => return Outbound::Deliver(other),
        };
        publish.topic = to_external(&publish.topic);
        if publish.topic.starts_with('$')
            && !self.filters.iter().any(|f| dollar_match(&publish.topic, f))
        {
            let ack = (publish.qos != rumqttc::QoS::AtMostOnce).then(|| PubAck::new(publish.pkid));
            return Outbound::Drop(ack);
        }
        Outbound::Deliver(Packet::Publish(publish))
    }
}

impl Relay {
    /// Reports the filters of an acknowledged SUBSCRIBE (those granted) or UNSUBSCRIBE.
    fn acknowledged(&mut self, pkid: u16, codes: &[rumqttc::SubscribeReasonCode]) {
        let Some((subscribe, asked)) = self.pending.remove(&pkid) else {
            return;
        };
        let granted =
            |i: &usize| !matches!(codes.get(*i), Some(rumqttc::SubscribeReasonCode::Failure));
        let topics: Vec<String> = asked
            .into_iter()
            .enumerate()
            .filter(|(i, _)| granted(i))
            .map(|(_, f)| f)
            .collect();
        if topics.is_empty() {
            return;
        }
        let event = PresenceEvent::Subscriptions {
            session: self.session.clone(),
            client_id: self.client_id.clone(),
            subscribed: subscribe,
            topics,
        };
        if self.events.try_send(event).is_err() {
            tracing::warn!("subscription event dropped: the lifecycle service is behind");
        }
    }
}

enum Outbound {
    Deliver(Packet),
    /// Not for this client; acknowledge to the broker when it was QoS 1.
    Drop(Option<PubAck>),
}

/// `$x/...` → `sandbox-dollar/x/...` (also inside `$share/{group}/`); a client's own use of
/// the internal prefix is forbidden.
pub fn to_internal(topic: &str) -> Result<String, ForbiddenTopic> {
    if topic.starts_with(INTERNAL_DOLLAR_PREFIX) {
        return Err(ForbiddenTopic);
    }
    if let Some(rest) = topic.strip_prefix("$share/")
        && let Some((group, filter)) = rest.split_once('/')
    {
        return Ok(format!("$share/{group}/{}", to_internal(filter)?));
    }
    Ok(match topic.strip_prefix('$') {
        Some(rest) => format!("{INTERNAL_DOLLAR_PREFIX}{rest}"),
        None => topic.to_owned(),
    })
}

/// The inverse of [`to_internal`] for a delivered topic.
pub fn to_external(topic: &str) -> String {
    match topic.strip_prefix(INTERNAL_DOLLAR_PREFIX) {
        Some(rest) => format!("${rest}"),
        None => topic.to_owned(),
    }
}

/// A client used the gateway's internal topic prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("topics starting with {INTERNAL_DOLLAR_PREFIX} are reserved by the sandbox")]
pub struct ForbiddenTopic;

impl From<ForbiddenTopic> for Forbidden {
    fn from(_: ForbiddenTopic) -> Self {
        Forbidden
    }
}

/// Whether `filter` (as the client sent it) matches the `$` topic `topic` under MQTT's rule:
/// its first level must be the same literal, not a wildcard.
pub fn dollar_match(topic: &str, filter: &str) -> bool {
    let filter = match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or("", |(_, f)| f),
        None => filter,
    };
    if filter.starts_with('+') || filter.starts_with('#') {
        return false;
    }
    topic_matches(topic, filter)
}

/// MQTT topic-filter matching (`+` one level, `#` the rest, including the parent level).
pub fn topic_matches(topic: &str, filter: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        if part == "#" {
            return true;
        }
        match levels.next() {
            Some(level) if part == "+" || part == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

enum ReadError {
    Io,
    Malformed,
}

/// Reads whole MQTT packets from a byte stream; cancel-safe (bytes stay in the buffer).
struct PacketReader<R> {
    inner: R,
    buffer: BytesMut,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buffer: BytesMut::with_capacity(4096),
        }
    }

    async fn next(&mut self) -> Result<Option<Packet>, ReadError> {
        loop {
            match Packet::read(&mut self.buffer, MAX_PACKET_BYTES) {
                Ok(packet) => return Ok(Some(packet)),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(_) => return Err(ReadError::Malformed),
            }
            match self.inner.read_buf(&mut self.buffer).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(_) => return Err(ReadError::Io),
            }
        }
    }
}

/// The gateway's read side of its connection to rumqttd, acknowledging every read at once.
///
/// rumqttd leaves Nagle's algorithm on: when it writes two small packets in a row (a PUBACK,
/// then the PUBLISH a client waits for), the second waits for the TCP acknowledgement of the
/// first — which Linux delays by up to 40 ms when it has nothing to send back. Quick
/// acknowledgements on this side remove that stall (a shadow round trip went from 44 ms to
/// about 1 ms). `TCP_QUICKACK` is not sticky, so it is set again after each read.
struct QuickAck(OwnedReadHalf);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            acknowledge_now(self.0.as_ref());
        }
        polled
    }
}

#[cfg(target_os = "linux")]
fn acknowledge_now(stream: &TcpStream) {
    // Best effort: without it the connection works, only slower.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn acknowledge_now(_stream: &TcpStream) {}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, packet: &Packet) -> std::io::Result<()> {
    let mut bytes = BytesMut::with_capacity(packet.size() + 8);
    packet
        .write(&mut bytes, MAX_PACKET_BYTES)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    writer.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_topics_and_filters_are_rewritten_both_ways() {
        let cases = [
            (
                "$aws/things/t/shadow/update",
                "sandbox-dollar/aws/things/t/shadow/update",
            ),
            (
                "$aws/things/+/shadow/update",
                "sandbox-dollar/aws/things/+/shadow/update",
            ),
            ("plain/topic", "plain/topic"),
            (
                "$share/g/$aws/things/+/jobs/get",
                "$share/g/sandbox-dollar/aws/things/+/jobs/get",
            ),
        ];
        for (external, internal) in cases {
            assert_eq!(
                to_internal(external),
                Ok(internal.to_owned()),
                "in: {external}"
            );
        }
        assert_eq!(
            to_external("sandbox-dollar/aws/things/t/shadow/update/accepted"),
            "$aws/things/t/shadow/update/accepted",
            "out"
        );
    }

    #[test]
    fn the_internal_prefix_is_forbidden_to_clients() {
        assert_eq!(
            to_internal("sandbox-dollar/aws/x"),
            Err(ForbiddenTopic),
            "spoofing refused"
        );
    }

    #[test]
    fn filters_starting_with_a_wildcard_do_not_match_dollar_topics() {
        let topic = "$aws/things/t/shadow/update/accepted";
        let cases = [
            ("#", false),
            ("+/things/t/shadow/update/accepted", false),
            ("$aws/things/+/shadow/update/accepted", true),
            ("$aws/things/t/shadow/#", true),
            ("$aws/things/t/shadow/update", false),
            ("$share/g/$aws/things/+/shadow/update/accepted", true),
        ];
        for (filter, expected) in cases {
            assert_eq!(dollar_match(topic, filter), expected, "filter {filter}");
        }
    }

    #[test]
    fn a_multi_level_wildcard_matches_its_parent_level() {
        assert!(topic_matches("sensor", "sensor/#"), "MQTT 3.1.1 4.7.1.2");
        assert!(topic_matches("sensor/a/b", "sensor/#"), "deeper levels");
        assert!(!topic_matches("sensor/a/b", "sensor/+"), "+ is one level");
    }
}
