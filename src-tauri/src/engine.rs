//! Starts the engine next to the window and forwards its connection state as events.

use std::time::Duration;

use companion_core::engine::{Engine, EngineConfig};
use companion_core::shadows::{EditEvent, ShadowChanged as ShadowChangedEvent};
use companion_core::telemetry::Frame;
use companion_model::{FleetChanged, SeriesValue, ShadowChanged, TelemetryFrame};
use tauri::{AppHandle, Manager};
use tokio::sync::{broadcast, mpsc, watch};

use crate::Shell;
use crate::events::emit;
use crate::shell::{Settings, shadow_ref};

/// Opens the settings (saved profiles, the OS keyring), then starts the engine with the
/// active profile — the local sandbox when there is none — and follows it.
pub async fn run(app: AppHandle) {
    let shell = app.state::<Shell>();
    match Settings::open(shell.data_dir()).await {
        Ok(settings) => shell.settings_opened(settings).await,
        Err(error) => tracing::error!(%error, "the saved profiles cannot be read"),
    }
    start(app.clone()).await;
}

/// Stops the running engine and starts it again with the profile now active.
pub async fn restart(app: AppHandle) {
    app.state::<Shell>().shutdown().await;
    start(app).await;
}

/// Starts the engine with the active profile and emits every connection change until the
/// session ends.
async fn start(app: AppHandle) {
    let shell = app.state::<Shell>();
    let (profile, vault, store) = shell.startup_profile().await;
    shell.engine_starting(profile.as_ref().map(|p| p.name.clone()));
    let _ = emit(&app, &shell.connection());
    let local = EngineConfig::local(shell.data_dir());
    let config = EngineConfig {
        profile,
        vault,
        store,
        simulated_devices: sandbox_devices().unwrap_or(local.simulated_devices),
        ..local
    };
    let mut connection = match Engine::start(config).await {
        Ok(engine) => {
            tauri::async_runtime::spawn(forward_fleet(app.clone(), engine.fleet_changes()));
            tauri::async_runtime::spawn(forward_shadows(
                app.clone(),
                engine.shadows().changes(),
                engine.shadows().edit_events(),
            ));
            if let Some(frames) = engine.take_frames().await {
                tauri::async_runtime::spawn(forward_telemetry(app.clone(), frames));
            }
            shell.engine_started(engine).await
        }
        Err(error) => {
            tracing::error!(%error, "the engine did not start");
            shell.engine_failed(error.to_string());
            let change = shell.connection();
            shell
                .record_connection(&change, companion_core::telemetry::now_ms())
                .await;
            let _ = emit(&app, &change);
            return;
        }
    };
    tauri::async_runtime::spawn(async move {
        let shell = app.state::<Shell>();
        loop {
            let change = shell.connection();
            shell
                .record_connection(&change, companion_core::telemetry::now_ms())
                .await;
            if let Err(error) = emit(&app, &change) {
                tracing::warn!(%error, "connection state not delivered to the window");
            }
            if connection.changed().await.is_err() {
                break;
            }
        }
    });
}

/// `COMPANION_SANDBOX_DEVICES`: how many simulated devices the local sandbox runs (default 3),
/// for demos and benchmarks with a larger fleet.
fn sandbox_devices() -> Option<usize> {
    let value = std::env::var("COMPANION_SANDBOX_DEVICES").ok()?;
    match value.trim().parse() {
        Ok(count) => Some(count),
        Err(_) => {
            tracing::warn!(%value, "COMPANION_SANDBOX_DEVICES is not a number; using the default");
            None
        }
    }
}

/// Tells the window the fleet changed, at most four times a second however busy the fleet is.
async fn forward_fleet(app: AppHandle, mut fleet: watch::Receiver<u64>) {
    const AT_MOST_EVERY: Duration = Duration::from_millis(250);
    loop {
        let revision = *fleet.borrow_and_update();
        if let Err(error) = emit(&app, &FleetChanged { revision }) {
            tracing::warn!(%error, "fleet change not delivered to the window");
        }
        tokio::time::sleep(AT_MOST_EVERY).await;
        if fleet.changed().await.is_err() {
            break;
        }
    }
}

/// Tells the window which shadow changed: a new document of a followed shadow, or a new state
/// of one of its edits. The page reads the shadow again. Ends with the engine.
async fn forward_shadows(
    app: AppHandle,
    mut changes: broadcast::Receiver<ShadowChangedEvent>,
    mut edits: broadcast::Receiver<EditEvent>,
) {
    loop {
        let shadow = tokio::select! {
            change = changes.recv() => match change {
                Ok(change) => Some(shadow_ref(&change.thing, &change.shadow)),
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            event = edits.recv() => match event {
                Ok(event) => app.state::<Shell>().edit_shadow(event.id).await,
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        if let Some(shadow) = shadow
            && let Err(error) = emit(&app, &ShadowChanged { shadow })
        {
            tracing::warn!(%error, "shadow change not delivered to the window");
        }
    }
}

/// Sends the followed device's values from the engine's coalesced frames (at most 30 a second)
/// to the window; the rest of the fleet's stream stays in the backend.
async fn forward_telemetry(app: AppHandle, mut frames: mpsc::Receiver<Frame>) {
    while let Some(frame) = frames.recv().await {
        let Some(followed) = app.state::<Shell>().followed() else {
            continue;
        };
        let updates: Vec<SeriesValue> = frame
            .updates
            .into_iter()
            .filter(|u| u.thing == followed)
            .map(|u| SeriesValue {
                thing: u.thing,
                series: u.series,
                at_ms: u.at_ms,
                value: u.value,
            })
            .collect();
        if updates.is_empty() {
            continue;
        }
        if let Err(error) = emit(&app, &TelemetryFrame { updates }) {
            tracing::warn!(%error, "telemetry frame not delivered to the window");
        }
    }
}
