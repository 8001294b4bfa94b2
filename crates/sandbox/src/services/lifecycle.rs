//! Lifecycle events: the gateway reports each connection's start and end
//! ([`crate::gateway::PresenceEvent`]); this service numbers them with
//! `companion_awsiot::lifecycle::PresenceTracker` and publishes
//! `$aws/events/presence/connected|disconnected/{clientId}` and
//! `$aws/events/subscriptions/subscribed|unsubscribed/{clientId}`. A client whose id is a
//! registered thing gets `thingName` and its last-seen time updated.
//!
//! Only the embedded broker has a gateway: attached to an external broker, the sandbox
//! publishes no lifecycle events.

use std::collections::HashMap;

use companion_awsiot::lifecycle::{Connection, LifecycleEvent, PresenceTracker};
use tokio::sync::{mpsc, watch};

use super::{ServiceError, ServiceLink, now, stopped};
use crate::connect::Endpoint;
use crate::db::Registry;
use crate::gateway::PresenceEvent;

/// Capacity of the gateway → lifecycle queue.
pub const EVENT_QUEUE: usize = 1024;

/// The lifecycle service, ready to run.
pub(crate) struct LifecycleDriver {
    link: ServiceLink,
    tracker: PresenceTracker,
    /// The live session of each client id: a late disconnect of a taken-over session must not
    /// end its successor.
    sessions: HashMap<String, String>,
    events: mpsc::Receiver<PresenceEvent>,
    registry: Registry,
}

impl LifecycleDriver {
    /// Connects to `endpoint` (it subscribes to nothing).
    pub(crate) async fn start(
        endpoint: &Endpoint,
        events: mpsc::Receiver<PresenceEvent>,
        registry: Registry,
    ) -> Result<Self, ServiceError> {
        // One harmless subscription so that readiness is confirmed by a SubAck.
        let filters = vec!["sandbox/lifecycle/ready".to_owned()];
        let link = ServiceLink::connect("lifecycle", endpoint, filters).await?;
        Ok(Self {
            link,
            tracker: PresenceTracker::new(),
            sessions: HashMap::new(),
            events,
            registry,
        })
    }

    /// Publishes events until `shutdown` says stop.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                publish = self.link.next_publish() => {
                    if let Some(publish) = publish {
                        self.link.done(publish);
                    }
                }
                Some(event) = self.events.recv() => self.handle(event).await,
            }
        }
        self.link.close().await;
    }

    async fn handle(&mut self, event: PresenceEvent) {
        let time = now();
        let events = match event {
            PresenceEvent::Connected {
                session,
                client_id,
                principal,
                ip_address,
            } => {
                let thing_name = thing_of(&self.registry, &client_id, time.millis()).await;
                self.sessions.insert(client_id.clone(), session.clone());
                let connection = Connection {
                    client_id,
                    thing_name,
                    session_identifier: session,
                    principal_identifier: principal,
                    ip_address,
                };
                self.tracker.connected(connection, time)
            }
            PresenceEvent::Subscriptions {
                session,
                client_id,
                subscribed,
                topics,
            } => {
                if self.sessions.get(&client_id) != Some(&session) {
                    return;
                }
                self.tracker
                    .subscriptions(&client_id, subscribed, topics, time)
                    .into_iter()
                    .collect()
            }
            PresenceEvent::Disconnected {
                session,
                client_id,
                reason,
            } => {
                if self.sessions.get(&client_id) != Some(&session) {
                    return;
                }
                self.sessions.remove(&client_id);
                self.tracker
                    .disconnected(&client_id, reason, time)
                    .into_iter()
                    .collect()
            }
        };
        let messages = events
            .iter()
            .filter_map(|e| LifecycleEvent::to_outgoing(e).ok())
            .collect();
        self.link.publish_all(messages);
    }
}

/// The thing named like the client, if registered (AWS: the thing attached to the principal
/// whose name is the client id), with its last-seen time updated.
async fn thing_of(registry: &Registry, client_id: &str, now_ms: u64) -> Option<String> {
    match registry.touch(client_id, now_ms).await {
        Ok(true) => Some(client_id.to_owned()),
        Ok(false) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot update the thing's last-seen time");
            None
        }
    }
}
