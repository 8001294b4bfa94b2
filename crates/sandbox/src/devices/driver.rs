//! The tokio driver of one simulated device: one rumqttc connection whose client id is the
//! thing name, feeding the sans-IO [`Firmware`] and carrying out its [`Action`]s.
//!
//! It reconnects with exponential backoff when the connection drops; the firmware then
//! resubscribes and re-reads its shadows, as real firmware does after a reconnect.

use std::sync::Arc;
use std::time::Duration;

use companion_awsiot::Timestamp;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS, SubscribeFilter};
use tokio::sync::watch;

use super::clock::{Clock, SystemClock};
use super::firmware::{Action, Firmware, Qos};
use crate::connect::{ConnectError, Endpoint, mqtt_options};

/// Requests the driver may queue toward rumqttc's event loop.
const REQUEST_CAPACITY: usize = 128;
/// AWS IoT Core accepts at most 8 filters per SUBSCRIBE (reference §4.6).
const FILTERS_PER_SUBSCRIBE: usize = 8;
/// How long a clean disconnect may take before the connection is simply dropped.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// Why a simulated device could not run.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The endpoint's TLS material was unusable.
    #[error("the device cannot build its connection options: {0}")]
    Connect(#[from] ConnectError),
    /// The device's task panicked or was aborted.
    #[error("the simulated device {thing} stopped unexpectedly: {reason}")]
    Crashed {
        /// The device.
        thing: String,
        /// What the runtime reported.
        reason: String,
    },
}

/// Exponential reconnect backoff: `min`, doubling up to `max`, back to `min` after a CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
    current: Duration,
}

impl Backoff {
    /// A backoff from `min` to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The delay before the next attempt; later attempts wait twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay
    }

    /// Starts again from `min` (after a successful connection).
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(10))
    }
}

/// How a device connects and keeps time.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// Reconnect delays.
    pub backoff: Backoff,
    /// The time source for the firmware.
    pub clock: Arc<dyn Clock>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// One simulated device ready to run: its firmware and its connection options.
#[derive(Debug)]
pub struct SimulatedDevice {
    firmware: Firmware,
    mqtt: MqttOptions,
    options: DriverOptions,
}

impl SimulatedDevice {
    /// A device running `firmware` that connects to `endpoint` with its thing name as client id.
    pub fn new(
        firmware: Firmware,
        endpoint: &Endpoint,
        options: DriverOptions,
    ) -> Result<Self, DeviceError> {
        let mqtt = mqtt_options(firmware.thing().as_str(), endpoint)?;
        Ok(Self {
            firmware,
            mqtt,
            options,
        })
    }

    /// The firmware (for its thing name and kind before it runs).
    pub fn firmware(&self) -> &Firmware {
        &self.firmware
    }

    /// Runs until `stop` becomes true (or its sender is dropped), then disconnects cleanly and
    /// hands the firmware back.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Firmware {
        let (client, mut events) = AsyncClient::new(self.mqtt.clone(), REQUEST_CAPACITY);
        let mut backoff = self.options.backoff.clone();
        let mut connected = false;
        loop {
            let timer = self.timer();
            let wake = tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => break,
                event = events.poll() => Wake::Event(event),
                () = timer => Wake::Timer,
            };
            match wake {
                Wake::Event(Ok(event)) => {
                    connected |= matches!(event, Event::Incoming(Incoming::ConnAck(_)));
                    self.on_event(event, &client, &mut backoff);
                }
                Wake::Event(Err(error)) => {
                    tracing::warn!(thing = %self.firmware.thing(), %error, "connection lost");
                    connected = false;
                    self.firmware.on_disconnected();
                    if wait_or_stop(backoff.next_delay(), &mut stop).await {
                        break;
                    }
                }
                Wake::Timer => perform(&client, self.firmware.on_timer(self.now())),
            }
        }
        if connected {
            disconnect(&client, &mut events).await;
        }
        self.firmware
    }

    fn on_event(&mut self, event: Event, client: &AsyncClient, backoff: &mut Backoff) {
        let now = self.now();
        let actions = match event {
            Event::Incoming(Incoming::ConnAck(_)) => {
                backoff.reset();
                tracing::debug!(thing = %self.firmware.thing(), "connected");
                self.firmware.on_connected(now)
            }
            Event::Incoming(Incoming::Publish(publish)) => {
                self.firmware
                    .on_message(&publish.topic, &publish.payload, now)
            }
            _ => Vec::new(),
        };
        perform(client, actions);
    }

    /// Sleeps until the firmware's next deadline (forever when it has none).
    fn timer(&self) -> impl Future<Output = ()> + use<> {
        let wait = self
            .firmware
            .next_deadline()
            .map(|deadline| until(deadline, self.now()));
        async move {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        }
    }

    fn now(&self) -> Timestamp {
        self.options.clock.now()
    }
}

/// What woke the driver up.
enum Wake {
    /// The event loop produced an event or lost the connection.
    Event(Result<Event, rumqttc::ConnectionError>),
    /// The firmware's deadline passed.
    Timer,
}

/// The time from `now` to `deadline` (zero when it has passed).
fn until(deadline: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(deadline.millis().saturating_sub(now.millis()))
}

/// Waits `delay` unless stopped first; true when stopped.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.wait_for(|stopped| *stopped) => true,
        () = tokio::time::sleep(delay) => false,
    }
}

/// Hands the firmware's actions to rumqttc without waiting: the event loop is polled by the
/// same task, so awaiting a full request channel here would deadlock.
fn perform(client: &AsyncClient, actions: Vec<Action>) {
    for action in actions {
        let result = match action {
            Action::Subscribe(filters) => subscribe(client, filters),
            Action::Unsubscribe(filters) => filters
                .into_iter()
                .try_for_each(|filter| client.try_unsubscribe(filter)),
            Action::Publish(message, qos) => {
                client.try_publish(message.topic, qos_of(qos), false, message.payload)
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "a request to the broker was dropped");
        }
    }
}

fn subscribe(client: &AsyncClient, filters: Vec<String>) -> Result<(), rumqttc::ClientError> {
    filters.chunks(FILTERS_PER_SUBSCRIBE).try_for_each(|chunk| {
        let chunk = chunk
            .iter()
            .map(|filter| SubscribeFilter::new(filter.clone(), QoS::AtLeastOnce));
        client.try_subscribe_many(chunk)
    })
}

fn qos_of(qos: Qos) -> QoS {
    match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

/// Sends DISCONNECT and polls until it is written, the connection ends, or the grace runs out.
async fn disconnect(client: &AsyncClient, events: &mut EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let drain = async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(DISCONNECT_GRACE, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn a_deadline_in_the_past_is_due_now() {
        let now = Timestamp::from_millis(5_000);
        assert_eq!(until(Timestamp::from_millis(4_000), now), Duration::ZERO);
        assert_eq!(
            until(Timestamp::from_millis(5_250), now),
            Duration::from_millis(250)
        );
    }
}
