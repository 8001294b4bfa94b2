//! [`KeyringStore`]: the OS keyring through keyring-core 1.x and one store crate per platform.
//!
//! | platform | store crate | store |
//! |---|---|---|
//! | Linux | `zbus-secret-service-keyring-store` 1.x (`crypto-rust`, no OpenSSL) | [`VaultBackend::SecretService`] |
//! | Linux | `linux-keyutils-keyring-store` 1.x | [`VaultBackend::KernelKeyring`] (volatile: lost at reboot) |
//! | macOS | `apple-native-keyring-store` 1.x, feature `keychain` | [`VaultBackend::AppleKeychain`] (login keychain) |
//! | iOS | `apple-native-keyring-store` 1.x, feature `protected` | [`VaultBackend::AppleKeychain`] (protected data) |
//! | Windows | `windows-native-keyring-store` 1.x | [`VaultBackend::WindowsCredentialManager`] |
//! | Android | `android-native-keyring-store` 1.x | [`VaultBackend::AndroidKeystore`] (needs the NDK context set up by the app) |
//!
//! All five crates exist on crates.io at 1.x versions that depend on keyring-core 1, and all are
//! wired. Only the Linux stores are built and tested here (CI is Linux); the other targets are
//! wired from the crates' documented constructors and have not been compiled on this machine.
//!
//! A store is chosen at run time: [`KeyringStore::open`] for one backend, or
//! [`KeyringStore::open_auto`], which on Linux tries the Secret Service first and then the
//! kernel keyring. Opening *probes* the store with a write and a delete, because a locked
//! gnome-keyring accepts the connection and only refuses the first write.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error as KeyringError};

use super::Sensitive;
use super::store::{SecretStore, StoreError, VaultBackend};

/// The account the opening probe writes and deletes again.
const PROBE_ACCOUNT: &str = "vault-probe";

/// A [`SecretStore`] over one keyring-core credential store.
pub struct KeyringStore {
    store: Arc<CredentialStore>,
    backend: VaultBackend,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("backend", &self.backend)
            .finish()
    }
}

impl KeyringStore {
    /// Opens `backend` and checks with a probe under `service` that it accepts secrets.
    pub fn open(backend: VaultBackend, service: &str) -> Result<Self, StoreError> {
        let store = Self {
            store: platform_store(backend)?,
            backend,
        };
        store.probe(service)?;
        Ok(store)
    }

    /// Opens the first usable store of this platform, in [`KeyringStore::candidates`] order.
    ///
    /// When none is usable the error names each store and why it failed.
    pub fn open_auto(service: &str) -> Result<Self, StoreError> {
        let mut causes = Vec::new();
        for backend in Self::candidates() {
            match Self::open(*backend, service) {
                Ok(store) => return Ok(store.warn_if_fallback(&causes)),
                Err(error) => causes.push(format!("{backend}: {error}")),
            }
        }
        Err(StoreError::Unavailable(format!(
            "no secret store is usable on this machine. {}",
            causes.join("; ")
        )))
    }

    /// The stores [`KeyringStore::open_auto`] tries on this platform, best first.
    pub fn candidates() -> &'static [VaultBackend] {
        if cfg!(target_os = "linux") {
            &[VaultBackend::SecretService, VaultBackend::KernelKeyring]
        } else if cfg!(any(target_os = "macos", target_os = "ios")) {
            &[VaultBackend::AppleKeychain]
        } else if cfg!(target_os = "windows") {
            &[VaultBackend::WindowsCredentialManager]
        } else if cfg!(target_os = "android") {
            &[VaultBackend::AndroidKeystore]
        } else {
            &[]
        }
    }

    /// Wraps an existing keyring-core store (for tests with `keyring_core::mock`).
    pub fn from_credential_store(store: Arc<CredentialStore>, backend: VaultBackend) -> Self {
        Self { store, backend }
    }

    /// Logs why the preferred stores were passed over (the kernel keyring forgets at reboot).
    fn warn_if_fallback(self, causes: &[String]) -> Self {
        if !causes.is_empty() {
            tracing::warn!(backend = %self.backend, passed_over = ?causes, "the vault fell back to a secondary secret store");
        }
        self
    }

    fn probe(&self, service: &str) -> Result<(), StoreError> {
        self.store(service, PROBE_ACCOUNT, b"probe")?;
        self.remove(service, PROBE_ACCOUNT)
    }

    fn entry(&self, service: &str, account: &str) -> Result<Entry, StoreError> {
        Entry::new_in_store(&self.store, service, account).map_err(|e| self.classify(e))
    }

    fn classify(&self, error: KeyringError) -> StoreError {
        classify(self.backend, error)
    }
}

