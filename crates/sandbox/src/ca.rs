//! The sandbox's certificate authority: created on first start in the data directory
//! (`ca.pem`, and `ca.key` with mode 0600), reloaded on later starts. It issues the server
//! certificate of the mTLS listener and the client certificates of devices (fleet provisioning
//! and [`LocalCa::issue_identity`]).
//!
//! Keys are ECDSA P-256. A certificate's id is, as AWS's `certificateId`, the lowercase hex
//! SHA-256 of its DER (64 characters).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use companion_awsiot::provisioning::{
    CertificateIssuer, IssuedCertificate, ProvisioningErrorResponse,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

use crate::connect::TlsIdentity;

/// File name of the CA certificate in the data directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key in the data directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

/// Why the CA could not be loaded or could not issue a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The data directory or a CA file could not be read or written.
    #[error(
        "cannot access the CA file {path}: {source}; check that the data directory is writable"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored CA file is not a usable certificate or key.
    #[error(
        "the CA in {dir} is unusable ({reason}); delete ca.pem and ca.key to create a new CA (devices must then be re-provisioned)"
    )]
    Corrupt {
        /// The data directory.
        dir: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A certificate signing request could not be parsed or verified.
    #[error("the certificate signing request is invalid: {0}")]
    InvalidCsr(String),
    /// Signing failed.
    #[error("the CA could not sign the certificate: {0}")]
    Signing(String),
}

/// A server or client certificate with its private key. Debug never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The local certificate authority.
pub struct LocalCa {
    cert_pem: String,
    cert_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from `data_dir`, or creates it there (and the directory) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, CaError> {
        fs::create_dir_all(data_dir).map_err(|e| io(data_dir, e))?;
        let cert_path = data_dir.join(CA_CERT_FILE);
        let key_path = data_dir.join(CA_KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            Self::load(data_dir, cert_path, &key_path)
        } else {
            Self::create(cert_path, &key_path)
        }
    }

    fn load(dir: &Path, cert_path: PathBuf, key_path: &Path) -> Result<Self, CaError> {
        let cert_pem = fs::read_to_string(&cert_path).map_err(|e| io(&cert_path, e))?;
        let key_pem = fs::read_to_string(key_path).map_err(|e| io(key_path, e))?;
        let corrupt = |e: rcgen::Error| CaError::Corrupt {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let key = KeyPair::from_pem(&key_pem).map_err(corrupt)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(corrupt)?;
        Ok(Self {
            cert_pem,
            cert_path,
            issuer,
        })
    }

    fn create(cert_path: PathBuf, key_path: &Path) -> Result<Self, CaError> {
        let key = KeyPair::generate().map_err(signing)?;
        let mut params = CertificateParams::default();
        // A distinct name per CA, so that a certificate from another sandbox is reported as
        // from an unknown CA rather than failing its signature check.
        let name = format!(
            "IoT Companion sandbox CA {}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(signing)?;
        write_private(key_path, &key.serialize_pem())?;
        fs::write(&cert_path, cert.pem()).map_err(|e| io(&cert_path, e))?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_path,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM: what clients trust and what the mTLS listener requires client
    /// certificates to chain to.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Where the CA certificate is stored (`<data dir>/ca.pem`).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A fresh server certificate for `localhost` and `127.0.0.1` (serverAuth).
    pub fn issue_server_certificate(&self) -> Result<CertifiedKey, CaError> {
        let key = KeyPair::generate().map_err(signing)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(signing)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial());
        let cert = params.signed_by(&key, &self.issuer).map_err(signing)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A fresh key pair and a client certificate (clientAuth) with common name
    /// `common_name` (CreateKeysAndCertificate).
    pub fn issue_client_certificate(&self, common_name: &str) -> Result<CertifiedKey, CaError> {
        let key = KeyPair::generate().map_err(signing)?;
        let mut params = client_params();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.issuer).map_err(signing)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a device's CSR (CreateCertificateFromCsr). Only the CSR's subject and public key
    /// are used: the certificate is always a client certificate (clientAuth, not a CA) whatever
    /// extensions the CSR asks for. Returns the certificate PEM.
    pub fn sign_csr_pem(&self, csr_pem: &str) -> Result<String, CaError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| CaError::InvalidCsr(e.to_string()))?;
        let subject = std::mem::take(&mut csr.params.distinguished_name);
        csr.params = client_params();
        csr.params.distinguished_name = subject;
        let cert = csr.signed_by(&self.issuer).map_err(signing)?;
        Ok(cert.pem())
    }

    /// A TLS identity for a simulated device or a test: a fresh key, a client certificate
    /// with common name `thing_name`, and this CA.
    pub fn issue_identity(&self, thing_name: &str) -> Result<TlsIdentity, CaError> {
        let issued = self.issue_client_certificate(thing_name)?;
        Ok(TlsIdentity {
            ca_pem: self.cert_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        })
    }
}

/// AWS's certificate id of a DER certificate: lowercase hex SHA-256 (64 characters).
pub fn certificate_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The certificate id of the first certificate in a PEM text, if it holds one.
pub fn certificate_id_from_pem(pem: &str) -> Option<String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    Some(certificate_id(&der))
}

