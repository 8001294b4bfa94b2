//! [`AsyncVault`]: the vault for async code. Keyring calls block (D-Bus round trips of 10–40 ms,
//! system calls), so each call runs on tokio's blocking pool instead of stalling a runtime worker.

use super::{CsrRequest, Identity, IdentityRef, Sensitive, Vault, VaultBackend, VaultError};

/// A [`Vault`] whose calls run through `tokio::task::spawn_blocking`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncVault {
    vault: Vault,
}

impl AsyncVault {
    /// Wraps a vault.
    pub fn new(vault: Vault) -> Self {
        Self { vault }
    }

    /// Opens the OS keyring as [`Vault::open`] does, off the runtime's workers.
    pub async fn open(backend: Option<VaultBackend>) -> Result<Self, VaultError> {
        blocking(move || Vault::open(backend)).await.map(Self::new)
    }

    /// The wrapped blocking vault.
    pub fn blocking(&self) -> &Vault {
        &self.vault
    }

    /// See [`Vault::import_identity`].
    pub async fn import_identity(
        &self,
        name: String,
        bytes: Vec<u8>,
        passphrase: Option<Sensitive<String>>,
    ) -> Result<IdentityRef, VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.import_identity(&name, &bytes, passphrase.as_ref())).await
    }

    /// See [`Vault::load_identity`].
    pub async fn load_identity(&self, identity: IdentityRef) -> Result<Identity, VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.load_identity(&identity)).await
    }

    /// See [`Vault::describe_identity`].
    pub async fn describe_identity(&self, name: String) -> Result<IdentityRef, VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.describe_identity(&name)).await
    }

    /// See [`Vault::remove_identity`].
    pub async fn remove_identity(&self, name: String) -> Result<(), VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.remove_identity(&name)).await
    }

    /// See [`Vault::generate_csr`].
    pub async fn generate_csr(
        &self,
        name: String,
        request: CsrRequest,
    ) -> Result<(IdentityRef, String), VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.generate_csr(&name, &request)).await
    }

    /// See [`Vault::install_certificate`].
    pub async fn install_certificate(
        &self,
        name: String,
        certificate_pem: Vec<u8>,
    ) -> Result<IdentityRef, VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.install_certificate(&name, &certificate_pem)).await
    }

    /// See [`Vault::store_password`].
    pub async fn store_password(
        &self,
        name: String,
        secret: Sensitive<String>,
    ) -> Result<(), VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.store_password(&name, &secret)).await
    }

    /// See [`Vault::load_password`].
    pub async fn load_password(&self, name: String) -> Result<Sensitive<String>, VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.load_password(&name)).await
    }

    /// See [`Vault::remove_password`].
    pub async fn remove_password(&self, name: String) -> Result<(), VaultError> {
        let vault = self.vault.clone();
        blocking(move || vault.remove_password(&name)).await
    }
}

async fn blocking<T, F>(call: F) -> Result<T, VaultError>
where
    F: FnOnce() -> Result<T, VaultError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|_| VaultError::Interrupted)?
}
