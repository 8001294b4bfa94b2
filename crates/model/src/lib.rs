//! The wire contract between the IoT Companion UI (wasm) and its backend (the Tauri shell).
//!
//! Every command is a request type implementing [`Command`], which ties it to its name and its
//! reply type; every backend→UI event is a payload type implementing [`Event`], which ties it to
//! its event name. Failures cross the bridge as [`IpcError`], whose [`ErrorCode`] the UI branches
//! on. This crate is the only place these formats are defined: it depends on serde alone and
//! compiles both natively and to wasm.

mod activity;
mod app;
mod connection;
mod device;
mod error;
mod fleet;
mod provision;
mod settings;
mod shadow;

pub use activity::{ActivityEvent, ActivityExport, ActivityList, ExportFormat, ExportRecords};
pub use app::{AppInfo, AppInfoRequest, BuildProfile, RadioMode};
pub use connection::{BrokerMode, ConnectionChanged, ConnectionState, WatchConnection};
pub use device::{
    Chart, ChartPoint, ChartSpan, DeviceDetail, DeviceGet, ExportedFile, JobSummary, RawEntry,
    RawLog, RawLogExport, SeriesValue, TelemetryChart, TelemetryFollow, TelemetryFrame,
};
pub use error::{ErrorCode, IpcError};
pub use fleet::{
    BulkResult, FleetBulkEdit, FleetChanged, FleetFilter, FleetList, FleetSort, FleetWindow,
    Presence, ThingSummary,
};
pub use provision::{
    AttemptAction, AttemptOutcome, AttemptView, AuditEntry, NetworkForget, NetworkView,
    NetworksList, ProvisionAct, ProvisionChanged, ProvisionHistory, ProvisionNetwork,
    ProvisionScan, ProvisionStart, Remedy, RememberedNetwork, ScanReply, ScannedDevice, StepStatus,
    StepView, WifiInput,
};
pub use settings::{
    Expiry, IdentitySummary, ProfileForm, ProfileKind, ProfileList, ProfileRemove, ProfileSave,
    ProfileSummary, ProfileUse, ProfilesView, SandboxOutage, Secret, TransportChoice, VaultImport,
    VaultList, VaultRemove, VaultView,
};
pub use shadow::{
    Control, ControlKind, EditStatus, EditSummary, HistoryItem, ShadowChange, ShadowChanged,
    ShadowClearDesired, ShadowDocument, ShadowEdit, ShadowOpen, ShadowPanel, ShadowRef,
};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A command the UI sends to the backend. The implementing type is the request itself.
///
/// The shell registers a handler whose function name equals [`Command::NAME`] and whose single
/// argument is named `request`; [`names_match`] lets it check the name at compile time.
pub trait Command: Serialize + DeserializeOwned {
    /// The name the command is registered and invoked under.
    const NAME: &'static str;
    /// What a successful call returns.
    type Reply: Serialize + DeserializeOwned;
}

/// An event the backend emits to the UI. The implementing type is the payload.
pub trait Event: Serialize + DeserializeOwned + Clone {
    /// The event name it is emitted and listened to under.
    const NAME: &'static str;
}

/// Compares two names in a `const` context, so the shell can assert at compile time that a
/// handler function is registered under its command's [`Command::NAME`].
pub const fn names_match(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_only_identical_names() {
        assert!(names_match("app_info", "app_info"));
        assert!(!names_match("app_info", "app_inf"));
        assert!(!names_match("app_info", "app_infO"));
        assert!(!names_match("", "x"));
    }

    #[test]
    fn command_and_event_names_are_valid_tauri_identifiers() {
        // Tauri accepts command and event names made of alphanumerics and `-`, `/`, `:`, `_`.
        let valid = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | ':' | '_'))
        };
        for name in [
            AppInfoRequest::NAME,
            WatchConnection::NAME,
            ConnectionChanged::NAME,
            FleetList::NAME,
            FleetChanged::NAME,
            DeviceGet::NAME,
            TelemetryChart::NAME,
            TelemetryFrame::NAME,
            RawLog::NAME,
            RawLogExport::NAME,
            ShadowOpen::NAME,
            ShadowEdit::NAME,
            ShadowClearDesired::NAME,
            ShadowChanged::NAME,
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
            ProvisionChanged::NAME,
            ProvisionHistory::NAME,
            NetworksList::NAME,
            NetworkForget::NAME,
            ActivityList::NAME,
            ActivityExport::NAME,
            FleetBulkEdit::NAME,
            TelemetryFollow::NAME,
            SandboxOutage::NAME,
        ] {
            assert!(valid(name), "{name:?} is not a valid Tauri name");
        }
    }
}
