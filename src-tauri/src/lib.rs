//! The IoT Companion shell: the Tauri window around the Yew UI.
//!
//! This crate holds no business logic. `commands` maps each `companion-model` command to one
//! call; `engine` starts `companion-core`'s engine next to the window and `events` forwards its
//! state to the UI. `run` is the single entry point for the
//! desktop binary and for the Android and iOS builds.

mod commands;
mod dialog;
mod engine;
mod events;
mod shell;

use tauri::{Manager, RunEvent};

pub use shell::Shell;

/// Builds and runs the app until its last window closes.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    // Before the async runtime starts its threads: they must share one session keyring.
    companion_core::vault::join_session_keyring_early();
    init_logging();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(companion_mobile::init())
        .setup(|app| {
            let data_dir = app.path().app_data_dir()?;
            std::fs::create_dir_all(&data_dir)?;
            tracing::info!(data_dir = %data_dir.display(), "IoT Companion starting");
            app.manage(Shell::new(data_dir));
            tauri::async_runtime::spawn(engine::run(app.handle().clone()));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::watch_connection,
            commands::fleet_list,
            commands::fleet_bulk_edit,
            commands::device_get,
            commands::shadow_open,
            commands::shadow_edit,
            commands::shadow_clear_desired,
            commands::telemetry_chart,
            commands::telemetry_follow,
            commands::sandbox_outage,
            commands::raw_log,
            commands::raw_log_export,
            commands::profile_list,
            commands::profile_save,
            commands::profile_remove,
            commands::profile_use,
            commands::vault_list,
            commands::vault_import,
            commands::vault_remove,
            commands::provision_scan,
            commands::provision_start,
            commands::provision_network,
            commands::provision_act,
            commands::provision_history,
            commands::networks_list,
            commands::network_forget,
            commands::activity_list,
            commands::activity_export
        ])
        .build(context());
    match result {
        Ok(app) => app.run(|app, event| {
            if let RunEvent::Exit = event {
                // Disconnect and stop the local sandbox before the process ends.
                tauri::async_runtime::block_on(app.state::<Shell>().shutdown());
            }
        }),
        Err(error) => {
            tracing::error!(%error, "IoT Companion could not start");
            std::process::exit(1);
        }
    }
}

/// The context `build.rs` generated: config, embedded UI assets, icons, capabilities.
#[allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "the generated code unwraps embedded constants and reports its own errors"
)]
fn context() -> tauri::Context {
    tauri::tauri_build_context!()
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    // rumqttd reports every ordinary client disconnect as an error; the sandbox's gateway logs
    // what matters.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rumqttd=off"));
    // A second initialisation (tests, mobile re-entry) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
