//! [`VaultError`]: every way a vault call can fail, as sentences a user can act on.

use super::store::StoreError;

/// A vault failure. `Display` is a sentence for the user; [`VaultError::code`] is what the UI
/// branches on. No variant carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The name given to an identity or password cannot be used as a keyring account.
    #[error("the name must be 1 to 64 letters, digits, '-', '_' or '.'")]
    InvalidName,
    /// An identity of that name is already stored.
    #[error("an identity named \"{0}\" already exists: remove it first or choose another name")]
    IdentityExists(String),
    /// No identity of that name is stored.
    #[error("no identity named \"{0}\" is in the keyring")]
    IdentityNotFound(String),
    /// No password of that name is stored.
    #[error("no password named \"{0}\" is in the keyring")]
    PasswordNotFound(String),
    /// The identity has a key (from a CSR) but no certificate yet.
    #[error(
        "the identity \"{0}\" has no certificate yet: install the certificate issued for its signing request"
    )]
    CertificatePending(String),
    /// The bytes are neither PEM nor PKCS#12.
    #[error("the file holds neither PEM text nor a PKCS#12 archive")]
    UnrecognizedFormat,
    /// The text holds PEM blocks, but neither a certificate nor a private key.
    #[error("the file holds no certificate and no private key")]
    NothingToImport,
    /// A certificate came without its private key.
    #[error("the file holds a certificate but no private key")]
    NoPrivateKey,
    /// A private key came without a certificate.
    #[error("the file holds a private key but no certificate")]
    NoCertificate,
    /// More than one private key came in one file.
    #[error("the file holds {0} private keys: import one identity at a time")]
    SeveralKeys(usize),
    /// The PEM private key is encrypted.
    #[error(
        "the private key is encrypted: import it as a PKCS#12 file with its passphrase, or decrypt it first (`openssl pkey -in key.pem -out plain-key.pem`)"
    )]
    EncryptedKey,
    /// The private key belongs to another certificate.
    #[error("the key does not match the certificate")]
    KeyMismatch,
    /// The private key is of a kind the TLS stack cannot use.
    #[error(
        "the private key is not of a supported kind: use ECDSA P-256 or P-384, RSA (2048 to 8192 bits) or Ed25519"
    )]
    UnsupportedKey,
    /// A certificate could not be parsed.
    #[error("a certificate in the file could not be read: {0}")]
    BadCertificate(String),
    /// The PEM text is malformed.
    #[error("the PEM text is damaged: {0}")]
    BadPem(String),
    /// The PKCS#12 passphrase is wrong.
    #[error("wrong PKCS#12 passphrase")]
    WrongPassphrase,
    /// A PKCS#12 file needs a passphrase and none was given.
    #[error("the PKCS#12 file is protected by a passphrase: enter it to import the file")]
    PassphraseRequired,
    /// The PKCS#12 file uses an encryption scheme the PKCS#12 crate does not implement.
    #[error(
        "the PKCS#12 file uses an encryption this app does not support: export it again with AES-256 (the OpenSSL 3 default of `openssl pkcs12 -export`)"
    )]
    UnsupportedPkcs12,
    /// The PKCS#12 file is damaged.
    #[error("the PKCS#12 file could not be read: {0}")]
    BadPkcs12(String),
    /// Key generation was asked for an algorithm the crypto backend cannot generate.
    #[error("RSA keys cannot be generated here: use ECDSA P-256 (the default) or P-384")]
    CannotGenerate,
    /// rcgen could not build the CSR.
    #[error("the certificate signing request could not be created: {0}")]
    Csr(String),
    /// What the keyring returned is not what the vault stored.
    #[error("the keyring entry of \"{0}\" is damaged: remove it and import it again")]
    Damaged(String),
    /// The secret store failed; the message names the cause.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking keyring call did not finish (its task panicked or was cancelled).
    #[error("the keyring operation was interrupted before it finished: try again")]
    Interrupted,
}

impl VaultError {
    /// A stable machine-readable code for the IPC edge (`IpcError { code, message }`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidName => "vault.invalid_name",
            Self::IdentityExists(_) => "vault.identity_exists",
            Self::IdentityNotFound(_) => "vault.identity_not_found",
            Self::PasswordNotFound(_) => "vault.password_not_found",
            Self::CertificatePending(_) => "vault.certificate_pending",
            Self::UnrecognizedFormat => "vault.unrecognized_format",
            Self::NothingToImport => "vault.nothing_to_import",
            Self::NoPrivateKey => "vault.no_private_key",
            Self::NoCertificate => "vault.no_certificate",
            Self::SeveralKeys(_) => "vault.several_keys",
            Self::EncryptedKey => "vault.encrypted_key",
            Self::KeyMismatch => "vault.key_mismatch",
            Self::UnsupportedKey => "vault.unsupported_key",
            Self::BadCertificate(_) => "vault.bad_certificate",
            Self::BadPem(_) => "vault.bad_pem",
            Self::WrongPassphrase => "vault.wrong_passphrase",
            Self::PassphraseRequired => "vault.passphrase_required",
            Self::UnsupportedPkcs12 => "vault.unsupported_pkcs12",
            Self::BadPkcs12(_) => "vault.bad_pkcs12",
            Self::CannotGenerate => "vault.cannot_generate",
            Self::Csr(_) => "vault.csr_failed",
            Self::Damaged(_) => "vault.damaged_entry",
            Self::Store(error) => store_code(error),
            Self::Interrupted => "vault.interrupted",
        }
    }
}

fn store_code(error: &StoreError) -> &'static str {
    match error {
        StoreError::NoEntry => "vault.no_entry",
        StoreError::Unavailable(_) => "vault.store_unavailable",
        StoreError::Locked(_) => "vault.store_locked",
        StoreError::Rejected { .. } => "vault.store_rejected",
        StoreError::Platform { .. } => "vault.store_failed",
    }
}
