use std::sync::Arc;

use rcgen::{CertificateParams, DnType, KeyPair};
use sha2::Digest;

use super::*;
use crate::profile::{AwsIot, AwsTransport, CaSource, Mqtt, MqttTls, SandboxTarget, Target};
use crate::vault::{MemoryStore, Vault};

async fn store() -> Store {
    Store::open_in_memory().await.expect("an in-memory store")
}

fn sandbox(name: &str) -> Profile {
    Profile::new(name, Target::Sandbox(SandboxTarget::Plain))
}

fn aws(name: &str, endpoint: &str, identity: &str) -> Profile {
    Profile::new(
        name,
        Target::AwsIot(AwsIot {
            endpoint: endpoint.to_owned(),
            transport: AwsTransport::Mtls8883 {
                identity: identity.to_owned(),
            },
        }),
    )
}

fn identities(store: &Store) -> (Identities, Arc<MemoryStore>) {
    let secrets = Arc::new(MemoryStore::new());
    let vault = AsyncVault::new(Vault::new(secrets.clone()));
    (Identities::new(store.clone(), vault), secrets)
}

/// A self-signed certificate and its key, as one PEM text, and the certificate's DER.
fn pem_pair(common_name: &str) -> (String, Vec<u8>) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let cert = params.self_signed(&key).expect("a certificate");
    (
        format!("{}{}", cert.pem(), key.serialize_pem()),
        cert.der().to_vec(),
    )
}

#[tokio::test]
async fn a_profile_round_trips_and_a_duplicate_is_refused_with_a_sentence() {
    let profiles = Profiles::new(store().await);
    let profile = aws("lab", "abc123-ats.iot.eu-west-1.amazonaws.com", "sensor");
    profiles
        .add(&profile)
        .await
        .expect("a valid profile is saved");
    let saved = profiles.get("lab").await.expect("it is found");
    assert_eq!(saved.profile, profile, "the profile reads back unchanged");
    assert!(!saved.active, "a new profile is not active");

    let error = profiles
        .add(&sandbox("lab"))
        .await
        .expect_err("a duplicate");
    assert_eq!(error.code(), "profiles.profile_exists");
    assert_eq!(
        error.to_string(),
        "a profile named \"lab\" already exists: remove it first or choose another name"
    );
}

#[tokio::test]
async fn an_invalid_profile_is_refused_before_it_is_saved() {
    let profiles = Profiles::new(store().await);
    let error = profiles
        .add(&aws("lab", "iot.example.com", "sensor"))
        .await
        .expect_err("not an ATS endpoint");
    assert!(
        error
            .to_string()
            .contains("is not an AWS IoT ATS data endpoint"),
        "the profile's own sentence: {error}"
    );
    let bad_name = profiles
        .add(&sandbox("two words"))
        .await
        .expect_err("a bad name");
    assert_eq!(bad_name.code(), "profiles.invalid_name");
    assert!(
        profiles.list().await.expect("list").is_empty(),
        "nothing was saved"
    );
}

#[tokio::test]
async fn the_active_profile_is_marked_and_cleared_when_it_is_removed() {
    let profiles = Profiles::new(store().await);
    for name in ["b", "a"] {
        profiles.add(&sandbox(name)).await.expect("saved");
    }
    assert_eq!(
        profiles.active().await.expect("active"),
        None,
        "none at first"
    );
    profiles.set_active("b").await.expect("b is active");
    let listed: Vec<(String, bool)> = profiles
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|saved| (saved.profile.name, saved.active))
        .collect();
    assert_eq!(
        listed,
        [("a".to_owned(), false), ("b".to_owned(), true)],
        "listed by name, the active one marked"
    );
    let removed = profiles.remove("b").await.expect("removed");
    assert_eq!(removed.name, "b", "remove returns what it removed");
    assert_eq!(
        profiles.active().await.expect("active"),
        None,
        "no longer active"
    );
}

#[tokio::test]
async fn unknown_profiles_are_reported_as_not_found() {
    let profiles = Profiles::new(store().await);
    for error in [
        profiles.get("nope").await.expect_err("get"),
        profiles.remove("nope").await.expect_err("remove"),
        profiles.set_active("nope").await.expect_err("use"),
    ] {
        assert_eq!(error.code(), "profiles.profile_not_found", "{error}");
    }
}

#[tokio::test]
async fn an_imported_identity_is_indexed_without_secret_bytes() {
    let store = store().await;
    let (identities, secrets) = identities(&store);
    let (pem, der) = pem_pair("sensor-1");
    let identity = identities
        .import("sensor-1", pem.into_bytes(), None)
        .await
        .expect("imported");
    assert_eq!(secrets.len(), 2, "key and chain went to the keyring");
    let listed = identities.list().await.expect("list");
    assert_eq!(
        listed,
        std::slice::from_ref(&identity),
        "the index answers the list"
    );
    let fingerprint = listed[0]
        .certificate
        .as_ref()
        .map(|c| c.fingerprint_sha256.clone());
    assert_eq!(
        fingerprint,
        Some(hex::encode(sha2::Sha256::digest(&der))),
        "the fingerprint is the SHA-256 of the DER"
    );
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT name || key_algorithm || keyring_service || backend || coalesce(subject, '') \
         || coalesce(issuer, '') || coalesce(serial, '') FROM identities",
    )
    .fetch_all(store.read())
    .await
    .unwrap_or_default();
    assert!(!dump.join(" ").contains("PRIVATE KEY"), "no key in the row");
}

