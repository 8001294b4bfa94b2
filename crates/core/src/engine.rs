//! The engine as the app runs it: the broker it talks to and the session to it.
//!
//! On first start there is no account and no hardware, so the default is the local sandbox: the
//! engine starts the embedded AWS IoT Core stand-in (with simulated devices) in the app's data
//! directory and connects a session to it. Profiles for AWS IoT Core and other brokers plug in
//! here next; the shape stays the same: start, watch the connection state, shut down.

use std::path::PathBuf;

use companion_sandbox::devices::{FleetSpec, SimulatedFleet};
use companion_sandbox::{Sandbox, SandboxConfig, SandboxError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::profile::ConnectSpec;
use crate::session::{ConnectionState, Session, SessionError, SessionHandle, SessionOptions};

/// How the engine starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the engine keeps its data; the local sandbox lives in `<data_dir>/sandbox`.
    pub data_dir: PathBuf,
    /// How many simulated devices the local sandbox runs.
    pub simulated_devices: usize,
    /// Seeds the simulated devices.
    pub seed: u64,
}

impl EngineConfig {
    /// The default: the local sandbox with three simulated devices (one of each kind).
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            simulated_devices: 3,
            seed: 1,
        }
    }
}

/// Which broker the engine is connected to, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `host:port` of the listener the session uses.
    pub address: String,
    /// The simulated devices on it, when it is the local sandbox.
    pub simulated_devices: Vec<String>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The local sandbox did not start.
    #[error("the local sandbox did not start: {0}")]
    Sandbox(#[from] SandboxError),
    /// The session could not be set up.
    #[error("the connection to the broker could not be set up: {0}")]
    Session(#[from] SessionError),
}

/// A running engine.
#[derive(Debug)]
pub struct Engine {
    session: SessionHandle,
    session_loop: JoinHandle<ConnectionState>,
    broker: BrokerInfo,
    sandbox: Option<(Sandbox, SimulatedFleet)>,
}

impl Engine {
    /// Starts the local sandbox and its devices, and connects a session to it. Returns once
    /// the session is set up; its connection state follows on [`Engine::connection`].
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let sandbox = Sandbox::start(SandboxConfig::new(config.data_dir.join("sandbox"))).await?;
        let spec = FleetSpec {
            seed: config.seed,
            count: config.simulated_devices,
            ..FleetSpec::default()
        };
        let fleet = match sandbox.spawn_fleet(&spec).await {
            Ok(fleet) => fleet,
            Err(error) => {
                sandbox.shutdown().await;
                return Err(error.into());
            }
        };
        // The local sandbox's plain listener is loopback-only and needs no secrets.
        let endpoint = sandbox.plain_endpoint();
        let client_id = format!("iot-companion-{:08x}", rand::random::<u32>());
        let spec = ConnectSpec::plain(endpoint.host.clone(), endpoint.port, client_id);
        let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
        let broker = BrokerInfo {
            address: format!("{}:{}", endpoint.host, endpoint.port),
            simulated_devices: fleet
                .things()
                .map(|(thing, _)| thing.as_str().to_owned())
                .collect(),
        };
        Ok(Self {
            session,
            session_loop: tokio::spawn(session_loop.run()),
            broker,
            sandbox: Some((sandbox, fleet)),
        })
    }

    /// The session's connection state, as it changes.
    pub fn connection(&self) -> watch::Receiver<ConnectionState> {
        self.session.state()
    }

    /// The session to the broker.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// The broker the engine talks to.
    pub fn broker(&self) -> &BrokerInfo {
        &self.broker
    }

    /// Disconnects, then stops the simulated devices and the local sandbox.
    pub async fn shutdown(self) {
        self.session.disconnect();
        let _ = self.session_loop.await;
        if let Some((sandbox, fleet)) = self.sandbox {
            if let Err(error) = fleet.shutdown().await {
                tracing::warn!(%error, "a simulated device did not stop cleanly");
            }
            sandbox.shutdown().await;
        }
    }
}