/// The template built-ins AWS derives from a certificate's subject
/// (`AWS::IoT::Certificate::CommonName`, `::Country`, `::Organization`, ...).
pub fn subject_parameters(cert_pem: &str) -> BTreeMap<String, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut out = BTreeMap::new();
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return out;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return out;
    };
    let subject = cert.subject();
    let fields = [
        ("CommonName", subject.iter_common_name().next()),
        ("Country", subject.iter_country().next()),
        ("Organization", subject.iter_organization().next()),
        (
            "OrganizationalUnit",
            subject.iter_organizational_unit().next(),
        ),
        ("StateName", subject.iter_state_or_province().next()),
        ("Locality", subject.iter_locality().next()),
    ];
    for (name, value) in fields {
        if let Some(text) = value.and_then(|v| v.as_str().ok()) {
            out.insert(format!("AWS::IoT::Certificate::{name}"), text.to_owned());
        }
    }
    out
}

/// Any shared reference to the CA issues certificates for fleet provisioning.
impl CertificateIssuer for &LocalCa {
    fn create_keys_and_certificate(
        &mut self,
    ) -> Result<IssuedCertificate, ProvisioningErrorResponse> {
        let common_name = format!("device-{}", uuid::Uuid::new_v4().simple());
        let issued = self
            .issue_client_certificate(&common_name)
            .map_err(|e| rejection(500, "InternalFailure", &e))?;
        Ok(issued_certificate(issued.cert_pem, Some(issued.key_pem)))
    }

    fn sign_csr(&mut self, csr_pem: &str) -> Result<IssuedCertificate, ProvisioningErrorResponse> {
        let cert_pem = self.sign_csr_pem(csr_pem).map_err(|e| match e {
            CaError::InvalidCsr(_) => rejection(400, "InvalidPayload", &e),
            other => rejection(500, "InternalFailure", &other),
        })?;
        Ok(issued_certificate(cert_pem, None))
    }

    fn ownership_token(&mut self) -> String {
        // 256 random bits from two v4 UUIDs (each 122 random bits) is unguessable enough here.
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }
}

fn issued_certificate(cert_pem: String, private_key_pem: Option<String>) -> IssuedCertificate {
    IssuedCertificate {
        certificate_id: certificate_id_from_pem(&cert_pem).unwrap_or_default(),
        subject_parameters: subject_parameters(&cert_pem),
        certificate_pem: cert_pem,
        private_key_pem,
    }
}

fn rejection(status_code: u16, error_code: &str, error: &CaError) -> ProvisioningErrorResponse {
    ProvisioningErrorResponse {
        status_code,
        error_code: error_code.to_owned(),
        error_message: error.to_string(),
    }
}

fn client_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.serial_number = Some(random_serial());
    params
}

/// A positive 128-bit serial number.
fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn write_private(path: &Path, contents: &str) -> Result<(), CaError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(contents.as_bytes()).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> CaError {
    CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn signing(error: rcgen::Error) -> CaError {
    CaError::Signing(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sandbox-ca-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_ca_is_created_once_and_reloaded_with_the_same_certificate() {
        let dir = temp_dir("reload");
        let first = LocalCa::load_or_create(&dir).expect("create");
        let second = LocalCa::load_or_create(&dir).expect("reload");
        assert_eq!(
            first.cert_pem(),
            second.cert_pem(),
            "the stored CA is reused"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(CA_KEY_FILE))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "the CA key is readable by its owner only"
            );
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_certificate_id_is_64_lowercase_hex_characters() {
        let dir = temp_dir("id");
        let ca = LocalCa::load_or_create(&dir).expect("create");
        let issued = ca.issue_client_certificate("dev-1").expect("issue");
        let id = certificate_id_from_pem(&issued.cert_pem).expect("a certificate");
        assert_eq!(id.len(), 64, "SHA-256 in hex");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hex: {id}"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_signed_csr_keeps_its_common_name_for_templates() {
        let dir = temp_dir("csr");
        let ca = LocalCa::load_or_create(&dir).expect("create");
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "sensor-7");
        let csr = params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem");
        let mut issuer = &ca;
        let issued = issuer.sign_csr(&csr).expect("signed");
        assert_eq!(
            issued
                .subject_parameters
                .get("AWS::IoT::Certificate::CommonName"),
            Some(&"sensor-7".to_owned()),
            "the CN is a template built-in"
        );
        assert!(issued.private_key_pem.is_none(), "a CSR brings its own key");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn garbage_instead_of_a_csr_is_a_400() {
        let dir = temp_dir("bad-csr");
        let ca = LocalCa::load_or_create(&dir).expect("create");
        let mut issuer = &ca;
        let error = issuer.sign_csr("not a csr").expect_err("refused");
        assert_eq!(error.status_code, 400, "a client error: {error:?}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn debug_output_never_shows_a_private_key() {
        let dir = temp_dir("debug");
        let ca = LocalCa::load_or_create(&dir).expect("create");
        let issued = ca.issue_client_certificate("dev-2").expect("issue");
        let text = format!("{issued:?} {ca:?}");
        assert!(!text.contains("PRIVATE KEY"), "no key in Debug: {text}");
        let _ = fs::remove_dir_all(dir);
    }
}
