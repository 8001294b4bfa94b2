use std::path::PathBuf;

use companion_model::{
    AppInfo, BrokerMode, BuildProfile, ConnectionChanged, ConnectionState, RadioMode,
};

/// What the shell keeps for the lifetime of the app.
#[derive(Debug)]
pub struct Shell {
    data_dir: PathBuf,
}

impl Shell {
    /// A shell keeping its local data under `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self { data_dir }
    }

    /// The facts the About panel shows.
    pub fn app_info(&self, version: String) -> AppInfo {
        AppInfo {
            version,
            build_profile: if cfg!(debug_assertions) {
                BuildProfile::Debug
            } else {
                BuildProfile::Release
            },
            data_dir: self.data_dir.display().to_string(),
            platform: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            broker: BrokerMode::None,
            radio: RadioMode::None,
        }
    }

    /// The broker connection as it stands now.
    pub fn connection(&self) -> ConnectionChanged {
        ConnectionChanged {
            state: ConnectionState::Disconnected,
            broker: BrokerMode::None,
            detail: "No broker profile is active: this build has no live-control engine yet."
                .into(),
        }
    }
}
