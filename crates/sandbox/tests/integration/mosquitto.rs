//! The services attached to an external Mosquitto broker (Debian package `mosquitto`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use companion_sandbox::broker::{free_port, wait_until_listening};
use companion_sandbox::connect::Endpoint;
use companion_sandbox::{Sandbox, SandboxConfig};

use crate::common::TempDir;
use crate::shadow::shadow_suite;

/// Kills the broker when the test ends, whatever happens.
struct Mosquitto(Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(dir: &TempDir, port: u16) -> Option<Mosquitto> {
    let config = dir.path().join("mosquitto.conf");
    let text =
        format!("per_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous true\n");
    std::fs::write(&config, text).expect("write the mosquitto config");
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Mosquitto(child))
}

#[tokio::test]
async fn the_shadow_suite_passes_with_the_services_attached_to_mosquitto() {
    let dir = TempDir::new("mosquitto");
    let port = free_port().expect("a free port");
    let Some(_broker) = start_mosquitto(&dir, port) else {
        panic!("mosquitto is not installed: apt-get install mosquitto");
    };
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_listening(address, Duration::from_secs(10))
        .await
        .expect("mosquitto listens");
    let endpoint = Endpoint {
        host: "127.0.0.1".to_owned(),
        port,
        tls: None,
    };
    let mut config = SandboxConfig::new(dir.path());
    config.external_broker = Some(endpoint.clone());
    let sandbox = Sandbox::start(config)
        .await
        .expect("the services attach to mosquitto");
    assert_eq!(
        sandbox.plain_endpoint(),
        endpoint,
        "clients use mosquitto directly"
    );
    assert!(
        sandbox.mtls_address().is_none(),
        "no gateway with an external broker"
    );
    shadow_suite(&sandbox.plain_endpoint()).await;
    sandbox.shutdown().await;
}
