//! The vault: private keys, certificates, passwords and tokens, kept only in the OS keyring.
//!
//! - [`Sensitive<T>`] wraps every secret: `Debug`/`Display` print `<redacted>`, it cannot be
//!   serialized, and it is wiped on drop.
//! - [`SecretStore`] is where secrets live (store, load, remove by service and account).
//!   [`KeyringStore`] is the OS keyring through keyring-core 1.x; its module documents which
//!   platform stores are wired. `MemoryStore` (tests and the `memory-store` feature) keeps them
//!   in memory.
//! - [`Vault`] is the facade the rest of the engine uses: import an identity from PEM or
//!   PKCS#12, load it for a TLS connection, generate a key and a CSR, install the issued
//!   certificate, keep broker passwords and tokens. [`AsyncVault`] runs the same calls on
//!   tokio's blocking pool.
//!
//! # What is stored where
//!
//! In the keyring, under the service [`DEFAULT_SERVICE`] (`dev.iotcompanion.companion` in
//! release builds, `dev.iotcompanion.companion.dev` in debug builds):
//!
//! | account | content |
//! |---|---|
//! | `identity/<name>/key` | the private key, PKCS#8 PEM |
//! | `identity/<name>/chain` | the certificate chain PEM, the identity's own certificate first (absent while a CSR is pending) |
//! | `password/<name>` | a broker password or token, UTF-8 |
//!
//! Outside the keyring only [`IdentityRef`] travels: name, key algorithm and [`CertificateInfo`]
//! (subject, issuer, SHA-256 fingerprint = AWS `certificateId`, serial, validity). None of these
//! types holds secret bytes, which the tests check. The SQLite table that will keep them (added
//! with the store module) is intended to look like this:
//!
//! ```sql
//! CREATE TABLE identities (
//!     name               TEXT PRIMARY KEY,    -- the keyring account is derived from it
//!     keyring_service    TEXT NOT NULL,       -- DEFAULT_SERVICE of the build that stored it
//!     backend            TEXT NOT NULL,       -- VaultBackend, e.g. 'SecretService'
//!     key_algorithm      TEXT NOT NULL,       -- KeyAlgorithm, e.g. 'EcdsaP256'
//!     subject            TEXT,                -- NULL while the CSR is pending
//!     issuer             TEXT,
//!     fingerprint_sha256 TEXT UNIQUE,         -- AWS certificateId
//!     serial             TEXT,
//!     not_before         INTEGER,             -- Unix seconds
//!     not_after          INTEGER,
//!     created_at         INTEGER NOT NULL
//! );
//! ```

mod asynchronous;
mod certificate;
mod error;
mod import;
mod key;
mod keyring;
#[cfg(any(test, feature = "memory-store"))]
mod memory;
mod sensitive;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use asynchronous::AsyncVault;
pub use certificate::{CertificateInfo, EXPIRY_WARNING_DAYS, ExpiryStatus};
pub use error::VaultError;
pub use key::KeyAlgorithm;
pub use keyring::{KeyringStore, join_session_keyring_early};
#[cfg(any(test, feature = "memory-store"))]
pub use memory::MemoryStore;
pub use sensitive::Sensitive;
pub use store::{
    DEBUG_SERVICE, DEFAULT_SERVICE, RELEASE_SERVICE, SecretStore, StoreError, VaultBackend,
};

use certificate::parse_certificate;
use import::{ParsedIdentity, assemble_with, parse_certificates, parse_identity};
use key::{PrivateKey, encode_pem};
use sensitive::assert_not_serialize;

/// The longest name an identity or password may have.
const MAX_NAME_LEN: usize = 64;

/// An identity's public metadata: what may be shown, logged and kept in SQLite. No secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRef {
    /// The name the user gave it; the keyring accounts derive from it.
    pub name: String,
    /// The algorithm of its private key.
    pub key_algorithm: KeyAlgorithm,
    /// Its certificate, or `None` while the CSR made for it waits for a certificate.
    pub certificate: Option<CertificateInfo>,
}

impl IdentityRef {
    /// Whether the identity still waits for the certificate issued for its CSR.
    pub fn is_pending(&self) -> bool {
        self.certificate.is_none()
    }

    /// Where its certificate stands at `now` (`None` while pending).
    pub fn expiry_status(&self, now: std::time::SystemTime) -> Option<ExpiryStatus> {
        self.certificate.as_ref().map(|c| c.expiry_status(now))
    }
}

/// An identity ready for a TLS client: the certificate chain and the private key.
#[derive(Debug)]
pub struct Identity {
    /// The identity's name.
    pub name: String,
    /// The certificate chain as PEM, the identity's own certificate first.
    pub cert_pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: Sensitive<String>,
}

/// What to put in a certificate signing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// The subject's common name (for AWS IoT devices, usually the thing name).
    pub common_name: String,
    /// The subject's organization, if any.
    pub organization: Option<String>,
    /// The algorithm of the new key; ECDSA P-256 unless set.
    pub key_algorithm: KeyAlgorithm,
}

