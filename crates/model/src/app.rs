use serde::{Deserialize, Serialize};

use crate::{BrokerMode, Command};

/// Asks the backend what it is and how it runs. Replies with [`AppInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfoRequest {}

impl Command for AppInfoRequest {
    const NAME: &'static str = "app_info";
    type Reply = AppInfo;
}

/// Facts about the running backend, shown in the About panel and the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// The app's version (semver).
    pub version: String,
    /// Whether this is a debug or an optimised build.
    pub build_profile: BuildProfile,
    /// Where the app keeps its local data (database, sandbox CA); never secrets.
    pub data_dir: String,
    /// Operating system and architecture the backend runs on, e.g. `linux x86_64`.
    pub platform: String,
    /// Which broker the app talks to.
    pub broker: BrokerMode,
    /// Which radio the app provisions devices through.
    pub radio: RadioMode,
}

/// How the backend was compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildProfile {
    /// Built with debug assertions.
    Debug,
    /// An optimised build.
    Release,
}

impl BuildProfile {
    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }
}

/// The radio used to find and provision devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RadioMode {
    /// No radio is in use (no engine is running).
    None,
    /// The operating system's Bluetooth LE adapter.
    Bluetooth,
    /// The sandbox's simulated radio with simulated devices.
    Simulated,
}

impl RadioMode {
    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "no radio",
            Self::Bluetooth => "Bluetooth LE",
            Self::Simulated => "simulated radio",
        }
    }
}
