//! A local stand-in of AWS IoT Core: an embedded MQTT broker on loopback, the AWS IoT services
//! (Device Shadow, Jobs, fleet provisioning, lifecycle events, a thing registry) speaking the
//! exact MQTT APIs as ordinary clients of that broker — or of an external one such as
//! Mosquitto — and simulated devices that behave like real firmware.
//!
//! * [`ca`]: the local CA ([`ca::LocalCa`]) in the data directory.
//! * [`broker`]: rumqttd on a private port, and why.
//! * [`gateway`]: the public plain and mTLS listeners in front of it (`$aws` topics,
//!   connection events, client certificates).
//! * [`services`]: shadow, fleet provisioning, jobs and lifecycle services as MQTT clients.
//! * [`db`]: SQLite (persisted shadows, the thing registry).
//! * [`radio`]: a simulated BLE radio with provisionable devices (ESP unified provisioning).
//! * [`Sandbox`]: starts and stops all of it.

pub mod broker;
pub mod ca;
pub mod connect;
pub mod db;
pub mod devices;
pub mod gateway;
pub mod radio;
pub mod services;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::broker::{BrokerError, EmbeddedBroker};
use crate::ca::{CaError, LocalCa};
use crate::connect::{Endpoint, TlsIdentity};
use crate::db::{CertificateStatus, DbError, Registry, ShadowDb};
use crate::devices::{DeviceError, FleetMember, FleetSpec, SimulatedFleet};
use crate::gateway::{Gateway, GatewayConfig, GatewayError, PresenceEvent};
use crate::radio::{RadioConfig, SimulatedRadio};
use crate::services::jobs::{JobsDriver, JobsHandle};
use crate::services::lifecycle::{EVENT_QUEUE, LifecycleDriver};
use crate::services::provisioning::ProvisioningDriver;
use crate::services::shadow::ShadowService;
use crate::services::{ServiceError, StartError};

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where the CA, the database and provisioning templates live (created if missing).
    pub data_dir: PathBuf,
    /// The plain MQTT listener (default `127.0.0.1:0`: any free port).
    pub plain_listen: SocketAddr,
    /// The mutual-TLS MQTT listener (default `127.0.0.1:0`: any free port).
    pub mtls_listen: SocketAddr,
    /// Attach the services to this broker instead of starting the embedded one. The broker
    /// must allow `$aws/...` topics; the sandbox then has no listeners of its own and
    /// publishes no lifecycle events.
    pub external_broker: Option<Endpoint>,
}

impl SandboxConfig {
    /// The embedded broker on free loopback ports, with state in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            data_dir: data_dir.into(),
            plain_listen: any_port,
            mtls_listen: any_port,
            external_broker: None,
        }
    }
}

/// Why the sandbox could not start or act. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The CA could not be created, loaded or used.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// The embedded broker did not start.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The listeners did not start.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The database could not be opened.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A service did not start or refused a request.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Simulated devices could not start.
    #[error(transparent)]
    Devices(#[from] DeviceError),
}

impl From<StartError> for SandboxError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Db(e) => Self::Db(e),
            StartError::Service(e) => Self::Service(e),
        }
    }
}

/// A running local AWS IoT Core.
#[derive(Debug)]
pub struct Sandbox {
    ca: Arc<LocalCa>,
    broker: Endpoint,
    gateway: Option<Gateway>,
    registry: Registry,
    jobs: JobsHandle,
    shutdown: watch::Sender<bool>,
    services: Vec<JoinHandle<()>>,
    pool: sqlx::SqlitePool,
    radio: SimulatedRadio,
}

