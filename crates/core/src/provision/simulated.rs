//! The local sandbox's simulated radio behind [`Radio`] and [`ProvLink`]: provisionable
//! simulated ESP devices (`companion_sandbox::radio`) reached through the same traits as BLE
//! and SoftAP, with the sandbox's link model (set-up time, latency per GATT operation, MTU,
//! drops).
//!
//! [`SimulatedRadio`] wraps a radio in this process (the app's embedded sandbox);
//! [`SandboxRadio`] reaches the radio of a sandbox running in another process (`companion
//! sandbox`) over its loopback HTTP server (`companion_sandbox::radio::http`), one TCP
//! connection per link, so the link model still runs in the sandbox.
//!
//! ```no_run
//! # async fn example(sandbox: &companion_sandbox::Sandbox) -> Result<(), companion_core::provision::TransportError> {
//! use std::time::Duration;
//! use companion_core::provision::Radio;
//! use companion_core::provision::simulated::SimulatedRadio;
//!
//! let radio = SimulatedRadio::new(sandbox.radio());
//! let found = radio.scan(Duration::from_secs(2)).await?;
//! let link = radio.connect(&found[0].id).await?;
//! let version = link.exchange("proto-ver", b"---".to_vec()).await?;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use companion_sandbox::radio::http::{self as wire, Connected, Failure, ScanEntry};
use companion_sandbox::radio::{self as sim, LinkError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::transport::{
    Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind,
};

/// The sandbox's simulated radio as a [`Radio`].
#[derive(Debug, Clone)]
pub struct SimulatedRadio {
    radio: sim::SimulatedRadio,
}

impl SimulatedRadio {
    /// Wraps the sandbox's radio (`Sandbox::radio()`).
    pub fn new(radio: sim::SimulatedRadio) -> Self {
        Self { radio }
    }

    /// The simulated radio itself: to add devices, change the link model, inject drops, or
    /// watch a device's state.
    pub fn simulated(&self) -> &sim::SimulatedRadio {
        &self.radio
    }
}

impl Radio for SimulatedRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::Simulated
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(async move {
            let seen = self.radio.scan(window).await;
            Ok(seen
                .into_iter()
                .map(|ad| Discovered {
                    id: ad.id,
                    name: ad.name,
                    rssi: Some(ad.rssi),
                    kind: TransportKind::Simulated,
                })
                .collect())
        })
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move {
            let link = self.radio.connect(&id).await.map_err(transport_error)?;
            Ok(Box::new(SimulatedLink { link }) as Box<dyn ProvLink>)
        })
    }
}

/// An open simulated link as a [`ProvLink`].
#[derive(Debug)]
pub struct SimulatedLink {
    link: sim::SimulatedLink,
}

impl SimulatedLink {
    /// The simulated link itself (its statistics: exchanges and GATT operations).
    pub fn simulated(&self) -> &sim::SimulatedLink {
        &self.link
    }
}

impl ProvLink for SimulatedLink {
    fn endpoints(&self) -> Vec<String> {
        self.link.endpoints()
    }

    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>> {
        let endpoint = endpoint.to_owned();
        Box::pin(async move {
            self.link
                .exchange(&endpoint, request)
                .await
                .map_err(transport_error)
        })
    }

    fn close(&self) -> TransportFuture<'_, ()> {
        Box::pin(async move {
            self.link.close().await;
            Ok(())
        })
    }
}

/// The radio of a sandbox running in another process, through its loopback HTTP server.
#[derive(Debug, Clone)]
pub struct SandboxRadio {
    address: SocketAddr,
    timeouts: SandboxTimeouts,
}

/// How long the client waits for the sandbox's radio server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxTimeouts {
    /// Opening a TCP connection to the server.
    pub connect: Duration,
    /// One request beyond the time the simulation itself takes (a scan window, a link's
    /// set-up time, a device's answer).
    pub request: Duration,
}

impl Default for SandboxTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
        }
    }
}

