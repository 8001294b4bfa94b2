//! The connection doctor: every failure becomes a [`Diagnosis`] — a [`Cause`] the UI branches
//! on, one sentence on what happened and one on what to do.
//!
//! * [`classify`] is a pure function of rumqttc's error and a [`FailureContext`] (port, ALPN,
//!   whether the connection had been up, what was awaiting an answer). AWS IoT on MQTT 3.1.1
//!   gives no reasons: it closes the connection. The context is what tells a policy-denied
//!   SUBSCRIBE (closed while a SUBACK was due) from a missing ALPN on 443 (closed before
//!   CONNACK) or a client-id takeover (a healthy connection closed twice in a row while the
//!   broker took each reconnect at once).
//! * [`check_publish`] and [`check_subscribe`] refuse, before anything is sent, what AWS would
//!   answer by dropping the connection (payload, topic length and depth, filters per SUBSCRIBE).
//! * [`preflight`] finds static mistakes in a profile before the first connect.

use std::fmt;
use std::io;
use std::time::SystemTime;

use rumqttc::{ConnectReturnCode, ConnectionError, QoS, StateError};
use rustls::{AlertDescription, CertificateError};

use crate::profile::{self, Limits, Mqtt, MqttTls, Profile, ProfileError, Target, identity_names};
use crate::vault::{ExpiryStatus, IdentityRef};

/// What went wrong, as the UI branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The host name did not resolve.
    DnsFailure,
    /// Nothing listens on that port (TCP connection refused).
    TcpRefused,
    /// No route to the host or network.
    Unreachable,
    /// The broker did not answer in time.
    Timeout,
    /// The server's certificate does not chain to a trusted CA.
    UnknownServerCa,
    /// The server's certificate is not for the host name used.
    ServerNameMismatch,
    /// The server's certificate is expired or not yet valid.
    ServerCertificateExpired,
    /// The broker wants a client certificate and none was sent.
    ClientCertificateMissing,
    /// The broker refused the client certificate.
    ClientCertificateRejected,
    /// The client certificate is expired (found before connecting).
    ClientCertificateExpired,
    /// The client certificate is not valid yet (found before connecting).
    ClientCertificateNotYetValid,
    /// The profile names an identity the vault does not hold, or one still waiting for its
    /// certificate.
    IdentityMissing,
    /// Port 443 without ALPN: AWS closes such connections.
    AlpnMissing,
    /// The broker refused the offered ALPN protocol.
    AlpnRefused,
    /// Another TLS failure.
    TlsFailed,
    /// CONNACK: bad username or password.
    BadCredentials,
    /// CONNACK: not authorized.
    NotAuthorized,
    /// CONNACK: client identifier rejected.
    IdentifierRejected,
    /// CONNACK: protocol version refused.
    ProtocolRefused,
    /// CONNACK: server unavailable.
    ServerUnavailable,
    /// Closed before CONNACK: AWS's answer to a CONNECT its policy does not allow.
    ConnectRejected,
    /// Closed while a SUBACK was due: AWS's answer to a SUBSCRIBE its policy denies.
    SubscribeDenied,
    /// Closed right after a PUBLISH: AWS's answer to a PUBLISH its policy denies.
    PublishDenied,
    /// Another connection with the same client id took this one over.
    ClientIdTakenOver,
    /// A healthy connection was closed without a reason.
    ClosedByBroker,
    /// The broker stopped answering pings.
    KeepaliveTimeout,
    /// A payload over the broker's limit (AWS: 128 KB), refused before sending.
    PayloadTooLarge,
    /// A topic over the broker's length limit (AWS: 256 bytes), refused before sending.
    TopicTooLong,
    /// A topic or filter with too many levels (AWS: 7 slashes), refused before sending.
    TopicTooDeep,
    /// Too many filters in one SUBSCRIBE (AWS: 8), refused before sending.
    TooManyFilters,
    /// QoS 2 on a broker that has none (AWS), refused before sending.
    QosNotSupported,
    /// An AWS endpoint that is not an `-ats` data endpoint.
    NotAtsEndpoint,
    /// A keepalive the broker would not honour.
    KeepaliveOutOfRange,
    /// Another mistake in the profile.
    BadProfile,
    /// The broker sent something that is not valid MQTT here.
    ProtocolError,
    /// Anything else.
    Other,
}