impl Sandbox {
    /// Starts the CA, the embedded broker and gateway (unless an external broker is given)
    /// and every service; returns once every service is subscribed to its requests.
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let ca = Arc::new(LocalCa::load_or_create(&config.data_dir)?);
        let pool = db::open(&config.data_dir).await?;
        let registry = Registry::new(pool.clone());
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (broker, gateway) = match &config.external_broker {
            Some(endpoint) => (endpoint.clone(), None),
            None => {
                let gateway = start_gateway(&config, &ca, events, registry.clone()).await?;
                (plain_endpoint(gateway.plain_address()), Some(gateway))
            }
        };
        let (shutdown, stop) = watch::channel(false);
        let mut services = Vec::new();
        let shadow = ShadowService::start(&broker, ShadowDb::new(pool.clone())).await?;
        services.push(tokio::spawn(shadow.run(stop.clone())));
        let provisioning =
            ProvisioningDriver::start(&broker, &config.data_dir, ca.clone(), registry.clone())
                .await?;
        services.push(tokio::spawn(provisioning.run(stop.clone())));
        let (jobs_driver, jobs) = JobsDriver::start(&broker).await?;
        services.push(tokio::spawn(jobs_driver.run(stop.clone())));
        if gateway.is_some() {
            let lifecycle = LifecycleDriver::start(&broker, events_rx, registry.clone()).await?;
            services.push(tokio::spawn(lifecycle.run(stop)));
        }
        let radio = SimulatedRadio::new(RadioConfig {
            builtin_root_ca_pem: Some(ca.cert_pem().to_owned()),
            ..RadioConfig::default()
        });
        Ok(Self {
            ca,
            broker,
            gateway,
            registry,
            jobs,
            shutdown,
            services,
            pool,
            radio,
        })
    }

    /// The plain MQTT endpoint (host `127.0.0.1`), or the external broker's endpoint.
    pub fn plain_endpoint(&self) -> Endpoint {
        self.broker.clone()
    }

    /// The mTLS listener's address; `None` when attached to an external broker.
    pub fn mtls_address(&self) -> Option<SocketAddr> {
        self.gateway.as_ref().map(Gateway::mtls_address)
    }

    /// The mTLS endpoint (host `localhost`, matching the server certificate) for a client
    /// presenting `identity`; `None` when attached to an external broker.
    pub fn mtls_endpoint(&self, identity: TlsIdentity) -> Option<Endpoint> {
        self.mtls_address().map(|address| Endpoint {
            host: "localhost".to_owned(),
            port: address.port(),
            tls: Some(identity),
        })
    }

    /// Starts or ends a network outage on the gateway (see [`Gateway::set_outage`]); `false`
    /// when attached to an external broker, which has no gateway to cut.
    pub fn set_outage(&self, on: bool) -> bool {
        match &self.gateway {
            Some(gateway) => {
                gateway.set_outage(on);
                true
            }
            None => false,
        }
    }

    /// Whether a network outage is under way.
    pub fn in_outage(&self) -> bool {
        self.gateway.as_ref().is_some_and(Gateway::in_outage)
    }

    /// Path of the CA certificate clients must trust (`<data dir>/ca.pem`).
    pub fn ca_pem_path(&self) -> &Path {
        self.ca.cert_path()
    }

    /// The sandbox's CA.
    pub fn ca(&self) -> &LocalCa {
        &self.ca
    }

    /// A fresh client identity for `thing_name`, signed by the sandbox CA, for simulated
    /// devices and tests.
    pub fn issue_identity(&self, thing_name: &str) -> Result<TlsIdentity, SandboxError> {
        Ok(self.ca.issue_identity(thing_name)?)
    }

    /// Queues job `job_id` with `document` for each thing in `targets` (see
    /// [`JobsHandle::create_job`]).
    pub async fn create_job(
        &self,
        job_id: &str,
        document: Value,
        targets: &[String],
    ) -> Result<(), SandboxError> {
        Ok(self.jobs.create_job(job_id, document, targets).await?)
    }

    /// A cloneable handle to queue jobs from elsewhere.
    pub fn jobs(&self) -> JobsHandle {
        self.jobs.clone()
    }

    /// The thing registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The simulated BLE radio (shared: every call returns the same radio). Its provisionable
    /// devices trust the sandbox CA as their built-in root CA, so a certificate issued by the
    /// fleet provisioning service and installed over the `aws-iot` endpoint gets them onto the
    /// mTLS listener.
    pub fn radio(&self) -> SimulatedRadio {
        self.radio.clone()
    }

    /// Starts `spec.count` simulated devices (see [`devices`]). Each is registered as a thing
    /// (attributes `model` and `simulated`) with its own ACTIVE certificate from the sandbox CA
    /// and connects over mutual TLS — or to the external broker when attached to one.
    pub async fn spawn_fleet(&self, spec: &FleetSpec) -> Result<SimulatedFleet, SandboxError> {
        let now = services::now().millis();
        let mut endpoints = HashMap::new();
        for member in devices::plan(spec.seed, spec.count) {
            let identity = self.issue_identity(member.thing.as_str())?;
            self.register_simulated(&member, &identity.cert_pem, now)
                .await?;
            let endpoint = self
                .mtls_endpoint(identity)
                .unwrap_or_else(|| self.plain_endpoint());
            endpoints.insert(member.thing, endpoint);
        }
        let plain = self.plain_endpoint();
        let fleet = SimulatedFleet::spawn(spec, |thing| {
            endpoints.remove(thing).unwrap_or_else(|| plain.clone())
        })?;
        Ok(fleet)
    }

    async fn register_simulated(
        &self,
        member: &FleetMember,
        cert_pem: &str,
        now_ms: u64,
    ) -> Result<(), SandboxError> {
        let certificate_id = ca::certificate_id_from_pem(cert_pem);
        if let Some(id) = &certificate_id {
            self.registry
                .add_certificate(id, cert_pem, CertificateStatus::Active, now_ms)
                .await?;
        }
        let attributes = BTreeMap::from([
            ("model".to_owned(), member.kind.as_str().to_owned()),
            ("simulated".to_owned(), "true".to_owned()),
        ]);
        let thing = member.thing.as_str();
        self.registry
            .register_thing(thing, &attributes, certificate_id.as_deref(), now_ms)
            .await?;
        Ok(())
    }

    /// Stops the services (each disconnects from the broker), closes the listeners and the
    /// database. The embedded rumqttd thread cannot be stopped (rumqttd has no shutdown API);
    /// it stays idle on its private port until the process exits.
    pub async fn shutdown(self) {
        self.radio.shutdown().await;
        let _ = self.shutdown.send(true);
        for service in self.services {
            let _ = service.await;
        }
        if let Some(gateway) = self.gateway {
            gateway.shutdown().await;
        }
        self.pool.close().await;
    }
}

async fn start_gateway(
    config: &SandboxConfig,
    ca: &LocalCa,
    events: mpsc::Sender<PresenceEvent>,
    registry: Registry,
) -> Result<Gateway, SandboxError> {
    let broker = EmbeddedBroker::start().await?;
    let gateway = Gateway::start(GatewayConfig {
        upstream: broker.address(),
        plain_listen: config.plain_listen,
        mtls_listen: config.mtls_listen,
        server_identity: ca.issue_server_certificate()?,
        ca_pem: ca.cert_pem().to_owned(),
        events,
        registry: Some(registry),
    })
    .await?;
    Ok(gateway)
}

fn plain_endpoint(address: SocketAddr) -> Endpoint {
    Endpoint {
        host: address.ip().to_string(),
        port: address.port(),
        tls: None,
    }
}
