//! Starts the engine next to the window and forwards its connection state as events.

use std::time::Duration;

use companion_core::engine::{Engine, EngineConfig};
use companion_model::FleetChanged;
use tauri::{AppHandle, Manager};
use tokio::sync::watch;

use crate::Shell;
use crate::events::emit;

/// Starts the engine in the app's data directory, then emits every connection change until the
/// session ends.
pub async fn run(app: AppHandle) {
    let shell = app.state::<Shell>();
    let config = EngineConfig::local(shell.data_dir());
    let mut connection = match Engine::start(config).await {
        Ok(engine) => {
            tauri::async_runtime::spawn(forward_fleet(app.clone(), engine.fleet_changes()));
            shell.engine_started(engine).await
        }
        Err(error) => {
            tracing::error!(%error, "the engine did not start");
            shell.engine_failed(error.to_string());
            let _ = emit(&app, &shell.connection());
            return;
        }
    };
    loop {
        if let Err(error) = emit(&app, &shell.connection()) {
            tracing::warn!(%error, "connection state not delivered to the window");
        }
        if connection.changed().await.is_err() {
            break;
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
