//! The MQTT session: a cloneable [`SessionHandle`] and a [`SessionLoop`] the owner runs, over
//! rumqttc 0.25 on rustls with the ring provider.
//!
//! * **Reconnect** with exponential backoff and full jitter ([`BackoffPolicy`]: the first retry
//!   within 1 s, at most 30 s), reset when the broker answers CONNACK. Causes that retrying
//!   cannot cure (an untrusted CA, bad credentials, a client id taken over…, see
//!   [`Cause::is_permanent`]) stop the session with [`ConnectionState::Disconnected`].
//!   A connection closed while a SUBACK was due (AWS's answer to a policy-denied SUBSCRIBE on
//!   MQTT 3.1.1) drops the filters subscribed since every SUBACK last came, and the diagnosis
//!   names them: without that the session would resubscribe and be dropped again forever.
//! * **Resubscribe**: the handle keeps the active subscriptions; after a CONNACK without a
//!   stored session the loop subscribes to all of them again (in groups the broker's limit
//!   allows) and reports [`ConnectionState::Connected`] once every SUBACK came back.
//! * **Bounded queues**: requests go through rumqttc's bounded channel (a full channel makes
//!   `publish` wait: backpressure); publishes not yet sent when the link drops are carried to
//!   the next connection, at most [`SessionOptions::offline_queue`] of them (the oldest are
//!   dropped and counted). Incoming messages go to a bounded [`Messages`] queue with an
//!   explicit [`Overflow`] policy and a counter of dropped messages.
//! * **State** on a `tokio::sync::watch` channel ([`SessionHandle::state`]); every failure
//!   carries the connection doctor's [`Diagnosis`].
//!
//! The decisions — backoff, when a drop is a takeover, when to stop — live in the sans-IO
//! [`Supervisor`], which takes the time and the randomness as arguments; the loop only moves
//! packets. Nothing is spawned behind the caller's back: run [`SessionLoop::run`] yourself.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use companion_core::profile::ConnectSpec;
//! use companion_core::session::{ConnectionState, QoS, Session, SessionOptions};
//!
//! let spec = ConnectSpec::plain("127.0.0.1", 1883, "companion-example");
//! let (handle, session_loop) = Session::connect(spec, SessionOptions::default())?;
//! tokio::spawn(session_loop.run());
//! handle.subscribe("sensors/+/temperature", QoS::AtLeastOnce).await?;
//! let mut state = handle.state();
//! state.wait_for(|s| matches!(s, ConnectionState::Connected { .. })).await?;
//! let messages = handle.messages();
//! while let Some(message) = messages.recv().await {
//!     println!("{}: {} bytes", message.topic, message.payload.len());
//! }
//! handle.disconnect();
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions, Outgoing, Request,
    Subscribe, SubscribeFilter, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{Notify, watch};

use crate::doctor::{self, Diagnosis, FailureContext, Phase};
use crate::profile::{ConnectSpec, Limits, TlsSpec};

pub use crate::doctor::Cause;
/// MQTT quality of service (AWS IoT: QoS 0 and 1 only).
pub use rumqttc::QoS;

/// How long a QoS 0 PUBLISH counts as "just sent" when the connection drops.
const RECENT_PUBLISH: Duration = Duration::from_secs(1);
/// How soon after a reconnect a second silent close must come to count as a takeover: the
/// other connection with the same client id retries within about a second (first backoff
/// step), while a broker that restarts twice is rarely that quick.
const TAKEOVER_WINDOW: Duration = Duration::from_secs(3);
/// Room for the topic and headers on top of the payload limit.
const PACKET_OVERHEAD: usize = 64 * 1024;
/// How long a clean disconnect waits for the DISCONNECT packet to leave.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// Where the session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected, and every active subscription is in place again.
    Connected {
        /// Whether the broker kept a stored session (persistent sessions only).
        session_present: bool,
    },
    /// The link failed; the session retries after `next_retry_in`.
    Reconnecting {
        /// Failures since the last CONNACK (1 for the first retry).
        attempt: u32,
        /// The wait before the next attempt.
        next_retry_in: Duration,
        /// Why the link failed.
        cause: Diagnosis,
    },
    /// The session ended: `None` after [`SessionHandle::disconnect`], otherwise the cause
    /// retrying could not cure.
    Disconnected {
        /// Why, unless the user asked for it.
        cause: Option<Diagnosis>,
    },
}

