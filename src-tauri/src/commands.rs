//! One function per `companion-model` command. Each takes the shell state and the typed request
//! (always as the argument named `request`), makes one call and maps the error.

use companion_model::{
    AppInfo, AppInfoRequest, Command, FleetList, IpcError, ThingSummary, WatchConnection,
    names_match,
};
use tauri::{AppHandle, State};

use crate::Shell;
use crate::events::emit;

/// Fails the build when a handler's name differs from its command's `NAME`, which is what the
/// UI invokes it by.
macro_rules! registered_as {
    ($command:ty, $handler:ident) => {
        const _: () = assert!(
            names_match(<$command as Command>::NAME, stringify!($handler)),
            concat!(
                "handler `",
                stringify!($handler),
                "` must be named after its command"
            )
        );
    };
}

registered_as!(AppInfoRequest, app_info);
#[tauri::command]
pub fn app_info(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: AppInfoRequest,
) -> Result<AppInfo, IpcError> {
    let AppInfoRequest {} = request;
    Ok(shell.app_info(app.package_info().version.to_string()))
}

registered_as!(WatchConnection, watch_connection);
#[tauri::command]
pub fn watch_connection(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: WatchConnection,
) -> Result<(), IpcError> {
    let WatchConnection {} = request;
    emit(&app, &shell.connection())
}

registered_as!(FleetList, fleet_list);
#[tauri::command]
pub async fn fleet_list(
    shell: State<'_, Shell>,
    request: FleetList,
) -> Result<Vec<ThingSummary>, IpcError> {
    shell.fleet(&request).await
}