impl Cause {
    /// A stable code for the UI and the CLI's `--json`.
    pub fn code(self) -> &'static str {
        use Cause::*;
        match self {
            DnsFailure => "dns_failure",
            TcpRefused => "tcp_refused",
            Unreachable => "unreachable",
            Timeout => "timeout",
            UnknownServerCa => "unknown_server_ca",
            ServerNameMismatch => "server_name_mismatch",
            ServerCertificateExpired => "server_certificate_expired",
            ClientCertificateMissing => "client_certificate_missing",
            ClientCertificateRejected => "client_certificate_rejected",
            ClientCertificateExpired => "client_certificate_expired",
            ClientCertificateNotYetValid => "client_certificate_not_yet_valid",
            IdentityMissing => "identity_missing",
            AlpnMissing => "alpn_missing",
            AlpnRefused => "alpn_refused",
            TlsFailed => "tls_failed",
            BadCredentials => "bad_credentials",
            NotAuthorized => "not_authorized",
            IdentifierRejected => "identifier_rejected",
            ProtocolRefused => "protocol_refused",
            ServerUnavailable => "server_unavailable",
            ConnectRejected => "connect_rejected",
            SubscribeDenied => "subscribe_denied",
            PublishDenied => "publish_denied",
            ClientIdTakenOver => "client_id_taken_over",
            ClosedByBroker => "closed_by_broker",
            KeepaliveTimeout => "keepalive_timeout",
            PayloadTooLarge => "payload_too_large",
            TopicTooLong => "topic_too_long",
            TopicTooDeep => "topic_too_deep",
            TooManyFilters => "too_many_filters",
            QosNotSupported => "qos_not_supported",
            NotAtsEndpoint => "not_ats_endpoint",
            KeepaliveOutOfRange => "keepalive_out_of_range",
            BadProfile => "bad_profile",
            ProtocolError => "protocol_error",
            Other => "other",
        }
    }

    /// Whether retrying cannot help until the user changes something: the session then stops
    /// instead of reconnecting.
    pub fn is_permanent(self) -> bool {
        use Cause::*;
        matches!(
            self,
            UnknownServerCa
                | ServerNameMismatch
                | ClientCertificateMissing
                | AlpnMissing
                | AlpnRefused
                | BadCredentials
                | NotAuthorized
                | IdentifierRejected
                | ProtocolRefused
                | ClientIdTakenOver
        )
    }
}

/// A cause with one sentence on what happened and one on what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// What went wrong.
    pub cause: Cause,
    /// One sentence: what happened.
    pub summary: String,
    /// One sentence: what to do.
    pub fix: String,
}

impl Diagnosis {
    /// A diagnosis from its parts.
    pub fn new(cause: Cause, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            cause,
            summary: summary.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.summary, self.fix)
    }
}

impl std::error::Error for Diagnosis {}

/// Where the connection stood when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before CONNACK (TCP, TLS or the CONNECT exchange).
    Connecting,
    /// After CONNACK.
    Connected,
}

/// What the classifier knows besides the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureContext {
    /// The host connected to.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Whether TLS was used.
    pub tls: bool,
    /// Whether an ALPN protocol was offered.
    pub alpn: bool,
    /// Whether a client certificate was offered.
    pub client_certificate: bool,
    /// Before or after CONNACK.
    pub phase: Phase,
    /// A SUBSCRIBE was sent and its SUBACK had not come.
    pub subscribe_pending: bool,
    /// The filters subscribed to since the last time every SUBACK had come (the suspects of
    /// a denied SUBSCRIBE).
    pub unconfirmed_filters: Vec<String>,
    /// A PUBLISH was sent moments before (QoS 1 without PUBACK, or QoS 0 just written).
    pub publish_pending: bool,
    /// The previous connection was also closed silently, and the broker accepted the
    /// reconnect at the first attempt: the mark of two connections sharing a client id.
    pub repeated_silent_close: bool,
    /// The keepalive in seconds.
    pub keepalive_secs: u64,
}

