//! Lifecycle events (reference §4.8): the payloads AWS IoT Core publishes on
//! `$aws/events/presence/...` and `$aws/events/subscriptions/...`, and a small presence tracker
//! that numbers them as AWS does. Timestamps here are epoch **milliseconds**.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::topic::{LifecycleEventKind, LifecycleTopic};
use crate::{ClientId, Error, Outgoing, Timestamp, Topic};

/// How long after a disconnect AWS keeps counting a client's `versionNumber`; after that it
/// starts again from 0 ("about one hour offline").
pub const VERSION_RESET_SECS: u64 = 3600;

/// Why a client disconnected (`disconnectReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisconnectReason {
    /// The client's credentials stopped authenticating.
    AuthError,
    /// The client sent DISCONNECT (or closed its WebSocket).
    ClientInitiatedDisconnect,
    /// A protocol violation, e.g. a second CONNECT or an oversize payload.
    ClientError,
    /// The network connection dropped.
    ConnectionLost,
    /// Another connection with the same client id took over.
    #[serde(rename = "DUPLICATE_CLIENTID")]
    DuplicateClientId,
    /// The client was no longer authorised.
    ForbiddenAccess,
    /// No packet within 1.5 × keepalive.
    MqttKeepAliveTimeout,
    /// A server fault.
    ServerError,
    /// The server ended the connection.
    ServerInitiatedDisconnect,
    /// The DeleteConnection API ended it.
    ApiInitiatedDisconnect,
    /// The client exceeded a rate limit.
    Throttled,
    /// A SigV4 WebSocket reached its 24 h limit.
    WebsocketTtlExpiration,
    /// A custom authorizer's session expired.
    CustomauthTtlExpiration,
    /// Not known.
    Unknown,
    /// No reason.
    None,
}

impl DisconnectReason {
    /// Whether AWS publishes the client's Last Will for this disconnect: on every disconnect
    /// except the client's own DISCONNECT (reference §4.7). For `ApiInitiatedDisconnect` the
    /// DeleteConnection call's `preventWillMessage` decides, which is the caller's to apply.
    pub fn publishes_will(self) -> bool {
        self != Self::ClientInitiatedDisconnect
    }
}

/// `connected` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedEvent {
    /// The MQTT client id.
    pub client_id: String,
    /// The thing bound to the connection, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
    /// Unique per connection (a UUID at AWS; the caller supplies it).
    pub session_identifier: String,
    /// The certificate id or other principal.
    pub principal_identifier: String,
    /// The client's address.
    pub ip_address: String,
    /// Orders this client's events; its disconnect carries the same number.
    pub version_number: u64,
}

/// `disconnected` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectedEvent {
    /// The MQTT client id.
    pub client_id: String,
    /// The thing bound to the connection, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
    /// The session that ended.
    pub session_identifier: String,
    /// The certificate id or other principal.
    pub principal_identifier: String,
    /// True when the client sent DISCONNECT.
    pub client_initiated_disconnect: bool,
    /// Why it ended.
    pub disconnect_reason: DisconnectReason,
    /// The number of the matching `connected` event.
    pub version_number: u64,
}

/// `connect_failed` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectFailedEvent {
    /// The MQTT client id.
    pub client_id: String,
    /// The thing, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
    /// AWS documents only `AUTHORIZATION_FAILED`.
    pub connect_failure_reason: String,
    /// The certificate id or other principal.
    pub principal_identifier: String,
    /// The failed session.
    pub session_identifier: String,
    /// The client's address.
    pub ip_address: String,
}

/// `subscribed` / `unsubscribed` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionEvent {
    /// The MQTT client id.
    pub client_id: String,
    /// The thing, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
    /// The session.
    pub session_identifier: String,
    /// The certificate id or other principal.
    pub principal_identifier: String,
    /// The topic filters subscribed to or unsubscribed from.
    pub topics: Vec<String>,
}

/// Any lifecycle event; the JSON carries the kind in `eventType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// A client connected.
    Connected(ConnectedEvent),
    /// A client disconnected.
    Disconnected(DisconnectedEvent),
    /// A connection attempt was refused.
    ConnectFailed(ConnectFailedEvent),
    /// A client subscribed.
    Subscribed(SubscriptionEvent),
    /// A client unsubscribed.
    Unsubscribed(SubscriptionEvent),
}

impl LifecycleEvent {
    /// The event's kind (and topic level).
    pub fn kind(&self) -> LifecycleEventKind {
        match self {
            Self::Connected(_) => LifecycleEventKind::Connected,
            Self::Disconnected(_) => LifecycleEventKind::Disconnected,
            Self::ConnectFailed(_) => LifecycleEventKind::ConnectFailed,
            Self::Subscribed(_) => LifecycleEventKind::Subscribed,
            Self::Unsubscribed(_) => LifecycleEventKind::Unsubscribed,
        }
    }

