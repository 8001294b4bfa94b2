mod activity;
mod provision;
mod settings;
mod workbench;

pub(crate) use settings::Settings;
pub(crate) use workbench::shadow_ref;

use std::path::PathBuf;
use std::sync::Mutex;

use companion_core::engine::{BrokerInfo, BrokerKind, Engine};
use companion_core::registry::{self, SortKey, ThingFilter, ThingQuery};
use companion_core::session::ConnectionState as SessionState;
use companion_model::{
    AppInfo, BrokerMode, BuildProfile, ConnectionChanged, ConnectionState, ErrorCode, FleetFilter,
    FleetList, FleetSort, FleetWindow, IpcError, Presence, RadioMode, ThingSummary,
};
use tokio::sync::watch;

/// What the shell keeps for the lifetime of the app: where its data lives and the engine.
#[derive(Debug)]
pub struct Shell {
    data_dir: PathBuf,
    status: Mutex<EngineStatus>,
    engine: tokio::sync::Mutex<Option<Engine>>,
    settings: tokio::sync::Mutex<Option<Settings>>,
    attempts: provision::Attempts,
    /// Networks to remember once an attempt's device has joined them.
    to_remember: provision::ToRemember,
    last_connection: tokio::sync::Mutex<Option<(ConnectionState, String)>>,
    /// The device whose live telemetry the window shows.
    followed: Mutex<Option<String>>,
}

/// Where the engine stands, as far as the window needs to know.
#[derive(Debug, Clone)]
enum EngineStatus {
    /// Starting with the named profile (`None`: the local sandbox).
    Starting(Option<String>),
    Running {
        broker: BrokerInfo,
        connection: watch::Receiver<SessionState>,
    },
    Failed(String),
}

impl Shell {
    /// A shell keeping its local data under `data_dir`, its engine still starting.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            status: Mutex::new(EngineStatus::Starting(None)),
            engine: tokio::sync::Mutex::new(None),
            settings: tokio::sync::Mutex::new(None),
            attempts: provision::Attempts::default(),
            to_remember: provision::ToRemember::default(),
            last_connection: tokio::sync::Mutex::new(None),
            followed: Mutex::new(None),
        }
    }

    /// Where the app keeps its data.
    pub fn data_dir(&self) -> &PathBuf {
        &self.data_dir
    }

    /// The facts the About panel shows.
    pub fn app_info(&self, version: String) -> AppInfo {
        AppInfo {
            version,
            build_profile: if cfg!(debug_assertions) {
                BuildProfile::Debug
            } else {
                BuildProfile::Release
            },
            data_dir: self.data_dir.display().to_string(),
            platform: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            broker: self.broker_mode(),
            radio: match self.broker_mode() {
                BrokerMode::Sandbox => RadioMode::Simulated,
                BrokerMode::AwsIot | BrokerMode::Mqtt => RadioMode::Bluetooth,
                BrokerMode::None => RadioMode::None,
            },
        }
    }

    /// Keeps the started engine; returns its connection state to follow.
    pub async fn engine_started(&self, engine: Engine) -> watch::Receiver<SessionState> {
        let connection = engine.connection();
        self.set_status(EngineStatus::Running {
            broker: engine.broker().clone(),
            connection: connection.clone(),
        });
        *self.engine.lock().await = Some(engine);
        connection
    }

    /// A window of the fleet as the engine's registry knows it, with the number of matches.
    pub async fn fleet(&self, request: &FleetList) -> Result<FleetWindow, IpcError> {
        let parts = self.parts().await?;
        let search = request.search.clone().filter(|s| !s.trim().is_empty());
        let query = ThingQuery {
            filter: thing_filter(request.filter),
            search: search.clone(),
            sort: match request.sort {
                FleetSort::Name => SortKey::Name,
                FleetSort::LastSeen => SortKey::LastSeen,
                FleetSort::Model => SortKey::Model,
                FleetSort::Firmware => SortKey::Firmware,
            },
            descending: request.descending,
            limit: request.limit.min(500),
            offset: request.offset,
        };
        let read_failed = |error: registry::RegistryError| {
            IpcError::new(
                ErrorCode::Internal,
                format!("The fleet could not be read: {error}."),
            )
        };
        let things = parts.registry.list(&query).await.map_err(read_failed)?;
        let total = parts
            .registry
            .count(query.filter, search.as_deref())
            .await
            .map_err(read_failed)?;
        let pending = parts.pending_edits().await;
        Ok(FleetWindow {
            total: u64::try_from(total).unwrap_or(0),
            offset: request.offset,
            things: things
                .into_iter()
                .map(|thing| {
                    let edits = pending.get(thing.name.as_str()).copied().unwrap_or(0);
                    summary(thing, edits)
                })
                .collect(),
        })
    }

    /// Starts or ends the local sandbox's simulated network outage (`None` only asks); replies
    /// whether it is on.
    pub async fn sandbox_outage(&self, on: Option<bool>) -> Result<bool, IpcError> {
        let engine = self.engine.lock().await;
        let engine = engine.as_ref().ok_or_else(unavailable)?;
        if let Some(on) = on {
            engine.set_sandbox_outage(on);
        }
        engine.sandbox_outage().ok_or_else(|| {
            IpcError::new(
                ErrorCode::InvalidInput,
                "Outages can be simulated only on the local sandbox.",
            )
        })
    }

    /// Sets the device whose live telemetry goes to the window.
    pub fn follow_telemetry(&self, thing: Option<String>) {
        if let Ok(mut followed) = self.followed.lock() {
            *followed = thing;
        }
    }

    /// The device whose live telemetry goes to the window.
    pub fn followed(&self) -> Option<String> {
        self.followed.lock().ok().and_then(|f| f.clone())
    }

    /// Records why the engine could not start.
    pub fn engine_failed(&self, reason: String) {
        self.set_status(EngineStatus::Failed(reason));
    }

    /// Records that the engine is starting with `profile` (`None`: the local sandbox).
    pub fn engine_starting(&self, profile: Option<String>) {
        self.set_status(EngineStatus::Starting(profile));
    }

    /// Stops the engine (and the local sandbox with it).
    pub async fn shutdown(&self) {
        if let Some(engine) = self.engine.lock().await.take() {
            engine.shutdown().await;
        }
    }

    fn broker_mode(&self) -> BrokerMode {
        match self.status.lock().map(|s| s.clone()) {
            Ok(EngineStatus::Running { broker, .. }) => match broker.kind {
                BrokerKind::Sandbox => BrokerMode::Sandbox,
                BrokerKind::AwsIot => BrokerMode::AwsIot,
                BrokerKind::Mqtt => BrokerMode::Mqtt,
            },
            Ok(EngineStatus::Starting(None)) => BrokerMode::Sandbox,
            _ => BrokerMode::None,
        }
    }

    /// The broker connection as it stands now.
    pub fn connection(&self) -> ConnectionChanged {
        let status = self
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(EngineStatus::Starting(None));
        let (state, detail) = match status {
            EngineStatus::Starting(None) => (
                ConnectionState::Connecting,
                "Starting the local sandbox (a stand-in for AWS IoT Core on this machine)…"
                    .to_owned(),
            ),
            EngineStatus::Starting(Some(profile)) => (
                ConnectionState::Connecting,
                format!("Connecting with the profile “{profile}”…"),
            ),
            EngineStatus::Failed(reason) => (ConnectionState::Disconnected, sentence(&reason)),
            EngineStatus::Running { broker, connection } => describe(&broker, &connection.borrow()),
        };
        ConnectionChanged {
            state,
            broker: self.broker_mode(),
            detail,
        }
    }

    fn set_status(&self, status: EngineStatus) {
        if let Ok(mut current) = self.status.lock() {
            *current = status;
        }
    }
}

