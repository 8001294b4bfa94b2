//! The simulated radio on loopback, for other processes: `companion provision --transport sim`,
//! `companion ble scan --transport sim`, and a fake BlueZ that puts the sandbox's devices on a
//! D-Bus bus for btleplug. The link model still runs here, in the sandbox: a client sees the
//! same set-up time, GATT latencies, MTU and drops as one in the sandbox's own process.
//!
//! # Protocol (HTTP/1.1 on `127.0.0.1`)
//!
//! One TCP connection holds at most one link, as one BLE connection does: the link is opened
//! on the connection, used on it, and dropped when the connection closes (the client went
//! away: the device is free again).
//!
//! | request | answer |
//! |---|---|
//! | `GET /scan?window_ms=N` (N ≤ 30000) | `200`, JSON `[{"id","name","rssi","endpoints":[..]}]`, strongest first |
//! | `POST /connect?id=ID` | `200`, JSON `{"endpoints":[..]}` after the link's set-up time |
//! | `POST /exchange/ENDPOINT`, body = the request bytes | `200`, body = the device's answer |
//! | `POST /disconnect` | `204` |
//!
//! A failure is a status with a JSON body `{"error": CODE, "message": TEXT}`: `not_found`
//! (404: no such device advertises), `busy` (409: another client holds it, or this connection
//! already has a link), `no_link` (409: exchange before connect), `no_endpoint` (404),
//! `disconnected` (410: the link dropped; the connection stays usable for a new `connect`),
//! `handler_failed` (422: the device refused the write, ATT error 0x04), `too_long` (413: over
//! 512 bytes), `bad_request` (400).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{LinkError, MAX_ATTRIBUTE_LEN, SimulatedLink, SimulatedRadio};

/// The longest scan window a client may ask for.
pub const MAX_SCAN_WINDOW: Duration = Duration::from_secs(30);

/// One device in a scan answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanEntry {
    /// The id to connect with (a Bluetooth address).
    pub id: String,
    /// The advertised name, `PROV_XXXXXX`.
    pub name: String,
    /// Signal strength, dBm.
    pub rssi: i16,
    /// The endpoints its GATT database offers (what a central learns by service discovery).
    pub endpoints: Vec<String>,
}

/// The answer to `connect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// The endpoints the device offers.
    pub endpoints: Vec<String>,
}

/// A failure's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The code: `not_found`, `busy`, `no_link`, `no_endpoint`, `disconnected`,
    /// `handler_failed`, `too_long` or `bad_request`.
    pub error: String,
    /// What happened, for a person.
    pub message: String,
}

/// The simulated radio served on loopback. Dropping it (or [`RadioServer::shutdown`]) stops
/// it and drops every link it holds.
#[derive(Debug)]
pub struct RadioServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RadioServer {
    /// Serves `radio` on `listen` (e.g. `127.0.0.1:0`).
    pub async fn start(radio: SimulatedRadio, listen: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept(listener, radio, stopped));
        Ok(Self {
            address,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes every connection and drops their links.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RadioServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, radio: SimulatedRadio, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, radio.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "the radio server could not accept a connection");
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Aborting a connection drops its link, which frees the device.
    connections.shutdown().await;
}

/// One client connection and the link it holds, if any.
async fn serve(stream: tokio::net::TcpStream, radio: SimulatedRadio) {
    let link: Arc<Mutex<Option<SimulatedLink>>> = Arc::default();
    let held = Arc::clone(&link);
    let service = service_fn(move |request| {
        let radio = radio.clone();
        let link = Arc::clone(&held);
        async move { Ok::<_, Infallible>(answer(&radio, &link, request).await) }
    });
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "a radio client connection ended with an error");
    }
    if let Some(link) = link.lock().await.take() {
        link.close().await;
    }
}

async fn answer(
    radio: &SimulatedRadio,
    link: &Mutex<Option<SimulatedLink>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    match (method, path.as_str()) {
        (Method::GET, "/scan") => scan(radio, &query).await,
        (Method::POST, "/connect") => connect(radio, link, &query).await,
        (Method::POST, "/disconnect") => {
            if let Some(link) = link.lock().await.take() {
                link.close().await;
            }
            empty(StatusCode::NO_CONTENT)
        }
        (Method::POST, exchange) if exchange.starts_with("/exchange/") => {
            let endpoint = exchange.trim_start_matches("/exchange/").to_owned();
            let body = match Limited::new(request.into_body(), MAX_ATTRIBUTE_LEN + 1)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes().to_vec(),
                Err(_) => {
                    return failure(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_long",
                        &format!(
                            "the request to \"{endpoint}\" exceeds the {MAX_ATTRIBUTE_LEN}-byte attribute limit"
                        ),
                    );
                }
            };
            exchange_on(link, &endpoint, body).await
        }
        (_, other) => failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("no such request: {other}"),
        ),
    }
}

