//! SoftAP provisioning: the device runs a Wi-Fi access point and protocomm's HTTP server
//! (`protocomm_httpd.c`), by default at `192.168.4.1:80`.
//!
//! Each exchange is an HTTP/1.1 `POST /<endpoint>` whose body is the raw request bytes (protobuf
//! or ciphertext), sent with esp_prov's headers (`Content-Type:
//! application/x-www-form-urlencoded`, `Accept: text/plain`); the answer is the body of a
//! `200 OK`. The body must not be empty and may be at most 4096 bytes (the server's limits).
//!
//! # The session cookie
//!
//! The first answer of a new device session carries `Set-Cookie: session=<u32>`. The link keeps
//! it and sends `Cookie: session=<u32>` with every later request; the device compares the whole
//! `Cookie` header with that text, so no other cookie is ever sent. With the cookie, the device
//! continues the session across TCP connections; without one (older firmware), the session is
//! bound to the socket. So the link opens a new connection by itself (the device's server
//! allows one socket and closes idle or failed ones) whenever that cannot lose the session:
//! when it holds the cookie, or before the first `prov-session` exchange. A request is repeated
//! only if hyper reports that none of it reached the socket. If the device answers with a new
//! session cookie after a session began, the old session is gone and the exchange fails with
//! [`TransportError::Disconnected`].
//!
//! When a handler fails (a wrong proof of possession, a message it cannot decrypt), the ESP-IDF
//! server closes the socket without answering; that surfaces as
//! [`TransportError::Disconnected`] saying so.
//!
//! # Scanning
//!
//! Finding and joining the device's access point (`PROV_…`) is the operating system's job
//! (iOS lets only the user join; Android asks about a network without internet), so
//! [`SoftApRadio::scan`] does not scan Wi-Fi: it returns the one configured device address
//! if its HTTP port accepts a connection within the scan window, and nothing otherwise.
//!
//! The client is hyper's bare HTTP/1.1 connection (plain HTTP, as the device serves it; no
//! TLS stack and no connection pool).
//!
//! # Not yet verified against real hardware
//!
//! The tests use an HTTP server on 127.0.0.1 that follows `protocomm_httpd.c` as read in the
//! ESP-IDF sources (`tests/softap_http.rs`), not a device. Unchecked: esp_http_server's own
//! HTTP/1.1 behaviour (keep-alive, when it closes the single socket, its answer to an
//! unregistered URI, assumed 404), the session cookie on the IDF versions in the field (older
//! ones bind the session to the socket only), and the Wi-Fi side (joining the AP, the AP
//! changing channel when the station connects).

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::transport::{
    Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind,
};

/// Where ESP-IDF's SoftAP provisioning serves (`PROTOCOMM_HTTPD_DEFAULT_CONFIG`).
pub const DEFAULT_DEVICE: &str = "192.168.4.1:80";
/// The largest request body the device accepts (`MAX_REQ_BODY_LEN`).
pub const MAX_REQUEST_LEN: usize = 4096;
/// The largest answer this client reads.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;
/// esp_prov's request headers.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const ACCEPT_TEXT: &str = "text/plain";

/// Where the device is and how long each step may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftApConfig {
    /// The device's HTTP server, `host[:port]` (an `http://` prefix is accepted).
    pub device: String,
    /// The name scans report: the access point's SSID if known (e.g. `PROV_1A2B3C`).
    pub name: String,
    /// Custom endpoints the device is known to offer, reported by
    /// [`ProvLink::endpoints`] besides the standard ones.
    pub custom_endpoints: Vec<String>,
    /// Opening a TCP connection.
    pub connect_timeout: Duration,
    /// One request and its whole answer (a blocking Wi-Fi scan answers only when done).
    pub request_timeout: Duration,
}