impl SecretStore for KeyringStore {
    fn store(&self, service: &str, account: &str, secret: &[u8]) -> Result<(), StoreError> {
        let entry = self.entry(service, account)?;
        entry.set_secret(secret).map_err(|e| self.classify(e))
    }

    fn load(&self, service: &str, account: &str) -> Result<Sensitive<Vec<u8>>, StoreError> {
        let entry = self.entry(service, account)?;
        entry
            .get_secret()
            .map(Sensitive::new)
            .map_err(|e| self.classify(e))
    }

    fn remove(&self, service: &str, account: &str) -> Result<(), StoreError> {
        let entry = self.entry(service, account)?;
        match entry.delete_credential() {
            Err(KeyringError::Ambiguous(duplicates)) => remove_all(&duplicates, self.backend),
            other => other.map_err(|e| self.classify(e)),
        }
    }

    fn backend(&self) -> VaultBackend {
        self.backend
    }
}

/// Removes every one of several entries that match one name (the Secret Service allows that).
fn remove_all(entries: &[Entry], backend: VaultBackend) -> Result<(), StoreError> {
    for entry in entries {
        entry
            .delete_credential()
            .map_err(|e| classify(backend, e))?;
    }
    Ok(())
}

/// Turns a keyring-core error into a sentence that names the cause. Never formats the error's
/// `Debug` form: `BadEncoding` and `BadDataFormat` carry the secret's bytes.
fn classify(backend: VaultBackend, error: KeyringError) -> StoreError {
    match error {
        KeyringError::NoEntry => StoreError::NoEntry,
        KeyringError::NoStorageAccess(cause) => {
            StoreError::Locked(locked_sentence(backend, &cause.to_string()))
        }
        KeyringError::PlatformFailure(cause) => platform_failure(backend, cause.as_ref()),
        KeyringError::Invalid(what, why) => rejected(backend, &format!("{what} {why}")),
        KeyringError::TooLong(what, limit) => rejected(
            backend,
            &format!("the {what} is longer than its limit of {limit}"),
        ),
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => platform(
            backend,
            "the stored data is not in the expected format; remove the entry and store it again",
        ),
        KeyringError::Ambiguous(_) => platform(
            backend,
            "several keyring entries have this name; remove the duplicates in your keyring manager",
        ),
        KeyringError::NoDefaultStore => {
            StoreError::Unavailable("no secret store was opened".into())
        }
        KeyringError::NotSupportedByStore(why) | KeyringError::BadStoreFormat(why) => {
            platform(backend, &why)
        }
        other => platform(backend, &other.to_string()),
    }
}

fn locked_sentence(backend: VaultBackend, detail: &str) -> String {
    match backend {
        VaultBackend::SecretService => format!(
            "the Secret Service keyring is locked or has no default collection: unlock your login \
             keyring (in a headless session: `gnome-keyring-daemon --unlock`) and try again ({detail})"
        ),
        VaultBackend::KernelKeyring => format!(
            "the kernel keyring denied access: the process has no usable session keyring, or a key \
             left by an earlier run is in the way; run the app under `keyctl session` ({detail})"
        ),
        other => {
            format!("the {other} denied access; allow this app to use it and try again ({detail})")
        }
    }
}

