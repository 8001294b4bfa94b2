//! Starts the engine next to the window and forwards its connection state as events.

use companion_core::engine::{Engine, EngineConfig};
use tauri::{AppHandle, Manager};

use crate::Shell;
use crate::events::emit;

/// Starts the engine in the app's data directory, then emits every connection change until the
/// session ends.
pub async fn run(app: AppHandle) {
    let shell = app.state::<Shell>();
    let config = EngineConfig::local(shell.data_dir());
    let mut connection = match Engine::start(config).await {
        Ok(engine) => shell.engine_started(engine).await,
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