impl Default for SoftApConfig {
    fn default() -> Self {
        Self {
            device: DEFAULT_DEVICE.to_owned(),
            name: "ESP SoftAP".to_owned(),
            custom_endpoints: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl SoftApConfig {
    /// The default configuration for the device at `device` (`host[:port]`).
    pub fn device(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            ..Self::default()
        }
    }
}

/// `host[:port]` from `host`, `host:port` or `http://host:port/`, port 80 by default.
fn authority(device: &str) -> Result<String, TransportError> {
    let trimmed = device.trim();
    let bare = trimmed
        .strip_prefix("http://")
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    if bare.is_empty()
        || bare.contains(['/', '?', '#', '@', ' '])
        || trimmed.contains("://") && !trimmed.starts_with("http://")
    {
        return Err(TransportError::Io(format!(
            "\"{device}\" is not a device address (expected host[:port], e.g. {DEFAULT_DEVICE})"
        )));
    }
    let has_port = match bare.rsplit_once(':') {
        // An IPv6 literal is bracketed: `[::1]:80` has a port, `[::1]` has none.
        Some((host, port)) => {
            (!host.contains(':') || host.ends_with(']')) && port.parse::<u16>().is_ok()
        }
        None => false,
    };
    Ok(if has_port {
        bare.to_owned()
    } else {
        format!("{bare}:80")
    })
}

/// The device's access point, reached over HTTP.
#[derive(Debug, Clone)]
pub struct SoftApRadio {
    config: SoftApConfig,
}

impl SoftApRadio {
    /// A radio for the configured device.
    pub fn new(config: SoftApConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &SoftApConfig {
        &self.config
    }

    /// Opens a link to the device at `id` (`host[:port]`).
    pub async fn open_link(&self, id: &str) -> Result<SoftApLink, TransportError> {
        let authority = authority(id)?;
        let link = SoftApLink {
            authority,
            config: self.config.clone(),
            state: Mutex::new(HttpState::default()),
        };
        {
            let mut state = link.state.lock().await;
            link.open_connection(&mut state).await?;
        }
        Ok(link)
    }

    async fn probe(&self, window: Duration) -> Result<Vec<Discovered>, TransportError> {
        let authority = authority(&self.config.device)?;
        let limit = window.min(self.config.connect_timeout);
        match timeout(limit, TcpStream::connect(authority.as_str())).await {
            Ok(Ok(_stream)) => Ok(vec![Discovered {
                id: authority,
                name: self.config.name.clone(),
                rssi: None,
                kind: TransportKind::SoftAp,
            }]),
            Ok(Err(error)) if error.kind() == io::ErrorKind::PermissionDenied => {
                Err(TransportError::PermissionDenied(format!(
                    "connecting to {authority}: {error}; on iOS and Android the app needs local network access"
                )))
            }
            Ok(Err(error)) => {
                tracing::debug!(%authority, %error, "the SoftAP device is not reachable");
                Ok(Vec::new())
            }
            Err(_) => Ok(Vec::new()),
        }
    }
}

impl Radio for SoftApRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::SoftAp
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(self.probe(window))
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move {
            let link = self.open_link(&id).await?;
            Ok(Box::new(link) as Box<dyn ProvLink>)
        })
    }
}

/// An HTTP link to one device, keeping its session cookie.
pub struct SoftApLink {
    authority: String,
    config: SoftApConfig,
    state: Mutex<HttpState>,
}

#[derive(Default)]
struct HttpState {
    sender: Option<SendRequest<Full<Bytes>>>,
    connection: Option<JoinHandle<()>>,
    /// `session=<u32>`, as the device set it.
    cookie: Option<String>,
    /// Whether a `prov-session` exchange was attempted.
    session_begun: bool,
    /// Why the link is closed, once it is.
    closed: Option<String>,
}