impl FailureContext {
    /// A context for `host:port` before CONNACK, with nothing pending.
    pub fn connecting(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: false,
            alpn: false,
            client_certificate: false,
            phase: Phase::Connecting,
            subscribe_pending: false,
            unconfirmed_filters: Vec::new(),
            publish_pending: false,
            repeated_silent_close: false,
            keepalive_secs: 30,
        }
    }

    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What the error says once the wrapping is peeled off.
#[derive(Debug)]
enum Symptom<'a> {
    Refused(ConnectReturnCode),
    Timeout,
    PingUnanswered,
    Tls(&'a rustls::Error),
    TlsSetup(String),
    Io(io::ErrorKind, String),
    Closed,
    OutgoingTooLarge { size: usize, max: usize },
    Protocol(String),
}

/// Maps a rumqttc failure, in its context, to a diagnosis. Pure: no I/O, no clock.
pub fn classify(error: &ConnectionError, context: &FailureContext) -> Diagnosis {
    match symptom(error) {
        Symptom::Refused(code) => refused(code, context),
        Symptom::Timeout => timeout(context),
        Symptom::PingUnanswered => keepalive_timeout(context),
        Symptom::Tls(tls) => tls_failure(tls, context),
        Symptom::TlsSetup(text) => Diagnosis::new(
            Cause::TlsFailed,
            format!("The TLS settings could not be used ({text})."),
            "Check the CA, certificate and key of this profile, then import them again.",
        ),
        Symptom::Io(kind, text) => io_failure(kind, &text, context),
        Symptom::Closed => closed(context),
        Symptom::OutgoingTooLarge { size, max } => payload_too_large(size, max),
        Symptom::Protocol(text) => Diagnosis::new(
            Cause::ProtocolError,
            format!(
                "The broker at {} sent something this client cannot read ({text}).",
                context.address()
            ),
            "Check that the address is an MQTT 3.1.1 broker and not another service.",
        ),
    }
}

fn symptom(error: &ConnectionError) -> Symptom<'_> {
    match error {
        ConnectionError::ConnectionRefused(code) => Symptom::Refused(*code),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => Symptom::Timeout,
        ConnectionError::MqttState(state) => state_symptom(state),
        ConnectionError::Tls(rumqttc::TlsError::TLS(tls)) => Symptom::Tls(tls),
        ConnectionError::Tls(rumqttc::TlsError::Io(io)) => io_symptom(io),
        ConnectionError::Tls(other) => Symptom::TlsSetup(other.to_string()),
        ConnectionError::Io(io) => io_symptom(io),
        ConnectionError::NotConnAck(packet) => {
            Symptom::Protocol(format!("{packet:?} instead of CONNACK"))
        }
        ConnectionError::RequestsDone => Symptom::Closed,
    }
}

fn state_symptom(state: &StateError) -> Symptom<'_> {
    match state {
        StateError::Io(io) => io_symptom(io),
        StateError::AwaitPingResp => Symptom::PingUnanswered,
        StateError::ConnectionAborted => Symptom::Closed,
        StateError::Deserialization(rumqttc::Error::Io(io)) => io_symptom(io),
        StateError::Deserialization(rumqttc::Error::OutgoingPacketTooLarge { pkt_size, max }) => {
            Symptom::OutgoingTooLarge {
                size: *pkt_size,
                max: *max,
            }
        }
        other => Symptom::Protocol(other.to_string()),
    }
}

fn io_symptom(error: &io::Error) -> Symptom<'_> {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Symptom::Tls(tls);
    }
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => Symptom::Closed,
        kind => Symptom::Io(kind, error.to_string()),
    }
}

fn refused(code: ConnectReturnCode, context: &FailureContext) -> Diagnosis {
    let at = context.address();
    match code {
        ConnectReturnCode::BadUserNamePassword => Diagnosis::new(
            Cause::BadCredentials,
            format!("The broker at {at} refused the username or password."),
            "Store the right password in the vault under this profile's password name, and check the username.",
        ),
        ConnectReturnCode::NotAuthorized => Diagnosis::new(
            Cause::NotAuthorized,
            format!("The broker at {at} says this client is not authorized to connect."),
            "Give this user or certificate the right to connect on the broker (on AWS, a policy allowing iot:Connect for this client id).",
        ),
        ConnectReturnCode::BadClientId => Diagnosis::new(
            Cause::IdentifierRejected,
            format!("The broker at {at} rejected the client id."),
            "Use a client id of letters, digits, '-' and '_' that the broker allows (AWS: at most 128 bytes, no leading '$').",
        ),
        ConnectReturnCode::RefusedProtocolVersion => Diagnosis::new(
            Cause::ProtocolRefused,
            format!("The broker at {at} does not accept MQTT 3.1.1."),
            "Enable MQTT 3.1.1 on the broker; this app does not speak MQTT 3.1 or 5 yet.",
        ),
        ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => Diagnosis::new(
            Cause::ServerUnavailable,
            format!("The broker at {at} says it is unavailable."),
            "Wait and let the session retry; if it lasts, check the broker's health.",
        ),
    }
}

