//! Why a call into the platform failed.

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a call into the platform failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kotlin or Swift half of the plugin failed or rejected the call.
    #[cfg(mobile)]
    #[error(transparent)]
    PluginInvoke(#[from] tauri::plugin::mobile::PluginInvokeError),
    /// btleplug's Android backend could not start, or has not started yet.
    #[error("Bluetooth is not available to the app: {0}")]
    BlePlatform(String),
    /// The operation has no meaning on this platform.
    #[error("{0}")]
    Unsupported(&'static str),
}