fn platform_failure(
    backend: VaultBackend,
    cause: &(dyn std::error::Error + Send + Sync + 'static),
) -> StoreError {
    if let Some(sentence) = kernel_keyring_cause(backend, cause) {
        return sentence;
    }
    let detail = cause.to_string();
    match backend {
        VaultBackend::SecretService if no_session_bus(&detail) => StoreError::Unavailable(format!(
            "there is no D-Bus session bus, so the Secret Service cannot be reached: start the app \
             from a desktop session, or run it under `dbus-run-session` ({detail})"
        )),
        VaultBackend::SecretService if no_provider(&detail) => StoreError::Unavailable(format!(
            "no Secret Service provider is running on the session bus: install and start \
             gnome-keyring (or KeePassXC with its Secret Service integration) ({detail})"
        )),
        _ => platform(backend, &detail),
    }
}

fn no_session_bus(detail: &str) -> bool {
    detail.contains("Failed to connect") || detail.contains("DBUS_SESSION_BUS_ADDRESS")
}

fn no_provider(detail: &str) -> bool {
    detail.contains("ServiceUnknown") || detail.contains("org.freedesktop.secrets")
}

#[cfg(target_os = "linux")]
fn kernel_keyring_cause(
    backend: VaultBackend,
    cause: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<StoreError> {
    use linux_keyutils::KeyError;
    if backend != VaultBackend::KernelKeyring {
        return None;
    }
    match cause.downcast_ref::<KeyError>()? {
        KeyError::QuotaExceeded => Some(rejected(
            backend,
            "its quota is full (users other than root get 20000 bytes in all): remove identities \
             you no longer need, or use the Secret Service",
        )),
        KeyError::PermissionDenied | KeyError::OperationNotSupported | KeyError::Unknown(_) => {
            Some(StoreError::Unavailable(
                "the kernel keyring is not available here: the keyctl system calls are blocked \
                 (as in some containers)"
                    .into(),
            ))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_keyring_cause(
    _backend: VaultBackend,
    _cause: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<StoreError> {
    None
}

fn rejected(backend: VaultBackend, reason: &str) -> StoreError {
    let hint = if backend == VaultBackend::KernelKeyring && reason.starts_with("password") {
        " (the kernel keyring holds at most 32767 bytes per entry)"
    } else {
        ""
    };
    StoreError::Rejected {
        backend,
        reason: format!("{reason}{hint}"),
    }
}

fn platform(backend: VaultBackend, reason: &str) -> StoreError {
    StoreError::Platform {
        backend,
        reason: reason.to_owned(),
    }
}

fn not_on_this_platform(backend: VaultBackend) -> StoreError {
    StoreError::Unavailable(format!("the {backend} does not exist on this platform"))
}

fn constructor_failed(backend: VaultBackend, error: KeyringError) -> StoreError {
    classify(backend, error)
}

#[cfg(target_os = "linux")]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    match backend {
        VaultBackend::SecretService => zbus_secret_service_keyring_store::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| constructor_failed(backend, e)),
        VaultBackend::KernelKeyring => kernel_keyring_store(),
        other => Err(not_on_this_platform(other)),
    }
}

/// Gives the process a session keyring of its own, when it has none, before any thread starts:
/// call it first thing in `main`.
///
/// Linux keeps keyrings in each thread's credentials. A thread that joins a new session
/// keyring keeps it to itself (threads started earlier do not see it), so when nothing ran
/// `pam_keyinit` (CI, containers, a service) a key written on one thread can land in the user's
/// default session keyring and be out of reach — "access denied" — for another thread that
/// joined its own. Joining once on the main thread, before the async runtime starts its
/// threads, gives every thread the same session keyring. Elsewhere it does nothing.
pub fn join_session_keyring_early() {
    // A failure is not reported here (logging is not set up yet): the vault's own probe says
    // why the kernel keyring is unusable when it is opened.
    #[cfg(target_os = "linux")]
    let _ =
        linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true);
}

/// The kernel keyring store, after making sure the process has its own session keyring.
///
/// Without one (nothing ran `pam_keyinit`, as in CI and containers), the store's first write
/// joins a new session keyring behind the store's back and fails with access denied, leaving a
/// stale key behind. Joining an anonymous session keyring first avoids that.
#[cfg(target_os = "linux")]
fn kernel_keyring_store() -> Result<Arc<CredentialStore>, StoreError> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let backend = VaultBackend::KernelKeyring;
    KeyRing::from_special_id(KeyRingIdentifier::Session, true).map_err(|e| {
        StoreError::Unavailable(format!(
            "the kernel keyring is not available here: no session keyring could be joined ({e:?})"
        ))
    })?;
    linux_keyutils_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| constructor_failed(backend, e))
}