    /// The client the event is about.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Connected(e) => &e.client_id,
            Self::Disconnected(e) => &e.client_id,
            Self::ConnectFailed(e) => &e.client_id,
            Self::Subscribed(e) | Self::Unsubscribed(e) => &e.client_id,
        }
    }

    /// The topic AWS publishes the event on; fails for a client id that gets no events
    /// (`+`, `#`, empty or longer than 128 bytes).
    pub fn topic(&self) -> Result<Topic, Error> {
        let client_id = ClientId::new(self.client_id())?;
        Ok(Topic::Lifecycle(LifecycleTopic::new(
            self.kind(),
            client_id,
        )))
    }

    /// The event as an MQTT message.
    pub fn to_outgoing(&self) -> Result<Outgoing, Error> {
        let payload = serde_json::to_vec(self).map_err(|e| Error::Encode {
            what: "lifecycle event",
            detail: e.to_string(),
        })?;
        Ok(Outgoing::new(&self.topic()?, payload))
    }

    /// Parses an event payload.
    pub fn parse(payload: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(payload).map_err(|e| Error::MalformedPayload {
            what: "lifecycle event",
            detail: e.to_string(),
        })
    }
}

/// What the broker knows about a new connection; the session id comes from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The MQTT client id.
    pub client_id: String,
    /// The thing bound to the connection, if any.
    pub thing_name: Option<String>,
    /// A unique id for this connection (the caller's UUID).
    pub session_identifier: String,
    /// The certificate id or other principal.
    pub principal_identifier: String,
    /// The client's address.
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientPresence {
    version_number: u64,
    session: Option<Connection>,
    disconnected_at: Option<Timestamp>,
}

/// Tracks who is connected and numbers lifecycle events per client id as AWS does: a
/// disconnect carries its connect's `versionNumber`; the next connect counts on, unless the
/// client was offline longer than [`VERSION_RESET_SECS`], when it starts again from 0.
#[derive(Debug, Clone, Default)]
pub struct PresenceTracker {
    clients: BTreeMap<String, ClientPresence>,
}

impl PresenceTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a connection and returns its `connected` event (plus the `disconnected` event
    /// of a session it took over, which AWS reports as DUPLICATE_CLIENTID).
    pub fn connected(&mut self, connection: Connection, now: Timestamp) -> Vec<LifecycleEvent> {
        let mut events = Vec::new();
        if let Some(old) = self.disconnected(
            &connection.client_id,
            DisconnectReason::DuplicateClientId,
            now,
        ) {
            events.push(old);
        }
        let presence = self
            .clients
            .entry(connection.client_id.clone())
            .or_insert(ClientPresence {
                version_number: 0,
                session: None,
                disconnected_at: None,
            });
        presence.version_number = match presence.disconnected_at {
            None => presence.version_number,
            Some(at) if now >= at.plus_secs(VERSION_RESET_SECS) => 0,
            Some(_) => presence.version_number + 1,
        };
        presence.disconnected_at = None;
        events.push(LifecycleEvent::Connected(ConnectedEvent {
            client_id: connection.client_id.clone(),
            thing_name: connection.thing_name.clone(),
            timestamp: now.millis(),
            session_identifier: connection.session_identifier.clone(),
            principal_identifier: connection.principal_identifier.clone(),
            ip_address: connection.ip_address.clone(),
            version_number: presence.version_number,
        }));
        presence.session = Some(connection);
        events
    }

    /// Records the end of `client_id`'s session; `None` when it was not connected.
    pub fn disconnected(
        &mut self,
        client_id: &str,
        reason: DisconnectReason,
        now: Timestamp,
    ) -> Option<LifecycleEvent> {
        let presence = self.clients.get_mut(client_id)?;
        let session = presence.session.take()?;
        presence.disconnected_at = Some(now);
        Some(LifecycleEvent::Disconnected(DisconnectedEvent {
            client_id: session.client_id,
            thing_name: session.thing_name,
            timestamp: now.millis(),
            session_identifier: session.session_identifier,
            principal_identifier: session.principal_identifier,
            client_initiated_disconnect: reason == DisconnectReason::ClientInitiatedDisconnect,
            disconnect_reason: reason,
            version_number: presence.version_number,
        }))
    }

    /// The `subscribed` or `unsubscribed` event for a connected client; `None` otherwise.
    pub fn subscriptions(
        &self,
        client_id: &str,
        subscribed: bool,
        topics: Vec<String>,
        now: Timestamp,
    ) -> Option<LifecycleEvent> {
        let session = self.clients.get(client_id)?.session.as_ref()?;
        let event = SubscriptionEvent {
            client_id: session.client_id.clone(),
            thing_name: session.thing_name.clone(),
            timestamp: now.millis(),
            session_identifier: session.session_identifier.clone(),
            principal_identifier: session.principal_identifier.clone(),
            topics,
        };
        Some(if subscribed {
            LifecycleEvent::Subscribed(event)
        } else {
            LifecycleEvent::Unsubscribed(event)
        })
    }

    /// True when `client_id` has a live session.
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.clients
            .get(client_id)
            .is_some_and(|p| p.session.is_some())
    }
}
