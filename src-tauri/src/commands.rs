//! One function per `companion-model` command. Each takes the shell state and the typed request
//! (always as the argument named `request`), makes one call and maps the error.

use companion_model::{
    ActivityEvent, ActivityExport, ActivityList, AppInfo, AppInfoRequest, AttemptView, AuditEntry,
    BulkResult, Chart, Command, DeviceDetail, DeviceGet, EditSummary, ExportedFile, FleetBulkEdit,
    FleetList, FleetWindow, IdentitySummary, IpcError, NetworkForget, NetworksList, ProfileList,
    ProfileRemove, ProfileSave, ProfileSummary, ProfileUse, ProfilesView, ProvisionAct,
    ProvisionHistory, ProvisionNetwork, ProvisionScan, ProvisionStart, RawEntry, RawLog,
    RawLogExport, RememberedNetwork, SandboxOutage, ScanReply, ShadowClearDesired, ShadowEdit,
    ShadowOpen, ShadowPanel, TelemetryChart, TelemetryFollow, VaultImport, VaultList, VaultRemove,
    VaultView, WatchConnection, names_match,
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
) -> Result<FleetWindow, IpcError> {
    shell.fleet(&request).await
}

registered_as!(FleetBulkEdit, fleet_bulk_edit);
#[tauri::command]
pub async fn fleet_bulk_edit(
    shell: State<'_, Shell>,
    request: FleetBulkEdit,
) -> Result<Vec<BulkResult>, IpcError> {
    shell.bulk_edit(&request.things, &request.desired).await
}

registered_as!(DeviceGet, device_get);
#[tauri::command]
pub async fn device_get(
    shell: State<'_, Shell>,
    request: DeviceGet,
) -> Result<DeviceDetail, IpcError> {
    shell.device(&request.thing).await
}

registered_as!(ShadowOpen, shadow_open);
#[tauri::command]
pub async fn shadow_open(
    shell: State<'_, Shell>,
    request: ShadowOpen,
) -> Result<ShadowPanel, IpcError> {
    shell.shadow_open(&request.shadow).await
}

registered_as!(ShadowEdit, shadow_edit);
#[tauri::command]
pub async fn shadow_edit(
    shell: State<'_, Shell>,
    request: ShadowEdit,
) -> Result<EditSummary, IpcError> {
    shell.shadow_edit(&request.shadow, &request.desired).await
}

registered_as!(ShadowClearDesired, shadow_clear_desired);
#[tauri::command]
pub async fn shadow_clear_desired(
    shell: State<'_, Shell>,
    request: ShadowClearDesired,
) -> Result<EditSummary, IpcError> {
    shell.shadow_clear_desired(&request.shadow).await
}

registered_as!(TelemetryChart, telemetry_chart);
#[tauri::command]
pub async fn telemetry_chart(
    shell: State<'_, Shell>,
    request: TelemetryChart,
) -> Result<Chart, IpcError> {
    let now_ms = companion_core::telemetry::now_ms();
    shell
        .chart(&request.thing, &request.series, request.span, now_ms)
        .await
}

registered_as!(RawLog, raw_log);
#[tauri::command]
pub async fn raw_log(shell: State<'_, Shell>, request: RawLog) -> Result<Vec<RawEntry>, IpcError> {
    shell.raw_log(&request.thing, request.limit).await
}

registered_as!(RawLogExport, raw_log_export);
#[tauri::command]
pub async fn raw_log_export(
    shell: State<'_, Shell>,
    request: RawLogExport,
) -> Result<ExportedFile, IpcError> {
    let now_ms = companion_core::telemetry::now_ms();
    shell.export_raw_log(&request.thing, now_ms).await
}

registered_as!(ProfileList, profile_list);
#[tauri::command]
pub async fn profile_list(
    shell: State<'_, Shell>,
    request: ProfileList,
) -> Result<ProfilesView, IpcError> {
    let ProfileList {} = request;
    shell.profiles().await
}

registered_as!(ProfileSave, profile_save);
#[tauri::command]
pub async fn profile_save(
    shell: State<'_, Shell>,
    request: ProfileSave,
) -> Result<ProfileSummary, IpcError> {
    shell.save_profile(request.form).await
}

registered_as!(ProfileRemove, profile_remove);
#[tauri::command]
pub async fn profile_remove(
    shell: State<'_, Shell>,
    request: ProfileRemove,
) -> Result<(), IpcError> {
    shell.remove_profile(&request.name).await
}

