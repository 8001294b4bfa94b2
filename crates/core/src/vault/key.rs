//! Private keys: PKCS#8, PKCS#1 (RSA) and SEC1 (EC) in, PKCS#8 out; matching against a certificate.
//!
//! rcgen on ring reads PKCS#8 only, so PKCS#1 and SEC1 keys are wrapped in a PKCS#8 envelope
//! (the key bytes are unchanged; only the algorithm identifier is added around them). The vault
//! always stores the PKCS#8 form, which rustls and every TLS stack read.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Sensitive, VaultError};

/// `AlgorithmIdentifier` of rsaEncryption with NULL parameters.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// `AlgorithmIdentifier` of id-ecPublicKey on P-256.
const EC_P256_ALGORITHM: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// `AlgorithmIdentifier` of id-ecPublicKey on P-384.
const EC_P384_ALGORITHM: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];

/// The algorithm of a key pair. Public metadata: safe for SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (the default for new keys; what AWS IoT's CreateKeysAndCertificate uses
    /// for EC).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA (PKCS#1 v1.5 signatures), 2048 to 8192 bits.
    Rsa,
}

impl KeyAlgorithm {
    fn from_rcgen(algorithm: &'static rcgen::SignatureAlgorithm) -> Result<Self, VaultError> {
        if algorithm == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Ok(Self::EcdsaP256)
        } else if algorithm == &rcgen::PKCS_ECDSA_P384_SHA384 {
            Ok(Self::EcdsaP384)
        } else if algorithm == &rcgen::PKCS_ED25519 {
            Ok(Self::Ed25519)
        } else if algorithm == &rcgen::PKCS_RSA_SHA256 {
            Ok(Self::Rsa)
        } else {
            Err(VaultError::UnsupportedKey)
        }
    }

    /// The rcgen algorithm to generate a key of this kind (RSA cannot be generated on ring).
    pub(crate) fn for_generation(self) -> Result<&'static rcgen::SignatureAlgorithm, VaultError> {
        match self {
            Self::EcdsaP256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
            Self::EcdsaP384 => Ok(&rcgen::PKCS_ECDSA_P384_SHA384),
            Self::Ed25519 => Ok(&rcgen::PKCS_ED25519),
            Self::Rsa => Err(VaultError::CannotGenerate),
        }
    }
}

/// The encodings a private key arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyEncoding {
    /// `PRIVATE KEY`: PKCS#8 (RFC 5208/5958), any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1 (RFC 8017).
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1 (RFC 5915).
    Sec1,
}