#[tokio::test]
async fn the_same_certificate_under_a_second_name_is_refused_and_leaves_no_entry() {
    let store = store().await;
    let (identities, secrets) = identities(&store);
    let (pem, _) = pem_pair("sensor-2");
    identities
        .import("first", pem.clone().into_bytes(), None)
        .await
        .expect("imported");
    let error = identities
        .import("second", pem.into_bytes(), None)
        .await
        .expect_err("a duplicate certificate");
    assert_eq!(
        error.to_string(),
        "this certificate is already imported as \"first\": use that identity"
    );
    assert_eq!(
        secrets.len(),
        2,
        "the second copy was removed from the keyring"
    );
}

#[tokio::test]
async fn an_identity_in_use_by_a_profile_is_not_removed() {
    let store = store().await;
    let (identities, secrets) = identities(&store);
    let (pem, _) = pem_pair("sensor-3");
    identities
        .import("sensor-3", pem.into_bytes(), None)
        .await
        .expect("imported");
    let profiles = Profiles::new(store.clone());
    let profile = aws("lab", "abc123-ats.iot.eu-west-1.amazonaws.com", "sensor-3");
    profiles.add(&profile).await.expect("saved");
    let error = identities.remove("sensor-3").await.expect_err("in use");
    assert_eq!(error.code(), "profiles.identity_in_use", "{error}");
    profiles.remove("lab").await.expect("profile removed");
    identities.remove("sensor-3").await.expect("now it goes");
    assert!(secrets.is_empty(), "the keyring entries are gone");
    assert!(
        identities.list().await.expect("list").is_empty(),
        "and the row"
    );
    let again = identities.remove("sensor-3").await.expect_err("gone");
    assert_eq!(again.code(), "profiles.identity_not_found");
}

#[tokio::test]
async fn a_csr_identity_is_pending_until_its_certificate_is_installed() {
    let store = store().await;
    let (identities, _secrets) = identities(&store);
    let (pending, csr) = identities
        .generate_csr("device-7", CsrRequest::new("device-7"))
        .await
        .expect("a CSR");
    assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(pending.is_pending());
    let listed = identities.list().await.expect("list");
    assert!(listed[0].is_pending(), "the index knows it is pending");

    let issued = sign(&csr);
    let installed = identities
        .install_certificate("device-7", issued.into_bytes())
        .await
        .expect("installed");
    assert!(!installed.is_pending());
    assert_eq!(identities.list().await.expect("list"), [installed]);
}

#[tokio::test]
async fn an_identity_only_in_the_keyring_is_indexed_when_it_is_looked_up() {
    let store = store().await;
    let (identities, secrets) = identities(&store);
    let vault = Vault::new(secrets);
    let (pem, _) = pem_pair("legacy");
    vault
        .import_identity("legacy", pem.as_bytes(), None)
        .expect("stored behind the index's back");
    assert!(identities.list().await.expect("list").is_empty());
    let found = identities
        .get("legacy")
        .await
        .expect("found in the keyring");
    assert_eq!(identities.list().await.expect("list"), [found]);
}

fn sign(csr_pem: &str) -> String {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let issuer = rcgen::Issuer::new(params, ca_key);
    let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).expect("a CSR");
    csr.signed_by(&issuer).expect("signed").pem()
}

#[tokio::test]
async fn every_kind_of_target_reads_back_as_it_was_saved() {
    let profiles = Profiles::new(store().await);
    let mqtt = Profile::new(
        "broker",
        Target::Mqtt(Mqtt {
            host: "broker.example.com".into(),
            port: 8883,
            tls: MqttTls::ServerOnly {
                ca: CaSource::PublicRoots,
                alpn: None,
            },
            username: Some("tech".into()),
            password: Some("profile.broker".into()),
        }),
    );
    let mtls_sandbox = Profile::new(
        "sandbox-mtls",
        Target::Sandbox(SandboxTarget::Mtls {
            identity: "dev".into(),
        }),
    );
    let table = [
        sandbox("sandbox"),
        mtls_sandbox,
        mqtt,
        aws("aws", "abc123-ats.iot.eu-west-1.amazonaws.com", "sensor"),
    ];
    for profile in &table {
        profiles.add(profile).await.expect("saved");
        let saved = profiles.get(&profile.name).await.expect("read back");
        assert_eq!(&saved.profile, profile, "{} round-trips", profile.name);
    }
    assert_eq!(
        profile_json(&table[0])["target"],
        serde_json::json!({"kind": "sandbox", "sandbox": {"kind": "plain"}}),
        "the sandbox's own tag does not collide with the target's"
    );
}

#[test]
fn a_profile_password_is_removed_only_when_the_profile_owns_it() {
    let mqtt = |password: Option<&str>| {
        Profile::new(
            "lab",
            Target::Mqtt(Mqtt {
                host: "broker".into(),
                port: 1883,
                tls: MqttTls::None,
                username: Some("u".into()),
                password: password.map(str::to_owned),
            }),
        )
    };
    assert_eq!(
        owned_password(&mqtt(Some("profile.lab"))),
        Some("profile.lab".to_owned())
    );
    assert_eq!(owned_password(&mqtt(Some("shared"))), None, "not its own");
    assert_eq!(owned_password(&mqtt(None)), None);
}