async fn scan(radio: &SimulatedRadio, query: &HashMap<String, String>) -> Response<Full<Bytes>> {
    let window = match query.get("window_ms").map(|ms| ms.parse::<u64>()) {
        None => Duration::ZERO,
        Some(Ok(ms)) if Duration::from_millis(ms) <= MAX_SCAN_WINDOW => Duration::from_millis(ms),
        Some(_) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!(
                    "window_ms must be a number of milliseconds up to {}",
                    MAX_SCAN_WINDOW.as_millis()
                ),
            );
        }
    };
    let seen: Vec<ScanEntry> = radio
        .scan(window)
        .await
        .into_iter()
        .map(|ad| ScanEntry {
            endpoints: radio.endpoints(&ad.id).unwrap_or_default(),
            id: ad.id,
            name: ad.name,
            rssi: ad.rssi,
        })
        .collect();
    json(StatusCode::OK, &seen)
}

async fn connect(
    radio: &SimulatedRadio,
    link: &Mutex<Option<SimulatedLink>>,
    query: &HashMap<String, String>,
) -> Response<Full<Bytes>> {
    let Some(id) = query.get("id") else {
        return failure(StatusCode::BAD_REQUEST, "bad_request", "connect needs ?id=");
    };
    let mut held = link.lock().await;
    if held.as_ref().is_some_and(SimulatedLink::is_open) {
        return failure(
            StatusCode::CONFLICT,
            "busy",
            "this connection already holds a link: disconnect first",
        );
    }
    match radio.connect(id).await {
        Ok(opened) => {
            let endpoints = opened.endpoints();
            *held = Some(opened);
            json(StatusCode::OK, &Connected { endpoints })
        }
        Err(error) => link_failure(&error),
    }
}

async fn exchange_on(
    link: &Mutex<Option<SimulatedLink>>,
    endpoint: &str,
    request: Vec<u8>,
) -> Response<Full<Bytes>> {
    let held = link.lock().await;
    let Some(open) = held.as_ref() else {
        return failure(
            StatusCode::CONFLICT,
            "no_link",
            "connect to a device before exchanging",
        );
    };
    match open.exchange(endpoint, request).await {
        Ok(answer) => Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(answer)))
            .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR)),
        Err(error) => link_failure(&error),
    }
}

fn link_failure(error: &LinkError) -> Response<Full<Bytes>> {
    let (status, code) = match error {
        LinkError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        LinkError::Busy(_) => (StatusCode::CONFLICT, "busy"),
        LinkError::NoEndpoint(_) => (StatusCode::NOT_FOUND, "no_endpoint"),
        LinkError::Disconnected(_) => (StatusCode::GONE, "disconnected"),
        LinkError::HandlerFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "handler_failed"),
        LinkError::TooLong { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_long"),
    };
    // A drop's message is its reason alone: the client's error says the link dropped.
    let message = match error {
        LinkError::Disconnected(reason) => reason.clone(),
        other => other.to_string(),
    };
    failure(status, code, &message)
}

/// The link error a failure body stands for, on the client side.
pub fn link_error(failure: &Failure, endpoint: &str, id: &str) -> Option<LinkError> {
    Some(match failure.error.as_str() {
        "not_found" => LinkError::NotFound(id.to_owned()),
        "busy" => LinkError::Busy(id.to_owned()),
        "no_endpoint" => LinkError::NoEndpoint(endpoint.to_owned()),
        "disconnected" => LinkError::Disconnected(failure.message.clone()),
        "handler_failed" => LinkError::HandlerFailed {
            endpoint: endpoint.to_owned(),
        },
        _ => return None,
    })
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

fn failure(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &Failure {
            error: code.to_owned(),
            message: message.to_owned(),
        },
    )
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_into_pairs() {
        let query = parse_query("id=24:0A:C4:01:02:03&window_ms=500&junk");
        assert_eq!(
            query.get("id").map(String::as_str),
            Some("24:0A:C4:01:02:03")
        );
        assert_eq!(query.get("window_ms").map(String::as_str), Some("500"));
        assert_eq!(query.len(), 2);
    }

    #[test]
    fn failures_name_the_link_error_they_stand_for() {
        let failure = Failure {
            error: "handler_failed".into(),
            message: "refused".into(),
        };
        assert_eq!(
            link_error(&failure, "prov-session", "id"),
            Some(LinkError::HandlerFailed {
                endpoint: "prov-session".into()
            })
        );
        let gone = Failure {
            error: "disconnected".into(),
            message: "an injected drop".into(),
        };
        assert_eq!(
            link_error(&gone, "prov-config", "id"),
            Some(LinkError::Disconnected("an injected drop".into()))
        );
        let odd = Failure {
            error: "bad_request".into(),
            message: "?".into(),
        };
        assert_eq!(link_error(&odd, "x", "id"), None);
    }
}
