//! The SoftAP transport against an HTTP server on 127.0.0.1 that behaves like ESP-IDF's
//! `protocomm_httpd.c` (POST `/<endpoint>`, the `session=<u32>` cookie compared as a whole, the
//! session bound to the socket when there is no cookie, a failed handler closing the socket
//! without an answer) in front of companion-espprov's device role.

mod provisioning_device;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use companion_core::provision::softap::{SoftApConfig, SoftApRadio};
use companion_core::provision::{ProvLink, Radio, TransportError, TransportKind};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION};
use companion_espprov::wifi::config::StationStatus;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use provisioning_device::{ECHO, EspDevice, Failure, POP, SSID, handshake, provision};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One request as the device saw it.
#[derive(Debug, Clone)]
struct Seen {
    endpoint: String,
    socket: u64,
    cookie: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    new_session: bool,
}

#[derive(Debug)]
struct HttpDevice {
    esp: EspDevice,
    /// `cookie_session_id`.
    cookie_session: Option<u32>,
    /// `sock_session_id`.
    socket_session: Option<u64>,
    next_session: u32,
    seen: Vec<Seen>,
    /// Answer every request with `Connection: close` (a device that keeps no sockets).
    close_each: bool,
    /// Hold answers to this endpoint until notified.
    slow: Option<(String, Arc<Notify>)>,
}

#[derive(Debug, Clone)]
struct Server {
    address: String,
    device: Arc<Mutex<HttpDevice>>,
}

const ENDPOINTS: [&str; 6] = [
    PROTO_VER,
    PROV_SESSION,
    PROV_CONFIG,
    PROV_SCAN,
    PROV_CTRL,
    ECHO,
];

