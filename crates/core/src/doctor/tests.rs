use std::time::Duration;

use rumqttc::TlsError;

use super::*;
use crate::profile::{
    AwsIot, AwsTransport, CaSource, Mqtt, MqttTls, Profile, SessionKind, Target, check_client_id,
};
use crate::vault::{CertificateInfo, KeyAlgorithm};

fn tls_io(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// A TLS failure during the handshake (rumqttc wraps tokio-rustls's io::Error).
fn handshake(error: rustls::Error) -> ConnectionError {
    ConnectionError::Tls(TlsError::Io(tls_io(error)))
}

/// A TLS alert read with the first MQTT packet (TLS 1.3 client-certificate checks).
fn alert_on_read(alert: AlertDescription) -> ConnectionError {
    ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::Io(tls_io(
        rustls::Error::AlertReceived(alert),
    ))))
}

fn aborted() -> ConnectionError {
    ConnectionError::MqttState(StateError::ConnectionAborted)
}

fn context() -> FailureContext {
    FailureContext {
        tls: true,
        client_certificate: true,
        ..FailureContext::connecting("abc-ats.iot.eu-west-1.amazonaws.com", 8883)
    }
}

fn on_443_without_alpn() -> FailureContext {
    FailureContext {
        port: 443,
        ..context()
    }
}

fn connected() -> FailureContext {
    FailureContext {
        phase: Phase::Connected,
        ..context()
    }
}

#[test]
fn each_failure_maps_to_its_cause() {
    let cases: Vec<(&str, ConnectionError, FailureContext, Cause)> = vec![
        (
            "refused TCP",
            ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
            context(),
            Cause::TcpRefused,
        ),
        (
            "DNS failure",
            ConnectionError::Io(io::Error::other(
                "failed to lookup address information: Name or service not known",
            )),
            context(),
            Cause::DnsFailure,
        ),
        (
            "connect timeout",
            ConnectionError::NetworkTimeout,
            context(),
            Cause::Timeout,
        ),
        (
            "unknown server CA",
            handshake(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            context(),
            Cause::UnknownServerCa,
        ),
        (
            "server name mismatch",
            handshake(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            context(),
            Cause::ServerNameMismatch,
        ),
        (
            "expired server certificate",
            handshake(rustls::Error::InvalidCertificate(CertificateError::Expired)),
            context(),
            Cause::ServerCertificateExpired,
        ),
        (
            "client certificate required",
            alert_on_read(AlertDescription::CertificateRequired),
            context(),
            Cause::ClientCertificateMissing,
        ),
        (
            "client certificate bad",
            alert_on_read(AlertDescription::BadCertificate),
            context(),
            Cause::ClientCertificateRejected,
        ),
        (
            "client certificate from an unknown CA",
            handshake(rustls::Error::AlertReceived(AlertDescription::UnknownCA)),
            context(),
            Cause::ClientCertificateRejected,
        ),
        (
            "closed after the handshake on 443 without ALPN",
            aborted(),
            on_443_without_alpn(),
            Cause::AlpnMissing,
        ),
        (
            "reset after the handshake on 443 without ALPN",
            ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
            on_443_without_alpn(),
            Cause::AlpnMissing,
        ),
        (
            "closed before CONNACK with ALPN on 443",
            aborted(),
            FailureContext {
                alpn: true,
                ..on_443_without_alpn()
            },
            Cause::ConnectRejected,
        ),
        (
            "closed before CONNACK on 8883",
            aborted(),
            context(),
            Cause::ConnectRejected,
        ),
        (
            "CONNACK bad credentials",
            ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword),
            context(),
            Cause::BadCredentials,
        ),
        (
            "CONNACK not authorized",
            ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized),
            context(),
            Cause::NotAuthorized,
        ),
        (
            "CONNACK identifier rejected",
            ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId),
            context(),
            Cause::IdentifierRejected,
        ),
        (
            "closed while a SUBACK is due",
            aborted(),
            FailureContext {
                subscribe_pending: true,
                ..connected()
            },
            Cause::SubscribeDenied,
        ),
        (
            "closed right after a PUBLISH",
            aborted(),
            FailureContext {
                publish_pending: true,
                ..connected()
            },
            Cause::PublishDenied,
        ),
        (
            "closed again after an immediate reconnect",
            aborted(),
            FailureContext {
                repeated_silent_close: true,
                ..connected()
            },
            Cause::ClientIdTakenOver,
        ),
        (
            "closed once while healthy",
            aborted(),
            connected(),
            Cause::ClosedByBroker,
        ),
        (
            "ping unanswered",
            ConnectionError::MqttState(StateError::AwaitPingResp),
            connected(),
            Cause::KeepaliveTimeout,
        ),
        (
            "packet over the broker's maximum",
            ConnectionError::MqttState(StateError::Deserialization(
                rumqttc::Error::OutgoingPacketTooLarge {
                    pkt_size: 200_000,
                    max: 131_072,
                },
            )),
            connected(),
            Cause::PayloadTooLarge,
        ),
    ];
    for (name, error, context, cause) in cases {
        let diagnosis = classify(&error, &context);
        assert_eq!(diagnosis.cause, cause, "{name}: {diagnosis}");
        assert_sentence(&diagnosis.summary, name);
        assert_sentence(&diagnosis.fix, name);
    }
}

