//! Unit tests of the vault facade over the in-memory store.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::*;

/// A throwaway RSA key for tests only, written by `openssl genrsa -traditional 2048`
/// (ring cannot generate RSA keys).
const RSA_PKCS1_PEM: &str = include_str!("../../tests/fixtures/rsa-2048-pkcs1-test-only.pem");

fn vault() -> (Vault, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Vault::with_service(store.clone(), "test.vault"), store)
}

fn params(common_name: &str) -> CertificateParams {
    let mut params =
        CertificateParams::new(vec![format!("{common_name}.example")]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2027, 1, 1);
    params
}

fn key(algorithm: &'static rcgen::SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(algorithm).expect("key generation")
}

/// A self-signed certificate and its key as PEM.
fn self_signed(key: &KeyPair, common_name: &str) -> String {
    params(common_name)
        .self_signed(key)
        .expect("self-signed")
        .pem()
}

/// A CA and a leaf signed by it: (ca_pem, leaf_pem, leaf_key).
fn chain() -> (String, String, KeyPair) {
    let ca_key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut ca_params = params("Test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let leaf = params("sensor-17")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    (ca.pem(), leaf.pem(), leaf_key)
}

/// The key inside a PKCS#8 envelope (SEC1 for EC keys), for building SEC1 fixtures.
fn pkcs8_inner_key(pkcs8: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (length, header) = match input[1] {
            short if short < 0x80 => (usize::from(short), 2),
            long => {
                let n = usize::from(long & 0x7f);
                (
                    input[2..2 + n]
                        .iter()
                        .fold(0, |a, b| a << 8 | usize::from(*b)),
                    2 + n,
                )
            }
        };
        (&input[header..header + length], &input[header + length..])
    }
    let (body, _) = tlv(pkcs8);
    let (_, rest) = tlv(body); // version
    let (_, rest) = tlv(rest); // algorithm
    let (key, _) = tlv(rest);
    key.to_vec()
}

fn pem_block(tag: &str, der: &[u8]) -> String {
    encode_pem(tag, der).expose().clone()
}

#[test]
fn a_pem_identity_round_trips_through_the_store() {
    let (vault, store) = vault();
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let cert = self_signed(&key, "device-1");
    let input = format!("{cert}{}", key.serialize_pem());

    let identity = vault
        .import_identity("device-1", input.as_bytes(), None)
        .expect("import");
    assert_eq!(identity.key_algorithm, KeyAlgorithm::EcdsaP256);
    assert_eq!(store.len(), 2, "key and chain are two keyring entries");

    let loaded = vault.load_identity(&identity).expect("load");
    assert_eq!(
        loaded.key_pem.expose(),
        &key.serialize_pem(),
        "the key comes back as PKCS#8 PEM"
    );
    assert_eq!(
        loaded.cert_pem.replace("\r\n", "\n"),
        cert.replace("\r\n", "\n")
    );
}

#[test]
fn metadata_names_subject_issuer_fingerprint_serial_and_validity() {
    let (vault, _) = vault();
    let (ca, leaf, leaf_key) = chain();
    let input = format!("{ca}{}{leaf}", leaf_key.serialize_pem());
    let identity = vault
        .import_identity("sensor-17", input.as_bytes(), None)
        .expect("import");
    let info = identity.certificate.expect("active identity");

    let leaf_der = pem::parse(&leaf).expect("pem").into_contents();
    use sha2::Digest;
    assert_eq!(
        info.fingerprint_sha256,
        hex::encode(sha2::Sha256::digest(&leaf_der))
    );
    assert_eq!(
        info.fingerprint_sha256.len(),
        64,
        "as long as an AWS certificateId"
    );
    assert_eq!(info.subject, "CN=sensor-17");
    assert_eq!(info.issuer, "CN=Test CA");
    assert!(!info.serial.is_empty());
    assert_eq!(info.not_before, 1_767_225_600, "2026-01-01T00:00:00Z");
    assert_eq!(info.not_after, 1_798_761_600, "2027-01-01T00:00:00Z");
}

#[test]
fn the_chain_is_stored_with_the_identitys_own_certificate_first() {
    let (vault, _) = vault();
    let (ca, leaf, leaf_key) = chain();
    let input = format!("{ca}{}{leaf}", leaf_key.serialize_pem());
    let identity = vault
        .import_identity("sensor-17", input.as_bytes(), None)
        .expect("import");
    let loaded = vault.load_identity(&identity).expect("load");
    let blocks = pem::parse_many(&loaded.cert_pem).expect("chain pem");
    assert_eq!(blocks.len(), 2, "leaf and CA");
    assert_eq!(
        blocks[0].contents(),
        pem::parse(&leaf).expect("leaf").contents(),
        "leaf first"
    );
    assert_eq!(
        blocks[1].contents(),
        pem::parse(&ca).expect("ca").contents(),
        "then the CA"
    );
}