/// A private key that ring can use, kept with its PKCS#8 bytes.
pub(crate) struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    pair: rcgen::KeyPair,
    algorithm: KeyAlgorithm,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Reads a DER key in any of the supported encodings.
    pub(crate) fn from_der(encoding: KeyEncoding, der: &[u8]) -> Result<Self, VaultError> {
        match encoding {
            KeyEncoding::Pkcs8 => Self::from_pkcs8(Zeroizing::new(der.to_vec())),
            KeyEncoding::Pkcs1 => Self::from_pkcs8(wrap_pkcs8(RSA_ALGORITHM, der)),
            KeyEncoding::Sec1 => Self::from_pkcs8(wrap_pkcs8(EC_P256_ALGORITHM, der))
                .or_else(|_| Self::from_pkcs8(wrap_pkcs8(EC_P384_ALGORITHM, der))),
        }
    }

    /// Reads a PKCS#8 key, finding its algorithm.
    pub(crate) fn from_pkcs8(pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, VaultError> {
        let pair =
            rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(|_| VaultError::UnsupportedKey)?;
        Self::from_pair(pair, pkcs8)
    }

    /// Generates a new key pair.
    pub(crate) fn generate(algorithm: KeyAlgorithm) -> Result<Self, VaultError> {
        let pair = rcgen::KeyPair::generate_for(algorithm.for_generation()?)
            .map_err(|e| VaultError::Csr(e.to_string()))?;
        let pkcs8 = Zeroizing::new(pair.serialize_der());
        Self::from_pair(pair, pkcs8)
    }

    fn from_pair(pair: rcgen::KeyPair, pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, VaultError> {
        let algorithm = KeyAlgorithm::from_rcgen(pair.algorithm())?;
        Ok(Self {
            pkcs8,
            pair,
            algorithm,
        })
    }

    /// The key's algorithm.
    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key pair, for signing CSRs.
    pub(crate) fn pair(&self) -> &rcgen::KeyPair {
        &self.pair
    }

    /// Whether this key belongs to the certificate whose `subjectPublicKey` bits are given
    /// (RSA: the RSAPublicKey DER; EC: the uncompressed point; Ed25519: the 32 bytes).
    pub(crate) fn matches(&self, subject_public_key: &[u8]) -> bool {
        self.pair.public_key_raw() == subject_public_key
    }

    /// The key as a `PRIVATE KEY` PEM block.
    pub(crate) fn to_pem(&self) -> Sensitive<String> {
        encode_pem("PRIVATE KEY", &self.pkcs8)
    }
}

/// Encodes one PEM block with `\n` line endings.
pub(crate) fn encode_pem(tag: &str, der: &[u8]) -> Sensitive<String> {
    let block = pem::Pem::new(tag, der);
    let text = pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    drop(Zeroizing::new(block.into_contents()));
    Sensitive::new(text)
}

/// `PrivateKeyInfo ::= SEQUENCE { version 0, algorithm, privateKey OCTET STRING }`.
fn wrap_pkcs8(algorithm: &[u8], key: &[u8]) -> Zeroizing<Vec<u8>> {
    let octets = der_tlv(0x04, key);
    let mut body = Zeroizing::new(Vec::with_capacity(octets.len() + algorithm.len() + 3));
    body.extend_from_slice(&[0x02, 0x01, 0x00]);
    body.extend_from_slice(algorithm);
    body.extend_from_slice(&octets);
    der_tlv(0x30, &body)
}

/// One DER tag-length-value with a definite length.
fn der_tlv(tag: u8, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(content.len() + 6));
    out.push(tag);
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_short_and_long_forms() {
        assert_eq!(der_tlv(0x04, &[1, 2]).as_slice(), &[0x04, 0x02, 1, 2]);
        let long = der_tlv(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = der_tlv(0x04, &[0; 1000]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x03, 0xe8]);
    }

    #[test]
    fn generated_keys_have_the_requested_algorithm() {
        for algorithm in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let key = PrivateKey::generate(algorithm).expect("generates");
            assert_eq!(key.algorithm(), algorithm);
            let again = PrivateKey::from_pkcs8(Zeroizing::new(key.pair().serialize_der()))
                .expect("re-reads");
            assert_eq!(
                again.algorithm(),
                algorithm,
                "PKCS#8 round trip keeps the algorithm"
            );
        }
    }

    #[test]
    fn rsa_keys_cannot_be_generated_on_ring() {
        assert_eq!(
            PrivateKey::generate(KeyAlgorithm::Rsa).err(),
            Some(VaultError::CannotGenerate)
        );
    }

    #[test]
    fn key_debug_output_has_no_key_material() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("generates");
        let text = format!("{key:?}");
        assert_eq!(text, "PrivateKey { algorithm: EcdsaP256, .. }");
    }
}

/// Fixture builders shared by the vault's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};

    /// Wraps a PKCS#1 RSA key in PKCS#8.
    pub(crate) fn wrap_rsa(pkcs1: &[u8]) -> Vec<u8> {
        super::wrap_pkcs8(super::RSA_ALGORITHM, pkcs1).to_vec()
    }

    /// A PKCS#12 archive of `key` and the PEM certificates, written by p12-keystore.
    pub(crate) fn pkcs12(
        key: &rcgen::KeyPair,
        certificates_pem: &[&str],
        passphrase: &str,
    ) -> Vec<u8> {
        let certificates = certificates_pem.iter().map(|pem| {
            let der = pem::parse(pem).expect("certificate pem").into_contents();
            p12_keystore::Certificate::from_der(&der).expect("certificate")
        });
        let private_key = p12_keystore::PrivateKey::from_der(&key.serialize_der()).expect("pkcs8");
        let chain = PrivateKeyChain::new(vec![1u8; 20], private_key, certificates);
        let mut store = KeyStore::new();
        store.add_entry("identity", KeyStoreEntry::PrivateKeyChain(chain));
        store.writer(passphrase).write().expect("pkcs12 written")
    }
}
