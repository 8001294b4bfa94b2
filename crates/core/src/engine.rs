//! The engine as the app runs it: the broker it talks to and the session to it.
//!
//! On first start there is no account and no hardware, so the default is the local sandbox: the
//! engine starts the embedded AWS IoT Core stand-in (with simulated devices) in the app's data
//! directory and connects a session to it. The session's messages feed the fleet registry
//! (presence, shadows, jobs) in `<data_dir>/companion.db`. Profiles for AWS IoT Core and other
//! brokers plug in here next; the shape stays the same: start, watch, query, shut down.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use companion_sandbox::devices::{FleetSpec, SimulatedFleet};
use companion_sandbox::{Sandbox, SandboxConfig, SandboxError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::profile::ConnectSpec;
use crate::registry::{self, NewThing, Registry, RegistryError, Source, Thing, ThingQuery};
use crate::session::{
    ConnectionState, Messages, QoS, Session, SessionError, SessionHandle, SessionOptions,
};
use crate::store::{Store, StoreError};

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
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}; check its permissions")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The local sandbox did not start.
    #[error("the local sandbox did not start: {0}")]
    Sandbox(#[from] SandboxError),
    /// The session could not be set up.
    #[error("the connection to the broker could not be set up: {0}")]
    Session(#[from] SessionError),
    /// The local database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fleet registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The registry profile the local sandbox's things are kept under.
const SANDBOX_PROFILE: &str = "sandbox";
/// How long start waits for the session before starting the devices anyway.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running engine.
#[derive(Debug)]
pub struct Engine {
    session: SessionHandle,
    session_loop: JoinHandle<ConnectionState>,
    router: JoinHandle<()>,
    registry: Registry,
    fleet_revision: watch::Receiver<u64>,
    broker: BrokerInfo,
    sandbox: Option<(Sandbox, SimulatedFleet)>,
    store: Store,
}

impl Engine {
    /// Starts the local sandbox and its devices, and connects a session to it. Returns once
    /// the session is set up; its connection state follows on [`Engine::connection`].
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        tokio::fs::create_dir_all(&config.data_dir)
            .await
            .map_err(|source| EngineError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        let store = Store::open(config.data_dir.join("companion.db")).await?;
        let registry = Registry::new(store.clone(), SANDBOX_PROFILE);
        let sandbox = Sandbox::start(SandboxConfig::new(config.data_dir.join("sandbox"))).await?;
        // The local sandbox's plain listener is loopback-only and needs no secrets.
        let endpoint = sandbox.plain_endpoint();
        let client_id = format!("iot-companion-{:08x}", rand::random::<u32>());
        let spec = ConnectSpec::plain(endpoint.host.clone(), endpoint.port, client_id);
        let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
        let session_loop = tokio::spawn(session_loop.run());
        let filters = registry::FILTERS
            .iter()
            .map(|f| ((*f).to_owned(), QoS::AtLeastOnce));
        session.subscribe_many(filters.collect()).await?;
        let (revision, fleet_revision) = watch::channel(0);
        let own = session.client_id().to_owned();
        let router = tokio::spawn(route(session.messages(), registry.clone(), revision, own));
        // Subscribed before the devices start, so their first connect events are seen.
        wait_until_connected(&session).await;
        let spec = FleetSpec {
            seed: config.seed,
            count: config.simulated_devices,
            ..FleetSpec::default()
        };
        let fleet = match sandbox.spawn_fleet(&spec).await {
            Ok(fleet) => fleet,
            Err(error) => {
                session.disconnect();
                sandbox.shutdown().await;
                return Err(error.into());
            }
        };
        register_simulated(&registry, &fleet).await?;
        let broker = BrokerInfo {
            address: format!("{}:{}", endpoint.host, endpoint.port),
            simulated_devices: fleet
                .things()
                .map(|(thing, _)| thing.as_str().to_owned())
                .collect(),
        };
        Ok(Self {
            session,
            session_loop,
            router,
            registry,
            fleet_revision,
            broker,
            sandbox: Some((sandbox, fleet)),
            store,
        })
    }

    /// The things of the fleet, as the registry knows them.
    pub async fn things(&self, query: &ThingQuery) -> Result<Vec<Thing>, EngineError> {
        Ok(self.registry.list(query).await?)
    }

    /// A counter that moves whenever the fleet registry changed.
    pub fn fleet_changes(&self) -> watch::Receiver<u64> {
        self.fleet_revision.clone()
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
        self.router.abort();
        if let Some((sandbox, fleet)) = self.sandbox {
            if let Err(error) = fleet.shutdown().await {
                tracing::warn!(%error, "a simulated device did not stop cleanly");
            }
            sandbox.shutdown().await;
        }
        self.store.close().await;
    }
}

/// Adds the simulated devices to the registry with their model (the sandbox created them, as
/// fleet provisioning would have).
async fn register_simulated(
    registry: &Registry,
    fleet: &SimulatedFleet,
) -> Result<(), EngineError> {
    for (thing, kind) in fleet.things() {
        let new = NewThing {
            name: thing.as_str().to_owned(),
            source: Source::Imported,
            model: Some(kind.as_str().to_owned()),
            attributes: BTreeMap::from([("simulated".to_owned(), "true".to_owned())]),
        };
        registry.add(&new, now_ms()).await?;
    }
    Ok(())
}

/// Hands every incoming message to the registry and counts the changes. The app's own
/// connection is not a thing of the fleet, so its lifecycle events are left out.
async fn route(messages: Messages, registry: Registry, revision: watch::Sender<u64>, own: String) {
    while let Some(message) = messages.recv().await {
        if message.topic.starts_with("$aws/events/") && message.topic.ends_with(&format!("/{own}"))
        {
            continue;
        }
        match registry
            .apply(&message.topic, &message.payload, now_ms())
            .await
        {
            Ok(registry::Applied::Updated(_)) => {
                revision.send_modify(|count| *count += 1);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, topic = %message.topic, "registry update failed"),
        }
    }
}

async fn wait_until_connected(session: &SessionHandle) {
    let mut state = session.state();
    let connected = state.wait_for(|state| matches!(state, ConnectionState::Connected { .. }));
    if tokio::time::timeout(READY_WITHIN, connected).await.is_err() {
        tracing::warn!(
            "the session to the local sandbox is not up yet; starting its devices anyway"
        );
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
