//! `companion-mobile`: the Tauri plugin that holds what IoT Companion needs from Android and iOS
//! themselves.
//!
//! - Bluetooth permissions, asked at run time before the first scan:
//!   [`CompanionMobile::check_ble_permissions`] (without asking, so the app can explain first),
//!   [`CompanionMobile::request_ble_permissions`], and [`CompanionMobile::open_app_settings`]
//!   for a permission the system will not ask for again.
//! - btleplug's Android bootstrap (`btleplug::platform::init` on a JVM thread with the app's
//!   class loader), done when the plugin loads; [`CompanionMobile::ble_platform`] tells whether
//!   it worked.
//!
//! The layout is Tauri's plugin layout: `src/desktop.rs` and `src/mobile.rs` behind one API,
//! the Kotlin plugin under `android/`, the Swift plugin under `ios/`. On desktop every answer is
//! "granted": desktop systems ask by themselves, or not at all.
//!
//! The plugin registers no webview command: the app's own commands call it from Rust, so the
//! window's capabilities stay the app's commands only.
//!
//! ```no_run
//! # async fn scan<R: tauri::Runtime>(app: tauri::AppHandle<R>) -> companion_mobile::Result<()> {
//! use companion_mobile::{BlePermissionState, CompanionMobileExt};
//!
//! let mobile = app.companion_mobile();
//! if mobile.check_ble_permissions().await? != BlePermissionState::Granted {
//!     // (the UI has explained why; now the system dialog)
//!     match mobile.request_ble_permissions().await? {
//!         BlePermissionState::Granted => {}
//!         BlePermissionState::PermanentlyDenied => return mobile.open_app_settings().await,
//!         _ => return Ok(()),
//!     }
//! }
//! mobile.ble_platform()?;
//! // btleplug::platform::Manager::new() …
//! # Ok(())
//! # }
//! ```

use tauri::{
    Manager, Runtime,
    plugin::{Builder, TauriPlugin},
};

#[cfg(target_os = "android")]
mod android;
#[cfg(desktop)]
mod desktop;
mod error;
#[cfg(mobile)]
mod mobile;
mod models;

#[cfg(desktop)]
pub use desktop::CompanionMobile;
pub use error::{Error, Result};
#[cfg(mobile)]
pub use mobile::CompanionMobile;
pub use models::BlePermissionState;

/// The plugin's name, as Tauri knows it.
pub const PLUGIN_NAME: &str = "companion-mobile";

/// Access to the plugin's API from the app, an app handle or a window.
pub trait CompanionMobileExt<R: Runtime> {
    /// The plugin's API. Panics if the plugin was not added to the app's builder.
    fn companion_mobile(&self) -> &CompanionMobile<R>;
}

impl<R: Runtime, T: Manager<R>> CompanionMobileExt<R> for T {
    fn companion_mobile(&self) -> &CompanionMobile<R> {
        self.state::<CompanionMobile<R>>().inner()
    }
}

/// The plugin, for `tauri::Builder::plugin`.
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new(PLUGIN_NAME)
        .setup(|app, api| {
            #[cfg(mobile)]
            let plugin = mobile::init(app, api)?;
            #[cfg(desktop)]
            let plugin = desktop::init(app, api);
            app.manage(plugin);
            Ok(())
        })
        .build()
}

#[cfg(test)]
mod tests;
