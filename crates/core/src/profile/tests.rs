use std::net::SocketAddr;

use super::*;
use crate::vault::MemoryStore;

fn vault() -> Vault {
    Vault::with_service(Arc::new(MemoryStore::new()), "profile-tests")
}

/// A self-signed certificate and its key, as one PEM text the vault imports.
fn identity_pem(common_name: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params =
        rcgen::CertificateParams::new(vec![common_name.to_owned()]).expect("certificate params");
    let certificate = params.self_signed(&key).expect("a certificate");
    format!("{}{}", certificate.pem(), key.serialize_pem())
}

fn aws(transport: AwsTransport) -> Profile {
    Profile::new(
        "aws",
        Target::AwsIot(AwsIot {
            endpoint: "a1b2c3-ats.iot.eu-west-1.amazonaws.com".to_owned(),
            transport,
        }),
    )
}

fn mqtt(tls: MqttTls) -> Profile {
    Profile::new(
        "mosquitto",
        Target::Mqtt(Mqtt {
            host: "broker.local".to_owned(),
            port: 8883,
            tls,
            username: Some("alice".to_owned()),
            password: Some("broker-password".to_owned()),
        }),
    )
}

#[test]
fn only_ats_data_endpoints_are_accepted_for_aws() {
    for good in [
        "a1b2c3-ats.iot.eu-west-1.amazonaws.com",
        "a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn",
    ] {
        assert!(
            check_ats_endpoint(good).is_ok(),
            "{good} is an ATS endpoint"
        );
    }
    for bad in [
        "a1b2c3.iot.eu-west-1.amazonaws.com",
        "-ats.iot.eu-west-1.amazonaws.com",
        "a1b2c3-ats.credentials.iot.eu-west-1.amazonaws.com",
        "a1b2c3-ats.iot.eu-west-1.example.com",
    ] {
        let error = check_ats_endpoint(bad).expect_err(bad);
        assert!(
            error.to_string().contains("iot:Data-ATS"),
            "the error says how to find the right one: {error}"
        );
    }
    let scheme = check_ats_endpoint("mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com");
    assert!(
        matches!(scheme, Err(ProfileError::BadHost(_))),
        "a URL is not a host"
    );
}

#[test]
fn aws_client_ids_follow_the_reference_rules() {
    assert!(
        check_client_id(&"a".repeat(128), true).is_ok(),
        "128 bytes fit"
    );
    let cases = [
        ("a".repeat(129), "at most 128 bytes"),
        ("é".repeat(65), "at most 128 bytes"),
        ("$GEN/abc".to_owned(), "reserves"),
        ("dev+1".to_owned(), "lifecycle"),
        (String::new(), "must not be empty"),
    ];
    for (id, why) in cases {
        let error = check_client_id(&id, true).expect_err("refused on AWS");
        assert!(error.to_string().contains(why), "{id:?}: {error}");
    }
    assert!(
        check_client_id("$GEN/abc", false).is_ok(),
        "Mosquitto has no such rule"
    );
}

#[test]
fn the_default_client_id_is_the_thing_name_or_a_generated_one() {
    let mut profile = aws(AwsTransport::Mtls8883 {
        identity: "device".into(),
    });
    assert_eq!(
        profile.client_id(0xabc),
        "companion-0000000000000abc",
        "generated from the random value"
    );
    profile.thing_name = Some("thermostat-1".into());
    assert_eq!(profile.client_id(1), "thermostat-1", "the thing name wins");
    profile.client_id = Some("explicit".into());
    assert_eq!(
        profile.client_id(1),
        "explicit",
        "an explicit id wins over all"
    );
}

#[test]
fn the_keepalive_must_be_one_aws_honours() {
    for (secs, ok) in [
        (29, false),
        (30, true),
        (1200, true),
        (1201, false),
        (0, false),
    ] {
        assert_eq!(check_keepalive(secs, true).is_ok(), ok, "{secs} s on AWS");
    }
    let error = check_keepalive(10, true).expect_err("too short");
    assert!(
        error.to_string().contains("treat 1-29 s as 30 s"),
        "the error says what AWS would do: {error}"
    );
    assert!(check_keepalive(10, false).is_ok(), "Mosquitto honours 10 s");
}