#[cfg(target_os = "macos")]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    match backend {
        VaultBackend::AppleKeychain => apple_native_keyring_store::keychain::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| constructor_failed(backend, e)),
        other => Err(not_on_this_platform(other)),
    }
}

#[cfg(target_os = "ios")]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    match backend {
        VaultBackend::AppleKeychain => apple_native_keyring_store::protected::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| constructor_failed(backend, e)),
        other => Err(not_on_this_platform(other)),
    }
}

#[cfg(target_os = "windows")]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    match backend {
        VaultBackend::WindowsCredentialManager => windows_native_keyring_store::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| constructor_failed(backend, e)),
        other => Err(not_on_this_platform(other)),
    }
}

#[cfg(target_os = "android")]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    match backend {
        VaultBackend::AndroidKeystore => android_native_keyring_store::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| constructor_failed(backend, e)),
        other => Err(not_on_this_platform(other)),
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn platform_store(backend: VaultBackend) -> Result<Arc<CredentialStore>, StoreError> {
    Err(not_on_this_platform(backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock_store() -> KeyringStore {
        let store = keyring_core::mock::Store::new().expect("the mock store opens");
        KeyringStore::from_credential_store(store, VaultBackend::Memory)
    }

    #[test]
    fn a_secret_round_trips_through_a_keyring_core_store() {
        let store = mock_store();
        store
            .store("svc", "acct", b"\x00\xffbinary")
            .expect("store");
        assert_eq!(
            store.load("svc", "acct").expect("load").expose(),
            b"\x00\xffbinary"
        );
        store.remove("svc", "acct").expect("remove");
        assert_eq!(store.load("svc", "acct").err(), Some(StoreError::NoEntry));
    }

    #[test]
    fn a_missing_session_bus_is_named_with_its_fix() {
        let cause: Box<dyn std::error::Error + Send + Sync> = "zbus error: Failed to connect to address `unix:path=/run/user/0/bus`: No such file or directory (os error 2)".into();
        let error = classify(
            VaultBackend::SecretService,
            KeyringError::PlatformFailure(cause),
        );
        let text = error.to_string();
        assert!(text.starts_with("there is no D-Bus session bus"), "{text}");
        assert!(text.contains("dbus-run-session"), "{text}");
    }

    #[test]
    fn a_bus_without_a_secrets_provider_is_named() {
        let cause: Box<dyn std::error::Error + Send + Sync> = "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files".into();
        let error = classify(
            VaultBackend::SecretService,
            KeyringError::PlatformFailure(cause),
        );
        assert!(
            error
                .to_string()
                .starts_with("no Secret Service provider is running"),
            "{error}"
        );
    }

    #[test]
    fn a_locked_keyring_says_how_to_unlock_it() {
        let error = classify(
            VaultBackend::SecretService,
            KeyringError::NoStorageAccess("NoResult".into()),
        );
        assert!(matches!(error, StoreError::Locked(_)));
        assert!(error.to_string().contains("is locked"), "{error}");
    }

    #[test]
    fn bad_encoding_errors_never_carry_the_secret_bytes() {
        let error = classify(
            VaultBackend::Memory,
            KeyringError::BadEncoding(b"hunter2".to_vec()),
        );
        assert!(!format!("{error} {error:?}").contains("hunter2"));
        assert!(
            !format!("{error:?}").contains("104, 117"),
            "no byte list either"
        );
    }

    #[test]
    fn an_oversized_secret_for_the_kernel_keyring_names_the_limit() {
        let error = classify(
            VaultBackend::KernelKeyring,
            KeyringError::Invalid("password".into(), "rejected by the platform".into()),
        );
        assert!(error.to_string().contains("32767 bytes"), "{error}");
    }

    #[test]
    fn the_mock_store_reports_injected_failures_as_sentences() {
        let store = mock_store();
        let entry = store.entry("svc", "acct").expect("entry");
        let mock: &keyring_core::mock::Cred =
            entry.as_any().downcast_ref().expect("a mock credential");
        mock.set_error(KeyringError::NoStorageAccess("denied".into()));
        let error = entry
            .set_secret(b"x")
            .map_err(|e| classify(VaultBackend::AppleKeychain, e));
        assert!(matches!(error, Err(StoreError::Locked(_))), "{error:?}");
    }
}