impl Server {
    async fn start(close_each: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let device = Arc::new(Mutex::new(HttpDevice {
            esp: EspDevice::sec1(6),
            cookie_session: None,
            socket_session: None,
            next_session: 0x5eed_0001,
            seen: Vec::new(),
            close_each,
            slow: None,
        }));
        let shared = device.clone();
        tokio::spawn(async move {
            let mut sockets = 0u64;
            while let Ok((stream, _)) = listener.accept().await {
                sockets += 1;
                let socket = sockets;
                let device = shared.clone();
                tokio::spawn(async move {
                    let for_service = device.clone();
                    let service =
                        service_fn(move |request| answer(request, socket, for_service.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    // protocomm_httpd_session_close: the socket is gone.
                    let mut device = device.lock().expect("device");
                    if device.socket_session == Some(socket) {
                        device.socket_session = None;
                    }
                });
            }
        });
        Self { address, device }
    }

    fn seen(&self) -> Vec<Seen> {
        self.device.lock().expect("device").seen.clone()
    }

    fn radio(&self) -> SoftApRadio {
        SoftApRadio::new(SoftApConfig {
            custom_endpoints: vec![ECHO.into()],
            ..SoftApConfig::device(self.address.clone())
        })
    }
}

/// The device's handler failed: ESP-IDF closes the socket without answering.
#[derive(Debug)]
struct HandlerFailed(String);

impl std::fmt::Display for HandlerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerFailed {}

async fn answer(
    request: Request<Incoming>,
    socket: u64,
    device: Arc<Mutex<HttpDevice>>,
) -> Result<Response<Full<Bytes>>, HandlerFailed> {
    let endpoint = request.uri().path().trim_start_matches('/').to_owned();
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (cookie, content_type, accept) = (header(COOKIE), header(CONTENT_TYPE), header(ACCEPT));
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|e| HandlerFailed(e.to_string()))?
        .to_bytes();
    if !ENDPOINTS.contains(&endpoint.as_str()) {
        return Ok(respond(StatusCode::NOT_FOUND, Vec::new(), None, false));
    }
    let slow = device.lock().expect("device").slow.clone();
    if let Some((slow_endpoint, release)) = slow
        && slow_endpoint == endpoint
    {
        release.notified().await;
    }
    let mut device = device.lock().expect("device");
    // common_post_handler's session rules.
    let same_session = match &cookie {
        Some(cookie) => {
            let same = device
                .cookie_session
                .is_some_and(|id| *cookie == format!("session={id}"));
            if same {
                device.socket_session = None;
            }
            same
        }
        None => device.socket_session == Some(socket),
    };
    if !same_session {
        if device.cookie_session.is_some() {
            device.esp.close_session();
        }
        device.next_session = device.next_session.wrapping_mul(31).wrapping_add(7);
        device.cookie_session = Some(device.next_session);
        device.socket_session = Some(socket);
    }
    device.seen.push(Seen {
        endpoint: endpoint.clone(),
        socket,
        cookie,
        content_type,
        accept,
        new_session: !same_session,
    });
    if body.is_empty() {
        return Err(HandlerFailed("Content length not found".into()));
    }
    let answer = device.esp.handle(&endpoint, &body).map_err(HandlerFailed)?;
    let cookie = (!same_session).then(|| {
        format!(
            "session={}",
            device.cookie_session.expect("a session was just made")
        )
    });
    Ok(respond(StatusCode::OK, answer, cookie, device.close_each))
}

fn respond(
    status: StatusCode,
    body: Vec<u8>,
    cookie: Option<String>,
    close: bool,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    if let Some(cookie) = cookie {
        builder = builder.header(SET_COOKIE, cookie);
    }
    if close {
        builder = builder.header(CONNECTION, "close");
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

async fn link(server: &Server) -> Box<dyn ProvLink> {
    server
        .radio()
        .connect(&format!("http://{}/", server.address))
        .await
        .expect("the link opens")
}

#[tokio::test]
async fn softap_provisions_over_new_connections_thanks_to_the_session_cookie() {
    // The device closes every connection after answering, as a server with one socket does
    // when it purges it: only the cookie carries the session from one socket to the next.
    let server = Server::start(true).await;
    let link = link(&server).await;
    let done = match provision(link.as_ref(), POP).await {
        Ok(done) => done,
        Err(failure) => panic!("provisioning failed: {failure:?}"),
    };
    assert!(matches!(done.status, StationStatus::Connected(ref info) if info.ssid == SSID));
    assert_eq!(done.networks.len(), 6);
    assert_eq!(
        server.device.lock().expect("device").esp.configured_ssid(),
        Some(SSID.to_vec())
    );

    let seen = server.seen();
    assert_eq!(
        seen.iter().filter(|s| s.new_session).count(),
        1,
        "one device session for the whole flow: {seen:#?}"
    );
    let sockets: HashSet<u64> = seen.iter().map(|s| s.socket).collect();
    assert_eq!(sockets.len(), seen.len(), "a new connection per request");
    let session = server
        .device
        .lock()
        .expect("device")
        .cookie_session
        .expect("a session");
    assert_eq!(seen[0].endpoint, PROTO_VER);
    assert_eq!(seen[0].cookie, None);
    for request in &seen[1..] {
        assert_eq!(
            request.cookie.as_deref(),
            Some(format!("session={session}").as_str()),
            "{request:?}"
        );
    }
    for request in &seen {
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.accept.as_deref(), Some("text/plain"));
    }
    link.close().await.expect("close");
    assert!(matches!(
        link.exchange(PROTO_VER, b"ESP".to_vec()).await,
        Err(TransportError::Disconnected(_))
    ));
}

#[tokio::test]
async fn softap_keeps_one_connection_when_the_device_does() {
    let server = Server::start(false).await;
    let link = link(&server).await;
    let mut done = match provision(link.as_ref(), POP).await {
        Ok(done) => done,
        Err(failure) => panic!("provisioning failed: {failure:?}"),
    };
    // A long value through a custom endpoint, both ways.
    let message: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let echoed =
        provisioning_device::secure(link.as_ref(), &mut done.session, ECHO, &message, "echo")
            .await
            .expect("echo");
    assert_eq!(echoed, message.iter().rev().copied().collect::<Vec<u8>>());
    let seen = server.seen();
    let sockets: HashSet<u64> = seen.iter().map(|s| s.socket).collect();
    assert_eq!(sockets.len(), 1, "one keep-alive connection: {seen:#?}");
    assert!(link.endpoints().contains(&ECHO.to_owned()));
    assert!(link.endpoints().contains(&PROV_SESSION.to_owned()));
}

#[tokio::test]
async fn a_wrong_pop_is_refused_and_the_link_says_so() {
    let server = Server::start(false).await;
    let link = link(&server).await;
    match handshake(link.as_ref(), "wrong-pop").await {
        Err(Failure::Transport(_, TransportError::Disconnected(message))) => {
            assert!(message.contains("proof of possession"), "{message}");
        }
        other => panic!("expected the device to refuse the session: {other:?}"),
    }
    // The device keeps its session by cookie; a new handshake on the same link works.
    let session = handshake(link.as_ref(), POP).await;
    assert!(session.is_ok(), "{session:?}");
}

#[tokio::test]
async fn unknown_endpoints_and_bad_requests_are_named() {
    let server = Server::start(false).await;
    let link = link(&server).await;
    assert_eq!(
        link.exchange("no-such-endpoint", b"x".to_vec()).await,
        Err(TransportError::NoEndpoint("no-such-endpoint".into()))
    );
    assert_eq!(
        link.exchange("../etc", b"x".to_vec()).await,
        Err(TransportError::NoEndpoint("../etc".into()))
    );
    assert!(matches!(
        link.exchange(PROTO_VER, Vec::new()).await,
        Err(TransportError::Io(m)) if m.contains("empty")
    ));
    assert!(matches!(
        link.exchange(PROTO_VER, vec![0; 4097]).await,
        Err(TransportError::Io(m)) if m.contains("4096")
    ));
    // Nothing above broke the link.
    assert!(link.exchange(PROTO_VER, b"ESP".to_vec()).await.is_ok());
}

#[tokio::test]
async fn scan_lists_the_device_only_when_it_answers() {
    let server = Server::start(false).await;
    let found = server
        .radio()
        .scan(Duration::from_secs(5))
        .await
        .expect("scan");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, server.address);
    assert_eq!(found[0].kind, TransportKind::SoftAp);

    // A port nothing listens on.
    let vacant = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = vacant.local_addr().expect("address").to_string();
    drop(vacant);
    let radio = SoftApRadio::new(SoftApConfig::device(address.clone()));
    assert_eq!(radio.scan(Duration::from_secs(5)).await, Ok(Vec::new()));
    match radio.connect(&address).await {
        Err(TransportError::NotFound(message)) => {
            assert!(message.contains("Wi-Fi network"), "{message}");
        }
        other => panic!("expected NotFound: {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_device_times_out_and_the_link_closes() {
    let server = Server::start(false).await;
    let release = Arc::new(Notify::new());
    server.device.lock().expect("device").slow = Some((PROTO_VER.into(), release.clone()));
    let radio = SoftApRadio::new(SoftApConfig {
        request_timeout: Duration::from_millis(300),
        ..SoftApConfig::device(server.address.clone())
    });
    let link = radio.connect(&server.address).await.expect("link");
    match link.exchange(PROTO_VER, b"ESP".to_vec()).await {
        Err(TransportError::Timeout { what, after }) => {
            assert_eq!(after, Duration::from_millis(300));
            assert!(what.contains(PROTO_VER), "{what}");
        }
        other => panic!("expected a timeout: {other:?}"),
    }
    release.notify_waiters();
    assert!(matches!(
        link.exchange(PROTO_VER, b"ESP".to_vec()).await,
        Err(TransportError::Disconnected(m)) if m.contains("timeout")
    ));
}

#[tokio::test]
async fn a_device_that_lost_the_session_is_reported_as_disconnected() {
    let server = Server::start(false).await;
    let link = link(&server).await;
    handshake(link.as_ref(), POP).await.expect("handshake");
    // The device restarts its provisioning: our cookie no longer names its session.
    server.device.lock().expect("device").cookie_session = None;
    match link.exchange(PROTO_VER, b"ESP".to_vec()).await {
        Err(TransportError::Disconnected(message)) => {
            assert!(message.contains("new session"), "{message}");
        }
        other => panic!("expected Disconnected: {other:?}"),
    }
}
