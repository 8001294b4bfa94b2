use serde::{Deserialize, Serialize};

use crate::{Command, Event};

/// Asks the backend to send the current connection state as a [`ConnectionChanged`] event.
///
/// The UI calls it once its listener is in place, so it never misses the state that was current
/// before it started listening. Replies with nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchConnection {}

impl Command for WatchConnection {
    const NAME: &'static str = "watch_connection";
    type Reply = ();
}

/// The broker connection changed state. Emitted on every change, and on [`WatchConnection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionChanged {
    /// Where the connection stands.
    pub state: ConnectionState,
    /// Which broker the connection is to.
    pub broker: BrokerMode,
    /// One sentence on why it is in this state and, when it is not connected, what to do.
    pub detail: String,
}

impl Event for ConnectionChanged {
    const NAME: &'static str = "connection-changed";
}

/// Where the broker connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not connected, and not trying to.
    Disconnected,
    /// Opening the connection.
    Connecting,
    /// Connected and subscribed.
    Connected,
    /// The connection dropped; retrying with backoff.
    Reconnecting,
}

impl ConnectionState {
    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::Disconnected => "Disconnected",
            Self::Connecting => "Connecting",
            Self::Connected => "Connected",
            Self::Reconnecting => "Reconnecting",
        }
    }
}

/// Which kind of broker the app talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerMode {
    /// No broker profile is active: the live-control engine is not part of this build yet.
    None,
    /// The embedded local stand-in of AWS IoT Core.
    Sandbox,
    /// An AWS IoT Core endpoint.
    AwsIot,
    /// Any other MQTT broker.
    Mqtt,
}

impl BrokerMode {
    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "no broker",
            Self::Sandbox => "local sandbox",
            Self::AwsIot => "AWS IoT Core",
            Self::Mqtt => "MQTT broker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_event_has_a_stable_json_shape() {
        let event = ConnectionChanged {
            state: ConnectionState::Disconnected,
            broker: BrokerMode::None,
            detail: "No broker profile is active.".into(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "state": "disconnected",
                "broker": "none",
                "detail": "No broker profile is active."
            })
        );
    }
}
