//! The [`SecretStore`] trait: where secrets live, in the words of the OS keyrings.

use std::fmt;

use super::Sensitive;

/// The keyring service name of release builds.
pub const RELEASE_SERVICE: &str = "dev.iotcompanion.companion";

/// The keyring service name of debug builds, so a developer's experiments never touch the
/// secrets of the installed app.
pub const DEBUG_SERVICE: &str = "dev.iotcompanion.companion.dev";

/// The service name this build uses by default: [`DEBUG_SERVICE`] in debug builds,
/// [`RELEASE_SERVICE`] in release builds.
pub const DEFAULT_SERVICE: &str = if cfg!(debug_assertions) {
    DEBUG_SERVICE
} else {
    RELEASE_SERVICE
};

/// A place that keeps secrets, addressed like every OS keyring: by service and account.
///
/// Calls block (D-Bus round trips, system calls); from async code use
/// [`AsyncVault`](super::AsyncVault), which moves them to tokio's blocking pool.
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// Stores `secret` under `service`/`account`, replacing what was there.
    fn store(&self, service: &str, account: &str, secret: &[u8]) -> Result<(), StoreError>;

    /// Loads the secret stored under `service`/`account`.
    fn load(&self, service: &str, account: &str) -> Result<Sensitive<Vec<u8>>, StoreError>;

    /// Removes the secret stored under `service`/`account`.
    fn remove(&self, service: &str, account: &str) -> Result<(), StoreError>;

    /// Which store this is, for the settings page and error messages.
    fn backend(&self) -> VaultBackend;
}

/// The secret stores the vault can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VaultBackend {
    /// The freedesktop Secret Service on the D-Bus session bus (gnome-keyring, KWallet, KeePassXC).
    SecretService,
    /// The Linux kernel keyring (keyutils). In memory only: it does not survive a reboot.
    KernelKeyring,
    /// The macOS login keychain or the iOS protected data store.
    AppleKeychain,
    /// The Windows Credential Manager.
    WindowsCredentialManager,
    /// The Android Keystore with SharedPreferences.
    AndroidKeystore,
    /// An in-memory store for tests. Forgets everything when dropped.
    Memory,
}

impl VaultBackend {
    /// A short human name of the store.
    pub fn label(self) -> &'static str {
        match self {
            Self::SecretService => "Secret Service",
            Self::KernelKeyring => "kernel keyring",
            Self::AppleKeychain => "Apple keychain",
            Self::WindowsCredentialManager => "Windows Credential Manager",
            Self::AndroidKeystore => "Android Keystore",
            Self::Memory => "in-memory test store",
        }
    }
}

impl fmt::Display for VaultBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a [`SecretStore`] call failed. Messages name the cause and never carry secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Nothing is stored under this service and account.
    #[error("nothing is stored in the keyring under this name")]
    NoEntry,
    /// The store cannot be reached at all; the text says why and what to do.
    #[error("{0}")]
    Unavailable(String),
    /// The store is there but refuses access (locked keyring, missing permission).
    #[error("{0}")]
    Locked(String),
    /// The store refused the secret itself, typically because it is too large.
    #[error("the {backend} refused the secret: {reason}")]
    Rejected {
        /// The store that refused.
        backend: VaultBackend,
        /// What it said, without the secret.
        reason: String,
    },
    /// Any other failure of the platform store.
    #[error("the {backend} failed: {reason}")]
    Platform {
        /// The store that failed.
        backend: VaultBackend,
        /// What it said, without the secret.
        reason: String,
    },
}