impl SandboxRadio {
    /// The radio served at `address` (the `radio` entry of the sandbox's `sandbox.json`).
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            timeouts: SandboxTimeouts::default(),
        }
    }

    /// The same radio with other timeouts.
    pub fn with_timeouts(mut self, timeouts: SandboxTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Scans for `window` and returns each device with the endpoints its GATT database offers.
    pub async fn scan_entries(&self, window: Duration) -> Result<Vec<ScanEntry>, TransportError> {
        let window = window.min(wire::MAX_SCAN_WINDOW);
        let mut connection = self.open().await?;
        let path = format!("/scan?window_ms={}", window.as_millis());
        let body = connection
            .send(
                Method::GET,
                &path,
                Vec::new(),
                window + self.timeouts.request,
            )
            .await
            .map_err(|error| error.in_context("", ""))?;
        serde_json::from_slice(&body).map_err(|e| {
            TransportError::Io(format!("the sandbox's radio sent an unreadable scan: {e}"))
        })
    }

    /// Opens a link to device `id`: a connection to the server that holds the link.
    pub async fn open_link(&self, id: &str) -> Result<SandboxLink, TransportError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(TransportError::NotFound(id.to_owned()));
        }
        let mut connection = self.open().await?;
        let body = connection
            .send(
                Method::POST,
                &format!("/connect?id={id}"),
                Vec::new(),
                self.timeouts.request,
            )
            .await
            .map_err(|error| error.in_context("", id))?;
        let connected: Connected = serde_json::from_slice(&body).map_err(|e| {
            TransportError::Io(format!(
                "the sandbox's radio sent an unreadable answer: {e}"
            ))
        })?;
        Ok(SandboxLink {
            id: id.to_owned(),
            endpoints: connected.endpoints,
            request_timeout: self.timeouts.request,
            connection: Mutex::new(Some(connection)),
        })
    }

    async fn open(&self) -> Result<Connection, TransportError> {
        let unreachable = |detail: String| {
            TransportError::NoRadio(format!(
                "the sandbox's radio at {} does not answer ({detail}): is `companion sandbox` running?",
                self.address
            ))
        };
        let stream = match timeout(self.timeouts.connect, TcpStream::connect(self.address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(unreachable(error.to_string())),
            Err(_) => return Err(unreachable("no answer in time".into())),
        };
        let _ = stream.set_nodelay(true);
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let task = tokio::spawn(async move {
            if let Err(error) = driver.await {
                tracing::debug!(%error, "a connection to the sandbox's radio ended");
            }
        });
        Ok(Connection {
            host: self.address.to_string(),
            sender,
            task,
        })
    }
}

impl Radio for SandboxRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::Simulated
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(async move {
            Ok(self
                .scan_entries(window)
                .await?
                .into_iter()
                .map(|entry| Discovered {
                    id: entry.id,
                    name: entry.name,
                    rssi: Some(entry.rssi),
                    kind: TransportKind::Simulated,
                })
                .collect())
        })
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move { Ok(Box::new(self.open_link(&id).await?) as Box<dyn ProvLink>) })
    }
}

/// One HTTP connection to the sandbox's radio server.
struct Connection {
    host: String,
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the connection drops the link it holds on the server.
        self.task.abort();
    }
}

impl Connection {
    /// Sends one request and returns the body of a success, or the failure the server named.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        limit: Duration,
    ) -> Result<Vec<u8>, SendError> {
        let lost = |detail: String| {
            TransportError::Disconnected(format!("the sandbox's radio went away ({detail})"))
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.as_str())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| TransportError::Io(format!("{path}: {e}")))?;
        let exchange = async {
            self.sender.ready().await.map_err(|e| lost(e.to_string()))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| lost(e.to_string()))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await
                .map_err(|e| lost(e.to_string()))?
                .to_bytes()
                .to_vec();
            Ok::<_, TransportError>((status, bytes))
        };
        let (status, bytes) =
            timeout(limit, exchange)
                .await
                .map_err(|_| TransportError::Timeout {
                    what: format!("the sandbox's radio ({path})"),
                    after: limit,
                })??;
        if status.is_success() {
            return Ok(bytes);
        }
        let failure: Failure = serde_json::from_slice(&bytes).unwrap_or_else(|_| Failure {
            error: "unknown".into(),
            message: format!("{status} {}", String::from_utf8_lossy(&bytes)),
        });
        Err(SendError::Refused(failure))
    }
}

