//! The engine as the app runs it: the broker it talks to and the session to it.
//!
//! On first start there is no account and no hardware, so the default is the local sandbox: the
//! engine starts the embedded AWS IoT Core stand-in (with simulated devices) in the app's data
//! directory and connects a session to it. The session's messages feed the fleet registry
//! (presence, shadows, jobs) in `<data_dir>/companion.db`. A saved profile for AWS IoT Core or
//! another broker takes the sandbox's place; the shape stays the same: start, watch, query,
//! provision, shut down. Provisioning uses the sandbox's simulated radio on the sandbox and
//! the system's Bluetooth LE radio on a profile.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use companion_sandbox::devices::{FleetSpec, SimulatedFleet};
use companion_sandbox::{Sandbox, SandboxConfig, SandboxError};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

use companion_awsiot::TemplateName;
use companion_sandbox::services::provisioning::DEFAULT_TEMPLATE_NAME;

use crate::profile::{ConnectSpec, Profile, ProfileError, Target};
use crate::provision::audit::Audit;
use crate::provision::ble::{BleConfig, OnDemandBleRadio};
use crate::provision::fleet::FleetProvisioner;
use crate::provision::flow::{CloudTarget, Provisioning, Timeouts};
use crate::provision::simulated::SimulatedRadio;
use crate::registry::{self, NewThing, Registry, RegistryError, Source, Thing, ThingQuery};
use crate::session::{
    ConnectionState, Message, Messages, QoS, Session, SessionError, SessionHandle, SessionOptions,
};
use crate::shadows::{ShadowOptions, Shadows, ShadowsError};
use crate::store::{Store, StoreError};
use crate::telemetry::ingest::now_ms;
use crate::telemetry::{
    Frame, Incoming, IngestConfig, IngestHandle, IngestStats, Telemetry, TelemetrySubscriptions,
};
use crate::vault::AsyncVault;

/// How the engine starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the engine keeps its data; the local sandbox lives in `<data_dir>/sandbox`.
    pub data_dir: PathBuf,
    /// How many simulated devices the local sandbox runs.
    pub simulated_devices: usize,
    /// Seeds the simulated devices.
    pub seed: u64,
    /// How many new devices wait on the local sandbox's simulated radio to be provisioned.
    pub provisionable_devices: usize,
    /// The saved profile to connect with; `None` (or a sandbox profile) runs the local
    /// sandbox.
    pub profile: Option<Profile>,
    /// The OS keyring, for the profile's certificates and secrets.
    pub vault: Option<AsyncVault>,
    /// The app's database when the caller already has it open (it stays open at shutdown);
    /// `None` opens `<data_dir>/companion.db` and closes it at shutdown.
    pub store: Option<Store>,
}

impl EngineConfig {
    /// The default: the local sandbox with three simulated devices (one of each kind).
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            simulated_devices: 3,
            seed: 1,
            provisionable_devices: 3,
            profile: None,
            vault: None,
            store: None,
        }
    }
}

/// What the engine is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// The embedded local sandbox.
    Sandbox,
    /// An AWS IoT Core endpoint.
    AwsIot,
    /// Another MQTT broker.
    Mqtt,
}

/// Which broker the engine is connected to, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The kind of broker.
    pub kind: BrokerKind,
    /// The profile's name (`sandbox` for the built-in local sandbox).
    pub profile: String,
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
    /// The profile cannot be used as saved (its certificates or secrets are missing, say).
    #[error("the profile \"{name}\" cannot be used: {source}")]
    Profile {
        /// The profile.
        name: String,
        /// Why.
        source: ProfileError,
    },
    /// Provisioning could not be set up.
    #[error("provisioning could not be set up: {0}")]
    Provisioning(String),
    /// The profile needs the OS keyring, and none is usable.
    #[error(
        "the profile \"{0}\" needs its secrets from the OS keyring, and no keyring is usable \
         on this system: start a Secret Service (gnome-keyring) or use the local sandbox"
    )]
    NoVault(String),
    /// The shadow engine could not start.
    #[error(transparent)]
    Shadows(#[from] ShadowsError),
}

/// Client ids of the app's own connections start with this.
const APP_CLIENT_PREFIX: &str = "iot-companion-";