impl HttpState {
    fn drop_connection(&mut self) {
        self.sender = None;
        if let Some(task) = self.connection.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for SoftApLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cookie names the device's session: not printed.
        f.debug_struct("SoftApLink")
            .field("device", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Drop for SoftApLink {
    fn drop(&mut self) {
        self.state.get_mut().drop_connection();
    }
}

impl SoftApLink {
    /// The device's `host:port`.
    pub fn device(&self) -> &str {
        &self.authority
    }

    /// Whether the device has given this link a session cookie.
    pub async fn has_session_cookie(&self) -> bool {
        self.state.lock().await.cookie.is_some()
    }

    async fn open_connection(&self, state: &mut HttpState) -> Result<(), TransportError> {
        state.drop_connection();
        let limit = self.config.connect_timeout;
        let what = || format!("connecting to the device at {}", self.authority);
        let stream = match timeout(limit, TcpStream::connect(self.authority.as_str())).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(map_connect_error(&error, &self.authority)),
            Err(_) => {
                return Err(TransportError::Timeout {
                    what: what(),
                    after: limit,
                });
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            match timeout(limit, http1::handshake(TokioIo::new(stream))).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(error)) => return Err(TransportError::Io(format!("{}: {error}", what()))),
                Err(_) => {
                    return Err(TransportError::Timeout {
                        what: what(),
                        after: limit,
                    });
                }
            };
        let authority = self.authority.clone();
        state.connection = Some(tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%authority, %error, "SoftAP connection ended");
            }
        }));
        state.sender = Some(sender);
        Ok(())
    }

    /// A live connection, opening a new one where that cannot lose the device's session.
    async fn ready(&self, state: &mut HttpState) -> Result<(), TransportError> {
        if state.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        if state.session_begun && state.cookie.is_none() {
            let reason = "the device closed the HTTP connection, and without a session cookie that ended its secure session: connect again and start a new session";
            state.closed = Some(reason.to_owned());
            return Err(TransportError::Disconnected(reason.to_owned()));
        }
        self.open_connection(state).await
    }

    fn request(
        &self,
        state: &HttpState,
        endpoint: &str,
        body: &[u8],
    ) -> Result<Request<Full<Bytes>>, TransportError> {
        let mut builder = Request::post(format!("/{endpoint}"))
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .header(ACCEPT, ACCEPT_TEXT);
        if let Some(cookie) = &state.cookie {
            builder = builder.header(COOKIE, cookie.as_str());
        }
        builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|error| TransportError::Io(format!("POST /{endpoint}: {error}")))
    }

    async fn exchange_bytes(
        &self,
        endpoint: &str,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        if endpoint.is_empty()
            || !endpoint
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        {
            return Err(TransportError::NoEndpoint(endpoint.to_owned()));
        }
        if request.is_empty() {
            return Err(TransportError::Io(format!(
                "an empty request to {endpoint}: the device's HTTP server refuses empty bodies (send e.g. \"ESP\" to proto-ver)"
            )));
        }
        if request.len() > MAX_REQUEST_LEN {
            return Err(TransportError::Io(format!(
                "a {}-byte request to {endpoint} is longer than the device accepts ({MAX_REQUEST_LEN} bytes)",
                request.len()
            )));
        }
        let mut state = self.state.lock().await;
        if let Some(reason) = &state.closed {
            return Err(TransportError::Disconnected(reason.clone()));
        }
        self.ready(&mut state).await?;
        if endpoint == PROV_SESSION {
            state.session_begun = true;
        }
        let limit = self.config.request_timeout;
        let outcome = timeout(limit, self.send(&mut state, endpoint, &request)).await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                if matches!(error, TransportError::Disconnected(_)) {
                    state.drop_connection();
                }
                Err(error)
            }
            Err(_) => {
                // The device may still act on the request: the session ciphers can no longer be
                // trusted to be in step.
                state.drop_connection();
                let error = TransportError::Timeout {
                    what: format!("POST /{endpoint}"),
                    after: limit,
                };
                state.closed = Some(format!(
                    "the link was closed after a timeout ({error}); connect again and start a new session"
                ));
                Err(error)
            }
        }
    }

    async fn send(
        &self,
        state: &mut HttpState,
        endpoint: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let mut retried = false;
        let response = loop {
            let request = self.request(state, endpoint, body)?;
            let Some(sender) = state.sender.as_mut() else {
                return Err(TransportError::Disconnected("no connection".into()));
            };
            if let Err(error) = sender.ready().await {
                tracing::debug!(%error, "the kept connection is gone");
            }
            match sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(failed) if failed.message().is_some() && !retried => {
                    // Nothing reached the socket: a fresh connection (with the cookie) is safe.
                    tracing::debug!(error = %failed.error(), "reconnecting before sending");
                    retried = true;
                    state.sender = None;
                    self.ready(state).await?;
                }
                Err(failed) => {
                    let error = failed.into_error();
                    return Err(self.send_error(&error, endpoint));
                }
            }
        };
        let status = response.status();
        let new_cookie = session_cookie(response.headers().get_all(SET_COOKIE));
        let body = Limited::new(response.into_body(), MAX_RESPONSE_LEN)
            .collect()
            .await
            .map_err(|error| {
                TransportError::Disconnected(format!(
                    "reading the device's answer to /{endpoint}: {error}"
                ))
            })?
            .to_bytes();
        if let Some(cookie) = new_cookie {
            let replaced = state.cookie.replace(cookie.clone());
            if let Some(old) = replaced
                && old != cookie
                && state.session_begun
                && endpoint != PROV_SESSION
            {
                let reason = "the device started a new session (its session cookie changed), so the secure session is gone: connect again and start a new session";
                state.closed = Some(reason.to_owned());
                return Err(TransportError::Disconnected(reason.to_owned()));
            }
        }
        match status {
            StatusCode::OK => Ok(body.to_vec()),
            StatusCode::NOT_FOUND => Err(TransportError::NoEndpoint(endpoint.to_owned())),
            status => Err(TransportError::Io(format!(
                "the device answered HTTP {status} to /{endpoint}"
            ))),
        }
    }

    fn send_error(&self, error: &hyper::Error, endpoint: &str) -> TransportError {
        if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
            TransportError::Disconnected(format!(
                "the device closed the connection without answering /{endpoint}: it refused the request (a wrong proof of possession, or a session it no longer has) or the Wi-Fi link dropped; connect again and start a new session"
            ))
        } else {
            TransportError::Io(format!("POST /{endpoint} to {}: {error}", self.authority))
        }
    }

    async fn close_link(&self) -> Result<(), TransportError> {
        let mut state = self.state.lock().await;
        state.drop_connection();
        state.closed = Some("the link was closed".into());
        Ok(())
    }
}