/// Why a request to the radio server failed: the connection, or a failure the server named
/// (mapped to a transport error once the endpoint and device are known).
enum SendError {
    Transport(TransportError),
    Refused(Failure),
}

impl From<TransportError> for SendError {
    fn from(error: TransportError) -> Self {
        Self::Transport(error)
    }
}

impl SendError {
    /// The transport error for this failure on `endpoint` of device `id`.
    fn in_context(self, endpoint: &str, id: &str) -> TransportError {
        match self {
            Self::Transport(error) => error,
            Self::Refused(failure) => match wire::link_error(&failure, endpoint, id) {
                Some(link) => transport_error(link),
                None => {
                    TransportError::Io(format!("the sandbox's radio refused: {}", failure.message))
                }
            },
        }
    }
}

/// A link held by one connection to the sandbox's radio server.
pub struct SandboxLink {
    id: String,
    endpoints: Vec<String>,
    request_timeout: Duration,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for SandboxLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxLink")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ProvLink for SandboxLink {
    fn endpoints(&self) -> Vec<String> {
        self.endpoints.clone()
    }

    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>> {
        let endpoint = endpoint.to_owned();
        Box::pin(async move {
            if !self.endpoints.contains(&endpoint) {
                return Err(TransportError::NoEndpoint(endpoint));
            }
            let mut held = self.connection.lock().await;
            let Some(connection) = held.as_mut() else {
                return Err(TransportError::Disconnected("the link was closed".into()));
            };
            let sent = connection
                .send(
                    Method::POST,
                    &format!("/exchange/{endpoint}"),
                    request,
                    self.request_timeout,
                )
                .await
                .map_err(|error| error.in_context(&endpoint, &self.id));
            if matches!(
                sent,
                Err(TransportError::Disconnected(_) | TransportError::Timeout { .. })
            ) {
                // The link is gone (or cannot be trusted): hang up, freeing the device.
                *held = None;
            }
            sent
        })
    }

    fn close(&self) -> TransportFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut connection) = self.connection.lock().await.take() {
                let _ = connection
                    .send(
                        Method::POST,
                        "/disconnect",
                        Vec::new(),
                        Duration::from_secs(5),
                    )
                    .await;
            }
            Ok(())
        })
    }
}

/// The transport error for a simulated-link error.
pub fn transport_error(error: LinkError) -> TransportError {
    match error {
        LinkError::NotFound(id) => TransportError::NotFound(id),
        LinkError::NoEndpoint(endpoint) => TransportError::NoEndpoint(endpoint),
        LinkError::Disconnected(reason) => TransportError::Disconnected(reason),
        busy @ LinkError::Busy(_) => {
            TransportError::Io(format!("{busy}; disconnect the other client and try again"))
        }
        refused @ (LinkError::HandlerFailed { .. } | LinkError::TooLong { .. }) => {
            TransportError::Io(refused.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_errors_map_to_the_transport_errors_the_flow_knows() {
        assert_eq!(
            transport_error(LinkError::Disconnected("gone".into())),
            TransportError::Disconnected("gone".into())
        );
        assert_eq!(
            transport_error(LinkError::NotFound("24:0A:C4:00:00:01".into())),
            TransportError::NotFound("24:0A:C4:00:00:01".into())
        );
        assert_eq!(
            transport_error(LinkError::NoEndpoint("aws-iot".into())),
            TransportError::NoEndpoint("aws-iot".into())
        );
        let refused = transport_error(LinkError::HandlerFailed {
            endpoint: "prov-session".into(),
        });
        assert!(
            matches!(&refused, TransportError::Io(m) if m.contains("ATT error 0x04")),
            "{refused:?}"
        );
    }
}