fn timeout(context: &FailureContext) -> Diagnosis {
    Diagnosis::new(
        Cause::Timeout,
        format!(
            "The broker at {} did not answer in time.",
            context.address()
        ),
        format!(
            "Check the network and that a firewall lets port {} through; the session keeps retrying.",
            context.port
        ),
    )
}

fn keepalive_timeout(context: &FailureContext) -> Diagnosis {
    Diagnosis::new(
        Cause::KeepaliveTimeout,
        format!(
            "The broker at {} stopped answering pings (keepalive {} s).",
            context.address(),
            context.keepalive_secs
        ),
        "The network dropped or stalled; the session reconnects by itself, and a shorter keepalive notices it sooner.",
    )
}

fn tls_failure(error: &rustls::Error, context: &FailureContext) -> Diagnosis {
    match error {
        rustls::Error::InvalidCertificate(certificate) => server_certificate(certificate, context),
        rustls::Error::AlertReceived(alert) => alert_received(*alert, context),
        rustls::Error::NoApplicationProtocol => alpn_refused(context),
        other => Diagnosis::new(
            Cause::TlsFailed,
            format!(
                "The TLS handshake with {} failed: {other}.",
                context.address()
            ),
            "Check that the port speaks TLS and that the profile's TLS settings match the broker's.",
        ),
    }
}

