//! The AWS IoT services, each an ordinary MQTT client of a broker (rumqttc over
//! [`crate::connect::Endpoint`]): the same code serves the embedded broker (through the
//! gateway) or an external one such as Mosquitto.
//!
//! Each service is one task that owns its protocol machine from `companion-awsiot`: it polls
//! its MQTT event loop, hands each request publish to the machine and publishes what comes
//! back with `try_publish` into rumqttc's bounded request queue ([`REQUEST_QUEUE`]); when that
//! queue is full the response is dropped with a warning instead of blocking the loop (AWS
//! throttles too). Bad input never panics: the machines answer it with AWS's rejection.
//!
//! Jobs and fleet provisioning replies go through the broker to whoever subscribed to the
//! reply topic; AWS delivers them only to the requesting connection, which a service that is
//! an ordinary client cannot do.

pub mod jobs;
pub mod lifecycle;
pub mod provisioning;
pub mod shadow;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use companion_awsiot::{Outgoing, Timestamp};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, QoS, SubscribeFilter};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::connect::{ConnectError, Endpoint, mqtt_options};

/// Capacity of each service's rumqttc request queue.
pub const REQUEST_QUEUE: usize = 1024;

/// How long a service waits for its broker to accept it and its subscriptions at start.
const READY_DEADLINE: Duration = Duration::from_secs(10);

/// Why a service could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The MQTT options could not be built.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The broker did not accept the service's connection or subscriptions in time.
    #[error(
        "the {service} service could not connect and subscribe to the broker at {host}:{port} within 10 s: {reason}; check that the broker is running and allows $aws topics"
    )]
    NotReady {
        /// Which service.
        service: &'static str,
        /// Broker host.
        host: String,
        /// Broker port.
        port: u16,
        /// The last error seen.
        reason: String,
    },
    /// The service task has stopped.
    #[error("the {0} service has stopped; restart the sandbox")]
    Stopped(&'static str),
    /// A request to the service was refused.
    #[error("{0}")]
    Refused(String),
}

/// Why a service did not start: its database or its broker connection.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Loading persisted state failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// Connecting failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// An MQTT connection of one service, subscribed to its request topics.
pub(crate) struct ServiceLink {
    name: &'static str,
    client: AsyncClient,
    eventloop: EventLoop,
    filters: Vec<String>,
    dropped: u64,
}

impl ServiceLink {
    /// Connects as `sandbox-{name}-{random}` and waits until every filter is subscribed.
    pub(crate) async fn connect(
        name: &'static str,
        endpoint: &Endpoint,
        filters: Vec<String>,
    ) -> Result<Self, ServiceError> {
        let client_id = format!(
            "sandbox-{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let options = mqtt_options(&client_id, endpoint)?;
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let mut link = Self {
            name,
            client,
            eventloop,
            filters,
            dropped: 0,
        };
        link.wait_ready(endpoint).await?;
        Ok(link)
    }

    async fn wait_ready(&mut self, endpoint: &Endpoint) -> Result<(), ServiceError> {
        let until = Instant::now() + READY_DEADLINE;
        let mut last_error = "no answer".to_owned();
        loop {
            let polled = tokio::time::timeout_at(until, self.eventloop.poll()).await;
            match polled {
                Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => self.subscribe(),
                Ok(Ok(Event::Incoming(Incoming::SubAck(ack)))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        last_error = "the broker refused a subscription".to_owned();
                    } else {
                        return Ok(());
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    last_error = error.to_string();
                    if Instant::now() >= until {
                        break;
                    }
                    // Back off before rumqttc reconnects on the next poll.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => break,
            }
        }
        Err(ServiceError::NotReady {
            service: self.name,
            host: endpoint.host.clone(),
            port: endpoint.port,
            reason: last_error,
        })
    }

    fn subscribe(&self) {
        let filters = self
            .filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        if let Err(error) = self.client.try_subscribe_many(filters) {
            tracing::warn!(service = self.name, %error, "cannot subscribe");
        }
    }

    /// Polls until the next publish arrives; resubscribes after a reconnect. `None` when the
    /// connection failed (rumqttc reconnects on the next call).
    pub(crate) async fn next_publish(&mut self) -> Option<rumqttc::Publish> {
        match self.eventloop.poll().await {
            Ok(Event::Incoming(Incoming::Publish(publish))) => Some(publish),
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                self.subscribe();
                None
            }
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(service = self.name, %error, "broker connection lost; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                None
            }
        }
    }

    /// Queues `messages` for publishing (QoS 1), dropping those that do not fit.
    pub(crate) fn publish_all(&mut self, messages: Vec<Outgoing>) {
        for message in messages {
            let queued =
                self.client
                    .try_publish(message.topic, QoS::AtLeastOnce, false, message.payload);
            if queued.is_err() {
                self.dropped += 1;
                tracing::warn!(
                    service = self.name,
                    dropped = self.dropped,
                    "response dropped: the publish queue is full"
                );
            }
        }
    }

    /// Disconnects politely, giving the event loop a moment to send what is queued.
    pub(crate) async fn close(mut self) {
        let _ = self.client.try_disconnect();
        let until = Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(event)) = tokio::time::timeout_at(until, self.eventloop.poll()).await {
            if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    }
}

/// The wall clock as the protocol machines take it.
pub(crate) fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    Timestamp::from_millis(millis)
}

/// Resolves when the sandbox asks its services to stop.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