/// The `session=<value>` cookie among `Set-Cookie` headers.
fn session_cookie<'a>(
    values: impl IntoIterator<Item = &'a hyper::header::HeaderValue>,
) -> Option<String> {
    values.into_iter().find_map(|value| {
        let text = value.to_str().ok()?;
        let pair = text.split(';').next()?.trim();
        let (name, value) = pair.split_once('=')?;
        (name.trim() == "session").then(|| format!("session={}", value.trim()))
    })
}

fn map_connect_error(error: &io::Error, authority: &str) -> TransportError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => TransportError::PermissionDenied(format!(
            "connecting to {authority}: {error}; on iOS and Android the app needs local network access"
        )),
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable => TransportError::NotFound(format!(
            "{authority} ({error}): join the device's Wi-Fi network (PROV_…) first"
        )),
        _ => TransportError::Io(format!("connecting to {authority}: {error}")),
    }
}

impl ProvLink for SoftApLink {
    fn endpoints(&self) -> Vec<String> {
        let mut names: Vec<String> = [PROTO_VER, PROV_SESSION, PROV_CONFIG, PROV_SCAN, PROV_CTRL]
            .into_iter()
            .map(str::to_owned)
            .collect();
        for custom in &self.config.custom_endpoints {
            if !names.contains(custom) {
                names.push(custom.clone());
            }
        }
        names
    }

    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>> {
        let endpoint = endpoint.to_owned();
        Box::pin(async move { self.exchange_bytes(&endpoint, request).await })
    }

    fn close(&self) -> TransportFuture<'_, ()> {
        Box::pin(self.close_link())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn device_addresses_get_a_port() {
        assert_eq!(authority("192.168.4.1").unwrap(), "192.168.4.1:80");
        assert_eq!(
            authority("http://192.168.4.1:8080/").unwrap(),
            "192.168.4.1:8080"
        );
        assert_eq!(authority("[::1]").unwrap(), "[::1]:80");
        assert_eq!(authority("[::1]:81").unwrap(), "[::1]:81");
        assert!(authority("https://device").is_err());
        assert!(authority("192.168.4.1/prov-session").is_err());
        assert!(authority("").is_err());
    }

    #[test]
    fn only_the_session_cookie_is_kept() {
        let values = [
            HeaderValue::from_static("theme=dark; Path=/"),
            HeaderValue::from_static("session=1234567; Path=/"),
        ];
        assert_eq!(session_cookie(&values), Some("session=1234567".into()));
        assert_eq!(session_cookie(&[HeaderValue::from_static("other=1")]), None);
    }
}