fn server_certificate(error: &CertificateError, context: &FailureContext) -> Diagnosis {
    let at = context.address();
    match error {
        CertificateError::UnknownIssuer => Diagnosis::new(
            Cause::UnknownServerCa,
            format!(
                "The server certificate of {at} is signed by a CA this profile does not trust."
            ),
            "Set the profile's CA to the one that signed the broker's certificate (AWS: Amazon Root CA 1 or 3; the sandbox: its ca.pem).",
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Diagnosis::new(
                Cause::ServerNameMismatch,
                format!(
                    "The server certificate of {at} is not issued for the name \"{}\".",
                    context.host
                ),
                "Connect by a host name the certificate lists (for the sandbox: localhost or 127.0.0.1; for AWS: the -ats endpoint itself).",
            )
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => Diagnosis::new(
            Cause::ServerCertificateExpired,
            format!("The server certificate of {at} is expired or not valid yet."),
            "Check this computer's date and time; if they are right, the broker's certificate must be renewed.",
        ),
        other => Diagnosis::new(
            Cause::TlsFailed,
            format!("The server certificate of {at} was refused ({other:?})."),
            "Check the broker's certificate and the CA this profile trusts.",
        ),
    }
}

fn alert_received(alert: AlertDescription, context: &FailureContext) -> Diagnosis {
    let at = context.address();
    match alert {
        AlertDescription::CertificateRequired => client_certificate_missing(context),
        AlertDescription::HandshakeFailure if !context.client_certificate && context.tls => {
            client_certificate_missing(context)
        }
        AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::CertificateRevoked
        | AlertDescription::CertificateExpired
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::AccessDenied => Diagnosis::new(
            Cause::ClientCertificateRejected,
            format!("The broker at {at} rejected the client certificate ({alert:?})."),
            "Use a certificate issued by a CA the broker trusts, still valid and active (on AWS: registered and ACTIVE).",
        ),
        AlertDescription::NoApplicationProtocol => alpn_refused(context),
        other => Diagnosis::new(
            Cause::TlsFailed,
            format!("The broker at {at} ended the TLS handshake ({other:?})."),
            "Check that the profile's TLS settings match what the broker expects.",
        ),
    }
}

fn client_certificate_missing(context: &FailureContext) -> Diagnosis {
    Diagnosis::new(
        Cause::ClientCertificateMissing,
        format!(
            "The broker at {} requires a client certificate and none was sent.",
            context.address()
        ),
        "Choose an identity (certificate and key from the vault) for this profile.",
    )
}

fn alpn_refused(context: &FailureContext) -> Diagnosis {
    Diagnosis::new(
        Cause::AlpnRefused,
        format!(
            "The broker at {} refused the offered ALPN protocol.",
            context.address()
        ),
        "On AWS use ALPN x-amzn-mqtt-ca with a client certificate and mqtt with a custom authorizer; elsewhere offer none.",
    )
}

fn io_failure(kind: io::ErrorKind, text: &str, context: &FailureContext) -> Diagnosis {
    let at = context.address();
    if is_dns_failure(text) {
        return Diagnosis::new(
            Cause::DnsFailure,
            format!("The host name \"{}\" could not be resolved.", context.host),
            "Check the spelling of the host and that this device is online with working DNS.",
        );
    }
    match kind {
        io::ErrorKind::ConnectionRefused => Diagnosis::new(
            Cause::TcpRefused,
            format!("Nothing accepts connections at {at} (TCP connection refused)."),
            "Check the port and that the broker is running; the session keeps retrying.",
        ),
        io::ErrorKind::TimedOut => timeout(context),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Diagnosis::new(
            Cause::Unreachable,
            format!("There is no route to {at}."),
            "Check that this device is online and can reach that network.",
        ),
        _ => Diagnosis::new(
            Cause::Other,
            format!("The connection to {at} failed ({text})."),
            "Check the network and the broker; the session keeps retrying.",
        ),
    }
}

/// getaddrinfo's and Windows' texts for a name that does not resolve.
fn is_dns_failure(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "failed to lookup address",
        "name or service not known",
        "nodename nor servname",
        "no such host is known",
        "temporary failure in name resolution",
        "no address associated",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

fn closed(context: &FailureContext) -> Diagnosis {
    let at = context.address();
    if context.phase == Phase::Connecting {
        if context.tls && context.port == 443 && !context.alpn {
            return Diagnosis::new(
                Cause::AlpnMissing,
                format!(
                    "The broker at {at} closed the connection right after the TLS handshake on port 443, where no ALPN was offered."
                ),
                "On port 443 AWS IoT needs ALPN x-amzn-mqtt-ca (client certificate) or mqtt (custom authorizer): use the AWS profile's 443 transport, or port 8883.",
            );
        }
        return Diagnosis::new(
            Cause::ConnectRejected,
            format!("The broker at {at} closed the connection without answering CONNECT."),
            "On AWS the certificate must be ACTIVE and its policy must allow iot:Connect for this client id (often the thing name); elsewhere check the broker's log.",
        );
    }
    closed_while_connected(context)
}

fn closed_while_connected(context: &FailureContext) -> Diagnosis {
    let at = context.address();
    if context.subscribe_pending {
        return subscribe_denied(&at, &context.unconfirmed_filters);
    }
    if context.publish_pending {
        return Diagnosis::new(
            Cause::PublishDenied,
            format!("The broker at {at} closed the connection right after a PUBLISH."),
            "The policy probably denies publishing to that topic (AWS disconnects instead of refusing): allow iot:Publish on it, or publish elsewhere.",
        );
    }
    if context.repeated_silent_close {
        return Diagnosis::new(
            Cause::ClientIdTakenOver,
            format!("Another connection with the same client id took this session over at {at}."),
            "Give every connection its own client id: the broker keeps only the newest connection per id, so this session stopped instead of fighting for it.",
        );
    }
    Diagnosis::new(
        Cause::ClosedByBroker,
        format!("The broker at {at} closed a working connection without giving a reason."),
        "If another client uses the same client id, give each its own; otherwise the broker restarted or dropped the link, and the session reconnects by itself.",
    )
}

fn subscribe_denied(at: &str, filters: &[String]) -> Diagnosis {
    if filters.is_empty() {
        return Diagnosis::new(
            Cause::SubscribeDenied,
            format!("The broker at {at} closed the connection right after a SUBSCRIBE."),
            "The policy probably denies that topic filter (AWS on MQTT 3.1.1 disconnects instead of refusing): allow iot:Subscribe on it, or remove the subscription.",
        );
    }
    let list = filters.join(", ");
    Diagnosis::new(
        Cause::SubscribeDenied,
        format!("The broker at {at} closed the connection right after a SUBSCRIBE to {list}."),
        format!(
            "The policy probably denies it (AWS on MQTT 3.1.1 disconnects instead of refusing), so the session dropped {list} instead of reconnecting in a loop: allow iot:Subscribe on it, then subscribe again."
        ),
    )
}

fn payload_too_large(size: usize, max: usize) -> Diagnosis {
    Diagnosis::new(
        Cause::PayloadTooLarge,
        format!(
            "The message is {size} bytes, over the limit of {max} bytes per packet, so it was not sent."
        ),
        "Send a smaller payload, or split it into several messages.",
    )
}

/// Checks a PUBLISH against `limits` before it is sent.
pub fn check_publish(
    limits: &Limits,
    topic: &str,
    payload_len: usize,
    qos: QoS,
) -> Result<(), Diagnosis> {
    if payload_len > limits.max_payload_bytes {
        return Err(Diagnosis::new(
            Cause::PayloadTooLarge,
            format!(
                "The payload is {payload_len} bytes, over the limit of {} bytes ({} KB) per message, so it was not sent.",
                limits.max_payload_bytes,
                limits.max_payload_bytes / 1024
            ),
            "Send a smaller payload or split it; AWS IoT closes the connection of a client that sends more than 128 KB.",
        ));
    }
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(Diagnosis::new(
            Cause::BadProfile,
            format!(
                "The topic \"{topic}\" is empty or contains a wildcard, so the message was not sent."
            ),
            "Publish to a concrete topic; wildcards are for subscriptions.",
        ));
    }
    check_qos(limits, qos)?;
    check_topic(limits, topic)
}

/// Checks a SUBSCRIBE's filters against `limits` before it is sent.
pub fn check_subscribe(limits: &Limits, filters: &[(String, QoS)]) -> Result<(), Diagnosis> {
    if let Some(max) = limits.max_filters_per_subscribe
        && filters.len() > max
    {
        return Err(Diagnosis::new(
            Cause::TooManyFilters,
            format!(
                "The subscription has {} filters, over the limit of {max} filters per SUBSCRIBE, so it was not sent.",
                filters.len()
            ),
            format!("Subscribe in groups of at most {max} filters."),
        ));
    }
    for (filter, qos) in filters {
        check_qos(limits, *qos)?;
        check_topic(limits, filter)?;
    }
    Ok(())
}

fn check_qos(limits: &Limits, qos: QoS) -> Result<(), Diagnosis> {
    if qos == QoS::ExactlyOnce && !limits.qos2 {
        return Err(Diagnosis::new(
            Cause::QosNotSupported,
            "QoS 2 is not supported by this broker (AWS IoT has QoS 0 and 1 only), so nothing was sent.",
            "Use QoS 1.",
        ));
    }
    Ok(())
}

fn check_topic(limits: &Limits, topic: &str) -> Result<(), Diagnosis> {
    let counted = strip_uncounted_prefix(topic);
    if counted.len() > limits.max_topic_bytes {
        return Err(Diagnosis::new(
            Cause::TopicTooLong,
            format!(
                "The topic \"{topic}\" is {} bytes, over the limit of {} bytes, so it was not sent.",
                counted.len(),
                limits.max_topic_bytes
            ),
            "Use a shorter topic.",
        ));
    }
    let slashes = counted.matches('/').count();
    if let Some(max) = limits.max_slashes
        && slashes > max
    {
        return Err(Diagnosis::new(
            Cause::TopicTooDeep,
            format!(
                "The topic \"{topic}\" has {slashes} slashes, over the limit of {max} slashes ({} levels), so it was not sent.",
                max + 1
            ),
            "Use fewer topic levels, for example by joining two levels with '-'.",
        ));
    }
    Ok(())
}

/// AWS does not count the Basic Ingest prefix `$aws/rules/<rule>/` or `$share/<name>/`.
fn strip_uncounted_prefix(topic: &str) -> &str {
    for prefix in ["$aws/rules/", "$share/"] {
        if let Some(rest) = topic.strip_prefix(prefix) {
            return rest.split_once('/').map_or(rest, |(_, tail)| tail);
        }
    }
    topic
}

/// Static mistakes in a profile, found before connecting: profile errors (`-ats` missing,
/// keepalive out of range, client id), port 443 without ALPN, and client certificates that
/// are missing, pending, expired or not yet valid at `now`. `identities` are the vault's
/// identity records (from SQLite or [`crate::vault::Vault::describe_identity`]). Empty when
/// nothing is wrong.
pub fn preflight(profile: &Profile, identities: &[IdentityRef], now: SystemTime) -> Vec<Diagnosis> {
    let mut findings = Vec::new();
    if let Err(error) = profile.validate() {
        findings.push(profile_finding(&error));
    }
    if let Target::Mqtt(mqtt) = &profile.target
        && let Some(finding) = port_443_without_alpn(mqtt)
    {
        findings.push(finding);
    }
    for name in identity_names(profile) {
        if let Some(finding) = certificate_finding(name, identities, now) {
            findings.push(finding);
        }
    }
    findings
}

fn profile_finding(error: &ProfileError) -> Diagnosis {
    let (cause, fix) = match error {
        ProfileError::NotAtsEndpoint(_) => (
            Cause::NotAtsEndpoint,
            "Run `aws iot describe-endpoint --endpoint-type iot:Data-ATS` and use the address it prints.",
        ),
        ProfileError::BadKeepalive { .. } => (
            Cause::KeepaliveOutOfRange,
            "Choose a keepalive inside the range.",
        ),
        _ => (Cause::BadProfile, "Edit the profile."),
    };
    Diagnosis::new(cause, format!("{}.", capitalize(&error.to_string())), fix)
}

fn port_443_without_alpn(mqtt: &Mqtt) -> Option<Diagnosis> {
    let alpn = match &mqtt.tls {
        MqttTls::None => return None,
        MqttTls::ServerOnly { alpn, .. } | MqttTls::Mutual { alpn, .. } => alpn,
    };
    if mqtt.port != 443 || alpn.is_some() {
        return None;
    }
    let aws =
        profile::check_ats_endpoint(&mqtt.host).is_ok() || mqtt.host.ends_with(".amazonaws.com");
    let summary = if aws {
        "This AWS IoT endpoint is set to port 443 without ALPN, and AWS closes such connections."
    } else {
        "Port 443 is set without ALPN; brokers that share 443 with HTTPS (AWS IoT among them) close such connections."
    };
    Some(Diagnosis::new(
        Cause::AlpnMissing,
        summary,
        "Offer ALPN x-amzn-mqtt-ca with a client certificate (or mqtt with a custom authorizer), or use port 8883; for AWS prefer an AWS IoT profile.",
    ))
}

fn certificate_finding(
    name: &str,
    identities: &[IdentityRef],
    now: SystemTime,
) -> Option<Diagnosis> {
    let Some(identity) = profile::find_identity(identities, name) else {
        return Some(Diagnosis::new(
            Cause::IdentityMissing,
            format!("The identity \"{name}\" is not in the vault."),
            "Import the certificate and key under that name, or choose another identity.",
        ));
    };
    match identity.expiry_status(now) {
        None => Some(Diagnosis::new(
            Cause::IdentityMissing,
            format!(
                "The identity \"{name}\" is still waiting for the certificate issued for its CSR."
            ),
            "Install the issued certificate for it first.",
        )),
        Some(ExpiryStatus::Expired { days_ago }) => Some(Diagnosis::new(
            Cause::ClientCertificateExpired,
            format!(
                "The certificate of \"{name}\" expired {days_ago} days ago, and brokers refuse it."
            ),
            "Renew it (a new certificate for the same key can be installed) or choose another identity.",
        )),
        Some(ExpiryStatus::NotYetValid { starts_in_days }) => Some(Diagnosis::new(
            Cause::ClientCertificateNotYetValid,
            format!("The certificate of \"{name}\" becomes valid only in {starts_in_days} days."),
            "Check this computer's date and time, or wait until the certificate is valid.",
        )),
        Some(_) => None,
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
