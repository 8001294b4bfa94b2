//! Android and iOS: the calls go to the Kotlin plugin (`android/`) or the Swift plugin (`ios/`).

use std::fmt;

use serde::de::DeserializeOwned;
use tauri::{
    AppHandle, Runtime,
    plugin::{PluginApi, PluginHandle},
};

use crate::models::PermissionReply;
use crate::{BlePermissionState, Result};

#[cfg(target_os = "ios")]
tauri::ios_plugin_binding!(init_plugin_companion_mobile);

/// The Kotlin plugin's package and class (`android/src/main/java/dev/iotcompanion/mobile`).
#[cfg(target_os = "android")]
const ANDROID_PACKAGE: &str = "dev.iotcompanion.mobile";
#[cfg(target_os = "android")]
const ANDROID_CLASS: &str = "CompanionMobilePlugin";

pub(crate) fn init<R: Runtime, C: DeserializeOwned>(
    _app: &AppHandle<R>,
    api: PluginApi<R, C>,
) -> Result<CompanionMobile<R>> {
    #[cfg(target_os = "android")]
    let handle = api.register_android_plugin(ANDROID_PACKAGE, ANDROID_CLASS)?;
    #[cfg(target_os = "ios")]
    let handle = api.register_ios_plugin(init_plugin_companion_mobile)?;
    Ok(CompanionMobile(handle))
}

/// The plugin's API, reached with [`crate::CompanionMobileExt::companion_mobile`].
pub struct CompanionMobile<R: Runtime>(PluginHandle<R>);

impl<R: Runtime> fmt::Debug for CompanionMobile<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompanionMobile(mobile)")
    }
}

impl<R: Runtime> CompanionMobile<R> {
    /// The Bluetooth permission state, without showing anything to the user.
    ///
    /// `Prompt` means the app should explain why it needs Bluetooth before it calls
    /// [`Self::request_ble_permissions`].
    pub async fn check_ble_permissions(&self) -> Result<BlePermissionState> {
        let reply: PermissionReply = self
            .0
            .run_mobile_plugin_async("checkBlePermissions", ())
            .await?;
        Ok(reply.state)
    }

    /// Asks for what a scan and a connection need — Android 12+: "Nearby devices"
    /// (`BLUETOOTH_SCAN`, `BLUETOOTH_CONNECT`); Android 11 and older: location; iOS: Bluetooth —
    /// and answers once the user has decided. Never answers `Prompt`.
    pub async fn request_ble_permissions(&self) -> Result<BlePermissionState> {
        let reply: PermissionReply = self
            .0
            .run_mobile_plugin_async("requestBlePermissions", ())
            .await?;
        Ok(match reply.state {
            // The dialog was dismissed without an answer.
            BlePermissionState::Prompt => BlePermissionState::Denied,
            state => state,
        })
    }

    /// Opens the app's page in the system settings, where a permanently denied permission can
    /// still be granted.
    pub async fn open_app_settings(&self) -> Result<()> {
        self.0
            .run_mobile_plugin_async::<()>("openAppSettings", ())
            .await?;
        Ok(())
    }

    /// Whether btleplug can be used: on Android, whether its backend was initialised when the
    /// plugin loaded; iOS needs no bootstrap.
    pub fn ble_platform(&self) -> Result<()> {
        #[cfg(target_os = "android")]
        return crate::android::btleplug_status();
        #[cfg(not(target_os = "android"))]
        Ok(())
    }
}