fn assert_sentence(text: &str, name: &str) {
    assert!(
        text.chars().next().is_some_and(char::is_uppercase),
        "{name}: \"{text}\" starts with a capital"
    );
    assert!(
        text.ends_with('.'),
        "{name}: \"{text}\" ends with a full stop"
    );
}

#[test]
fn a_denied_subscribe_names_the_suspect_filters() {
    let context = FailureContext {
        subscribe_pending: true,
        unconfirmed_filters: vec!["$SYS/#".to_owned(), "#".to_owned()],
        ..connected()
    };
    let diagnosis = classify(&aborted(), &context);
    assert_eq!(diagnosis.cause, Cause::SubscribeDenied);
    assert!(
        diagnosis.summary.contains("SUBSCRIBE to $SYS/#, #."),
        "the summary names the filters: {}",
        diagnosis.summary
    );
    assert!(
        diagnosis.fix.contains("dropped $SYS/#, #"),
        "the fix says they were dropped: {}",
        diagnosis.fix
    );
}

#[test]
fn a_refused_port_names_the_address() {
    let error = ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
    let diagnosis = classify(&error, &FailureContext::connecting("10.0.0.7", 1883));
    assert!(
        diagnosis.summary.contains("10.0.0.7:1883"),
        "the summary says where: {}",
        diagnosis.summary
    );
}

#[test]
fn permanent_causes_are_the_ones_only_the_user_can_fix() {
    for cause in [
        Cause::UnknownServerCa,
        Cause::BadCredentials,
        Cause::ClientIdTakenOver,
        Cause::AlpnMissing,
    ] {
        assert!(cause.is_permanent(), "{cause:?} needs the user");
    }
    for cause in [
        Cause::TcpRefused,
        Cause::Timeout,
        Cause::ClosedByBroker,
        Cause::SubscribeDenied,
    ] {
        assert!(!cause.is_permanent(), "{cause:?} may pass by itself");
    }
}

#[test]
fn aws_limits_are_checked_before_publishing() {
    let aws = Limits::aws();
    let ok = |topic: &str, len: usize| check_publish(&aws, topic, len, QoS::AtLeastOnce);
    assert!(ok("a/b", 128 * 1024).is_ok(), "exactly 128 KB is allowed");
    let cases = [
        (
            "a/b",
            128 * 1024 + 1,
            Cause::PayloadTooLarge,
            "131072 bytes",
        ),
        ("1/2/3/4/5/6/7/8/9", 1, Cause::TopicTooDeep, "7 slashes"),
        ("a/+/c", 1, Cause::BadProfile, "wildcard"),
    ];
    for (topic, len, cause, named) in cases {
        let diagnosis = ok(topic, len).expect_err("over a limit");
        assert_eq!(diagnosis.cause, cause, "{topic} ({len} bytes)");
        assert!(
            diagnosis.summary.contains(named),
            "the limit is named: {}",
            diagnosis.summary
        );
    }
    assert!(
        ok("1/2/3/4/5/6/7/8", 1).is_ok(),
        "7 slashes (8 levels) are allowed"
    );
    let long = "t".repeat(257);
    assert_eq!(
        ok(&long, 1).map_err(|d| d.cause),
        Err(Cause::TopicTooLong),
        "257 bytes is too long"
    );
    let qos2 = check_publish(&aws, "a", 1, QoS::ExactlyOnce).map_err(|d| d.cause);
    assert_eq!(qos2, Err(Cause::QosNotSupported), "AWS has no QoS 2");
    assert!(
        check_publish(&Limits::mqtt(), "a", 1, QoS::ExactlyOnce).is_ok(),
        "Mosquitto has"
    );
}

#[test]
fn the_basic_ingest_and_shared_prefixes_do_not_count_as_levels() {
    let aws = Limits::aws();
    let ingest = "$aws/rules/my_rule/1/2/3/4/5/6/7/8";
    assert!(
        check_publish(&aws, ingest, 1, QoS::AtMostOnce).is_ok(),
        "{ingest}"
    );
    let shared = vec![("$share/g/1/2/3/4/5/6/7/8".to_owned(), QoS::AtLeastOnce)];
    assert!(
        check_subscribe(&aws, &shared).is_ok(),
        "a shared filter's prefix is free"
    );
}

#[test]
fn at_most_eight_filters_go_in_one_subscribe_on_aws() {
    let filters = |n: usize| {
        (0..n)
            .map(|i| (format!("t/{i}"), QoS::AtLeastOnce))
            .collect::<Vec<_>>()
    };
    assert!(
        check_subscribe(&Limits::aws(), &filters(8)).is_ok(),
        "8 filters are allowed"
    );
    let diagnosis = check_subscribe(&Limits::aws(), &filters(9)).expect_err("9 are too many");
    assert_eq!(diagnosis.cause, Cause::TooManyFilters);
    assert!(
        diagnosis.summary.contains("limit of 8"),
        "{}",
        diagnosis.summary
    );
    assert!(
        check_subscribe(&Limits::mqtt(), &filters(9)).is_ok(),
        "other brokers allow more"
    );
}