/// Exponential backoff with full jitter: the n-th retry waits a uniformly random time in
/// `[0, min(cap, first × 2^(n-1))]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The ceiling of the first retry's wait.
    pub first: Duration,
    /// The largest wait.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    /// First retry within 1 s, never more than 30 s apart.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }
}

impl BackoffPolicy {
    /// The ceiling for retry number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first
            .checked_mul(1u32 << doublings)
            .map_or(self.cap, |ceiling| ceiling.min(self.cap))
    }

    /// The wait before retry number `attempt`, with `random` uniform in `[0, 1)`.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        self.ceiling(attempt).mul_f64(random.clamp(0.0, 1.0))
    }
}

/// What the loop saw go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A SUBSCRIBE with this packet id.
    Subscribe(u16),
    /// A PUBLISH with this packet id (0 for QoS 0).
    Publish(u16),
}

/// What the supervisor decided after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Wait `delay`, then connect again.
    Retry {
        /// Failures since the last CONNACK.
        attempt: u32,
        /// The wait.
        delay: Duration,
        /// Why the link failed.
        diagnosis: Diagnosis,
    },
    /// Stop: retrying cannot help.
    Stop(Diagnosis),
}

/// The sans-IO brain of the session: tracks what is awaiting an answer, classifies failures
/// with [`doctor::classify`] and decides whether and when to retry. Time and randomness are
/// passed in.
#[derive(Debug, Clone)]
pub struct Supervisor {
    base: FailureContext,
    policy: BackoffPolicy,
    attempt: u32,
    connected: bool,
    subscribes: HashSet<u16>,
    publishes: HashSet<u16>,
    last_qos0_publish: Option<Instant>,
    silent_close_before: bool,
    reconnected_at_once: bool,
    connected_at: Option<Instant>,
    unconfirmed: Vec<String>,
}

impl Supervisor {
    /// A supervisor for connections described by `base` (host, port, TLS, ALPN, keepalive).
    pub fn new(base: FailureContext, policy: BackoffPolicy) -> Self {
        Self {
            base,
            policy,
            attempt: 0,
            connected: false,
            subscribes: HashSet::new(),
            publishes: HashSet::new(),
            last_qos0_publish: None,
            silent_close_before: false,
            reconnected_at_once: false,
            connected_at: None,
            unconfirmed: Vec::new(),
        }
    }

    /// The broker answered CONNACK at `now`: the backoff starts over.
    pub fn on_connack(&mut self, now: Instant) {
        self.reconnected_at_once = self.silent_close_before && self.attempt == 1;
        self.connected_at = Some(now);
        self.connected = true;
        self.attempt = 0;
    }

    /// A packet left at `now`.
    pub fn on_sent(&mut self, sent: Sent, now: Instant) {
        match sent {
            Sent::Subscribe(id) => {
                self.subscribes.insert(id);
            }
            Sent::Publish(0) => self.last_qos0_publish = Some(now),
            Sent::Publish(id) => {
                self.publishes.insert(id);
            }
        }
    }

    /// A SUBACK arrived.
    pub fn on_suback(&mut self, id: u16) {
        self.subscribes.remove(&id);
    }

    /// Whether a SUBSCRIBE still waits for its SUBACK.
    pub fn subscribe_pending(&self) -> bool {
        !self.subscribes.is_empty()
    }

    /// The filters subscribed to since every SUBACK last came: named in a diagnosis of a
    /// denied SUBSCRIBE.
    pub fn set_unconfirmed(&mut self, filters: Vec<String>) {
        self.unconfirmed = filters;
    }

    /// A PUBACK arrived.
    pub fn on_puback(&mut self, id: u16) {
        self.publishes.remove(&id);
    }

    /// Whether the last CONNACK has not been followed by a failure.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// What the classifier would know about a failure at `now`.
    pub fn context(&self, now: Instant) -> FailureContext {
        let recent = self
            .last_qos0_publish
            .is_some_and(|at| now.saturating_duration_since(at) <= RECENT_PUBLISH);
        FailureContext {
            phase: if self.connected {
                Phase::Connected
            } else {
                Phase::Connecting
            },
            subscribe_pending: !self.subscribes.is_empty(),
            unconfirmed_filters: self.unconfirmed.clone(),
            publish_pending: !self.publishes.is_empty() || recent,
            repeated_silent_close: self.reconnected_at_once
                && self
                    .connected_at
                    .is_some_and(|at| now.saturating_duration_since(at) <= TAKEOVER_WINDOW),
            ..self.base.clone()
        }
    }