/// The session's state in the window's words.
fn describe(broker: &BrokerInfo, state: &SessionState) -> (ConnectionState, String) {
    let at = &broker.address;
    let what = match broker.kind {
        BrokerKind::Sandbox => "the local sandbox".to_owned(),
        BrokerKind::AwsIot => format!("AWS IoT Core (profile “{}”)", broker.profile),
        BrokerKind::Mqtt => format!("the MQTT broker of profile “{}”", broker.profile),
    };
    match state {
        SessionState::Connecting => (
            ConnectionState::Connecting,
            format!("Connecting to {what} at {at}…"),
        ),
        SessionState::Connected { .. } if broker.simulated_devices.is_empty() => (
            ConnectionState::Connected,
            format!("Connected to {what} at {at}."),
        ),
        SessionState::Connected { .. } => (
            ConnectionState::Connected,
            format!(
                "Connected to {what} at {at}; simulated devices: {}.",
                broker.simulated_devices.join(", ")
            ),
        ),
        SessionState::Reconnecting {
            attempt,
            next_retry_in,
            cause,
        } => (
            ConnectionState::Reconnecting,
            format!(
                "{cause} Retrying in {:.1} s (attempt {attempt}).",
                next_retry_in.as_secs_f32()
            ),
        ),
        SessionState::Disconnected { cause } => (
            ConnectionState::Disconnected,
            cause
                .as_ref()
                .map_or_else(|| "Disconnected.".to_owned(), ToString::to_string),
        ),
    }
}

/// The answer to any call made while the engine is still starting.
fn unavailable() -> IpcError {
    IpcError::new(
        ErrorCode::Unavailable,
        "The engine is still starting; try again in a moment.",
    )
}

/// `text` with a capital first letter and a full stop, as the status bar shows sentences.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn thing_filter(filter: FleetFilter) -> ThingFilter {
    match filter {
        FleetFilter::All => ThingFilter::All,
        FleetFilter::Online => ThingFilter::Online,
        FleetFilter::Offline => ThingFilter::Offline,
        FleetFilter::OutOfSync => ThingFilter::OutOfSync,
        FleetFilter::HasJobs => ThingFilter::HasJobs,
    }
}

fn summary(thing: registry::Thing, pending_edits: u32) -> ThingSummary {
    ThingSummary {
        presence: match thing.presence {
            registry::Presence::Online => Presence::Online,
            registry::Presence::Offline => Presence::Offline,
            registry::Presence::Unknown => Presence::Unknown,
        },
        model: thing
            .model
            .or_else(|| thing.attributes.get("model").cloned()),
        name: thing.name,
        firmware: thing.firmware_version,
        last_seen_ms: thing.last_seen_ms,
        disconnect_reason: thing.disconnect_reason,
        out_of_sync: thing.out_of_sync,
        pending_jobs: u32::try_from(thing.pending_jobs).unwrap_or(u32::MAX),
        pending_edits,
    }
}