/// Shadow messages waiting for the shadow engine.
const SHADOW_QUEUE: usize = 1024;

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
    telemetry: Telemetry,
    ingest_loop: JoinHandle<IngestStats>,
    frames: Mutex<Option<mpsc::Receiver<Frame>>>,
    shadows: Shadows,
    shadows_loop: JoinHandle<()>,
    fleet_revision: watch::Receiver<u64>,
    broker: BrokerInfo,
    sandbox: Option<(Sandbox, SimulatedFleet)>,
    provisioning: Option<Provisioning>,
    /// The fleet provisioning session's loop, ended at shutdown.
    provisioning_loop: Option<JoinHandle<ConnectionState>>,
    store: Store,
    /// Whether the engine opened the store (and so closes it at shutdown).
    owns_store: bool,
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
        let (store, owns_store) = match config.store.clone() {
            Some(store) => (store, false),
            None => (
                Store::open(config.data_dir.join("companion.db")).await?,
                true,
            ),
        };
        let mut engine = match config.profile.clone() {
            Some(profile) if !matches!(profile.target, Target::Sandbox(_)) => {
                Self::start_remote(store, profile, config.vault).await
            }
            _ => Self::start_local(store, config).await,
        }?;
        engine.owns_store = owns_store;
        Ok(engine)
    }

    /// Connects to an AWS IoT Core endpoint or another broker with a saved profile.
    async fn start_remote(
        store: Store,
        profile: Profile,
        vault: Option<AsyncVault>,
    ) -> Result<Self, EngineError> {
        let vault = vault.ok_or_else(|| EngineError::NoVault(profile.name.clone()))?;
        let resolving = profile.clone();
        let spec = tokio::task::spawn_blocking(move || resolving.resolve(vault.blocking(), None))
            .await
            .map_err(|_| EngineError::NoVault(profile.name.clone()))?
            .map_err(|source| EngineError::Profile {
                name: profile.name.clone(),
                source,
            })?;
        let broker = BrokerInfo {
            kind: match profile.target {
                Target::AwsIot(_) => BrokerKind::AwsIot,
                Target::Mqtt(_) | Target::Sandbox(_) => BrokerKind::Mqtt,
            },
            profile: profile.name.clone(),
            address: format!("{}:{}", spec.host, spec.port),
            simulated_devices: Vec::new(),
        };
        let provisioning_spec = spec.clone();
        let wired = Wired::connect(&store, &profile.name, spec).await?;
        let provisioning = remote_provisioning(&profile, provisioning_spec, &wired, &store)?;
        let mut engine = wired.into_engine(broker, None, store);
        engine.provisioning = Some(provisioning);
        Ok(engine)
    }

    /// Starts the local sandbox and its simulated devices, and connects to it.
    async fn start_local(store: Store, config: EngineConfig) -> Result<Self, EngineError> {
        let sandbox = Sandbox::start(SandboxConfig::new(config.data_dir.join("sandbox"))).await?;
        // The local sandbox's plain listener is loopback-only and needs no secrets.
        let endpoint = sandbox.plain_endpoint();
        let client_id = format!("{APP_CLIENT_PREFIX}{:08x}", rand::random::<u32>());
        let spec = ConnectSpec::plain(endpoint.host.clone(), endpoint.port, client_id);
        let wired = Wired::connect(&store, SANDBOX_PROFILE, spec).await?;
        let session = wired.session.clone();
        let registry = wired.registry.clone();
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
            kind: BrokerKind::Sandbox,
            profile: SANDBOX_PROFILE.to_owned(),
            address: format!("{}:{}", endpoint.host, endpoint.port),
            simulated_devices: fleet
                .things()
                .map(|(thing, _)| thing.as_str().to_owned())
                .collect(),
        };
        add_provisionable_devices(&sandbox.radio(), config.seed, config.provisionable_devices)?;
        let (provisioning, provisioning_loop) =
            local_provisioning(&sandbox, &wired, &store, endpoint.clone()).await?;
        let mut engine = wired.into_engine(broker, Some((sandbox, fleet)), store);
        engine.provisioning = Some(provisioning);
        engine.provisioning_loop = Some(provisioning_loop);
        Ok(engine)
    }
    /// The things of the fleet, as the registry knows them.
    pub async fn things(&self, query: &ThingQuery) -> Result<Vec<Thing>, EngineError> {
        Ok(self.registry.list(query).await?)
    }

    /// The fleet registry: things, presence, jobs.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The device shadows: requests, edits with version checks, the offline outbox.
    pub fn shadows(&self) -> &Shadows {
        &self.shadows
    }

    /// Simulates a network outage between everything and the local sandbox (its devices and
    /// this engine lose their connections until it ends); `false` when not on the sandbox.
    pub fn set_sandbox_outage(&self, on: bool) -> bool {
        self.sandbox
            .as_ref()
            .is_some_and(|(sandbox, _)| sandbox.set_outage(on))
    }

    /// Whether the local sandbox's simulated outage is on (`None`: not on the sandbox).
    pub fn sandbox_outage(&self) -> Option<bool> {
        self.sandbox
            .as_ref()
            .map(|(sandbox, _)| sandbox.in_outage())
    }

    /// The local sandbox's simulated radio (to put more devices in range, or change its link
    /// model), when the engine runs the local sandbox.
    pub fn sandbox_radio(&self) -> Option<companion_sandbox::radio::SimulatedRadio> {
        self.sandbox.as_ref().map(|(sandbox, _)| sandbox.radio())
    }

    /// Provisioning with this engine's radio and fleet provisioning, when a radio is there
    /// (the local sandbox's simulated radio).
    pub fn provisioning(&self) -> Option<&Provisioning> {
        self.provisioning.as_ref()
    }

    /// The telemetry store: series, chart buckets, raw messages.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The coalesced live telemetry (at most 30 frames a second); the first caller gets it.
    pub async fn take_frames(&self) -> Option<mpsc::Receiver<Frame>> {
        self.frames.lock().await.take()
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
        // The router holds the ingest handle: once it is gone the ingest writes its last batch.
        self.router.abort();
        let _ = self.router.await;
        let _ = self.ingest_loop.await;
        self.shadows_loop.abort();
        if let Some(provisioning) = &self.provisioning
            && let Some(fleet) = &provisioning.fleet
        {
            fleet.shutdown().await;
        }
        if let Some(handle) = self.provisioning_loop {
            let _ = handle.await;
        }
        if let Some((sandbox, fleet)) = self.sandbox {
            if let Err(error) = fleet.shutdown().await {
                tracing::warn!(%error, "a simulated device did not stop cleanly");
            }
            sandbox.shutdown().await;
        }
        if self.owns_store {
            self.store.close().await;
        }
    }
}