fn aws_profile(endpoint: &str, keepalive: u16) -> Profile {
    Profile {
        keepalive_secs: keepalive,
        session: SessionKind::Clean,
        ..Profile::new(
            "aws",
            Target::AwsIot(AwsIot {
                endpoint: endpoint.to_owned(),
                transport: AwsTransport::Mtls8883 {
                    identity: "device".to_owned(),
                },
            }),
        )
    }
}

fn identity(name: &str, not_before: i64, not_after: i64) -> IdentityRef {
    IdentityRef {
        name: name.to_owned(),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        certificate: Some(CertificateInfo {
            subject: format!("CN={name}"),
            issuer: "CN=Test CA".to_owned(),
            fingerprint_sha256: "00".repeat(32),
            serial: "01".to_owned(),
            not_before,
            not_after,
        }),
    }
}

const NOW: u64 = 1_800_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn valid_device() -> Vec<IdentityRef> {
    vec![identity(
        "device",
        NOW as i64 - 86_400,
        NOW as i64 + 365 * 86_400,
    )]
}

fn causes(findings: &[Diagnosis]) -> Vec<Cause> {
    findings.iter().map(|d| d.cause).collect()
}

#[test]
fn preflight_passes_a_good_aws_profile() {
    let profile = aws_profile("abc123-ats.iot.eu-west-1.amazonaws.com", 60);
    let findings = preflight(&profile, &valid_device(), now());
    assert!(findings.is_empty(), "nothing to report: {findings:?}");
}

#[test]
fn preflight_finds_the_static_mistakes() {
    let legacy = aws_profile("abc123.iot.eu-west-1.amazonaws.com", 60);
    assert_eq!(
        causes(&preflight(&legacy, &valid_device(), now())),
        vec![Cause::NotAtsEndpoint],
        "-ats is missing"
    );
    let keepalive = aws_profile("abc123-ats.iot.eu-west-1.amazonaws.com", 10);
    let findings = preflight(&keepalive, &valid_device(), now());
    assert_eq!(
        causes(&findings),
        vec![Cause::KeepaliveOutOfRange],
        "10 s is under AWS's 30 s"
    );
    assert!(
        findings[0].summary.contains("30-1200"),
        "the range is named: {}",
        findings[0].summary
    );
    let expired = vec![identity("device", 0, NOW as i64 - 3 * 86_400)];
    let good = aws_profile("abc123-ats.iot.eu-west-1.amazonaws.com", 60);
    let findings = preflight(&good, &expired, now());
    assert_eq!(
        causes(&findings),
        vec![Cause::ClientCertificateExpired],
        "expired 3 days ago"
    );
    assert!(
        findings[0].summary.contains("3 days ago"),
        "{}",
        findings[0].summary
    );
    let future = vec![identity(
        "device",
        NOW as i64 + 2 * 86_400,
        NOW as i64 + 400 * 86_400,
    )];
    assert_eq!(
        causes(&preflight(&good, &future, now())),
        vec![Cause::ClientCertificateNotYetValid]
    );
    assert_eq!(
        causes(&preflight(&good, &[], now())),
        vec![Cause::IdentityMissing],
        "not in the vault"
    );
}

#[test]
fn preflight_flags_port_443_without_alpn() {
    let mqtt = |alpn: Option<&str>| {
        Profile::new(
            "raw",
            Target::Mqtt(Mqtt {
                host: "abc123-ats.iot.eu-west-1.amazonaws.com".to_owned(),
                port: 443,
                tls: MqttTls::Mutual {
                    ca: CaSource::PublicRoots,
                    identity: "device".to_owned(),
                    alpn: alpn.map(str::to_owned),
                },
                username: None,
                password: None,
            }),
        )
    };
    let findings = preflight(&mqtt(None), &valid_device(), now());
    assert_eq!(
        causes(&findings),
        vec![Cause::AlpnMissing],
        "443 without ALPN"
    );
    assert!(
        findings[0].fix.contains("x-amzn-mqtt-ca"),
        "the fix names the ALPN: {}",
        findings[0].fix
    );
    assert!(
        preflight(&mqtt(Some("x-amzn-mqtt-ca")), &valid_device(), now()).is_empty(),
        "with ALPN it is fine"
    );
}

#[test]
fn profile_errors_become_sentences_in_preflight() {
    let mut profile = aws_profile("abc123-ats.iot.eu-west-1.amazonaws.com", 60);
    profile.client_id = Some("$reserved".to_owned());
    let findings = preflight(&profile, &valid_device(), now());
    assert_eq!(causes(&findings), vec![Cause::BadProfile]);
    assert_sentence(&findings[0].summary, "bad client id");
    assert!(
        check_client_id("$reserved", false).is_ok(),
        "other brokers accept '$'"
    );
}
