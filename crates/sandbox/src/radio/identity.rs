//! The simulated device's key store behind the `aws-iot` endpoint: an ECDSA P-256 key made with
//! rcgen on the device, a PKCS#10 CSR signed with it, and the installed identity. The private
//! key never leaves the device: it is only used for the CSR and, once installed, in the
//! device's own TLS configuration.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use companion_espprov::credentials::{AwsIotStatus, DeviceIdentity, Installation, KeyAlgorithm};
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};

/// What the device keeps in its (simulated) NVS.
#[derive(Default)]
struct KeyStore {
    key: Option<KeyPair>,
    installed: Option<Installation>,
    /// Factory data the device tells in `RespGetInfo`.
    serial: String,
    model: String,
    /// A firmware bug: the request's signature does not match its contents.
    broken_csr_signature: bool,
}

/// A handle on the device's key store. Each BLE session gets its own `CredentialService`
/// over a clone of this handle, so that a disconnect forgets what was not committed while the
/// key and the installed identity stay.
#[derive(Clone, Default)]
pub(crate) struct SimIdentity(Arc<Mutex<KeyStore>>);

/// The installed identity with the device's key, to build its TLS configuration.
pub(crate) struct UsableIdentity {
    pub(crate) installation: Installation,
    pub(crate) key_pem: String,
}

impl SimIdentity {
    /// A key store for the device with this serial number and model (its factory data).
    pub(crate) fn new(serial: &str, model: &str, broken_csr_signature: bool) -> Self {
        Self(Arc::new(Mutex::new(KeyStore {
            serial: serial.to_owned(),
            model: model.to_owned(),
            broken_csr_signature,
            ..KeyStore::default()
        })))
    }

    fn store(&self) -> MutexGuard<'_, KeyStore> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The installed identity, if any.
    pub(crate) fn installation(&self) -> Option<Installation> {
        self.store().installed.clone()
    }

    /// The installed identity with the key it belongs to.
    pub(crate) fn usable(&self) -> Option<UsableIdentity> {
        let store = self.store();
        let key = store.key.as_ref()?;
        let installation = store.installed.clone()?;
        Some(UsableIdentity {
            installation,
            key_pem: key.serialize_pem(),
        })
    }
}

impl DeviceIdentity for SimIdentity {
    fn key_algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::EcP256
    }

    fn serial_number(&self) -> String {
        self.store().serial.clone()
    }

    fn model(&self) -> String {
        self.store().model.clone()
    }

    fn has_key(&self) -> bool {
        self.store().key.is_some()
    }

    fn create_csr(&mut self, common_name: &str, new_key: bool) -> Result<Vec<u8>, AwsIotStatus> {
        let mut store = self.store();
        if store.key.is_none() || new_key {
            store.key = Some(KeyPair::generate().map_err(|_| AwsIotStatus::InternalError)?);
        }
        let key = store.key.as_ref().ok_or(AwsIotStatus::InternalError)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let csr = params
            .serialize_request(key)
            .map_err(|_| AwsIotStatus::InternalError)?;
        let mut der = csr.der().to_vec();
        if store.broken_csr_signature {
            // The last byte belongs to the signature's S value.
            if let Some(last) = der.last_mut() {
                *last ^= 0x01;
            }
        }
        Ok(der)
    }

    fn install(&mut self, installation: &Installation) -> Result<(), AwsIotStatus> {
        let mut store = self.store();
        let key = store.key.as_ref().ok_or(AwsIotStatus::NoKey)?;
        let (_, certificate) = x509_parser::parse_x509_certificate(&installation.certificate)
            .map_err(|_| AwsIotStatus::InvalidArgument)?;
        if certificate.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return Err(AwsIotStatus::KeyMismatch);
        }
        if !installation.root_ca.is_empty()
            && x509_parser::parse_x509_certificate(&installation.root_ca).is_err()
        {
            return Err(AwsIotStatus::InvalidArgument);
        }
        store.installed = Some(installation.clone());
        Ok(())
    }

    fn installed(&self) -> Option<(String, String)> {
        self.store()
            .installed
            .as_ref()
            .map(|i| (i.thing_name.clone(), i.endpoint.clone()))
    }
}

impl fmt::Debug for SimIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store();
        f.debug_struct("SimIdentity")
            .field("has_key", &store.key.is_some())
            .field(
                "installed",
                &store.installed.as_ref().map(|i| i.thing_name.as_str()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation(certificate: Vec<u8>) -> Installation {
        Installation {
            thing_name: "plug-1".into(),
            endpoint: "localhost".into(),
            port: 8883,
            certificate,
            root_ca: Vec::new(),
        }
    }

    #[test]
    fn the_csr_carries_the_device_key_and_only_a_certificate_for_it_installs() {
        let mut identity = SimIdentity::default();
        assert!(!identity.has_key());
        let csr = identity.create_csr("plug-1", false).expect("a CSR");
        assert!(identity.has_key());
        let again = identity.create_csr("plug-1", false).expect("a CSR");
        let params = |der: &[u8]| {
            let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der.to_vec()));
            rcgen::CertificateSigningRequestParams::from_pem(&pem).expect("a valid CSR")
        };
        assert_eq!(
            params(&csr).public_key.der_bytes(),
            params(&again).public_key.der_bytes(),
            "the same key until a new one is asked for"
        );

        let ca_key = KeyPair::generate().expect("a key");
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let signed = params(&csr).signed_by(&issuer).expect("signed");
        identity
            .install(&installation(signed.der().to_vec()))
            .expect("the certificate for the device key installs");
        assert_eq!(
            identity.installed(),
            Some(("plug-1".into(), "localhost".into()))
        );

        identity.create_csr("plug-1", true).expect("a new key");
        assert_eq!(
            identity.install(&installation(signed.der().to_vec())),
            Err(AwsIotStatus::KeyMismatch),
            "a certificate for the old key"
        );
        assert_eq!(
            identity.install(&installation(vec![0x30, 0x00])),
            Err(AwsIotStatus::InvalidArgument)
        );
        assert!(!format!("{identity:?}").contains("PRIVATE"));
    }
}
