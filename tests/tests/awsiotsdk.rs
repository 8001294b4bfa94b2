//! Interop with AWS's own device SDK: the AWS IoT Device SDK v2 for Python acts as a device
//! against the sandbox — shadows, jobs and fleet provisioning — over mutual TLS. The shadow
//! suite runs twice: with the embedded broker, and with the services attached to Mosquitto.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};

use companion_sandbox::connect::{Endpoint, TlsIdentity};
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_tests::mosquitto::{Mosquitto, TlsFiles};
use companion_tests::process::TempDir;
use companion_tests::python::run_device_suite;
use serde_json::json;

struct Run {
    dir: TempDir,
    sandbox: Sandbox,
}

impl Run {
    async fn embedded() -> Self {
        let dir = TempDir::new("companion-sdk").unwrap();
        let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
            .await
            .unwrap();
        Self { dir, sandbox }
    }

    /// Writes `thing`'s certificate and key as files, as the SDK wants them.
    fn identity_files(&self, thing: &str) -> (PathBuf, PathBuf) {
        let identity = self.sandbox.issue_identity(thing).unwrap();
        write_identity(self.dir.path(), thing, &identity)
    }

    fn ca(&self) -> String {
        self.sandbox.ca_pem_path().display().to_string()
    }

    fn mtls_port(&self) -> u16 {
        self.sandbox
            .mtls_address()
            .expect("the embedded broker has an mTLS listener")
            .port()
    }
}

fn write_identity(dir: &Path, name: &str, identity: &TlsIdentity) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.cert.pem"));
    let key = dir.join(format!("{name}.key.pem"));
    std::fs::write(&cert, &identity.cert_pem).unwrap();
    std::fs::write(&key, &identity.key_pem).unwrap();
    (cert, key)
}

fn connection_args(port: u16, ca: &str, cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--ca".into(),
        ca.into(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ]
}

fn passed(result: Result<String, String>) {
    match result {
        Ok(output) => assert!(output.contains("ok "), "the suite ran no check:\n{output}"),
        Err(failure) => panic!("{failure}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_reads_and_writes_classic_and_named_shadows_on_the_embedded_broker() {
    let run = Run::embedded().await;
    let (cert, key) = run.identity_files("sdk-shadow");
    let mut args = connection_args(run.mtls_port(), &run.ca(), &cert, &key);
    args.extend(["--thing".into(), "sdk-shadow".into()]);
    passed(run_device_suite("shadow", &args));
    run.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_shadow_suite_passes_with_the_services_attached_to_mosquitto() {
    let dir = TempDir::new("companion-sdk-mosquitto").unwrap();
    let ca = companion_sandbox::ca::LocalCa::load_or_create(&dir.path().join("sandbox")).unwrap();
    let server = ca.issue_server_certificate().unwrap();
    let mosquitto = Mosquitto::start(&TlsFiles {
        ca_pem: ca.cert_pem(),
        cert_pem: &server.cert_pem,
        key_pem: &server.key_pem,
    })
    .await
    .unwrap();
    let mut config = SandboxConfig::new(dir.path().join("sandbox"));
    config.external_broker = Some(Endpoint {
        host: "127.0.0.1".into(),
        port: mosquitto.plain_port,
        tls: None,
    });
    let sandbox = Sandbox::start(config).await.unwrap();
    let identity = sandbox.issue_identity("sdk-mosquitto").unwrap();
    let (cert, key) = write_identity(dir.path(), "sdk-mosquitto", &identity);
    let ca_path = sandbox.ca_pem_path().display().to_string();
    let mut args = connection_args(mosquitto.mtls_port, &ca_path, &cert, &key);
    args.extend(["--thing".into(), "sdk-mosquitto".into()]);
    passed(run_device_suite("shadow", &args));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_takes_a_job_from_queued_to_succeeded() {
    let run = Run::embedded().await;
    let (cert, key) = run.identity_files("sdk-jobs");
    let document = json!({"operation": "firmware-update", "version": "1.2.0"});
    run.sandbox
        .create_job("fw-120", document.clone(), &["sdk-jobs".to_owned()])
        .await
        .unwrap();
    let mut args = connection_args(run.mtls_port(), &run.ca(), &cert, &key);
    args.extend([
        "--thing".into(),
        "sdk-jobs".into(),
        "--job".into(),
        "fw-120".into(),
        "--document".into(),
        document.to_string(),
    ]);
    passed(run_device_suite("jobs", &args));
    run.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_provisions_with_create_keys_and_certificate_then_connects_as_the_new_thing() {
    let run = Run::embedded().await;
    let (cert, key) = run.identity_files("claim");
    let out = run.dir.path().join("issued-keys");
    let mut args = connection_args(run.mtls_port(), &run.ca(), &cert, &key);
    args.extend([
        "--serial".into(),
        "SN-0001".into(),
        "--expect-thing".into(),
        "plug-SN-0001".into(),
        "--out".into(),
        out.display().to_string(),
    ]);
    passed(run_device_suite("provision", &args));
    let thing = run.sandbox.registry().thing("plug-SN-0001").await.unwrap();
    assert!(
        thing.is_some(),
        "RegisterThing must add the thing to the registry"
    );
    run.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_provisions_from_a_csr_so_the_private_key_never_leaves_the_device() {
    let run = Run::embedded().await;
    let (cert, key) = run.identity_files("claim");
    let device_key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&device_key)
        .unwrap()
        .pem()
        .unwrap();
    let csr_path = run.dir.path().join("device.csr.pem");
    let device_key_path = run.dir.path().join("device.key.pem");
    std::fs::write(&csr_path, csr).unwrap();
    std::fs::write(&device_key_path, device_key.serialize_pem()).unwrap();
    let out = run.dir.path().join("issued-csr");
    let mut args = connection_args(run.mtls_port(), &run.ca(), &cert, &key);
    args.extend([
        "--serial".into(),
        "SN-0002".into(),
        "--expect-thing".into(),
        "plug-SN-0002".into(),
        "--csr".into(),
        csr_path.display().to_string(),
        "--key-for-csr".into(),
        device_key_path.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    passed(run_device_suite("provision", &args));
    run.sandbox.shutdown().await;
}