/// A session to a broker with everything its messages feed: the registry, the telemetry ingest
/// and the shadow engine.
struct Wired {
    session: SessionHandle,
    session_loop: JoinHandle<ConnectionState>,
    router: JoinHandle<()>,
    registry: Registry,
    telemetry: Telemetry,
    ingest_loop: JoinHandle<IngestStats>,
    frames: mpsc::Receiver<Frame>,
    shadows: Shadows,
    shadows_loop: JoinHandle<()>,
    fleet_revision: watch::Receiver<u64>,
}

impl Wired {
    /// Connects a session with `spec` and routes its messages into `profile`'s data.
    async fn connect(store: &Store, profile: &str, spec: ConnectSpec) -> Result<Self, EngineError> {
        let registry = Registry::new(store.clone(), profile);
        let telemetry = Telemetry::new(store.clone(), profile);
        let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
        let session_loop = tokio::spawn(session_loop.run());
        let subscriptions = TelemetrySubscriptions::default();
        let mut filters: Vec<(String, QoS)> = registry::FILTERS
            .iter()
            .map(|f| ((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        filters.extend(
            subscriptions
                .fleet_filters()
                .into_iter()
                .map(|f| (f, QoS::AtMostOnce)),
        );
        session.subscribe_many(filters).await?;
        let (ingest, ingest_loop, frames) = telemetry.ingest(IngestConfig::default());
        let ingest_loop = tokio::spawn(ingest_loop.run());
        let link = Arc::new(session.clone());
        let (shadows, shadows_loop) =
            Shadows::open(link, store.write().clone(), ShadowOptions::default()).await?;
        let (to_shadows, shadow_messages) = mpsc::channel(SHADOW_QUEUE);
        let shadows_loop = tokio::spawn(shadows_loop.run(shadow_messages));
        let (revision, fleet_revision) = watch::channel(0);
        let router = Router {
            registry: registry.clone(),
            revision,
            own: session.client_id().to_owned(),
            subscriptions,
            ingest,
            to_shadows,
        };
        let router = tokio::spawn(router.run(session.messages()));
        Ok(Self {
            session,
            session_loop,
            router,
            registry,
            telemetry,
            ingest_loop,
            frames,
            shadows,
            shadows_loop,
            fleet_revision,
        })
    }

    fn into_engine(
        self,
        broker: BrokerInfo,
        sandbox: Option<(Sandbox, SimulatedFleet)>,
        store: Store,
    ) -> Engine {
        Engine {
            session: self.session,
            session_loop: self.session_loop,
            router: self.router,
            registry: self.registry,
            telemetry: self.telemetry,
            ingest_loop: self.ingest_loop,
            frames: Mutex::new(Some(self.frames)),
            shadows: self.shadows,
            shadows_loop: self.shadows_loop,
            fleet_revision: self.fleet_revision,
            broker,
            sandbox,
            provisioning: None,
            provisioning_loop: None,
            store,
            owns_store: true,
        }
    }
}

/// Networks the simulated devices see; `Workshop`'s passphrase is on the sandbox's README.
pub use companion_sandbox::radio::demo::DEMO_NETWORK;

/// New devices in their boxes on the local sandbox's simulated radio
/// (`companion_sandbox::radio::demo`): a plug with security 1, a light with security 2 and a
/// thermostat whose firmware takes Wi-Fi only, in turn.
fn add_provisionable_devices(
    radio: &companion_sandbox::radio::SimulatedRadio,
    seed: u64,
    count: usize,
) -> Result<(), EngineError> {
    companion_sandbox::radio::demo::add_demo_devices(radio, seed, count)
        .map(drop)
        .map_err(|error| EngineError::Provisioning(error.to_string()))
}

/// Provisioning on the local sandbox: its simulated radio, fleet provisioning over a second
/// plain session (the app's provisioning connection), identities pointing at its mutual-TLS
/// listener and trusting its CA.
async fn local_provisioning(
    sandbox: &Sandbox,
    wired: &Wired,
    store: &Store,
    endpoint: companion_sandbox::connect::Endpoint,
) -> Result<(Provisioning, JoinHandle<ConnectionState>), EngineError> {
    let client_id = format!(
        "{APP_CLIENT_PREFIX}provisioning-{:08x}",
        rand::random::<u32>()
    );
    let spec = ConnectSpec::plain(endpoint.host, endpoint.port, client_id);
    let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
    let session_loop = tokio::spawn(session_loop.run());
    let template = TemplateName::new(DEFAULT_TEMPLATE_NAME)
        .map_err(|e| EngineError::Provisioning(e.to_string()))?;
    let fleet = Arc::new(FleetProvisioner::new(session, template));
    let root_ca_der = pem::parse(sandbox.ca().cert_pem())
        .map(pem::Pem::into_contents)
        .unwrap_or_default();
    let cloud = CloudTarget {
        endpoint: "localhost".to_owned(),
        port: sandbox
            .mtls_address()
            .map_or(8883, |address| address.port()),
        root_ca_der,
    };
    let provisioning = Provisioning {
        radio: Arc::new(SimulatedRadio::new(sandbox.radio())),
        fleet: Some(fleet),
        cloud,
        registry: wired.registry.clone(),
        fleet_changes: wired.fleet_revision.clone(),
        audit: Audit::new(store.clone()),
        timeouts: Timeouts::default(),
    };
    Ok((provisioning, session_loop))
}

/// Provisioning on a saved profile: the computer's (or phone's) Bluetooth LE radio, opened
/// when first used. On AWS IoT Core, fleet provisioning runs over a second session with the
/// profile's identity, opened when a device first asks for an identity (client id
/// `<profile's>-provisioning`; the identity's policy must allow that client id,
/// CreateCertificateFromCsr and RegisterThing with the template `companion-default`), and the
/// devices get the profile's endpoint on port 8883 with their built-in Amazon root. Any other
/// broker has no fleet provisioning: devices get Wi-Fi only.
fn remote_provisioning(
    profile: &Profile,
    mut spec: ConnectSpec,
    wired: &Wired,
    store: &Store,
) -> Result<Provisioning, EngineError> {
    let cloud = CloudTarget {
        endpoint: spec.host.clone(),
        port: 8883,
        root_ca_der: Vec::new(),
    };
    let fleet = if matches!(profile.target, Target::AwsIot(_)) {
        spec.client_id = format!("{}-provisioning", spec.client_id);
        let template = TemplateName::new(DEFAULT_TEMPLATE_NAME)
            .map_err(|e| EngineError::Provisioning(e.to_string()))?;
        // Connected when a device first asks for an identity, not at every start.
        Some(Arc::new(FleetProvisioner::connecting(spec, template)))
    } else {
        None
    };
    let provisioning = Provisioning {
        radio: Arc::new(OnDemandBleRadio::new(BleConfig::default())),
        fleet,
        cloud,
        registry: wired.registry.clone(),
        fleet_changes: wired.fleet_revision.clone(),
        audit: Audit::new(store.clone()),
        timeouts: Timeouts::default(),
    };
    Ok(provisioning)
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

/// Sends each incoming message where it belongs: telemetry to the ingest, everything else to
/// the fleet registry, and shadow topics also to the shadow engine. The app's own connection is
/// not a thing of the fleet, so its lifecycle events are left out.
struct Router {
    registry: Registry,
    revision: watch::Sender<u64>,
    own: String,
    subscriptions: TelemetrySubscriptions,
    ingest: IngestHandle,
    to_shadows: mpsc::Sender<Message>,
}

impl Router {
    async fn run(self, messages: Messages) {
        while let Some(message) = messages.recv().await {
            if let Some(thing) = self.subscriptions.thing_of(&message.topic) {
                self.telemetry(thing.to_owned(), &message);
                continue;
            }
            if self.is_own_event(&message.topic) {
                continue;
            }
            self.registry_update(&message).await;
            if message.topic.contains("/shadow/") {
                // A full queue drops the message; the shadow engine refreshes on its next GET.
                let _ = self.to_shadows.try_send(message);
            }
        }
    }

    fn telemetry(&self, thing: String, message: &Message) {
        // `offer` never waits: a flood is dropped and counted by the ingest.
        self.ingest.offer(Incoming {
            thing,
            received_ms: now_ms(),
            topic: message.topic.clone(),
            payload: message.payload.to_vec(),
        });
    }

    /// The app's own connections (its session and its fleet provisioning session) are not
    /// things of the fleet.
    fn is_own_event(&self, topic: &str) -> bool {
        topic.starts_with("$aws/events/")
            && (topic.ends_with(&format!("/{}", self.own))
                || topic
                    .rsplit('/')
                    .next()
                    .is_some_and(|client| client.starts_with(APP_CLIENT_PREFIX)))
    }

    async fn registry_update(&self, message: &Message) {
        match self
            .registry
            .apply(&message.topic, &message.payload, now_ms())
            .await
        {
            Ok(registry::Applied::Updated(_)) => self.revision.send_modify(|count| *count += 1),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Mqtt, MqttTls};
    use crate::provision::TransportKind;
    use crate::vault::{MemoryStore, Vault};

    #[tokio::test(flavor = "multi_thread")]
    async fn a_profile_provisions_over_bluetooth_and_only_aws_gets_fleet_provisioning() {
        let dir = companion_testkit::TempDir::new("engine-remote-provisioning");
        let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("broker")))
            .await
            .expect("a broker");
        let plain = sandbox.plain_endpoint();
        let profile = Profile::new(
            "workshop broker",
            Target::Mqtt(Mqtt {
                host: plain.host.clone(),
                port: plain.port,
                tls: MqttTls::None,
                username: None,
                password: None,
            }),
        );
        let config = EngineConfig {
            profile: Some(profile),
            vault: Some(AsyncVault::new(Vault::new(
                Arc::new(MemoryStore::default()),
            ))),
            ..EngineConfig::local(dir.path().join("app"))
        };
        let engine = Engine::start(config).await.expect("the engine starts");
        let provisioning = engine
            .provisioning()
            .expect("a profile offers provisioning too");
        assert_eq!(provisioning.radio.kind(), TransportKind::Ble);
        assert!(
            provisioning.fleet.is_none(),
            "a plain MQTT broker has no fleet provisioning: Wi-Fi only"
        );
        // Whether this machine has Bluetooth or not, a scan answers (a missing stack or
        // adapter is a clear NoRadio, never a hang or a panic).
        match provisioning.radio.scan(Duration::from_millis(200)).await {
            Ok(_) => {}
            Err(
                crate::provision::TransportError::NoRadio(reason)
                | crate::provision::TransportError::PermissionDenied(reason),
            ) => {
                assert!(!reason.is_empty());
            }
            Err(other) => panic!("unexpected: {other:?}"),
        }
        engine.shutdown().await;
        sandbox.shutdown().await;
    }
}
