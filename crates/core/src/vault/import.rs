//! Reading an identity (private key + certificate chain) from PEM text or a PKCS#12 archive.
//!
//! PKCS#12 uses [`p12_keystore`] (0.4): pure Rust on the RustCrypto stack, no OpenSSL, actively
//! maintained, and it reads both what OpenSSL 3 writes by default (PBES2 with AES-256-CBC,
//! PBKDF2-HMAC-SHA256, an HMAC-SHA256 MAC) and the legacy 3DES/RC2 archives older tools and
//! Windows export. The alternative, `p12` 0.6, reads only the legacy SHA-1 PBE schemes and has
//! not had a release since 2022, so OpenSSL 3 files would fail to import. p12-keystore also writes
//! archives, which the tests use to build their fixtures.

use p12_keystore::Pkcs12Archive;
use zeroize::Zeroizing;

use super::Sensitive;
use super::VaultError;
use super::certificate::parse_certificate;
use super::key::{KeyEncoding, PrivateKey};

/// A private key with the certificate it belongs to and the rest of its chain.
#[derive(Debug)]
pub(crate) struct ParsedIdentity {
    pub(crate) key: PrivateKey,
    /// DER certificates, the key's own certificate first.
    pub(crate) chain: Vec<Vec<u8>>,
}

/// Everything found in the input, before it is checked.
#[derive(Debug, Default)]
struct Found {
    keys: Vec<PrivateKey>,
    certificates: Vec<Vec<u8>>,
}

/// Reads PEM text (certificate, private key, chain in any order) or a PKCS#12 archive.
pub(crate) fn parse_identity(
    bytes: &[u8],
    passphrase: Option<&Sensitive<String>>,
) -> Result<ParsedIdentity, VaultError> {
    let found = if looks_like_pem(bytes) {
        read_pem(bytes)?
    } else if bytes.first() == Some(&0x30) {
        read_pkcs12(bytes, passphrase)?
    } else {
        return Err(VaultError::UnrecognizedFormat);
    };
    assemble(found)
}

/// Reads certificates only (to install the certificate issued for a CSR).
pub(crate) fn parse_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, VaultError> {
    if !looks_like_pem(bytes) {
        return Err(VaultError::UnrecognizedFormat);
    }
    let found = read_pem(bytes)?;
    if found.certificates.is_empty() {
        return Err(VaultError::BadCertificate(
            "the text holds no CERTIFICATE block".into(),
        ));
    }
    Ok(found.certificates)
}

/// Puts the certificate that matches the key first; refuses what cannot make an identity.
pub(crate) fn assemble_with(
    key: PrivateKey,
    certificates: Vec<Vec<u8>>,
) -> Result<ParsedIdentity, VaultError> {
    let leaf = leaf_index(&key, &certificates)?.ok_or(VaultError::KeyMismatch)?;
    let mut chain = certificates;
    let own = chain.remove(leaf);
    chain.retain(|certificate| *certificate != own);
    chain.insert(0, own);
    Ok(ParsedIdentity { key, chain })
}

fn assemble(mut found: Found) -> Result<ParsedIdentity, VaultError> {
    match (found.keys.len(), found.certificates.is_empty()) {
        (0, true) => Err(VaultError::NothingToImport),
        (0, false) => Err(VaultError::NoPrivateKey),
        (1, true) => Err(VaultError::NoCertificate),
        (1, false) => {
            let key = found.keys.remove(0);
            assemble_with(key, found.certificates)
        }
        (several, _) => Err(VaultError::SeveralKeys(several)),
    }
}

fn leaf_index(key: &PrivateKey, certificates: &[Vec<u8>]) -> Result<Option<usize>, VaultError> {
    for (index, der) in certificates.iter().enumerate() {
        let certificate = parse_certificate(der)?;
        if key.matches(&certificate.public_key().subject_public_key.data) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|window| window == b"-----BEGIN ")
}

fn read_pem(bytes: &[u8]) -> Result<Found, VaultError> {
    let blocks = pem::parse_many(bytes).map_err(|e| VaultError::BadPem(e.to_string()))?;
    let mut found = Found::default();
    for block in blocks {
        read_block(block, &mut found)?;
    }
    Ok(found)
}

fn read_block(block: pem::Pem, found: &mut Found) -> Result<(), VaultError> {
    let encrypted = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    let encoding = match block.tag() {
        "CERTIFICATE" => {
            found.certificates.push(block.into_contents());
            return Ok(());
        }
        "ENCRYPTED PRIVATE KEY" => return Err(VaultError::EncryptedKey),
        _ if encrypted => return Err(VaultError::EncryptedKey),
        "PRIVATE KEY" => KeyEncoding::Pkcs8,
        "RSA PRIVATE KEY" => KeyEncoding::Pkcs1,
        "EC PRIVATE KEY" => KeyEncoding::Sec1,
        // EC PARAMETERS, CERTIFICATE REQUEST and the like carry nothing we keep.
        _ => return Ok(()),
    };
    let der = Zeroizing::new(block.into_contents());
    found.keys.push(PrivateKey::from_der(encoding, &der)?);
    Ok(())
}

fn read_pkcs12(bytes: &[u8], passphrase: Option<&Sensitive<String>>) -> Result<Found, VaultError> {
    let password = passphrase.map_or("", |p| p.expose().as_str());
    let archive = match Pkcs12Archive::from_pkcs12(bytes, password) {
        Ok(archive) => archive,
        // A lone DER certificate also starts with a SEQUENCE: say what it is.
        Err(_) if x509_parser::parse_x509_certificate(bytes).is_ok() => {
            return Err(VaultError::NoPrivateKey);
        }
        Err(error) => return Err(pkcs12_error(&error, passphrase.is_some())),
    };
    let mut found = Found::default();
    for bag in archive.keys {
        let der = Zeroizing::new(bag.key.as_der().to_vec());
        found.keys.push(PrivateKey::from_pkcs8(der)?);
    }
    found.certificates = archive
        .certs
        .into_iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    Ok(found)
}

fn pkcs12_error(error: &p12_keystore::error::Error, had_passphrase: bool) -> VaultError {
    use p12_keystore::error::Error as P12;
    match error {
        P12::MacError(_) | P12::UnpadError if !had_passphrase => VaultError::PassphraseRequired,
        P12::MacError(_) | P12::UnpadError => VaultError::WrongPassphrase,
        P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
            VaultError::UnsupportedPkcs12
        }
        other => VaultError::BadPkcs12(other.to_string()),
    }
}