registered_as!(ProfileUse, profile_use);
#[tauri::command]
pub async fn profile_use(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: ProfileUse,
) -> Result<(), IpcError> {
    shell.choose_profile(request.name.as_deref()).await?;
    tauri::async_runtime::spawn(crate::engine::restart(app));
    Ok(())
}

registered_as!(VaultList, vault_list);
#[tauri::command]
pub async fn vault_list(
    shell: State<'_, Shell>,
    request: VaultList,
) -> Result<VaultView, IpcError> {
    let VaultList {} = request;
    shell.vault_view(std::time::SystemTime::now()).await
}

registered_as!(VaultImport, vault_import);
#[tauri::command]
pub async fn vault_import(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: VaultImport,
) -> Result<Option<IdentitySummary>, IpcError> {
    let paths = match request.paths {
        Some(paths) => paths.into_iter().map(std::path::PathBuf::from).collect(),
        None => match crate::dialog::pick_identity_files(&app).await {
            Some(paths) => paths,
            // Cancelled: nothing to import.
            None => return Ok(None),
        },
    };
    let passphrase = request
        .passphrase
        .filter(|p| !p.0.is_empty())
        .map(|p| companion_core::vault::Sensitive::new(p.0));
    shell
        .import_identity(
            &request.name,
            &paths,
            passphrase,
            std::time::SystemTime::now(),
        )
        .await
        .map(Some)
}

registered_as!(VaultRemove, vault_remove);
#[tauri::command]
pub async fn vault_remove(shell: State<'_, Shell>, request: VaultRemove) -> Result<(), IpcError> {
    shell.remove_identity(&request.name).await
}

registered_as!(ProvisionScan, provision_scan);
#[tauri::command]
pub async fn provision_scan(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: ProvisionScan,
) -> Result<ScanReply, IpcError> {
    let ProvisionScan {} = request;
    shell.provision_scan(&app).await
}

registered_as!(ProvisionStart, provision_start);
#[tauri::command]
pub async fn provision_start(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: ProvisionStart,
) -> Result<AttemptView, IpcError> {
    shell.provision_start(app, request).await
}

registered_as!(ProvisionNetwork, provision_network);
#[tauri::command]
pub async fn provision_network(
    shell: State<'_, Shell>,
    request: ProvisionNetwork,
) -> Result<(), IpcError> {
    shell.provision_network(request.attempt, request.wifi).await
}

registered_as!(ProvisionAct, provision_act);
#[tauri::command]
pub async fn provision_act(shell: State<'_, Shell>, request: ProvisionAct) -> Result<(), IpcError> {
    shell.provision_act(request.attempt, request.action).await
}

registered_as!(ProvisionHistory, provision_history);
#[tauri::command]
pub async fn provision_history(
    shell: State<'_, Shell>,
    request: ProvisionHistory,
) -> Result<Vec<AuditEntry>, IpcError> {
    shell.provision_history(request.limit).await
}

registered_as!(NetworksList, networks_list);
#[tauri::command]
pub async fn networks_list(
    shell: State<'_, Shell>,
    request: NetworksList,
) -> Result<Vec<RememberedNetwork>, IpcError> {
    let NetworksList {} = request;
    shell.networks_list().await
}

registered_as!(NetworkForget, network_forget);
#[tauri::command]
pub async fn network_forget(
    shell: State<'_, Shell>,
    request: NetworkForget,
) -> Result<(), IpcError> {
    shell.network_forget(&request.ssid).await
}

registered_as!(ActivityList, activity_list);
#[tauri::command]
pub async fn activity_list(
    shell: State<'_, Shell>,
    request: ActivityList,
) -> Result<Vec<ActivityEvent>, IpcError> {
    shell.activity(request.limit).await
}

registered_as!(ActivityExport, activity_export);
#[tauri::command]
pub async fn activity_export(
    shell: State<'_, Shell>,
    request: ActivityExport,
) -> Result<ExportedFile, IpcError> {
    let now_ms = companion_core::telemetry::now_ms();
    shell
        .export_activity(request.records, request.format, now_ms)
        .await
}

registered_as!(TelemetryFollow, telemetry_follow);
#[tauri::command]
pub fn telemetry_follow(shell: State<'_, Shell>, request: TelemetryFollow) -> Result<(), IpcError> {
    shell.follow_telemetry(request.thing);
    Ok(())
}

registered_as!(SandboxOutage, sandbox_outage);
#[tauri::command]
pub async fn sandbox_outage(
    shell: State<'_, Shell>,
    request: SandboxOutage,
) -> Result<bool, IpcError> {
    shell.sandbox_outage(request.on).await
}