    /// The link failed at `now`: classify, then retry after a jittered delay (`random` uniform
    /// in `[0, 1)`) or stop.
    pub fn on_failure(&mut self, error: &ConnectionError, now: Instant, random: f64) -> Decision {
        let diagnosis = doctor::classify(error, &self.context(now));
        self.silent_close_before = self.connected
            && matches!(
                diagnosis.cause,
                Cause::ClosedByBroker | Cause::ClientIdTakenOver
            );
        self.connected = false;
        self.reconnected_at_once = false;
        self.subscribes.clear();
        self.publishes.clear();
        self.last_qos0_publish = None;
        if diagnosis.cause.is_permanent() {
            return Decision::Stop(diagnosis);
        }
        self.attempt = self.attempt.saturating_add(1);
        Decision::Retry {
            attempt: self.attempt,
            delay: self.policy.delay(self.attempt, random),
            diagnosis,
        }
    }
}

/// What to do when the consumer does not keep up with incoming messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest queued message and count it ([`Messages::dropped`]): the session keeps
    /// reading, so pings go on and the view stays current. The default.
    DropOldest,
    /// Stop reading from the broker until there is room: nothing is lost, but a consumer
    /// stalled longer than the keepalive lets the connection time out.
    Backpressure,
}

/// How a session queues and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Incoming messages held for the consumer.
    pub inbox_capacity: usize,
    /// What happens when that queue is full.
    pub overflow: Overflow,
    /// Requests (publish, subscribe…) queued for the loop; a full queue makes callers wait.
    pub request_capacity: usize,
    /// Unsent publishes carried across a reconnect.
    pub offline_queue: usize,
    /// The reconnect backoff.
    pub backoff: BackoffPolicy,
    /// The deadline for TCP, TLS and CONNACK together, in whole seconds.
    pub connect_timeout_secs: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            inbox_capacity: 1024,
            overflow: Overflow::DropOldest,
            request_capacity: 64,
            offline_queue: 256,
            backoff: BackoffPolicy::default(),
            connect_timeout_secs: 10,
        }
    }
}

/// An incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// The QoS it was delivered with.
    pub qos: QoS,
    /// Whether it is a retained message delivered on subscribe.
    pub retain: bool,
}

impl From<rumqttc::Publish> for Message {
    fn from(publish: rumqttc::Publish) -> Self {
        Self {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
        }
    }
}

/// Why a request through the handle failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Refused before sending: over a limit (the diagnosis names it).
    #[error("{0}")]
    Refused(Diagnosis),
    /// The session has ended.
    #[error("the session has ended: connect again")]
    Closed,
    /// The TLS material could not be used.
    #[error("the TLS settings cannot be used: {0}")]
    Tls(String),
}

/// The bounded queue of incoming messages, shared by the loop and the consumer.
#[derive(Debug)]
struct Inbox {
    queue: Mutex<VecDeque<Message>>,
    capacity: usize,
    overflow: Overflow,
    dropped: AtomicU64,
    readable: Notify,
    writable: Notify,
    closed: watch::Sender<bool>,
}