#[test]
fn a_profile_serializes_with_vault_names_and_no_secret() {
    let profile = aws(AwsTransport::CustomAuthorizer443(CustomAuthorizer {
        authorizer: "my-authorizer".into(),
        username: "app".into(),
        token_key_name: "token".into(),
        token: "authorizer-token".into(),
        signature: None,
        password: None,
    }));
    let json = serde_json::to_string(&profile).expect("a profile serializes");
    assert!(
        json.contains("\"token\":\"authorizer-token\""),
        "the token is referenced by its vault name: {json}"
    );
    let back: Profile = serde_json::from_str(&json).expect("and reads back");
    assert_eq!(back, profile, "the round trip is lossless");
}

#[test]
fn a_sandbox_profile_keeps_its_listener_under_its_own_key_and_reads_back() {
    let profile = Profile::new(
        "local",
        Target::Sandbox(SandboxTarget::Mtls {
            identity: "bench".into(),
        }),
    );
    let json = serde_json::to_value(&profile).expect("a profile serializes");
    assert_eq!(
        json["target"],
        serde_json::json!({"kind": "sandbox", "sandbox": {"kind": "mtls", "identity": "bench"}}),
        "one `kind` per object"
    );
    let back: Profile = serde_json::from_value(json).expect("and reads back");
    assert_eq!(back, profile);
    // The form the profiles table has always held.
    let stored = r#"{"name":"plain","target":{"kind":"sandbox","sandbox":{"kind":"plain"}},
        "client_id":null,"thing_name":null,"keepalive_secs":60,"session":"clean","protocol":"mqtt311"}"#;
    let read: Profile = serde_json::from_str(stored).expect("a stored sandbox profile reads");
    assert_eq!(read.target, Target::Sandbox(SandboxTarget::Plain));
}

#[test]
fn an_aws_profile_on_443_resolves_with_alpn_and_the_amazon_roots() {
    let vault = vault();
    vault
        .import_identity("device", identity_pem("device").as_bytes(), None)
        .expect("the identity imports");
    let profile = aws(AwsTransport::Mtls443Alpn {
        identity: "device".into(),
    });
    let spec = profile.resolve(&vault, None).expect("the profile resolves");
    assert_eq!(spec.port, 443, "ALPN transport runs on 443");
    let tls = spec.tls.as_ref().expect("TLS");
    assert_eq!(
        tls.alpn.as_deref(),
        Some(ALPN_AWS_MTLS),
        "with x-amzn-mqtt-ca"
    );
    assert!(tls.identity.is_some(), "with the client certificate");
    let roots = tls.roots.store().expect("the roots load");
    assert!(
        (2..=4).contains(&roots.len()),
        "Amazon Root CA 1-4 only, got {}",
        roots.len()
    );
    assert_eq!(spec.limits, Limits::aws(), "AWS limits apply");
    assert!(
        !format!("{spec:?}").contains("PRIVATE KEY"),
        "Debug shows no key"
    );
}

#[test]
fn a_custom_authorizer_puts_its_parameters_in_the_username() {
    let vault = vault();
    vault
        .store_password("authorizer-token", &Sensitive::from("t0k en"))
        .expect("the token is stored");
    vault
        .store_password("authorizer-signature", &Sensitive::from("c2ln+/="))
        .expect("the signature is stored");
    let profile = aws(AwsTransport::CustomAuthorizer443(CustomAuthorizer {
        authorizer: "my-authorizer".into(),
        username: "app".into(),
        token_key_name: "token".into(),
        token: "authorizer-token".into(),
        signature: Some("authorizer-signature".into()),
        password: None,
    }));
    let spec = profile.resolve(&vault, None).expect("the profile resolves");
    let credentials = spec.credentials.as_ref().expect("credentials");
    assert_eq!(
        credentials.username.expose(),
        "app?x-amz-customauthorizer-name=my-authorizer&token=t0k%20en&x-amz-customauthorizer-signature=c2ln%2B%2F%3D",
        "the reference's username format, URL-encoded"
    );
    let tls = spec.tls.as_ref().expect("TLS");
    assert_eq!(tls.alpn.as_deref(), Some(ALPN_MQTT), "ALPN mqtt");
    assert!(tls.identity.is_none(), "no client certificate");
    assert!(
        !format!("{spec:?}").contains("t0k"),
        "Debug hides the token: {spec:?}"
    );
}

