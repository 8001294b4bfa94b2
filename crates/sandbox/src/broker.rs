//! The embedded MQTT broker: rumqttd 0.20 on a private loopback port, behind the sandbox's
//! own [`crate::gateway`].
//!
//! # Why rumqttd
//!
//! * It is a Rust library that runs in-process (no external binary to install or supervise),
//!   configured in code, with MQTT 3.1.1, QoS 0/1, retained messages, last will, persistent
//!   sessions in memory and shared subscriptions — what AWS IoT Core offers over MQTT 3.1.1.
//! * QoS 0 routing is fast (176k–330k msg/s on loopback here); that covers a sandbox for one
//!   machine. The alternatives were Mosquitto (an external process: supported through
//!   `SandboxConfig::external_broker` instead) and writing a broker ourselves.
//!
//! # Its limits, and what the sandbox does about them
//!
//! * **`$` topics.** rumqttd 0.20 refuses every subscription whose filter starts with `$`
//!   (except `$share/`) — it logs "Subscription cannot be validated" and *disconnects* the
//!   client (`router/routing.rs`, `validate_subscription`) — and its wildcard matcher never
//!   matches a topic starting with `$` (`protocol::matches`). AWS IoT's APIs all live under
//!   `$aws/`, so rumqttd cannot serve them directly. The sandbox therefore never exposes
//!   rumqttd: clients reach the [`crate::gateway`], which rewrites `$`-topics to
//!   [`INTERNAL_DOLLAR_PREFIX`] on the way in and back on the way out, refuses clients that use
//!   the internal prefix themselves, and applies MQTT's rule that a filter starting with a
//!   wildcard does not match `$` topics. The gateway also gives the sandbox what rumqttd cannot
//!   report: connects and disconnects (lifecycle events) and the client certificate.
//! * **QoS 1 fan-out** was measured at about 5–7k msg/s to one subscriber (the backlog grows in
//!   memory); the services answer requests at that order of magnitude.
//! * **MQTT 5** is partial in rumqttd; the sandbox offers MQTT 3.1.1 only.
//! * **No shutdown API**: `Broker::start` blocks on threads it spawns and never returns. The
//!   broker thread lives until the process ends; stopping a [`crate::Sandbox`] stops its
//!   gateway and services, so nothing can reach the orphaned broker.
//! * **No bound-port report**: rumqttd cannot listen on port 0 and say which port it got, so
//!   [`free_port`] asks the OS for a free port first and [`wait_until_listening`] waits (with
//!   a deadline) until rumqttd accepts connections on it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use tokio::time::Instant;

/// What `$` at the start of a client's topic becomes inside rumqttd (`$aws/things/x` →
/// `sandbox-dollar/aws/things/x`). Clients may not use this prefix themselves.
pub const INTERNAL_DOLLAR_PREFIX: &str = "sandbox-dollar/";

/// Largest MQTT packet the broker and the gateway accept: AWS IoT's 128 KB payload plus room
/// for the topic and headers.
pub const MAX_PACKET_BYTES: usize = 128 * 1024 + 1024;

/// How long [`EmbeddedBroker::start`] waits for rumqttd to accept connections.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No free loopback port could be found.
    #[error("cannot find a free port on 127.0.0.1 for the embedded broker: {0}")]
    NoFreePort(std::io::Error),
    /// rumqttd did not accept connections in time.
    #[error(
        "the embedded broker did not start listening on {0} within 10 s; another process may have taken the port, try again"
    )]
    NotListening(SocketAddr),
    /// The broker thread could not be spawned.
    #[error("cannot start the embedded broker's thread: {0}")]
    Thread(std::io::Error),
}

/// A running rumqttd on a private loopback port. It cannot be stopped (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    address: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts rumqttd on a free loopback port with one plain MQTT 3.1.1 listener and waits
    /// until it accepts connections.
    pub async fn start() -> Result<Self, BrokerError> {
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut broker = Broker::new(config(address));
        std::thread::Builder::new()
            .name("sandbox-rumqttd".to_owned())
            .spawn(move || {
                if let Err(error) = broker.start() {
                    tracing::error!(%error, "the embedded broker stopped");
                }
            })
            .map_err(BrokerError::Thread)?;
        wait_until_listening(address, STARTUP_DEADLINE).await?;
        tracing::info!(%address, "embedded broker (rumqttd) listening");
        Ok(Self { address })
    }

    /// Where rumqttd listens (plain TCP, internal topics): only the gateway connects here.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// A loopback port the OS reports free right now (bound to 127.0.0.1:0, then released).
pub fn free_port() -> Result<u16, BrokerError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(BrokerError::NoFreePort)?;
    let port = listener
        .local_addr()
        .map_err(BrokerError::NoFreePort)?
        .port();
    Ok(port)
}

/// Connects to `address` until it accepts or `deadline` has passed.
pub async fn wait_until_listening(
    address: SocketAddr,
    deadline: Duration,
) -> Result<(), BrokerError> {
    let until = Instant::now() + deadline;
    loop {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(BrokerError::NotListening(address));
        }
        // A poll interval, not a wait for an event: rumqttd has no readiness signal.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn config(address: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PACKET_BYTES,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let mut v4 = HashMap::new();
    v4.insert(
        "internal".to_owned(),
        ServerSettings {
            name: "sandbox-internal".to_owned(),
            listen: address,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        },
    );
    Config {
        id: 0,
        v4: Some(v4),
        router: RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 500,
            max_segment_size: 100 << 20,
            max_segment_count: 10,
            ..Default::default()
        },
        ..Default::default()
    }
}