impl Inbox {
    fn new(capacity: usize, overflow: Overflow) -> Self {
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            overflow,
            dropped: AtomicU64::new(0),
            readable: Notify::new(),
            writable: Notify::new(),
            closed: watch::channel(false).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `message` by the overflow policy; waits for room under backpressure.
    async fn push(&self, message: Message) {
        loop {
            let room = self.writable.notified();
            if self.try_push(&message) {
                self.readable.notify_one();
                return;
            }
            room.await;
        }
    }

    fn try_push(&self, message: &Message) -> bool {
        let mut queue = self.lock();
        if queue.len() >= self.capacity {
            if self.overflow == Overflow::Backpressure {
                return false;
            }
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(message.clone());
        true
    }

    fn pop(&self) -> Option<Message> {
        let message = self.lock().pop_front();
        if message.is_some() {
            self.writable.notify_one();
        }
        message
    }

    fn close(&self) {
        self.closed.send_replace(true);
        self.readable.notify_one();
    }
}

/// The consumer's end of the incoming-message queue. Meant for one consumer: clones share one
/// queue, and each message goes to whichever asks first.
#[derive(Debug, Clone)]
pub struct Messages {
    inbox: Arc<Inbox>,
}

impl Messages {
    /// The next message; `None` once the session ended and the queue is empty.
    pub async fn recv(&self) -> Option<Message> {
        let mut closed = self.inbox.closed.subscribe();
        loop {
            let readable = self.inbox.readable.notified();
            if let Some(message) = self.inbox.pop() {
                return Some(message);
            }
            if *closed.borrow_and_update() {
                return None;
            }
            tokio::select! {
                () = readable => {}
                _ = closed.changed() => {}
            }
        }
    }

    /// A queued message, without waiting.
    pub fn try_recv(&self) -> Option<Message> {
        self.inbox.pop()
    }

    /// How many messages were dropped because the queue was full ([`Overflow::DropOldest`]).
    pub fn dropped(&self) -> u64 {
        self.inbox.dropped.load(Ordering::Relaxed)
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.inbox.lock().len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the handle and the loop share.
#[derive(Debug)]
struct Shared {
    client_id: String,
    limits: Limits,
    subscriptions: Mutex<BTreeMap<String, QoS>>,
    /// Filters the handle subscribed to since every SUBACK last came.
    unconfirmed: Mutex<Vec<String>>,
    inbox: Arc<Inbox>,
    stop: watch::Sender<bool>,
    dropped_outgoing: AtomicU64,
}

impl Shared {
    fn subscriptions(&self) -> MutexGuard<'_, BTreeMap<String, QoS>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unconfirmed(&self) -> MutexGuard<'_, Vec<String>> {
        self.unconfirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets filters the broker refused by closing the connection.
    fn drop_denied(&self, filters: &[String]) {
        let mut subscriptions = self.subscriptions();
        for filter in filters {
            subscriptions.remove(filter);
        }
    }
}

/// Builds a session from a resolved profile.
#[derive(Debug)]
pub struct Session;

impl Session {
    /// Prepares a session: no I/O happens until the owner runs the returned loop
    /// (`tokio::spawn(session_loop.run())`). Fails only when the TLS material is unusable.
    pub fn connect(
        spec: ConnectSpec,
        options: SessionOptions,
    ) -> Result<(SessionHandle, SessionLoop), SessionError> {
        if spec.client_id.is_empty() {
            return Err(SessionError::Refused(Diagnosis::new(
                Cause::BadProfile,
                "The client id is empty.",
                "Set a client id, or leave the profile's unset to use the thing name or a generated one.",
            )));
        }
        let mqtt = mqtt_options(&spec, &options)?;
        let (client, mut eventloop) = AsyncClient::new(mqtt, options.request_capacity.max(1));
        eventloop.network_options.set_tcp_nodelay(true);
        eventloop
            .network_options
            .set_connection_timeout(options.connect_timeout_secs.max(1));
        let inbox = Arc::new(Inbox::new(options.inbox_capacity, options.overflow));
        let shared = Arc::new(Shared {
            client_id: spec.client_id.clone(),
            limits: spec.limits,
            subscriptions: Mutex::new(BTreeMap::new()),
            unconfirmed: Mutex::new(Vec::new()),
            inbox,
            stop: watch::channel(false).0,
            dropped_outgoing: AtomicU64::new(0),
        });
        let (state, _) = watch::channel(ConnectionState::Connecting);
        let handle = SessionHandle {
            client,
            shared: shared.clone(),
            state: state.subscribe(),
        };
        let session_loop = SessionLoop {
            eventloop,
            supervisor: Supervisor::new(base_context(&spec), options.backoff),
            shared,
            state,
            carry: VecDeque::new(),
            resubscribe: Resubscribe::default(),
            offline_queue: options.offline_queue,
        };
        Ok((handle, session_loop))
    }
}

fn base_context(spec: &ConnectSpec) -> FailureContext {
    FailureContext {
        tls: spec.tls.is_some(),
        alpn: spec.offers_alpn(),
        client_certificate: spec.tls.as_ref().is_some_and(|tls| tls.identity.is_some()),
        keepalive_secs: spec.keepalive.as_secs(),
        ..FailureContext::connecting(spec.host.clone(), spec.port)
    }
}

fn mqtt_options(spec: &ConnectSpec, options: &SessionOptions) -> Result<MqttOptions, SessionError> {
    let mut mqtt = MqttOptions::new(spec.client_id.clone(), spec.host.clone(), spec.port);
    mqtt.set_keep_alive(spec.keepalive.max(Duration::from_secs(5)));
    mqtt.set_clean_session(spec.clean_session);
    let packet = spec
        .limits
        .max_payload_bytes
        .saturating_add(PACKET_OVERHEAD);
    mqtt.set_max_packet_size(packet, packet);
    mqtt.set_request_channel_capacity(options.request_capacity.max(1));
    if let Some(credentials) = &spec.credentials {
        let password = credentials
            .password
            .as_ref()
            .map(|p| p.expose().clone())
            .unwrap_or_default();
        mqtt.set_credentials(credentials.username.expose().clone(), password);
    }
    if let Some(tls) = &spec.tls {
        let config = tls_config(tls)?;
        mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(mqtt)
}

/// A rustls client configuration on the ring provider for `tls`.
pub fn tls_config(tls: &TlsSpec) -> Result<rustls::ClientConfig, SessionError> {
    let roots = tls
        .roots
        .store()
        .map_err(|e| SessionError::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots);
    let mut config = match &tls.identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    SessionError::Tls(format!("the certificate PEM is unreadable ({e})"))
                })?;
            let key = PrivateKeyDer::from_pem_slice(identity.key_pem.expose().as_bytes())
                .map_err(|_| SessionError::Tls("the private key PEM is unreadable".to_owned()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(tls_error)?
        }
    };
    if let Some(alpn) = &tls.alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    Ok(config)
}

fn tls_error(error: rustls::Error) -> SessionError {
    SessionError::Tls(error.to_string())
}

/// The cloneable handle: publish, subscribe, watch the state, disconnect.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    client: AsyncClient,
    shared: Arc<Shared>,
    state: watch::Receiver<ConnectionState>,
}

impl SessionHandle {
    /// The client id in use.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// A receiver of the connection state (the current value, then every change).
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// The current connection state.
    pub fn current_state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// The incoming messages.
    pub fn messages(&self) -> Messages {
        Messages {
            inbox: self.shared.inbox.clone(),
        }
    }

    /// Unsent publishes dropped because more than [`SessionOptions::offline_queue`] piled up
    /// while disconnected.
    pub fn dropped_outgoing(&self) -> u64 {
        self.shared.dropped_outgoing.load(Ordering::Relaxed)
    }

    /// The active subscriptions (restored after each reconnect).
    pub fn subscriptions(&self) -> Vec<(String, QoS)> {
        let subscriptions = self.shared.subscriptions();
        subscriptions.iter().map(|(f, q)| (f.clone(), *q)).collect()
    }

    /// Publishes after checking the limits; waits while the request queue is full.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), SessionError> {
        let (topic, payload) = (topic.into(), payload.into());
        doctor::check_publish(&self.shared.limits, &topic, payload.len(), qos)
            .map_err(SessionError::Refused)?;
        self.client
            .publish_bytes(topic, qos, retain, payload)
            .await
            .map_err(|_| SessionError::Closed)
    }

    /// Subscribes to one filter (kept and restored after reconnects).
    pub async fn subscribe(&self, filter: impl Into<String>, qos: QoS) -> Result<(), SessionError> {
        self.subscribe_many(vec![(filter.into(), qos)]).await
    }

    /// Subscribes to several filters in one SUBSCRIBE, after checking the limits.
    pub async fn subscribe_many(&self, filters: Vec<(String, QoS)>) -> Result<(), SessionError> {
        doctor::check_subscribe(&self.shared.limits, &filters).map_err(SessionError::Refused)?;
        self.shared
            .subscriptions()
            .extend(filters.iter().map(|(f, q)| (f.clone(), *q)));
        self.shared
            .unconfirmed()
            .extend(filters.iter().map(|(f, _)| f.clone()));
        let packet = filters
            .into_iter()
            .map(|(filter, qos)| SubscribeFilter::new(filter, qos));
        self.client
            .subscribe_many(packet)
            .await
            .map_err(|_| SessionError::Closed)
    }

    /// Unsubscribes and forgets the filter.
    pub async fn unsubscribe(&self, filter: impl Into<String>) -> Result<(), SessionError> {
        let filter = filter.into();
        self.shared.subscriptions().remove(&filter);
        self.client
            .unsubscribe(filter)
            .await
            .map_err(|_| SessionError::Closed)
    }

    /// Ends the session cleanly: sends DISCONNECT if connected (so no last will is
    /// published), stops retrying, and the loop returns with
    /// `Disconnected { cause: None }`.
    pub fn disconnect(&self) {
        self.shared.stop.send_replace(true);
        let _ = self.client.try_disconnect();
    }
}

/// Tracks the resubscription after a reconnect.
#[derive(Debug, Default)]
struct Resubscribe {
    unsent: usize,
    awaiting: HashSet<u16>,
    session_present: bool,
}

impl Resubscribe {
    fn done(&self) -> bool {
        self.unsent == 0 && self.awaiting.is_empty()
    }
}

/// Whether the loop goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The I/O side: owns rumqttc's event loop. Run it with [`SessionLoop::run`].
pub struct SessionLoop {
    eventloop: EventLoop,
    supervisor: Supervisor,
    shared: Arc<Shared>,
    state: watch::Sender<ConnectionState>,
    carry: VecDeque<Request>,
    resubscribe: Resubscribe,
    offline_queue: usize,
}

impl std::fmt::Debug for SessionLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLoop")
            .field("client_id", &self.shared.client_id)
            .field("supervisor", &self.supervisor)
            .finish_non_exhaustive()
    }
}