#[test]
fn keys_in_pkcs8_sec1_and_pkcs1_are_all_accepted() {
    let p256 = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let p384 = key(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ed25519 = key(&rcgen::PKCS_ED25519);
    let rsa_der = pem::parse(RSA_PKCS1_PEM)
        .expect("rsa fixture")
        .into_contents();
    let rsa = KeyPair::try_from(key::tests_support::wrap_rsa(&rsa_der)).expect("rsa key");
    let table: [(&str, &KeyPair, String, KeyAlgorithm); 5] = [
        (
            "p256-sec1",
            &p256,
            pem_block("EC PRIVATE KEY", &pkcs8_inner_key(&p256.serialize_der())),
            KeyAlgorithm::EcdsaP256,
        ),
        (
            "p384-sec1",
            &p384,
            pem_block("EC PRIVATE KEY", &pkcs8_inner_key(&p384.serialize_der())),
            KeyAlgorithm::EcdsaP384,
        ),
        (
            "p384-pkcs8",
            &p384,
            p384.serialize_pem(),
            KeyAlgorithm::EcdsaP384,
        ),
        (
            "ed25519-pkcs8",
            &ed25519,
            ed25519.serialize_pem(),
            KeyAlgorithm::Ed25519,
        ),
        (
            "rsa-pkcs1",
            &rsa,
            RSA_PKCS1_PEM.to_owned(),
            KeyAlgorithm::Rsa,
        ),
    ];
    for (name, pair, key_pem, algorithm) in table {
        let (vault, _) = vault();
        let input = format!("{key_pem}{}", self_signed(pair, name));
        let identity = vault
            .import_identity(name, input.as_bytes(), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(identity.key_algorithm, algorithm, "{name}");
        let loaded = vault.load_identity(&identity).expect("load");
        assert!(
            loaded
                .key_pem
                .expose()
                .starts_with("-----BEGIN PRIVATE KEY-----"),
            "{name}: stored as PKCS#8"
        );
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_and_nothing_is_stored() {
    let (vault, store) = vault();
    let key_a = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let key_b = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let input = format!("{}{}", self_signed(&key_b, "b"), key_a.serialize_pem());
    let error = vault
        .import_identity("mixed", input.as_bytes(), None)
        .expect_err("mismatch");
    assert_eq!(error, VaultError::KeyMismatch);
    assert_eq!(error.to_string(), "the key does not match the certificate");
    assert!(store.is_empty(), "a refused import leaves nothing behind");
}

#[test]
fn incomplete_or_odd_files_get_a_sentence_that_names_the_problem() {
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let other = KeyPair::generate().expect("key");
    let cert = self_signed(&key, "x");
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let legacy_encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END RSA PRIVATE KEY-----\n";
    let table = [
        (
            cert.clone(),
            VaultError::NoPrivateKey,
            "the file holds a certificate but no private key",
        ),
        (
            key.serialize_pem(),
            VaultError::NoCertificate,
            "the file holds a private key but no certificate",
        ),
        (
            format!("{cert}{}{}", key.serialize_pem(), other.serialize_pem()),
            VaultError::SeveralKeys(2),
            "the file holds 2 private keys: import one identity at a time",
        ),
        (
            "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"
                .to_owned(),
            VaultError::NothingToImport,
            "the file holds no certificate and no private key",
        ),
        (
            "hello".to_owned(),
            VaultError::UnrecognizedFormat,
            "the file holds neither PEM text nor a PKCS#12 archive",
        ),
        (format!("{cert}{encrypted}"), VaultError::EncryptedKey, ""),
        (
            format!("{cert}{legacy_encrypted}"),
            VaultError::EncryptedKey,
            "",
        ),
    ];
    for (input, expected, sentence) in table {
        let (vault, store) = vault();
        let error = vault
            .import_identity("x", input.as_bytes(), None)
            .expect_err("refused");
        assert_eq!(
            error,
            expected,
            "for input starting {:?}",
            &input[..20.min(input.len())]
        );
        if !sentence.is_empty() {
            assert_eq!(error.to_string(), sentence);
        }
        assert!(store.is_empty());
    }
}

#[test]
fn a_pkcs12_archive_imports_with_its_passphrase_only() {
    let (ca, leaf, leaf_key) = chain();
    let archive = key::tests_support::pkcs12(&leaf_key, &[&leaf, &ca], "correct horse");

    let (vault, _) = vault();
    let wrong = Sensitive::from("wrong");
    assert_eq!(
        vault.import_identity("p12", &archive, Some(&wrong)),
        Err(VaultError::WrongPassphrase)
    );
    assert_eq!(
        VaultError::WrongPassphrase.to_string(),
        "wrong PKCS#12 passphrase"
    );
    assert_eq!(
        vault.import_identity("p12", &archive, None),
        Err(VaultError::PassphraseRequired)
    );

    let right = Sensitive::from("correct horse");
    let identity = vault
        .import_identity("p12", &archive, Some(&right))
        .expect("import");
    assert_eq!(
        identity.certificate.as_ref().map(|c| c.subject.as_str()),
        Some("CN=sensor-17")
    );
    let loaded = vault.load_identity(&identity).expect("load");
    assert_eq!(loaded.key_pem.expose(), &leaf_key.serialize_pem());
    assert_eq!(pem::parse_many(&loaded.cert_pem).expect("chain").len(), 2);
}

#[test]
fn a_csr_keeps_its_key_in_the_store_until_the_certificate_is_installed() {
    let (vault, store) = vault();
    let (identity, csr_pem) = vault
        .generate_csr("thing-9", &CsrRequest::new("thing-9"))
        .expect("csr");
    assert!(identity.is_pending());
    assert_eq!(
        identity.key_algorithm,
        KeyAlgorithm::EcdsaP256,
        "P-256 by default"
    );
    assert!(csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert_eq!(store.len(), 1, "only the key is stored");
    assert_eq!(
        vault.load_identity(&identity).err(),
        Some(VaultError::CertificatePending("thing-9".into()))
    );

    let ca_key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut ca_params = params("Test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca_params, ca_key);
    let csr = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem).expect("csr parses");
    let issued = csr.signed_by(&issuer).expect("signed").pem();

    let stranger = self_signed(&key(&rcgen::PKCS_ECDSA_P256_SHA256), "stranger");
    assert_eq!(
        vault.install_certificate("thing-9", stranger.as_bytes()),
        Err(VaultError::KeyMismatch)
    );

    let installed = vault
        .install_certificate("thing-9", issued.as_bytes())
        .expect("install");
    assert_eq!(
        installed.certificate.as_ref().map(|c| c.subject.as_str()),
        Some("CN=thing-9")
    );
    assert_eq!(
        vault.describe_identity("thing-9").expect("describe"),
        installed
    );
    assert!(vault.load_identity(&installed).is_ok());
}

#[test]
fn names_are_checked_and_never_overwritten() {
    let (vault, _) = vault();
    for bad in ["", "a/b", "spaces here", &"x".repeat(65)] {
        assert_eq!(
            vault.generate_csr(bad, &CsrRequest::new("x")).err(),
            Some(VaultError::InvalidName),
            "{bad:?}"
        );
    }
    vault
        .generate_csr("taken", &CsrRequest::new("x"))
        .expect("first");
    assert_eq!(
        vault.generate_csr("taken", &CsrRequest::new("x")).err(),
        Some(VaultError::IdentityExists("taken".into()))
    );
}

#[test]
fn removing_an_identity_removes_every_entry() {
    let (vault, store) = vault();
    let (ca, leaf, leaf_key) = chain();
    let input = format!("{leaf}{ca}{}", leaf_key.serialize_pem());
    let identity = vault
        .import_identity("gone", input.as_bytes(), None)
        .expect("import");
    vault.remove_identity("gone").expect("remove");
    assert!(store.is_empty());
    assert_eq!(
        vault.load_identity(&identity).err(),
        Some(VaultError::IdentityNotFound("gone".into()))
    );
    assert_eq!(
        vault.remove_identity("gone"),
        Err(VaultError::IdentityNotFound("gone".into()))
    );
}

#[test]
fn passwords_round_trip_and_can_be_removed() {
    let (vault, store) = vault();
    vault
        .store_password("broker", &Sensitive::from("s3cret"))
        .expect("store");
    vault
        .store_password("broker", &Sensitive::from("s3cret-2"))
        .expect("replace");
    assert_eq!(
        vault.load_password("broker").expect("load").expose(),
        "s3cret-2"
    );
    vault.remove_password("broker").expect("remove");
    assert!(store.is_empty());
    assert_eq!(
        vault.load_password("broker").err(),
        Some(VaultError::PasswordNotFound("broker".into()))
    );
    assert_eq!(
        vault.remove_password("broker"),
        Err(VaultError::PasswordNotFound("broker".into()))
    );
}

#[test]
fn no_public_type_shows_a_secret_in_its_debug_output() {
    let (vault, store) = vault();
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let key_body = key
        .serialize_pem()
        .lines()
        .nth(1)
        .expect("a base64 line")
        .to_owned();
    let input = format!("{}{}", self_signed(&key, "dbg"), key.serialize_pem());
    let identity = vault
        .import_identity("dbg", input.as_bytes(), None)
        .expect("import");
    let loaded = vault.load_identity(&identity).expect("load");
    vault
        .store_password("pw", &Sensitive::from("hunter2"))
        .expect("store");
    let password = vault.load_password("pw").expect("load");

    let outputs = [
        format!("{identity:?}"),
        format!("{loaded:?}"),
        format!("{loaded:#?}"),
        format!("{password:?} {password}"),
        format!("{vault:?}"),
        format!("{store:?}"),
        serde_json::to_string(&identity).expect("metadata serializes"),
        format!("{:?}", vault.load_identity(&identity).map(|i| i.key_pem)),
    ];
    for output in outputs {
        assert!(!output.contains(&key_body), "key material leaked: {output}");
        assert!(!output.contains("hunter2"), "password leaked: {output}");
        assert!(!output.contains("PRIVATE KEY"), "key PEM leaked: {output}");
    }
    assert!(format!("{loaded:?}").contains("key_pem: <redacted>"));
}

#[test]
fn identity_metadata_tells_the_expiry_at_a_given_time() {
    let (vault, _) = vault();
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let input = format!("{}{}", self_signed(&key, "exp"), key.serialize_pem());
    let identity = vault
        .import_identity("exp", input.as_bytes(), None)
        .expect("import");
    let not_after = 1_798_761_600u64; // 2027-01-01
    let day = 86_400u64;
    let at = |seconds: u64| UNIX_EPOCH + Duration::from_secs(seconds);
    assert_eq!(
        identity.expiry_status(at(not_after - 60 * day)),
        Some(ExpiryStatus::Valid { days_left: 60 })
    );
    assert_eq!(
        identity.expiry_status(at(not_after - 10 * day)),
        Some(ExpiryStatus::ExpiresSoon { days_left: 10 })
    );
    assert_eq!(
        identity.expiry_status(at(not_after + 2 * day)),
        Some(ExpiryStatus::Expired { days_ago: 2 })
    );
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let errors = [
        VaultError::KeyMismatch,
        VaultError::WrongPassphrase,
        VaultError::NoPrivateKey,
        VaultError::Store(StoreError::NoEntry),
        VaultError::Store(StoreError::Locked("x".into())),
    ];
    let codes: std::collections::HashSet<_> = errors.iter().map(VaultError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert_eq!(VaultError::KeyMismatch.code(), "vault.key_mismatch");
}

#[tokio::test]
async fn the_async_vault_runs_the_same_calls_on_the_blocking_pool() {
    let (vault, store) = vault();
    let vault = AsyncVault::new(vault);
    vault
        .store_password("token".into(), Sensitive::from("t0ken"))
        .await
        .expect("store");
    assert_eq!(
        vault
            .load_password("token".into())
            .await
            .expect("load")
            .expose(),
        "t0ken"
    );
    let (pending, _csr) = vault
        .generate_csr("dev".into(), CsrRequest::new("dev"))
        .await
        .expect("csr");
    assert!(pending.is_pending());
    vault.remove_identity("dev".into()).await.expect("remove");
    vault.remove_password("token".into()).await.expect("remove");
    assert!(store.is_empty());
}

#[test]
fn binary_input_is_told_apart_from_pkcs12() {
    let (vault, store) = vault();
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let der = params("der")
        .self_signed(&key)
        .expect("cert")
        .der()
        .to_vec();
    assert_eq!(
        vault.import_identity("der", &der, None),
        Err(VaultError::NoPrivateKey),
        "a lone DER certificate"
    );
    let garbage = [0x30, 0x03, 0x02, 0x01, 0x09];
    let error = vault
        .import_identity("junk", &garbage, None)
        .expect_err("not an archive");
    assert!(
        error
            .to_string()
            .starts_with("the PKCS#12 file could not be read"),
        "{error}"
    );
    assert!(store.is_empty());
}

#[test]
fn pem_with_windows_line_endings_imports() {
    let (vault, _) = vault();
    let key = key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let input =
        format!("{}{}", self_signed(&key, "crlf"), key.serialize_pem()).replace('\n', "\r\n");
    let identity = vault
        .import_identity("crlf", input.as_bytes(), None)
        .expect("import");
    assert_eq!(
        vault
            .load_identity(&identity)
            .expect("load")
            .key_pem
            .expose(),
        &key.serialize_pem()
    );
}
