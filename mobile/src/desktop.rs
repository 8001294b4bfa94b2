//! Desktop: nothing to ask at run time.
//!
//! Linux (BlueZ) and Windows have no per-app Bluetooth permission; macOS asks by itself the
//! first time CoreBluetooth is used, with the app bundle's `NSBluetoothAlwaysUsageDescription`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use tauri::{AppHandle, Runtime, plugin::PluginApi};

use crate::{BlePermissionState, Error, Result};

pub(crate) fn init<R: Runtime, C: DeserializeOwned>(
    _app: &AppHandle<R>,
    _api: PluginApi<R, C>,
) -> CompanionMobile<R> {
    CompanionMobile(PhantomData)
}

/// The plugin's API, reached with [`crate::CompanionMobileExt::companion_mobile`].
pub struct CompanionMobile<R: Runtime>(PhantomData<fn() -> R>);

impl<R: Runtime> fmt::Debug for CompanionMobile<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompanionMobile(desktop)")
    }
}

impl<R: Runtime> CompanionMobile<R> {
    /// The Bluetooth permission state, without asking: always granted on desktop.
    pub async fn check_ble_permissions(&self) -> Result<BlePermissionState> {
        Ok(BlePermissionState::Granted)
    }

    /// Asks for the Bluetooth permissions a scan needs: always granted on desktop.
    pub async fn request_ble_permissions(&self) -> Result<BlePermissionState> {
        Ok(BlePermissionState::Granted)
    }

    /// Opens the app's page in the system settings: there is none on desktop.
    pub async fn open_app_settings(&self) -> Result<()> {
        Err(Error::Unsupported(
            "a desktop app has no permission settings page to open",
        ))
    }

    /// Whether btleplug can be used: it needs no bootstrap on desktop.
    pub fn ble_platform(&self) -> Result<()> {
        Ok(())
    }
}
