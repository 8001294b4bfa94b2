//! Fleet provisioning over MQTT, then mutual TLS with the issued certificate.

use companion_sandbox::ca::{LocalCa, certificate_id_from_pem};
use companion_sandbox::connect::TlsIdentity;
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::json;

use crate::common::{TempDir, TestClient, sandbox, thing};

const CSR_TOPIC: &str = "$aws/certificates/create-from-csr/json";
const CREATE_TOPIC: &str = "$aws/certificates/create/json";
const PROVISION_TOPIC: &str = "$aws/provisioning-templates/companion-default/provision/json";

fn replies(topic: &str) -> Vec<String> {
    vec![format!("{topic}/accepted"), format!("{topic}/rejected")]
}

fn csr(common_name: &str) -> (String, String) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let csr = params
        .serialize_request(&key)
        .expect("a CSR")
        .pem()
        .expect("PEM");
    (csr, key.serialize_pem())
}

#[tokio::test]
async fn a_device_provisioned_from_a_csr_connects_over_mtls_and_another_ca_is_refused() {
    let dir = TempDir::new("fleet");
    let sandbox = sandbox(&dir).await;
    let claim = sandbox.issue_identity("claim").expect("a claim identity");
    let claim_endpoint = sandbox.mtls_endpoint(claim).expect("an mTLS listener");
    let mut device = TestClient::connect("claim-device", &claim_endpoint)
        .await
        .expect("the claim certificate connects");
    device
        .subscribe(&[replies(CSR_TOPIC), replies(PROVISION_TOPIC)].concat())
        .await;

    let (csr, key_pem) = csr("thermo-0042");
    device
        .publish(
            CSR_TOPIC,
            json!({"certificateSigningRequest": csr}).to_string(),
        )
        .await;
    let created = device.expect(&format!("{CSR_TOPIC}/accepted")).await;
    let certificate_pem = created["certificatePem"]
        .as_str()
        .expect("certificatePem")
        .to_owned();
    let certificate_id = created["certificateId"]
        .as_str()
        .expect("certificateId")
        .to_owned();
    assert_eq!(
        Some(certificate_id.clone()),
        certificate_id_from_pem(&certificate_pem),
        "the id is the SHA-256 of the DER"
    );
    let token = created["certificateOwnershipToken"]
        .as_str()
        .expect("a token")
        .to_owned();

    let register = json!({"certificateOwnershipToken": token, "parameters": {"SerialNumber": "0042", "Model": "thermo"}});
    device.publish(PROVISION_TOPIC, register.to_string()).await;
    let registered = device.expect(&format!("{PROVISION_TOPIC}/accepted")).await;
    assert_eq!(
        registered["thingName"], "thermo-0042",
        "the default template names the thing {{Model}}-{{SerialNumber}}"
    );
    device.disconnect().await;

    let registry = sandbox
        .registry()
        .thing("thermo-0042")
        .await
        .expect("registry")
        .expect("the thing is registered");
    assert_eq!(
        registry.certificate_ids,
        vec![certificate_id.clone()],
        "the certificate is attached to the thing"
    );
    assert_eq!(
        registry.attributes.get("model").map(String::as_str),
        Some("thermo"),
        "attributes from the template"
    );
    let status = sandbox
        .registry()
        .certificate_status(&certificate_id)
        .await
        .expect("registry");
    assert_eq!(
        status.as_deref(),
        Some("ACTIVE"),
        "RegisterThing activates the certificate"
    );

    let ca_pem = sandbox.ca().cert_pem().to_owned();
    let issued = TlsIdentity {
        ca_pem: ca_pem.clone(),
        cert_pem: certificate_pem,
        key_pem,
    };
    let endpoint = sandbox.mtls_endpoint(issued).expect("mTLS");
    let mut provisioned = TestClient::connect("thermo-0042", &endpoint)
        .await
        .expect("the issued certificate connects");
    provisioned
        .subscribe(&["thermo/telemetry".to_owned()])
        .await;
    provisioned.publish("thermo/telemetry", "21.5").await;
    assert_eq!(
        provisioned.expect_raw("thermo/telemetry").await,
        b"21.5",
        "the mTLS session works end to end"
    );

    let other_dir = TempDir::new("other-ca");
    let other = LocalCa::load_or_create(other_dir.path()).expect("another CA");
    let foreign = other
        .issue_client_certificate("intruder")
        .expect("a foreign certificate");
    let foreign = TlsIdentity {
        ca_pem,
        cert_pem: foreign.cert_pem,
        key_pem: foreign.key_pem,
    };
    let refused =
        TestClient::connect("intruder", &sandbox.mtls_endpoint(foreign).expect("mTLS")).await;
    let error = refused
        .err()
        .expect("a certificate from another CA is refused");
    assert!(
        error.contains("UnknownCA"),
        "the TLS handshake names the unknown CA: {error}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_created_key_connects_only_after_register_thing_activates_its_certificate() {
    let dir = TempDir::new("create-keys");
    let sandbox = sandbox(&dir).await;
    let mut device = TestClient::connect(&thing("claim"), &sandbox.plain_endpoint())
        .await
        .expect("connects");
    device
        .subscribe(&[replies(CREATE_TOPIC), replies(PROVISION_TOPIC)].concat())
        .await;
    device.publish(CREATE_TOPIC, "").await;
    let created = device.expect(&format!("{CREATE_TOPIC}/accepted")).await;
    let identity = TlsIdentity {
        ca_pem: sandbox.ca().cert_pem().to_owned(),
        cert_pem: created["certificatePem"]
            .as_str()
            .expect("certificatePem")
            .to_owned(),
        key_pem: created["privateKey"]
            .as_str()
            .expect("privateKey")
            .to_owned(),
    };
    let endpoint = sandbox.mtls_endpoint(identity).expect("mTLS");
    let pending = TestClient::connect("plug-0007", &endpoint).await;
    assert!(
        pending.is_err(),
        "a PENDING_ACTIVATION certificate is refused (the connection closes before CONNACK)"
    );

    device
        .publish(
            PROVISION_TOPIC,
            json!({"certificateOwnershipToken": "", "parameters": {}}).to_string(),
        )
        .await;
    let rejected = device.expect(&format!("{PROVISION_TOPIC}/rejected")).await;
    assert_eq!(
        rejected,
        json!({"statusCode": 400, "errorCode": "InvalidCertificateOwnershipToken", "errorMessage": "Certificate ownership token cannot be empty."}),
        "AWS's observed rejection of an empty token"
    );

    let token = created["certificateOwnershipToken"]
        .as_str()
        .expect("a token");
    let register = json!({"certificateOwnershipToken": token, "parameters": {"SerialNumber": "0007", "Model": "plug"}});
    device.publish(PROVISION_TOPIC, register.to_string()).await;
    let registered = device.expect(&format!("{PROVISION_TOPIC}/accepted")).await;
    assert_eq!(registered["thingName"], "plug-0007", "registered");
    TestClient::connect("plug-0007", &endpoint)
        .await
        .expect("the activated certificate connects");
    sandbox.shutdown().await;
}
