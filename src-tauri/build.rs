//! Generates the Tauri context (config, assets, icons, capabilities) at build time.
//!
//! Generating it here rather than with `generate_context!()` in the crate means the UI assets
//! are embedded once per build, so parallel rustc processes (`cargo test` compiles the library
//! and its test harness together) never embed a half-written wasm file.

use companion_model::{
    ActivityExport, ActivityList, AppInfoRequest, Command, DeviceGet, FleetBulkEdit, FleetList,
    NetworkForget, NetworksList, ProfileList, ProfileRemove, ProfileSave, ProfileUse, ProvisionAct,
    ProvisionHistory, ProvisionNetwork, ProvisionScan, ProvisionStart, RawLog, RawLogExport,
    SandboxOutage, ShadowClearDesired, ShadowEdit, ShadowOpen, TelemetryChart, TelemetryFollow,
    VaultImport, VaultList, VaultRemove, WatchConnection,
};

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&[
        AppInfoRequest::NAME,
        WatchConnection::NAME,
        FleetList::NAME,
        FleetBulkEdit::NAME,
        DeviceGet::NAME,
        ShadowOpen::NAME,
        ShadowEdit::NAME,
        ShadowClearDesired::NAME,
        TelemetryChart::NAME,
        TelemetryFollow::NAME,
        SandboxOutage::NAME,
        RawLog::NAME,
        RawLogExport::NAME,
        ProfileList::NAME,
        ProfileSave::NAME,
        ProfileRemove::NAME,
        ProfileUse::NAME,
        VaultList::NAME,
        VaultImport::NAME,
        VaultRemove::NAME,
        ProvisionScan::NAME,
        ProvisionStart::NAME,
        ProvisionNetwork::NAME,
        ProvisionAct::NAME,
        ProvisionHistory::NAME,
        NetworksList::NAME,
        NetworkForget::NAME,
        ActivityList::NAME,
        ActivityExport::NAME,
    ]);
    let attributes = tauri_build::Attributes::new()
        .codegen(tauri_build::CodegenContext::new())
        .app_manifest(manifest);
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!(
            "cannot generate the Tauri context: {error:#}\n(is the UI built? run `cargo xtask ui`)"
        );
    }
}
