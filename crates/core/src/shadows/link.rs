//! What the shadow engine needs from an MQTT session, as two small traits, so that unit tests
//! can drive it against `companion_awsiot`'s in-process Shadow service instead of a broker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use rumqttc::QoS;
use tokio::sync::{mpsc, watch};

use crate::session::{ConnectionState, Message, Messages, SessionError, SessionHandle};

/// A boxed future returned by [`ShadowLink`] methods.
pub type LinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send + 'a>>;

/// The outgoing side of a session: publish, subscribe and the connection state.
pub trait ShadowLink: Send + Sync + fmt::Debug {
    /// Publishes `payload` on `topic` (QoS 1).
    fn publish(&self, topic: String, payload: Vec<u8>) -> LinkFuture<'_>;
    /// Subscribes to `filters` in one SUBSCRIBE (QoS 1), kept across reconnects.
    fn subscribe(&self, filters: Vec<String>) -> LinkFuture<'_>;
    /// The connection state, current value first.
    fn state(&self) -> watch::Receiver<ConnectionState>;
}

impl ShadowLink for SessionHandle {
    fn publish(&self, topic: String, payload: Vec<u8>) -> LinkFuture<'_> {
        Box::pin(SessionHandle::publish(
            self,
            topic,
            payload,
            QoS::AtLeastOnce,
            false,
        ))
    }

    fn subscribe(&self, filters: Vec<String>) -> LinkFuture<'_> {
        let filters = filters
            .into_iter()
            .map(|filter| (filter, QoS::AtLeastOnce))
            .collect();
        Box::pin(self.subscribe_many(filters))
    }

    fn state(&self) -> watch::Receiver<ConnectionState> {
        SessionHandle::state(self)
    }
}

/// Where incoming messages come from: the session's [`Messages`] queue, or a channel fed by a
/// router that shares one session between several consumers.
pub trait MessageSource {
    /// The next message; `None` when the source has ended.
    fn next_message(&mut self) -> impl Future<Output = Option<Message>> + Send;
}

impl MessageSource for Messages {
    async fn next_message(&mut self) -> Option<Message> {
        self.recv().await
    }
}

impl MessageSource for mpsc::Receiver<Message> {
    async fn next_message(&mut self) -> Option<Message> {
        self.recv().await
    }
}

/// Whether requests can be sent now.
pub(crate) fn is_connected(state: &ConnectionState) -> bool {
    matches!(state, ConnectionState::Connected { .. })
}
