//! What the platform code answers, as it crosses from Kotlin or Swift into Rust.

use serde::{Deserialize, Serialize};

/// Whether the app may scan for and connect to Bluetooth LE devices.
///
/// The names on the wire (`granted`, `prompt`, `denied`, `permanently-denied`) are the strings
/// the Kotlin and Swift halves of the plugin resolve with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlePermissionState {
    /// Everything a scan and a connection need is granted.
    Granted,
    /// Not asked yet: explain why the app needs Bluetooth, then request it.
    Prompt,
    /// The user refused, and the system will ask again: explain, then request again.
    Denied,
    /// The system will not ask again (Android's "don't ask again", or any refusal on iOS, or a
    /// restriction by the device's owner): only the app's page in the system settings can grant
    /// it. [`crate::CompanionMobile::open_app_settings`] opens that page.
    PermanentlyDenied,
}

impl BlePermissionState {
    /// Whether a scan may start.
    pub fn is_granted(self) -> bool {
        self == Self::Granted
    }

    /// Whether only the system settings can change the answer.
    pub fn needs_settings(self) -> bool {
        self == Self::PermanentlyDenied
    }
}

/// The reply of the platform's `checkBlePermissions` and `requestBlePermissions`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(
    not(mobile),
    allow(dead_code, reason = "only the platform plugins send it")
)]
pub(crate) struct PermissionReply {
    pub(crate) state: BlePermissionState,
}