#[test]
fn an_mqtt_profile_loads_its_password_from_the_vault() {
    let vault = vault();
    let profile = mqtt(MqttTls::None);
    let missing = profile
        .resolve(&vault, None)
        .expect_err("no password stored");
    assert!(
        missing.to_string().contains("broker-password"),
        "the error names the missing entry: {missing}"
    );
    vault
        .store_password("broker-password", &Sensitive::from("hunter2"))
        .expect("stored");
    let spec = profile.resolve(&vault, None).expect("the profile resolves");
    let credentials = spec.credentials.as_ref().expect("credentials");
    assert_eq!(credentials.username.expose(), "alice");
    assert_eq!(
        credentials.password.as_ref().map(|p| p.expose().as_str()),
        Some("hunter2")
    );
    assert!(
        !format!("{spec:?}").contains("hunter2"),
        "Debug hides the password"
    );
    assert_eq!(spec.limits, Limits::mqtt(), "generic MQTT limits");
}

#[test]
fn a_sandbox_profile_needs_the_running_sandbox() {
    let profile = Profile::new("local", Target::Sandbox(SandboxTarget::Plain));
    let error = profile.resolve(&vault(), None).expect_err("not running");
    assert!(error.to_string().contains("start it first"), "{error}");
    let endpoints = SandboxEndpoints {
        plain: SocketAddr::from(([127, 0, 0, 1], 41883)),
        mtls_port: None,
        ca_pem: String::new(),
    };
    let spec = profile
        .resolve(&vault(), Some(&endpoints))
        .expect("resolves against the running sandbox");
    assert_eq!((spec.host.as_str(), spec.port), ("127.0.0.1", 41883));
    assert!(spec.tls.is_none(), "the plain listener");
    assert_eq!(
        spec.limits,
        Limits::aws(),
        "the sandbox mirrors AWS's limits"
    );
}

#[test]
fn a_ca_source_without_certificates_is_refused_with_a_reason() {
    let error = CaSource::Pem("not a pem".into())
        .load()
        .expect_err("no certificate");
    assert!(
        error.to_string().contains("no CERTIFICATE block"),
        "{error}"
    );
}

#[tokio::test]
async fn a_sandbox_mtls_profile_resolved_from_the_vault_connects() {
    use crate::session::{ConnectionState, Session, SessionOptions};
    let dir = std::env::temp_dir().join(format!("core-profile-{:016x}", rand::random::<u64>()));
    let sandbox = companion_sandbox::Sandbox::start(companion_sandbox::SandboxConfig::new(&dir))
        .await
        .expect("the sandbox starts");
    let issued = sandbox.issue_identity("vault-device").expect("an identity");
    let vault = vault();
    let pem = format!("{}{}", issued.cert_pem, issued.key_pem);
    vault
        .import_identity("vault-device", pem.as_bytes(), None)
        .expect("the sandbox's identity imports into the vault");
    let endpoints = SandboxEndpoints {
        plain: SocketAddr::from(([127, 0, 0, 1], sandbox.plain_endpoint().port)),
        mtls_port: sandbox.mtls_address().map(|address| address.port()),
        ca_pem: issued.ca_pem.clone(),
    };
    let mut profile = Profile::new(
        "local",
        Target::Sandbox(SandboxTarget::Mtls {
            identity: "vault-device".into(),
        }),
    );
    profile.thing_name = Some("vault-device".into());
    let spec = profile
        .resolve(&vault, Some(&endpoints))
        .expect("the profile resolves from the vault");
    assert_eq!(
        spec.client_id, "vault-device",
        "the thing name is the client id"
    );
    let (handle, session_loop) =
        Session::connect(spec, SessionOptions::default()).expect("the session is built");
    let task = tokio::spawn(session_loop.run());
    let mut state = handle.state();
    let connected = state.wait_for(|s| matches!(s, ConnectionState::Connected { .. }));
    tokio::time::timeout(Duration::from_secs(15), connected)
        .await
        .expect("connected over mutual TLS in time")
        .expect("the loop is alive");
    handle.disconnect();
    let end = task.await.expect("the loop ends");
    assert_eq!(
        end,
        ConnectionState::Disconnected { cause: None },
        "a clean disconnect"
    );
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