impl SessionLoop {
    /// Connects, keeps the connection up and delivers messages until
    /// [`SessionHandle::disconnect`] or a permanent failure. Returns the final state. Dropping
    /// every handle does not stop it: call `disconnect` or drop the task that runs it.
    pub async fn run(mut self) -> ConnectionState {
        let mut stop = self.shared.stop.subscribe();
        loop {
            let polled = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => None,
                polled = self.eventloop.poll() => Some(polled),
            };
            let flow = match polled {
                None => self.stop_cleanly().await,
                Some(Ok(event)) => self.on_event(event).await,
                Some(Err(error)) => self.on_error(error, &mut stop).await,
            };
            if flow == Flow::Stop {
                self.shared.inbox.close();
                return self.state.borrow().clone();
            }
        }
    }

    async fn on_event(&mut self, event: Event) -> Flow {
        let now = Instant::now();
        match event {
            Event::Incoming(Incoming::ConnAck(ack)) => self.on_connack(ack.session_present),
            Event::Incoming(Incoming::Publish(publish)) => {
                self.shared.inbox.push(publish.into()).await;
            }
            Event::Incoming(Incoming::SubAck(ack)) => self.on_suback(ack.pkid),
            Event::Incoming(Incoming::PubAck(ack)) => self.supervisor.on_puback(ack.pkid),
            Event::Outgoing(Outgoing::Subscribe(id)) => {
                self.supervisor.on_sent(Sent::Subscribe(id), now);
                if self.resubscribe.unsent > 0 {
                    self.resubscribe.unsent -= 1;
                    self.resubscribe.awaiting.insert(id);
                }
            }
            Event::Outgoing(Outgoing::Publish(id)) => {
                self.supervisor.on_sent(Sent::Publish(id), now);
            }
            Event::Outgoing(Outgoing::Disconnect) if *self.shared.stop.borrow() => {
                self.state
                    .send_replace(ConnectionState::Disconnected { cause: None });
                return Flow::Stop;
            }
            _ => {}
        }
        Flow::Continue
    }

    fn on_connack(&mut self, session_present: bool) {
        self.supervisor.on_connack(Instant::now());
        let requests = if session_present {
            Vec::new()
        } else {
            self.resubscribe_requests()
        };
        self.resubscribe = Resubscribe {
            unsent: requests.len(),
            awaiting: HashSet::new(),
            session_present,
        };
        self.eventloop.pending.extend(requests);
        self.eventloop.pending.extend(self.carry.drain(..));
        if self.resubscribe.done() {
            self.announce_connected();
        }
    }

    fn on_suback(&mut self, id: u16) {
        self.supervisor.on_suback(id);
        if !self.supervisor.subscribe_pending() {
            self.shared.unconfirmed().clear();
        }
        if self.resubscribe.awaiting.remove(&id) && self.resubscribe.done() {
            self.announce_connected();
        }
    }

    fn announce_connected(&self) {
        let session_present = self.resubscribe.session_present;
        tracing::info!(client_id = %self.shared.client_id, "connected");
        self.state
            .send_replace(ConnectionState::Connected { session_present });
    }

    /// SUBSCRIBE requests for every active subscription, in groups the limits allow.
    fn resubscribe_requests(&self) -> Vec<Request> {
        let group = self
            .shared
            .limits
            .max_filters_per_subscribe
            .unwrap_or(64)
            .max(1);
        let filters: Vec<SubscribeFilter> = self
            .shared
            .subscriptions()
            .iter()
            .map(|(filter, qos)| SubscribeFilter::new(filter.clone(), *qos))
            .collect();
        filters
            .chunks(group)
            .map(|chunk| Request::Subscribe(Subscribe::new_many(chunk.to_vec())))
            .collect()
    }

    async fn on_error(&mut self, error: ConnectionError, stop: &mut watch::Receiver<bool>) -> Flow {
        if *self.shared.stop.borrow() {
            self.state
                .send_replace(ConnectionState::Disconnected { cause: None });
            return Flow::Stop;
        }
        self.carry_unsent();
        match self.decide(&error) {
            Decision::Stop(diagnosis) => {
                tracing::warn!(cause = diagnosis.cause.code(), "{diagnosis}");
                let cause = Some(diagnosis);
                self.state
                    .send_replace(ConnectionState::Disconnected { cause });
                Flow::Stop
            }
            Decision::Retry {
                attempt,
                delay,
                diagnosis,
            } => {
                tracing::info!(
                    cause = diagnosis.cause.code(),
                    attempt,
                    ?delay,
                    "{diagnosis}"
                );
                let cause = diagnosis;
                self.state.send_replace(ConnectionState::Reconnecting {
                    attempt,
                    next_retry_in: delay,
                    cause,
                });
                self.wait_before_retry(delay, stop).await
            }
        }
    }

    /// Asks the supervisor; after a denied SUBSCRIBE, forgets the suspect filters.
    fn decide(&mut self, error: &ConnectionError) -> Decision {
        let unconfirmed = self.shared.unconfirmed().clone();
        self.supervisor.set_unconfirmed(unconfirmed.clone());
        let decision = self
            .supervisor
            .on_failure(error, Instant::now(), rand::random::<f64>());
        if let Decision::Retry { diagnosis, .. } = &decision
            && diagnosis.cause == Cause::SubscribeDenied
        {
            self.shared.unconfirmed().clear();
            self.shared.drop_denied(&unconfirmed);
        }
        decision
    }

    async fn wait_before_retry(
        &mut self,
        delay: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Flow {
        tokio::select! {
            () = tokio::time::sleep(delay) => Flow::Continue,
            _ = stop.wait_for(|stop| *stop) => {
                self.state.send_replace(ConnectionState::Disconnected { cause: None });
                Flow::Stop
            }
        }
    }

    /// Keeps the publishes and unsubscribes rumqttc had not sent (or not seen acknowledged)
    /// for the next connection, at most `offline_queue` of them; subscriptions are restored
    /// from the handle's list instead.
    fn carry_unsent(&mut self) {
        let pending = std::mem::take(&mut self.eventloop.pending);
        let keep = pending
            .into_iter()
            .filter(|r| matches!(r, Request::Publish(_) | Request::Unsubscribe(_)));
        self.carry.extend(keep);
        while self.carry.len() > self.offline_queue {
            self.carry.pop_front();
            self.shared.dropped_outgoing.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The user asked to stop: let the queued DISCONNECT leave if connected, then end.
    async fn stop_cleanly(&mut self) -> Flow {
        if self.supervisor.is_connected() {
            let drain = async {
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(DISCONNECT_GRACE, drain).await;
        }
        self.state
            .send_replace(ConnectionState::Disconnected { cause: None });
        Flow::Stop
    }
}

#[cfg(test)]
mod tests;