impl CsrRequest {
    /// A request for `CN=<common_name>` with a new ECDSA P-256 key.
    pub fn new(common_name: impl Into<String>) -> Self {
        Self {
            common_name: common_name.into(),
            organization: None,
            key_algorithm: KeyAlgorithm::EcdsaP256,
        }
    }
}

assert_not_serialize!(Identity, Sensitive<String>);

/// The facade over a [`SecretStore`]: identities and passwords by name. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Vault {
    store: Arc<dyn SecretStore>,
    service: String,
}

impl Vault {
    /// A vault over `store` under this build's [`DEFAULT_SERVICE`].
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self::with_service(store, DEFAULT_SERVICE)
    }

    /// A vault over `store` under another keyring service name (tests use their own).
    pub fn with_service(store: Arc<dyn SecretStore>, service: impl Into<String>) -> Self {
        Self {
            store,
            service: service.into(),
        }
    }

    /// Opens the OS keyring: `Some(backend)` for that store only, `None` for the first usable
    /// store of this platform (on Linux the Secret Service, then the kernel keyring).
    pub fn open(backend: Option<VaultBackend>) -> Result<Self, VaultError> {
        let store = match backend {
            Some(backend) => KeyringStore::open(backend, DEFAULT_SERVICE)?,
            None => KeyringStore::open_auto(DEFAULT_SERVICE)?,
        };
        Ok(Self::new(Arc::new(store)))
    }

    /// The store in use.
    pub fn backend(&self) -> VaultBackend {
        self.store.backend()
    }

    /// The keyring service name in use.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Imports an identity from PEM text (certificate, private key in PKCS#8, PKCS#1 or SEC1,
    /// chain, in any order) or from a PKCS#12 archive with its passphrase. Checks that the key
    /// belongs to the certificate, then stores key and chain in the keyring only.
    pub fn import_identity(
        &self,
        name: &str,
        bytes: &[u8],
        passphrase: Option<&Sensitive<String>>,
    ) -> Result<IdentityRef, VaultError> {
        check_name(name)?;
        let parsed = parse_identity(bytes, passphrase)?;
        self.ensure_absent(name)?;
        self.store_chain(name, &parsed.chain)?;
        if let Err(error) = self.store_key(name, &parsed.key) {
            let _ = self.store.remove(&self.service, &chain_account(name));
            return Err(error);
        }
        identity_ref(name, &parsed)
    }

    /// Loads an identity's certificate chain and private key for a TLS connection.
    pub fn load_identity(&self, identity: &IdentityRef) -> Result<Identity, VaultError> {
        let name = &identity.name;
        let key_pem = self.load_text(&key_account(name), || {
            VaultError::IdentityNotFound(name.clone())
        })?;
        let cert_pem = self.load_text(&chain_account(name), || {
            VaultError::CertificatePending(name.clone())
        })?;
        Ok(Identity {
            name: name.clone(),
            cert_pem: cert_pem.expose().clone(),
            key_pem,
        })
    }

    /// Reads an identity's metadata back from the keyring (for when no SQLite row is at hand).
    pub fn describe_identity(&self, name: &str) -> Result<IdentityRef, VaultError> {
        check_name(name)?;
        let key = self.load_key(name)?;
        match self.load_text(&chain_account(name), || {
            VaultError::CertificatePending(name.into())
        }) {
            Ok(chain) => identity_ref(name, &self.reassemble(name, key, chain.expose())?),
            Err(VaultError::CertificatePending(_)) => Ok(pending_ref(name, &key)),
            Err(error) => Err(error),
        }
    }

    /// Removes an identity's key and chain from the keyring.
    pub fn remove_identity(&self, name: &str) -> Result<(), VaultError> {
        check_name(name)?;
        let chain = self.store.remove(&self.service, &chain_account(name));
        let key = self.store.remove(&self.service, &key_account(name));
        match (key, chain) {
            (Err(StoreError::NoEntry), Err(StoreError::NoEntry)) => {
                Err(VaultError::IdentityNotFound(name.into()))
            }
            (Ok(()) | Err(StoreError::NoEntry), Ok(()) | Err(StoreError::NoEntry)) => Ok(()),
            (Err(error), _) | (_, Err(error)) => Err(error.into()),
        }
    }

    /// Generates a new key pair (ECDSA P-256 unless the request says otherwise) and a CSR
    /// signed with it. The key goes to the keyring; the identity is pending until
    /// [`Vault::install_certificate`] receives the certificate issued for the CSR.
    pub fn generate_csr(
        &self,
        name: &str,
        request: &CsrRequest,
    ) -> Result<(IdentityRef, String), VaultError> {
        check_name(name)?;
        self.ensure_absent(name)?;
        let key = PrivateKey::generate(request.key_algorithm)?;
        let csr_pem = csr_pem(request, &key)?;
        self.store_key(name, &key)?;
        Ok((pending_ref(name, &key), csr_pem))
    }

    /// Installs the certificate (and chain) issued for an identity's key, refusing one that
    /// belongs to another key. Also renews: a new certificate for the same key replaces the old.
    pub fn install_certificate(
        &self,
        name: &str,
        certificate_pem: &[u8],
    ) -> Result<IdentityRef, VaultError> {
        check_name(name)?;
        let key = self.load_key(name)?;
        let parsed = assemble_with(key, parse_certificates(certificate_pem)?)?;
        self.store_chain(name, &parsed.chain)?;
        identity_ref(name, &parsed)
    }

    /// Stores a broker password or token under `name`, replacing an earlier one.
    pub fn store_password(&self, name: &str, secret: &Sensitive<String>) -> Result<(), VaultError> {
        check_name(name)?;
        let bytes = secret.expose().as_bytes();
        Ok(self
            .store
            .store(&self.service, &password_account(name), bytes)?)
    }

    /// Loads the password or token stored under `name`.
    pub fn load_password(&self, name: &str) -> Result<Sensitive<String>, VaultError> {
        check_name(name)?;
        self.load_text(&password_account(name), || {
            VaultError::PasswordNotFound(name.into())
        })
    }

    /// Removes the password or token stored under `name`.
    pub fn remove_password(&self, name: &str) -> Result<(), VaultError> {
        check_name(name)?;
        match self.store.remove(&self.service, &password_account(name)) {
            Err(StoreError::NoEntry) => Err(VaultError::PasswordNotFound(name.into())),
            other => Ok(other?),
        }
    }

    fn ensure_absent(&self, name: &str) -> Result<(), VaultError> {
        match self.store.load(&self.service, &key_account(name)) {
            Ok(_) => Err(VaultError::IdentityExists(name.into())),
            Err(StoreError::NoEntry) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn store_key(&self, name: &str, key: &PrivateKey) -> Result<(), VaultError> {
        let pem = key.to_pem();
        Ok(self
            .store
            .store(&self.service, &key_account(name), pem.expose().as_bytes())?)
    }

    fn store_chain(&self, name: &str, chain: &[Vec<u8>]) -> Result<(), VaultError> {
        let pem: String = chain
            .iter()
            .map(|der| encode_pem("CERTIFICATE", der).expose().clone())
            .collect();
        Ok(self
            .store
            .store(&self.service, &chain_account(name), pem.as_bytes())?)
    }

    fn load_key(&self, name: &str) -> Result<PrivateKey, VaultError> {
        let pem = self.load_text(&key_account(name), || {
            VaultError::IdentityNotFound(name.into())
        })?;
        let block = pem::parse(pem.expose()).map_err(|_| VaultError::Damaged(name.into()))?;
        PrivateKey::from_pkcs8(Zeroizing::new(block.into_contents()))
            .map_err(|_| VaultError::Damaged(name.into()))
    }

    fn reassemble(
        &self,
        name: &str,
        key: PrivateKey,
        chain_pem: &str,
    ) -> Result<ParsedIdentity, VaultError> {
        let certificates = parse_certificates(chain_pem.as_bytes())
            .map_err(|_| VaultError::Damaged(name.into()))?;
        assemble_with(key, certificates).map_err(|_| VaultError::Damaged(name.into()))
    }

    /// Loads a UTF-8 entry; `missing` is the error for an absent entry.
    fn load_text(
        &self,
        account: &str,
        missing: impl FnOnce() -> VaultError,
    ) -> Result<Sensitive<String>, VaultError> {
        let bytes = match self.store.load(&self.service, account) {
            Err(StoreError::NoEntry) => return Err(missing()),
            other => other?,
        };
        let text =
            std::str::from_utf8(bytes.expose()).map_err(|_| VaultError::Damaged(account.into()))?;
        Ok(Sensitive::new(text.to_owned()))
    }
}

fn identity_ref(name: &str, parsed: &ParsedIdentity) -> Result<IdentityRef, VaultError> {
    let leaf = parsed.chain.first().ok_or(VaultError::NoCertificate)?;
    let certificate = parse_certificate(leaf)?;
    Ok(IdentityRef {
        name: name.into(),
        key_algorithm: parsed.key.algorithm(),
        certificate: Some(CertificateInfo::from_parsed(&certificate, leaf)),
    })
}

fn pending_ref(name: &str, key: &PrivateKey) -> IdentityRef {
    IdentityRef {
        name: name.into(),
        key_algorithm: key.algorithm(),
        certificate: None,
    }
}

fn csr_pem(request: &CsrRequest, key: &PrivateKey) -> Result<String, VaultError> {
    let csr_error = |e: rcgen::Error| VaultError::Csr(e.to_string());
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(csr_error)?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, request.common_name.as_str());
    if let Some(organization) = &request.organization {
        subject.push(rcgen::DnType::OrganizationName, organization.as_str());
    }
    params.distinguished_name = subject;
    params
        .serialize_request(key.pair())
        .map_err(csr_error)?
        .pem()
        .map_err(csr_error)
}

fn check_name(name: &str) -> Result<(), VaultError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
        return Err(VaultError::InvalidName);
    }
    Ok(())
}

fn key_account(name: &str) -> String {
    format!("identity/{name}/key")
}

fn chain_account(name: &str) -> String {
    format!("identity/{name}/chain")
}

fn password_account(name: &str) -> String {
    format!("password/{name}")
}

#[cfg(test)]
mod tests;
