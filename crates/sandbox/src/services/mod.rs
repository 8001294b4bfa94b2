//! The AWS IoT services, each an ordinary MQTT client of a broker (rumqttc over
//! [`crate::connect::Endpoint`]): the same code serves the embedded broker (through the
//! gateway) or an external one such as Mosquitto.
//!
//! Each service is one task that owns its protocol machine from `companion-awsiot`: it polls
//! its MQTT event loop, hands each request publish to the machine and queues what comes back.
//! Backpressure is explicit and bounded: requests arrive at QoS 1 with manual acknowledgement,
//! and a request is acknowledged only once all its replies are in rumqttc's bounded request
//! queue ([`REQUEST_QUEUE`]). A busy service therefore holds back its PUBACKs, and the broker
//! stops sending once its in-flight window for the service is full, so the replies waiting in
//! the service ([`ServiceLink`]'s backlog) are at most a few per unacknowledged request. QoS 0
//! requests carry no acknowledgement; past [`MAX_BACKLOG`] their replies are dropped with a
//! warning (AWS throttles too). Bad input never panics: the machines answer it with AWS's
//! rejection.
//!
//! Jobs and fleet provisioning replies go through the broker to whoever subscribed to the
//! reply topic; AWS delivers them only to the requesting connection, which a service that is
//! an ordinary client cannot do.

pub mod jobs;
pub mod lifecycle;
pub mod provisioning;
pub mod shadow;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use companion_awsiot::{Outgoing, Timestamp};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, QoS, SubscribeFilter};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::connect::{ConnectError, Endpoint, from_options, mqtt_options};

/// Client ids of the services start with this. AWS's own services are not MQTT clients, so the
/// gateway raises no lifecycle events for these connections.
pub const SERVICE_CLIENT_PREFIX: &str = "sandbox-service-";

/// Capacity of each service's rumqttc request queue.
pub const REQUEST_QUEUE: usize = 1024;

/// Most replies and acknowledgements a service holds while rumqttc's queue is full.
pub const MAX_BACKLOG: usize = 10_000;

/// Outgoing QoS 1 publishes a service keeps in flight.
const INFLIGHT: u16 = 500;

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
    backlog: VecDeque<Queued>,
    dropped: u64,
}

/// Something waiting for room in rumqttc's request queue.
enum Queued {
    Reply(Outgoing),
    Ack(rumqttc::Publish),
}

impl ServiceLink {
    /// Connects as `sandbox-service-{name}-{random}` and waits until every filter is subscribed.
    pub(crate) async fn connect(
        name: &'static str,
        endpoint: &Endpoint,
        filters: Vec<String>,
    ) -> Result<Self, ServiceError> {
        let client_id = format!(
            "{SERVICE_CLIENT_PREFIX}{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut options = mqtt_options(&client_id, endpoint)?;
        options.set_manual_acks(true).set_inflight(INFLIGHT);
        let (client, eventloop) = from_options(options, REQUEST_QUEUE)?;
        let mut link = Self {
            name,
            client,
            eventloop,
            filters,
            backlog: VecDeque::new(),
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
    /// event was something else or the connection failed (rumqttc reconnects on the next
    /// call). Call [`ServiceLink::done`] once the publish is handled.
    pub(crate) async fn next_publish(&mut self) -> Option<rumqttc::Publish> {
        self.flush();
        let event = self.eventloop.poll().await;
        self.flush();
        match event {
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

    /// Queues `messages` for publishing (QoS 1).
    pub(crate) fn publish_all(&mut self, messages: Vec<Outgoing>) {
        for message in messages {
            self.enqueue(Queued::Reply(message));
        }
        self.flush();
    }

    /// Acknowledges a handled request, after the replies queued before it.
    pub(crate) fn done(&mut self, publish: rumqttc::Publish) {
        self.enqueue(Queued::Ack(publish));
        self.flush();
    }

    fn enqueue(&mut self, item: Queued) {
        if self.backlog.len() >= MAX_BACKLOG {
            self.dropped += 1;
            tracing::warn!(
                service = self.name,
                dropped = self.dropped,
                "reply dropped: the service is overloaded"
            );
            return;
        }
        self.backlog.push_back(item);
    }

    /// Moves the backlog into rumqttc's request queue, in order, while there is room.
    fn flush(&mut self) {
        while let Some(item) = self.backlog.front() {
            let queued = match item {
                Queued::Reply(m) => self.client.try_publish(
                    m.topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    m.payload.clone(),
                ),
                Queued::Ack(publish) => self.client.try_ack(publish),
            };
            if queued.is_err() {
                return;
            }
            self.backlog.pop_front();
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
